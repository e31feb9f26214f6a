"""Access to V4L2/UVC video devices that stream Y16 or InfiRay YUYV: :class:`Y16Device`
(``open``/``read``/``close``), :class:`OpenCvY16Device` for ``/dev/videoN`` (or a serial
number, resolved through sysfs), and :class:`FakeY16Device`, which serves recorded raw buffers
and can fail, disappear and come back (tests and demos without hardware, selected as
``fake:<file>``).

Library choice: OpenCV's V4L2 backend (``cv2.VideoCapture(path, cv2.CAP_V4L2)``,
``CAP_PROP_FOURCC`` 'Y16 ', ``CAP_PROP_CONVERT_RGB`` 0) is already a dependency, is kept up by
the OpenCV project, and with RGB conversion off returns the driver's buffer untouched (a 1xN
uint8 row in OpenCV >= 4.5, a (H, W) uint16 image in older releases; both are accepted; InfiRay
YUYV frames come as a 1xN or an (H, W, 2) uint8 array). Rejected: ``linuxpy`` (pure-Python
ioctls with full format and control access, but one more dependency for what OpenCV already
does), the unmaintained ``v4l2``/``pyv4l2`` packages, and hand-written ioctls (``fcntl``),
which would duplicate OpenCV's buffer handling.
"""

from __future__ import annotations

import errno
import os
import re
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from thermal_perception.io.uvc_frames import V4L2_FORMATS

FOURCCS = {"y16": ("Y16 ",), "infiray": ("YUYV", "YUY2")}  # first: the one requested
FAKE_PREFIX = "fake:"
V4L_SYSFS = Path("/sys/class/video4linux")
V4L_BY_ID = Path("/dev/v4l/by-id")


class CameraDisconnected(OSError):
    """The camera is not connected (unplugged, not yet found, failed); the source retries."""

# --------------------------------------------------------------------------------------------
# Devices
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceFormat:
    """What an opened device delivers: frames of width x height pixels at fps (0: unknown)."""

    width: int
    height: int
    fps: float
    path: str


class Y16Device(Protocol):
    """Access to one Y16 (or InfiRay YUYV) camera.

    ``open`` raises OSError when the device is absent or refuses the format; ``read`` blocks
    until the
    next frame and returns the raw buffer and its capture time (``time.monotonic_ns`` clock,
    None if unknown), raising OSError when the device fails or disappears.
    """

    def open(self, width: int, height: int) -> DeviceFormat: ...

    def read(self) -> tuple[bytes | NDArray, int | None]: ...

    def close(self) -> None: ...


def usb_attribute(video: Path, name: str) -> str:
    """A USB attribute (serial, idVendor, idProduct) of a video4linux node ('' if none)."""
    device = video / "device"
    for candidate in (device / name, device / ".." / name):
        try:
            return candidate.read_text().strip()
        except OSError:
            continue
    return ""


def _node_index(video: Path) -> int:
    try:
        return int((video / "index").read_text().strip())
    except (OSError, ValueError):
        return 0


def resolve_device(spec: str, sysfs: Path = V4L_SYSFS, by_id: Path = V4L_BY_ID,
                   dev: Path = Path("/dev")) -> str:
    """The ``/dev/videoN`` path of ``spec``.

    ``spec``: a device path (returned as is), a serial number (matched against the USB serial of
    each ``/sys/class/video4linux/videoN`` and against the ``/dev/v4l/by-id`` link names), or a
    USB id ``vendor:product`` in hex (e.g. ``1e4e:0100``, PureThermal). Of a device's nodes the
    capture node (sysfs ``index`` 0) is chosen. Raises CameraDisconnected when nothing matches.
    """
    if spec.startswith("/"):
        return spec
    usb_id = re.fullmatch(r"([0-9a-fA-F]{4}):([0-9a-fA-F]{4})", spec)
    matches: list[tuple[int, str]] = []
    nodes = sorted(sysfs.glob("video*")) if sysfs.is_dir() else []
    for video in nodes:
        if usb_id:
            found = (usb_attribute(video, "idVendor").lower() == usb_id[1].lower()
                     and usb_attribute(video, "idProduct").lower() == usb_id[2].lower())
        else:
            found = usb_attribute(video, "serial") == spec
        if found:
            matches.append((_node_index(video), str(dev / video.name)))
    if not matches and not usb_id and by_id.is_dir():
        for link in sorted(by_id.iterdir()):
            if spec in link.name and link.name.endswith("-index0"):
                matches.append((0, str(link.resolve())))
    if not matches:
        raise CameraDisconnected(errno.ENODEV, f"no video device with "
                                 f"{'USB id' if usb_id else 'serial'} {spec!r}")
    return min(matches, key=lambda m: (m[0], len(m[1]), m[1]))[1]


