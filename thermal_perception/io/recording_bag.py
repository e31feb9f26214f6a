"""Any recording the driver reads, written as a rosbag2 bag of the driver's topics.

Cacophony .cptv clips, FLIR .seq/.fff/radiometric JPEGs, 16-bit PNG/TIFF or .npy folders and
raw dumps (:func:`~thermal_perception.io.frames.read_frames`) become what the driver would
have published from them: ``<ns>/image_raw`` (``sensor_msgs/Image``, mono16 counts) and
``<ns>/status`` (``ThermalStatus``: source "recording", FPA temperature where recorded, frame
count and rate). ``thermal-perception analyze`` reads such recordings through this (into a
temporary bag), and ``thermal-perception convert`` keeps the bag, e.g. to replay it to live
nodes.

Stamps are the recording's own where it has them (.cptv, FLIR .seq); otherwise frames are
spaced at ``rate_hz`` from a fixed epoch (reproducible bags).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from thermal_perception.io import messages
from thermal_perception.io.bag import BagWriter
from thermal_perception.io.frames import FOLDER_SUFFIXES, is_bag, read_frames
from thermal_perception.io.raw_frame import RawFrame
from thermal_perception.io.sequences import Radiometry

START_NS = 1_700_000_000 * messages.NS_PER_S  # epoch of recordings without stamps
DEFAULT_RATE_HZ = 9.0  # frames without stamps: the export rate of most small cameras


@dataclass
class RecordingBag:
    """What :func:`recording_to_bag` wrote."""

    bag: Path
    frames: int
    width: int
    height: int
    rate_hz: float
    radiometry: Radiometry | None
    stamped: bool  # the recording's own stamps were used


def is_recording(path: str | Path) -> bool:
    """A file or folder of frames that :func:`read_frames` reads and that is not a bag."""
    p = Path(path)
    if is_bag(p):
        return False
    if p.is_dir():
        return any(f.suffix.lower() in FOLDER_SUFFIXES for f in p.iterdir() if f.is_file())
    return p.is_file()


def recording_to_bag(path: str | Path, out: str | Path, *, namespace: str = "",
                     frame_id: str = "thermal_optical_frame", rate_hz: float | None = None,
                     storage: str = "sqlite3", limit: int | None = None,
                     progress: bool = False) -> RecordingBag:
    """Write the frames of ``path`` into a new bag ``out`` (see the module docstring).

    Raises ValueError for a file that is no recording (the message names the formats read),
    FileExistsError when ``out`` exists."""
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out} exists; choose another output")
    if rate_hz is not None and not 0.0 < rate_hz <= 1000.0:
        raise ValueError(f"rate_hz must be in (0, 1000], got {rate_hz}")
    frames = read_frames(path, limit=limit)
    first = next(frames, None)  # errors of an unreadable file come before a bag is made
    if first is None:
        raise ValueError(f"{path}: no frames")
    ns = "/" + namespace.strip("/") if namespace.strip("/") else ""
    raw, status = f"{ns}/image_raw", f"{ns}/status"
    height, width = first.counts.shape
    stamped = first.stamp_ns > 0
    period_ns = round(messages.NS_PER_S / (rate_hz or DEFAULT_RATE_HZ))
    count, last_ns, first_ns = 0, 0, first.stamp_ns
    with BagWriter(out, storage=storage) as bag:
        store = bag.typestore
        bag.add_topic(raw, "sensor_msgs/msg/Image")
        bag.add_topic(status, "thermal_perception/msg/ThermalStatus")
        for frame in _chain(first, frames, progress, Path(path).name):
            if frame.counts.shape != (height, width):
                raise ValueError(f"{path}: frame {count} is {frame.counts.shape[::-1]}, the "
                                 f"first {(width, height)}")
            if stamped and frame.stamp_ns > last_ns:
                stamp = frame.stamp_ns
            else:  # no stamps, or one that does not advance: keep the spacing
                stamp = (last_ns + period_ns) if count else START_NS
            last_ns = stamp
            count += 1
            bag.write_message(raw, stamp, messages.image(store, frame.counts, "mono16", stamp,
                                                         frame_id))
            bag.write_message(status, stamp, messages.thermal_status(
                store, stamp, frame_id, source="recording",
                fpa_temperature_c=frame.fpa_temperature_c, frame_count=count,
                frame_rate_hz=float(rate_hz or 0.0)))
    span_s = (last_ns - (first_ns if stamped else START_NS)) / messages.NS_PER_S
    measured = (count - 1) / span_s if count > 1 and span_s > 0 else (rate_hz or DEFAULT_RATE_HZ)
    return RecordingBag(out, count, width, height, float(measured), first.radiometry, stamped)


def _chain(first: RawFrame, rest: Iterator[RawFrame], progress: bool, name: str
           ) -> Iterator[RawFrame]:
    """``first`` then ``rest``, counted on a progress bar."""
    with tqdm(desc=f"converting {name}", unit="frame", disable=not progress,
              leave=False) as bar:
        yield first
        bar.update()
        for frame in rest:
            yield frame
            bar.update()
