"""ROS 2 bags without ROS: writing (and type registration) with the ``rosbags`` library.

Bags written here are standard rosbag2 bags (sqlite3 or mcap storage, metadata.yaml, CDR
messages) that ``ros2 bag`` reads. Our own message types are registered from the package's
``.msg`` files.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from pathlib import Path
from typing import Any

from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

PACKAGE = "thermal_perception"
OUR_MESSAGES = ("ThermalStatus", "RoiStatistics", "RoiStatisticsArray", "ThermalDetection",
                "ThermalDetectionArray", "LocatedDetection", "LocatedDetectionArray")
STORAGE = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}


def message_definition_dirs() -> list[Path]:
    """Folders that may hold our .msg files: ROS install prefixes, this Python's prefix,
    and the source tree."""
    prefixes = [Path(p) for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    prefixes.append(Path(sys.prefix))
    dirs = [prefix / "share" / PACKAGE / "msg" for prefix in prefixes]
    dirs.append(Path(__file__).resolve().parents[2] / "msg")
    return dirs


def message_definition(name: str) -> str:
    """Text of our message ``name`` (e.g. "ThermalStatus")."""
    for folder in message_definition_dirs():
        path = folder / f"{name}.msg"
        if path.is_file():
            return path.read_text()
    raise FileNotFoundError(
        f"{name}.msg not found in {[str(d) for d in message_definition_dirs()]}")


def typestore_with_our_messages() -> Typestore:
    """A ROS 2 Kilted typestore with thermal_perception's messages registered."""
    store = get_typestore(Stores.ROS2_KILTED)
    types: dict[str, Any] = {}
    for name in OUR_MESSAGES:
        types.update(get_types_from_msg(message_definition(name), f"{PACKAGE}/msg/{name}"))
    store.register(types)
    return store


class BagWriter:
    """Writes serialized (CDR) messages into a new rosbag2 bag, from any thread.

    The bag is owned by a writer thread fed through a bounded queue (SQLite objects may only
    be used by the thread that made them, and disk writes then never stall the caller's DDS
    callbacks). Errors of the writer thread are raised by :meth:`close`.

    Parameters
    ----------
    path : bag folder to create (must not exist).
    storage : "sqlite3" (rosbag2's default) or "mcap".
    max_queue : messages that may wait for the disk before :meth:`write` blocks.
    """

    def __init__(self, path: str | Path, storage: str = "sqlite3", max_queue: int = 256) -> None:
        if storage not in STORAGE:
            raise ValueError(f"storage must be one of {list(STORAGE)}, got {storage!r}")
        self.path = Path(path)
        self.storage = storage
        self.typestore = typestore_with_our_messages()
        self.counts: dict[str, int] = {}
        self.msgtypes: dict[str, str] = {}
        self._queue: queue.Queue = queue.Queue(max_queue)
        self._error: BaseException | None = None
        self._opened = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bag-writer", daemon=True)
        self._thread.start()
        self._opened.wait()
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        try:
            writer = Writer(self.path, version=9, storage_plugin=STORAGE[self.storage])
            writer.open()
        except Exception as exc:  # reported to the caller of __init__
            self._error = exc
            self._opened.set()
            return
        self._opened.set()
        connections: dict[str, Any] = {}
        try:
            while (item := self._queue.get()) is not None:
                if item[0] == "topic":
                    _, topic, msgtype = item
                    connections[topic] = writer.add_connection(topic, msgtype,
                                                               typestore=self.typestore)
                else:
                    _, topic, timestamp_ns, data = item
                    writer.write(connections[topic], timestamp_ns, data)
        except Exception as exc:  # keep what was written; raised by close()
            self._error = exc
        finally:
            writer.close()

    def add_topic(self, topic: str, msgtype: str) -> None:
        """Declare a topic with its type, e.g. ``("/image_raw", "sensor_msgs/msg/Image")``."""
        if topic not in self.counts:
            self.counts[topic] = 0
            self.msgtypes[topic] = msgtype
            self._queue.put(("topic", topic, msgtype))

    def write(self, topic: str, timestamp_ns: int, data: bytes | memoryview) -> None:
        """Append one serialized message received at ``timestamp_ns``."""
        if topic not in self.counts:
            raise KeyError(f"topic {topic!r} was not added to the bag")
        if self._error is not None or not self._thread.is_alive():
            return  # writer failed: close() reports it
        self._queue.put(("msg", topic, timestamp_ns, bytes(data)))
        self.counts[topic] += 1

    def write_message(self, topic: str, timestamp_ns: int, message: Any) -> None:
        """Serialize a rosbags message object (see :mod:`thermal_perception.io.messages`)
        and append it."""
        self.write(topic, timestamp_ns,
                   self.typestore.serialize_cdr(message, self.msgtypes[topic]))

    def close(self) -> None:
        """Write what is queued, finish the bag (metadata.yaml); raise a writer error."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if self._error is not None:
            raise RuntimeError(f"writing {self.path} failed: {self._error}") from self._error

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