class OpenCvY16Device:
    """A V4L2 camera through OpenCV, opened by path, serial or USB id (:func:`resolve_device`,
    again at every ``open`` so that a re-plugged camera is found under its new node), in the
    stream format ``stream_format`` (:data:`V4L2_FORMATS`: Y16, or YUYV for InfiRay)."""

    def __init__(self, spec: str, stream_format: str = "y16") -> None:
        if stream_format not in FOURCCS:
            raise ValueError(f"stream format {stream_format!r}; known: {list(FOURCCS)}")
        self.spec = spec
        self.fourccs = FOURCCS[stream_format]
        self.path = ""
        self._capture = None

    def open(self, width: int, height: int) -> DeviceFormat:
        import cv2

        self.close()
        self.path = resolve_device(self.spec)
        if not os.path.exists(self.path):
            raise CameraDisconnected(errno.ENODEV, f"{self.path} does not exist")
        capture = cv2.VideoCapture(self.path, cv2.CAP_V4L2)
        if not capture.isOpened():
            raise CameraDisconnected(errno.EIO, f"cannot open {self.path} with V4L2")
        wanted = [cv2.VideoWriter.fourcc(*code) for code in self.fourccs]
        capture.set(cv2.CAP_PROP_FOURCC, wanted[0])  # the format first, then size and raw mode
        if width and height:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        capture.set(cv2.CAP_PROP_CONVERT_RGB, 0)
        capture.set(cv2.CAP_PROP_FORMAT, -1)  # raw buffers where the backend knows -1
        fourcc = int(capture.get(cv2.CAP_PROP_FOURCC))
        if fourcc not in wanted:
            name = fourcc.to_bytes(4, "little").decode("ascii", "replace")
            capture.release()
            raise OSError(errno.EINVAL, f"{self.path} does not stream {self.fourccs[0].strip()} "
                                        f"(format {name!r})")
        self._capture = capture
        return DeviceFormat(int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                            int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                            max(float(capture.get(cv2.CAP_PROP_FPS)), 0.0), self.path)

    def read(self) -> tuple[NDArray, int | None]:
        import cv2

        if self._capture is None:
            raise CameraDisconnected(errno.ENODEV, "device not open")
        ok, frame = self._capture.read()
        now_mono = time.monotonic_ns()
        if not ok or frame is None:
            gone = not os.path.exists(self.path)
            raise CameraDisconnected(errno.ENODEV if gone else errno.EIO,
                                     f"{self.path}: {'device removed' if gone else 'read failed'}")
        # the V4L2 buffer timestamp (CLOCK_MONOTONIC, ms) where the backend reports it
        stamp_ms = float(self._capture.get(cv2.CAP_PROP_POS_MSEC))
        stamp = round(stamp_ms * 1e6) if stamp_ms > 0 else None
        if stamp is not None and not 0 <= now_mono - stamp < 1_000_000_000:
            stamp = None  # another clock: fall back to the read time
        return frame, stamp if stamp is not None else now_mono

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


FAULTS = ("short", "oversized", "garbled", "error")


