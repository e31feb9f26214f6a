"""ROS 2 bags without ROS: writing (and type registration) with the ``rosbags`` library.

Bags written here are standard rosbag2 bags (sqlite3 or mcap storage, metadata.yaml, CDR
messages) that ``ros2 bag`` reads. Our own message types are registered from the package's
``.msg`` files.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

PACKAGE = "thermal_perception"
OUR_MESSAGES = ("ThermalStatus",)
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
    """Writes serialized (CDR) messages into a new rosbag2 bag.

    Parameters
    ----------
    path : bag folder to create (must not exist).
    storage : "sqlite3" (rosbag2's default) or "mcap".
    """

    def __init__(self, path: str | Path, storage: str = "sqlite3") -> None:
        if storage not in STORAGE:
            raise ValueError(f"storage must be one of {list(STORAGE)}, got {storage!r}")
        self.path = Path(path)
        self.typestore = typestore_with_our_messages()
        self._writer = Writer(self.path, version=9, storage_plugin=STORAGE[storage])
        self._writer.open()
        self._connections: dict[str, Any] = {}
        self.counts: dict[str, int] = {}

    def add_topic(self, topic: str, msgtype: str) -> None:
        """Declare a topic with its type, e.g. ``("/image_raw", "sensor_msgs/msg/Image")``."""
        if topic not in self._connections:
            self._connections[topic] = self._writer.add_connection(
                topic, msgtype, typestore=self.typestore)
            self.counts[topic] = 0

    def write(self, topic: str, timestamp_ns: int, data: bytes | memoryview) -> None:
        """Append one serialized message received at ``timestamp_ns``."""
        self._writer.write(self._connections[topic], timestamp_ns, data)
        self.counts[topic] += 1

    def close(self) -> None:
        """Finish the bag (writes metadata.yaml)."""
        self._writer.close()

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
