"""Multi-object tracking of detections: constant-velocity Kalman filters, gated assignment.

Pure numpy + SciPy; no ROS imports. Positions are image pixels (x right, y down), velocities
pixels/s, times seconds. Each track filters its centroid with a constant-velocity Kalman
filter (state x, y, vx, vy). The camera's ego-motion is given per frame as the shift of
static scene content in the image (pixels), so tracks of static people stay put while the
UAV moves. Detections are assigned to the predicted tracks by
:func:`scipy.optimize.linear_sum_assignment` on centroid distance, gated, and only within a
compatible class group (a person may be re-classified as an animal from frame to frame, never
as a fire). Tracks are confirmed after ``confirm_hits`` hits and deleted after ``max_misses``
consecutive misses; confirmed tracks get stable integer ids 1, 2, ...
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from thermal_perception.core.detection.types import Detection

__all__ = ["CLASS_GROUPS", "MultiObjectTracker", "Track", "TrackerConfig"]

#: Labels that may be associated with each other (a classifier confuses within a group).
CLASS_GROUPS: tuple[frozenset[str], ...] = (
    frozenset({"person", "animal"}),
    frozenset({"fire", "hotspot"}),
    frozenset({"vehicle"}),
)
_STATE = 4            # x, y, vx, vy
_UNASSIGNED = 1e9     # cost of a forbidden pair (outside the gate or another class group)


def _group(label: str) -> int:
    for i, g in enumerate(CLASS_GROUPS):
        if label in g:
            return i
    return len(CLASS_GROUPS)


@dataclass(frozen=True)
class TrackerConfig:
    """Settings of :class:`MultiObjectTracker`.

    Attributes
    ----------
    gate_px : largest distance between a track's predicted and a detection's centroid for an
        assignment, pixels.
    confirm_hits : hits before a track is confirmed (and gets an id).
    max_misses : consecutive frames without a detection before a track is deleted.
    measurement_std_px : centroid noise, pixels.
    acceleration_std_px_s2 : process noise, white acceleration, pixels/s^2 (walking people
        and the residual of the ego-motion).
    initial_velocity_std_px_s : velocity uncertainty of a new track, pixels/s.
    vote_labels : report a track's label as the confidence-weighted vote over its history
        (smooths person/animal flips) instead of the current detection's label.
    vote_frames : length of that history, frames.
    """

    gate_px: float = 12.0
    confirm_hits: int = 2
    max_misses: int = 5
    measurement_std_px: float = 1.0
    acceleration_std_px_s2: float = 20.0
    initial_velocity_std_px_s: float = 20.0
    vote_labels: bool = True
    vote_frames: int = 15

    def __post_init__(self) -> None:
        problems = []
        for name in ("gate_px", "measurement_std_px", "acceleration_std_px_s2",
                     "initial_velocity_std_px_s"):
            if not getattr(self, name) > 0:
                problems.append(f"{name} must be > 0")
        if self.confirm_hits < 1 or self.max_misses < 0 or self.vote_frames < 1:
            problems.append("need confirm_hits >= 1, max_misses >= 0 and vote_frames >= 1")
        if problems:
            raise ValueError("TrackerConfig: " + "; ".join(problems))


@dataclass
class Track:
    """One tracked object: Kalman state, bookkeeping and its last detection.

    Attributes
    ----------
    x : state (x, y, vx, vy), pixels and pixels/s.
    p : 4 x 4 state covariance.
    track_id : 0 until confirmed, then a stable id >= 1.
    hits, misses : total hits and consecutive misses.
    detection : last assigned detection.
    votes : recent (label, confidence) of the assigned detections.
    """

    x: NDArray[np.float64]
    p: NDArray[np.float64]
    detection: Detection
    track_id: int = 0
    hits: int = 1
    misses: int = 0
    votes: list[tuple[str, float]] = field(default_factory=list)

    @property
    def position(self) -> tuple[float, float]:
        return float(self.x[0]), float(self.x[1])

    @property
    def velocity(self) -> tuple[float, float]:
        return float(self.x[2]), float(self.x[3])


class MultiObjectTracker:
    """Tracks detections over frames with constant-velocity Kalman filters.

    Parameters
    ----------
    config : settings; defaults if None.
    """

    _H = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self.tracks: list[Track] = []
        self._next_id = 1
        c = self.config
        self._r = np.eye(2) * c.measurement_std_px**2
        self._fq: tuple[float, NDArray[np.float64], NDArray[np.float64]] | None = None

    def reset(self) -> None:
        """Drop all tracks; ids restart at 1."""
        self.tracks = []
        self._next_id = 1

    # -- Kalman filter ----------------------------------------------------------------------

    def _transition(self, dt_s: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """State transition F and process noise Q of a ``dt_s`` step (kept for the last
        step: frame intervals repeat)."""
        if self._fq is not None and self._fq[0] == dt_s:
            return self._fq[1], self._fq[2]
        f = np.eye(_STATE)
        f[0, 2] = f[1, 3] = dt_s
        q_a = self.config.acceleration_std_px_s2**2
        dt2, dt3, dt4 = dt_s**2, dt_s**3, dt_s**4
        q1 = np.array([[dt4 / 4.0, dt3 / 2.0], [dt3 / 2.0, dt2]]) * q_a
        q = np.zeros((_STATE, _STATE))
        q[np.ix_([0, 2], [0, 2])] = q1
        q[np.ix_([1, 3], [1, 3])] = q1
        self._fq = (dt_s, f, q)
        return f, q

    def _predict(self, track: Track, dt_s: float, ego: tuple[float, float]) -> None:
        f, q = self._transition(dt_s)
        track.x = f @ track.x
        track.x[0] += ego[0]
        track.x[1] += ego[1]
        track.p = f @ track.p @ f.T + q

    def _correct(self, track: Track, z: NDArray[np.float64]) -> None:
        h = self._H
        s = h @ track.p @ h.T + self._r
        k = track.p @ h.T @ np.linalg.inv(s)
        track.x = track.x + k @ (z - h @ track.x)
        track.p = (np.eye(_STATE) - k @ h) @ track.p

    def _new_track(self, det: Detection) -> Track:
        c = self.config
        x = np.array([det.centroid[0], det.centroid[1], 0.0, 0.0])
        p = np.diag([c.measurement_std_px**2, c.measurement_std_px**2,
                     c.initial_velocity_std_px_s**2, c.initial_velocity_std_px_s**2])
        track = Track(x=x, p=p, detection=det, votes=[(det.label, det.confidence)])
        self._maybe_confirm(track)
        return track

    def _maybe_confirm(self, track: Track) -> None:
        if track.track_id == 0 and track.hits >= self.config.confirm_hits:
            track.track_id = self._next_id
            self._next_id += 1

    def _label(self, track: Track) -> str:
        """The current label, or the confidence-weighted vote within its class group."""
        current = track.detection.label
        if not self.config.vote_labels:
            return current
        group = _group(current)
        tally: Counter[str] = Counter()
        for label, conf in track.votes:
            if _group(label) == group:
                tally[label] += conf
        return max(tally, key=tally.__getitem__) if tally else current

    # -- frame update -----------------------------------------------------------------------

    def update(self, detections: list[Detection], dt_s: float,
               ego_shift_px: tuple[float, float] = (0.0, 0.0)) -> list[Detection]:
        """Advance the tracks by ``dt_s`` and assign this frame's detections.

        Parameters
        ----------
        detections : detections of the frame (any labels).
        dt_s : time since the previous frame, s (>= 0).
        ego_shift_px : (dx, dy) shift of static scene content in the image since the previous
            frame, pixels (e.g. ``-(offset_now - offset_before)`` for a camera whose view's
            top-left moves by ``offset`` over the ground).

        Returns
        -------
        Copies of the detections assigned to confirmed tracks, with ``track_id`` set (and the
        voted label if ``vote_labels``), in the order of ``detections``.
        """
        if not (dt_s >= 0 and math.isfinite(dt_s)):
            raise ValueError(f"dt_s must be finite and >= 0, got {dt_s}")
        ego = (float(ego_shift_px[0]), float(ego_shift_px[1]))
        c = self.config
        for track in self.tracks:
            self._predict(track, dt_s, ego)
        assigned = self._assign(detections)
        track_of: dict[int, Track] = {}
        for di, ti in assigned:
            track = self.tracks[ti]
            det = detections[di]
            self._correct(track, np.asarray(det.centroid, np.float64))
            track.detection = det
            track.hits += 1
            track.misses = 0
            track.votes.append((det.label, det.confidence))
            del track.votes[:-c.vote_frames]
            self._maybe_confirm(track)
            track_of[di] = track
        matched = {id(t) for t in track_of.values()}
        for track in self.tracks:
            if id(track) not in matched:
                track.misses += 1
        self.tracks = [t for t in self.tracks if t.misses <= c.max_misses]
        for di, det in enumerate(detections):
            if di not in track_of:
                track_of[di] = self._new_track(det)
                self.tracks.append(track_of[di])
        return [replace(det, track_id=track_of[di].track_id, label=self._label(track_of[di]))
                for di, det in enumerate(detections) if track_of[di].track_id]

    def _assign(self, detections: list[Detection]) -> list[tuple[int, int]]:
        """(detection index, track index) pairs: minimum total distance within the gate."""
        if not detections or not self.tracks:
            return []
        pred = np.array([t.x[:2] for t in self.tracks])
        meas = np.array([d.centroid for d in detections], np.float64)
        cost = np.linalg.norm(meas[:, None, :] - pred[None, :, :], axis=2)
        det_group = np.array([_group(d.label) for d in detections])
        trk_group = np.array([_group(t.detection.label) for t in self.tracks])
        forbidden = (cost > self.config.gate_px) | (det_group[:, None] != trk_group[None, :])
        cost[forbidden] = _UNASSIGNED
        rows, cols = linear_sum_assignment(cost)
        return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if not forbidden[r, c]]