class FakeY16Device:
    """A Y16 camera that serves recorded raw buffers in a loop at ``fps`` (``pixel_format``
    "YUYV": an InfiRay camera, buffers of :func:`encode_infiray`).

    It is present while ``present()`` is true (for :meth:`from_file`: while the file exists, so
    that renaming the file unplugs it, like a USB camera's /dev node). Faults queued with
    :meth:`inject` hit the next reads: ``short``/``oversized`` buffers, ``garbled`` buffers
    (random bytes of the right size) and ``error`` (a failed read, EIO).
    """

    def __init__(self, buffers: Sequence[bytes], width: int, height: int, fps: float,
                 present: Callable[[], bool] | None = None, name: str = "fake",
                 seed: int = 0, pixel_format: str = "Y16") -> None:
        if not buffers:
            raise ValueError("a fake device needs at least one buffer")
        if fps <= 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.buffers, self.width, self.height, self.fps = list(buffers), width, height, fps
        self.present = present or (lambda: True)
        self.name = name
        self.pixel_format = pixel_format
        self.faults: deque[str] = deque()
        self.opened = False
        self.reads = 0
        self._next_ns = 0
        self._rng = np.random.default_rng(seed)

    @classmethod
    def from_file(cls, path: str | Path, fps: float, pixel_format: str = "Y16"
                  ) -> FakeY16Device:
        """Buffers of a recording readable by :func:`~thermal_perception.io.frames.read_frames`
        (a .npy stack, a raw dump, a folder of 16-bit images), telemetry lines included; for
        "YUYV" each frame is the buffer's 2-byte pixels as little-endian uint16 words (e.g.
        (384, 256) for an InfiRay camera, display half included)."""
        from thermal_perception.io.frames import read_frames

        path = Path(path)
        frames = [f.counts for f in read_frames(path)]
        if not frames:
            raise ValueError(f"fake device {path}: no frames")
        height, width = frames[0].shape
        if any(f.shape != (height, width) for f in frames):
            raise ValueError(f"fake device {path}: frames of different sizes")
        buffers = [f.astype("<u2").tobytes() for f in frames]
        return cls(buffers, width, height, fps, present=path.exists, name=f"{FAKE_PREFIX}{path}",
                   pixel_format=pixel_format)

    def inject(self, *faults: str) -> None:
        """Queue faults for the next reads (one per read)."""
        unknown = set(faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {list(FAULTS)}")
        self.faults.extend(faults)

    def open(self, width: int, height: int) -> DeviceFormat:
        if not self.present():
            raise CameraDisconnected(errno.ENODEV, f"{self.name} is not present")
        if (width and width != self.width) or (height and height != self.height):
            raise OSError(errno.EINVAL, f"{self.name} streams {self.width}x{self.height} "
                                        f"{self.pixel_format}, not {width}x{height}")
        self.opened = True
        self._next_ns = time.monotonic_ns()
        return DeviceFormat(self.width, self.height, self.fps, self.name)

    def read(self) -> tuple[bytes, int]:
        if not self.opened:
            raise CameraDisconnected(errno.ENODEV, f"{self.name} is not open")
        period_ns = round(1e9 / self.fps)
        now = time.monotonic_ns()
        if self._next_ns > now:
            time.sleep((self._next_ns - now) * 1e-9)
        self._next_ns = max(self._next_ns + period_ns, time.monotonic_ns())
        if not self.present():
            self.opened = False
            raise CameraDisconnected(errno.ENODEV, f"{self.name}: No such device")
        buffer = self.buffers[self.reads % len(self.buffers)]
        self.reads += 1
        fault = self.faults.popleft() if self.faults else None
        if fault == "error":
            raise OSError(errno.EIO, f"{self.name}: read failed")
        if fault == "short":
            buffer = buffer[: len(buffer) // 2]
        elif fault == "oversized":
            buffer = buffer + bytes(2 * self.width)
        elif fault == "garbled":
            buffer = self._rng.integers(0, 256, len(buffer), dtype=np.uint8).tobytes()
        return buffer, time.monotonic_ns()

    def close(self) -> None:
        self.opened = False


def open_device(spec: str, fps: float, stream_format: str = "y16") -> Y16Device:
    """The device of a ``device`` parameter: ``fake:<file>`` (test/demo device, frames at
    ``fps``) or a path, serial number or USB id of a real camera, streaming in
    ``stream_format`` (:data:`V4L2_FORMATS`)."""
    if stream_format not in V4L2_FORMATS:
        raise ValueError(f"stream format {stream_format!r}; known: {list(V4L2_FORMATS)}")
    if spec.startswith(FAKE_PREFIX):
        path = spec[len(FAKE_PREFIX):]
        if not path:
            raise ValueError("fake device needs a file: fake:<.npy stack, raw dump or folder>")
        if not Path(path).exists():
            raise ValueError(f"fake device file {path} does not exist")
        return FakeY16Device.from_file(path, fps, FOURCCS[stream_format][0].strip())
    if not spec.strip():
        raise ValueError("no device given (path, serial number, vendor:product or fake:<file>)")
    return OpenCvY16Device(spec, stream_format)
