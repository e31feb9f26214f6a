"""Writing the outputs of the offline analysis: the processed bag (every original message plus the
analysis topics, through rosbags' rosbag2 ``Writer``, MCAP or SQLite, zstd-compressed by
default), filled by a :class:`SerialWorker` thread so the analysis never waits on the disk;
files written atomically.
"""

from __future__ import annotations

import contextlib
import io
import os
import queue
import shutil
import tempfile
import threading
from collections.abc import Callable, Collection
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from rosbags.rosbag2 import CompressionFormat, CompressionMode, StoragePlugin, Writer

from thermal_perception.analysis.bag_reading import BagSource, Topic, register_definitions
from thermal_perception.io.bag import typestore_with_our_messages

WRITER_STORAGE = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}

COMPRESSIONS = ("zstd", "none")  # processed bags: zstd by default

ROSBAG2_VERSION = 9

FILE_MODE = 0o666  # regular files, before the umask

class SerialWorker:
    """Runs submitted calls in order on one background thread, with a bounded backlog.

    The first exception stops the work: it is kept in :attr:`error`, later calls are skipped
    (their futures fail too) and :meth:`close` returns it."""

    def __init__(self, name: str, backlog: int) -> None:
        self._queue: queue.Queue = queue.Queue(backlog)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            future, func, args = item
            if self.error is not None:
                future.set_exception(RuntimeError(f"skipped after an error: {self.error}"))
                continue
            try:
                future.set_result(func(*args))
            except BaseException as exc:  # reported by close() and the future
                self.error = exc
                future.set_exception(exc)

    def submit(self, func: Callable[..., Any], *args: Any) -> Future:
        """Queue ``func(*args)``; blocks while the backlog is full."""
        future: Future = Future()
        if self.error is not None or not self._thread.is_alive():
            future.set_exception(RuntimeError(f"worker stopped: {self.error}"))
            return future
        self._queue.put((future, func, args))
        return future

    def call(self, func: Callable[..., Any], *args: Any) -> Any:
        """Run ``func(*args)`` on the worker thread and return its result."""
        return self.submit(func, *args).result()

    def close(self) -> BaseException | None:
        """Finish the queued calls; returns the first error (None if all succeeded)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        return self.error


class ProcessedBagWriter:
    """The processed bag: the source's messages copied unchanged plus the analysis topics.

    One background thread owns the rosbags writer (SQLite objects are bound to their thread)
    and writes into ``.<target>.partial``; :meth:`finish` renames it to ``target``, so an
    interrupted run leaves no bag that looks complete. ROS 1 sources are converted to CDR with
    rosbags' converter.

    Parameters
    ----------
    target : bag folder to create (replaced if it exists when the bag is finished).
    storage : "sqlite3" or "mcap".
    source : the bag being analysed.
    copy_topics : its topics to copy.
    backlog : messages that may wait for the disk before a write blocks.
    """

    def __init__(self, target: Path, storage: str, source: BagSource,
                 copy_topics: Collection[Topic], backlog: int,
                 compression: str = "zstd") -> None:
        if compression not in COMPRESSIONS:
            raise ValueError(f"bag compression must be one of {COMPRESSIONS}, "
                             f"got {compression!r}")
        self.target = target
        self.compression = compression
        # the bag is written as <hidden>/<target name>/ so that its data file gets the name
        # it keeps (<target name>.mcap / .db3), then the folder is moved into place
        self.partial_root = target.with_name(f".{target.name}.partial")
        self.partial = self.partial_root / target.name
        if self.partial_root.exists():
            shutil.rmtree(self.partial_root)
        self.partial_root.mkdir(parents=True)
        self.typestore = typestore_with_our_messages()
        self.counts: dict[str, int] = {}
        self.problems: list[str] = []
        self._connections: dict[str, Any] = {}
        self._copy: dict[int, tuple[Any, Callable[[bytes], Any]]] = {}
        self.worker = SerialWorker("processed-bag", backlog)
        self.writer = self.worker.call(self._open, storage)
        if source.is_ros1:
            self.worker.call(self._copy_ros1, source, list(copy_topics))
        else:
            for topic in copy_topics:
                self.worker.call(self._copy_ros2, topic)

    def _open(self, storage: str) -> Writer:
        writer = Writer(self.partial, version=ROSBAG2_VERSION,
                        storage_plugin=WRITER_STORAGE[storage])
        if self.compression == "zstd":
            # MCAP: zstd chunks (rosbag2's and the MCAP readers decode them); SQLite: each
            # message zstd-compressed, as `ros2 bag record --compression-mode message` writes
            mode = CompressionMode.STORAGE if storage == "mcap" else CompressionMode.MESSAGE
            writer.set_compression(mode, CompressionFormat.ZSTD)
        writer.open()
        return writer

    def _copy_ros2(self, topic: Topic) -> None:
        try:
            if topic.msgdef and topic.digest and topic.msgdef_format in ("ros2msg", "ros2idl"):
                conn = self.writer.add_connection(
                    topic.topic, topic.msgtype, msgdef=topic.msgdef, rihs01=topic.digest,
                    offered_qos_profiles=topic.qos)
            else:
                if topic.msgtype not in self.typestore.fielddefs:
                    register_definitions(self.typestore, [topic])
                conn = self.writer.add_connection(topic.topic, topic.msgtype,
                                                  typestore=self.typestore,
                                                  offered_qos_profiles=topic.qos)
        except Exception as exc:
            self.problems.append(f"topic {topic.topic} ({topic.msgtype}) not copied: {exc}")
            return
        self._copy[id(topic)] = (conn, bytes)

    def _copy_ros1(self, source: BagSource, topics: list[Topic]) -> None:
        from rosbags.convert.converter import create_connections_converters

        try:
            with contextlib.redirect_stdout(io.StringIO()):
                connmap, convmap = create_connections_converters(
                    [t.key for t in topics], None, source.reader, self.writer)
        except Exception as exc:
            self.problems.append(f"ROS 1 messages not copied (conversion failed: {exc})")
            return
        for topic in topics:
            key = (topic.key.id, topic.key.owner)
            if key in connmap and topic.msgtype in convmap:
                self._copy[id(topic)] = (connmap[key], convmap[topic.msgtype])

    def _add_topic(self, topic: str, msgtype: str) -> None:
        self._connections[topic] = self.writer.add_connection(topic, msgtype,
                                                              typestore=self.typestore)

    def add_topic(self, topic: str, msgtype: str) -> None:
        """Declare an analysis topic (type from the package's typestore)."""
        self.worker.call(self._add_topic, topic, msgtype)
        self.counts[topic] = 0

    def copy(self, topic: Topic, timestamp_ns: int, data: bytes) -> None:
        """Copy one source message (unchanged for rosbag2 sources)."""
        entry = self._copy.get(id(topic))
        if entry is not None:
            self.worker.submit(self._write_copy, entry, timestamp_ns, data)

    def write_message(self, topic: str, timestamp_ns: int, message: Any, msgtype: str) -> None:
        """Serialize one analysis message now (its arrays may be reused after the call) and
        queue it for writing."""
        data = self.typestore.serialize_cdr(message, msgtype)
        self.counts[topic] += 1
        self.worker.submit(self._write, self._connections[topic], timestamp_ns, data)

    def _write_copy(self, entry: tuple[Any, Callable[[bytes], Any]], timestamp_ns: int,
                    data: bytes) -> None:
        conn, convert = entry
        self.writer.write(conn, timestamp_ns, convert(data))

    def _write(self, conn: Any, timestamp_ns: int, data: bytes) -> None:
        self.writer.write(conn, timestamp_ns, data)

    def finish(self) -> None:
        """Close the bag and move it into place; raises the writer's first error."""
        closed = self.worker.submit(self.writer.close)
        error = self.worker.close()
        if error is not None:
            raise RuntimeError(f"writing {self.target.name} failed: {error}") from error
        closed.result()
        replace_dir(self.partial, self.target)
        shutil.rmtree(self.partial_root, ignore_errors=True)

    def size_bytes(self) -> int:
        """Bytes of the finished bag on disk."""
        return sum(f.stat().st_size for f in self.target.rglob("*") if f.is_file())

    def abort(self) -> None:
        """Drop the partial bag."""
        self.worker.submit(self.writer.close)
        self.worker.close()
        shutil.rmtree(self.partial_root, ignore_errors=True)


def replace_dir(source: Path, target: Path) -> None:
    """Move folder ``source`` to ``target``, replacing an existing ``target`` (the old one is
    moved aside first, so ``target`` is always either the old or the new folder)."""
    old = target.with_name(f".{target.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        os.replace(target, old)
    os.replace(source, target)
    shutil.rmtree(old, ignore_errors=True)


def _file_mode() -> int:
    """Permissions of a new file under the process umask (mkstemp makes 0600 files)."""
    umask = os.umask(0)
    os.umask(umask)
    return FILE_MODE & ~umask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, NEW_FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


NEW_FILE_MODE = _file_mode()


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode())


def atomic_writer(path: Path, write: Callable[[io.TextIOBase], None]) -> None:
    """Write a text file through ``write(stream)``, atomically."""
    buffer = io.StringIO()
    write(buffer)
    atomic_write_text(path, buffer.getvalue())
