"""Threshold alarms on ROI statistics with hysteresis: :class:`AlarmMonitor` turns each frame's
:class:`~.stats.RoiStats` into alarm states (ok / alarm / invalid) and reports transitions.
Temperatures deg C, hysteresis K.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from thermal_perception.core.measure.shapes import (
    NO_ALARM,
    STATE_ALARM,
    STATE_INVALID,
    STATE_OK,
    Roi,
    RoiAlarm,
    check_unique,
)
from thermal_perception.core.measure.stats import RoiStats

__all__ = ["AlarmMonitor", "AlarmTransition", "AlarmUpdate"]


# --------------------------------------------------------------------------------------------
# Alarms
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlarmTransition:
    """Change of the alarm state of a ROI (for logging).

    Attributes
    ----------
    name : str
    previous, current : str
        States, from :data:`ALARM_STATES`.
    reason : str
        E.g. ``'max 81.0 C >= 80.0 C'`` or ``'no valid pixels'``.
    """

    name: str
    previous: str
    current: str
    reason: str

    def __str__(self) -> str:
        return f"ROI {self.name!r}: {self.previous} -> {self.current} ({self.reason})"


class AlarmUpdate(NamedTuple):
    """Result of :meth:`AlarmMonitor.update`."""

    #: State of every ROI, by name: 'ok', 'alarm', 'invalid', or '' (no alarm rule).
    states: dict[str, str]
    #: State changes of this update, in ROI order.
    transitions: list[AlarmTransition]


@dataclass
class _Latch:
    above: bool = False
    below: bool = False
    state: str = STATE_OK


def _evaluate(alarm: RoiAlarm, stats: RoiStats, latch: _Latch) -> list[str]:
    """Update the latches with hysteresis; return the reasons of the decisive comparisons."""
    reasons = []
    h = alarm.hysteresis_k
    if alarm.above_c is not None:
        m = alarm.above_metric
        v = stats.metric(m)
        level = alarm.above_c - h if latch.above else alarm.above_c
        latch.above = v >= level
        reasons.append(f"{m} {v:.2f} C {'>=' if latch.above else '<'} {level:.2f} C")
    if alarm.below_c is not None:
        m = alarm.below_metric
        v = stats.metric(m)
        level = alarm.below_c + h if latch.below else alarm.below_c
        latch.below = v <= level
        reasons.append(f"{m} {v:.2f} C {'<=' if latch.below else '>'} {level:.2f} C")
    return reasons


class AlarmMonitor:
    """Alarm states of ROIs with hysteresis; pure Python state, deterministic.

    For each ROI with an alarm rule: 'alarm' when a threshold is crossed (metric
    ``>= above_c`` or ``<= below_c``), back to 'ok' only when the metric has returned by more
    than the hysteresis (``< above_c - hysteresis_k``, ``> below_c + hysteresis_k``);
    'invalid' while the ROI has no valid pixel (its alarm memory is cleared, so the next valid
    frame is judged afresh against the thresholds). States start at 'ok'. ROIs without an
    alarm rule have the state '' and no transitions.

    Parameters
    ----------
    rois : iterable of SpotRoi, BoxRoi or PolygonRoi (or a RoiSet)
    """

    def __init__(self, rois: Iterable[Roi]) -> None:
        rois = tuple(rois)
        check_unique(rois)
        self._alarms: dict[str, RoiAlarm | None] = {r.name: r.alarm for r in rois}
        self._latches: dict[str, _Latch] = {}
        self.reset()

    def reset(self) -> None:
        """Back to the initial state ('ok' everywhere)."""
        self._latches = {n: _Latch() for n, a in self._alarms.items() if a is not None}

    @property
    def states(self) -> dict[str, str]:
        """Current state of every ROI, by name (a new dict)."""
        return {n: self._latches[n].state if n in self._latches else NO_ALARM for n in self._alarms}

    def update(self, stats: Iterable[RoiStats]) -> AlarmUpdate:
        """Evaluate one frame's statistics.

        Parameters
        ----------
        stats : iterable of RoiStats
            Usually :meth:`RoiSet.stats` of the same ROIs; ROIs missing here keep their state.

        Returns
        -------
        AlarmUpdate
            ``(states, transitions)``.

        Raises
        ------
        KeyError
            For statistics of a ROI this monitor does not know.
        """
        transitions = []
        for s in stats:
            if s.name not in self._alarms:
                raise KeyError(f"statistics of unknown ROI {s.name!r}")
            alarm = self._alarms[s.name]
            if alarm is None:
                continue
            latch = self._latches[s.name]
            previous = latch.state
            if s.valid_count == 0:
                latch.above = latch.below = False
                latch.state = STATE_INVALID
                reasons = ["no valid pixels"]
            else:
                reasons = _evaluate(alarm, s, latch)
                latch.state = STATE_ALARM if latch.above or latch.below else STATE_OK
            if latch.state != previous:
                transitions.append(
                    AlarmTransition(s.name, previous, latch.state, "; ".join(reasons))
                )
        return AlarmUpdate(self.states, transitions)
