"""Reading bags for the offline analysis, including damaged ones.

:func:`open_bag` opens ROS 1 bags and rosbag2 folders (sqlite3, mcap) with rosbags'
``AnyReader``. When that fails (a recording cut short: truncated file, missing metadata.yaml)
or for a bare ``.db3``/``.mcap`` file, a tolerant reader of the storage file takes over and
yields every message before the damage:

* sqlite3: a private copy whose header is corrected to the pages really present is scanned in
  insertion order until the first unreadable page;
* mcap: records are scanned from the start; complete chunks, and the complete records of an
  uncompressed chunk cut in the middle, are read.

What could not be read is listed in ``BagSource.problems``.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import struct
import tempfile
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rosbags.typesys import get_types_from_idl, get_types_from_msg
from rosbags.typesys.store import Typestore

from thermal_perception.io.bag import typestore_with_our_messages

STORAGE_SUFFIXES = {".db3": "sqlite3", ".mcap": "mcap"}

IDL_SEPARATOR = "=" * 80 + "\n"

# sqlite file format: page size at byte 16 (big-endian u16, 1 means 65536), page count at 28.
SQLITE_PAGE_SIZE_OFFSET = 16

SQLITE_PAGE_COUNT_OFFSET = 28

SQLITE_HEADER_BYTES = 100

SQLITE_MAX_PAGE_SIZE = 65536

# mcap records (https://mcap.dev/spec): opcode u8, length u64, body.
MCAP_MAGIC = b"\x89MCAP0\r\n"

OP_FOOTER, OP_SCHEMA, OP_CHANNEL, OP_MESSAGE, OP_CHUNK, OP_DATA_END = 0x02, 0x03, 0x04, 0x05, \
    0x06, 0x0F

RECORD_HEAD = struct.Struct("<BQ")

CHUNK_HEAD = struct.Struct("<QQQI")  # start time, end time, uncompressed size, crc

MESSAGE_HEAD = struct.Struct("<HIQQ")  # channel id, sequence, log time, publish time

U16, U32, U64 = struct.Struct("<H"), struct.Struct("<I"), struct.Struct("<Q")

class BagReadError(RuntimeError):
    """A bag that cannot be read at all."""


@dataclass
class Topic:
    """One connection of a bag.

    msgdef : message definition text ("" if the bag has none); msgdef_format: "ros2msg",
    "ros2idl", "msg" (ROS 1) or "". digest : type hash (RIHS01, or ROS 1 md5sum), "" if none.
    qos : offered QoS profiles (rosbags objects) of rosbag2 bags.
    """

    topic: str
    msgtype: str
    msgdef: str = ""
    msgdef_format: str = ""
    digest: str = ""
    qos: list[Any] = field(default_factory=list)
    key: Any = None  # the reader's own handle (rosbags Connection, sqlite/mcap id)


class BagSource:
    """Messages of one bag in time (or recording) order, with what could not be read."""

    path: Path
    storage: str  # "sqlite3", "mcap" or "ros1"
    is_ros1: bool = False
    salvaged: bool = False  # read by the tolerant storage reader
    topics: list[Topic]
    typestore: Typestore
    reader: Any = None  # rosbags AnyReader, when it could open the bag

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.messages_read = 0
        self.recorded: dict[str, int] = {}  # messages per topic the bag should hold

    def recorded_count(self, topic: Topic) -> int:
        """Messages of ``topic`` the bag should hold (0 if unknown)."""
        count = getattr(topic.key, "msgcount", 0) if self.reader is not None else 0
        return int(count or self.recorded.get(topic.topic, 0))

    def _raw_messages(self, topics: Collection[Topic]) -> Iterator[tuple[Topic, int, bytes]]:
        raise NotImplementedError

    def messages(self, topics: Collection[Topic] | None = None
                 ) -> Iterator[tuple[Topic, int, bytes]]:
        """(topic, receive time ns, serialized message); stops at the first unreadable part
        of the bag and records why in :attr:`problems`."""
        wanted = list(self.topics if topics is None else topics)
        if not wanted:
            return
        try:
            for item in self._raw_messages(wanted):
                self.messages_read += 1
                yield item
        except Exception as exc:  # damaged data: keep what was read, say what was not
            self.problems.append(f"reading stopped after {self.messages_read} messages: "
                                 f"{type(exc).__name__}: {exc}")

    def deserialize(self, data: bytes, msgtype: str) -> Any:
        """Message object of serialized ``data``."""
        if self.is_ros1:
            return self.typestore.deserialize_ros1(data, msgtype)
        # A memoryview: rosbags skips the 4-byte CDR header by slicing, which copies bytes
        # (0.25 ms for a 640x512 mono16 image) and not a view.
        return self.typestore.deserialize_cdr(memoryview(data), msgtype)

    def close(self) -> None:
        """Release files (and temporary copies)."""

    def __enter__(self) -> BagSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def register_definitions(store: Typestore, topics: Collection[Topic]) -> list[str]:
    """Register the bag's own message definitions for types ``store`` lacks; returns the
    types that stay unknown."""
    unknown = []
    for t in topics:
        if t.msgtype in store.fielddefs:
            continue
        try:
            if t.msgdef_format in ("ros2msg", "msg") and t.msgdef:
                store.register(get_types_from_msg(t.msgdef, t.msgtype))
            elif t.msgdef_format == "ros2idl" and t.msgdef:
                parts = t.msgdef.split(IDL_SEPARATOR)[1:] if t.msgdef.startswith(
                    IDL_SEPARATOR) else [t.msgdef]
                for part in parts:
                    store.register(get_types_from_idl(part.split("\n", 1)[-1]
                                                      if part.startswith("IDL: ") else part))
            else:
                unknown.append(t.msgtype)
        except Exception:  # a definition rosbags cannot parse: the topic is only copied
            unknown.append(t.msgtype)
    return unknown


class AnyReaderSource(BagSource):
    """A healthy bag, through rosbags' AnyReader."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        from rosbags.highlevel import AnyReader

        self.path = path
        default = typestore_with_our_messages()
        self.reader = AnyReader([path], default_typestore=default)
        self.reader.open()
        self.is_ros1 = not self.reader.is2
        if self.is_ros1:
            self.storage = "ros1"
        else:
            suffixes = [f.suffix for f in storage_files(path)]
            self.storage = STORAGE_SUFFIXES.get(suffixes[0], "sqlite3") if suffixes \
                else "sqlite3"
        self.typestore = self.reader.typestore
        missing = {name: defs for name, defs in default.fielddefs.items()
                   if name not in self.typestore.fielddefs}
        if missing and not self.is_ros1:
            self.typestore.register(missing)
        self.topics = []
        for conn in self.reader.connections:
            fmt = getattr(conn.msgdef.format, "name", "")
            self.topics.append(Topic(
                conn.topic, conn.msgtype, conn.msgdef.data or "",
                {"MSG": "msg" if self.is_ros1 else "ros2msg", "IDL": "ros2idl"}.get(fmt, ""),
                conn.digest or "", list(getattr(conn.ext, "offered_qos_profiles", []) or []),
                conn))

    def _raw_messages(self, topics: Collection[Topic]) -> Iterator[tuple[Topic, int, bytes]]:
        by_conn = {id(t.key): t for t in topics}
        for conn, timestamp, data in self.reader.messages(connections=[t.key for t in topics]):
            yield by_conn[id(conn)], timestamp, data

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.reader.close()


class StorageFileSource(BagSource):
    """Tolerant reader of rosbag2 storage files (.db3, .mcap) without (or despite) metadata."""

    def __init__(self, path: Path, files: list[Path]) -> None:
        super().__init__()
        self.path = path
        self.files = files
        self.salvaged = True
        self.storage = STORAGE_SUFFIXES[files[0].suffix]
        self.typestore = typestore_with_our_messages()
        self.topics = []
        self._tmp: str | None = None
        self._by_key: dict[tuple[int, Any], Topic] = {}
        self._by_name: dict[tuple[str, str], Topic] = {}
        for index, file in enumerate(files):
            if file.suffix == ".db3":
                self._sqlite_topics(index, file)
            else:
                self._mcap_topics(index, file)
        unknown = register_definitions(self.typestore, self.topics)
        if unknown:
            self.problems.append(f"no usable definition of {sorted(set(unknown))}: those "
                                 "topics are copied but not decoded")

    # -- bookkeeping ------------------------------------------------------------------------

    def _add_topic(self, key: tuple[int, Any], topic: Topic) -> None:
        existing = self._by_name.get((topic.topic, topic.msgtype))
        if existing is None:
            self._by_name[(topic.topic, topic.msgtype)] = topic
            self.topics.append(topic)
            existing = topic
        self._by_key[key] = existing

    # -- sqlite3 ----------------------------------------------------------------------------

    def _sqlite_connect(self, file: Path) -> sqlite3.Connection:
        """Read-only connection; a damaged file is read from a copy with a repaired header."""
        con = sqlite3.connect(f"file:{file}?mode=ro", uri=True, check_same_thread=False)
        try:
            con.execute("SELECT name FROM sqlite_master").fetchall()
            return con
        except sqlite3.DatabaseError as exc:
            con.close()
            self.problems.append(f"{file.name}: {exc}; reading the pages that are present")
        if self._tmp is None:
            self._tmp = tempfile.mkdtemp(prefix="thermal_analysis_salvage_")
        copy = Path(self._tmp) / file.name
        shutil.copyfile(file, copy)
        with open(copy, "r+b") as f:
            header = f.read(SQLITE_HEADER_BYTES)
            (page,) = struct.unpack_from(">H", header, SQLITE_PAGE_SIZE_OFFSET)
            page = SQLITE_MAX_PAGE_SIZE if page == 1 else page
            pages = copy.stat().st_size // page
            f.truncate(pages * page)
            f.seek(SQLITE_PAGE_COUNT_OFFSET)
            f.write(struct.pack(">I", pages))
        return sqlite3.connect(f"file:{copy}?mode=ro&immutable=1", uri=True,
                               check_same_thread=False)

    def _sqlite_topics(self, index: int, file: Path) -> None:
        con = self._sqlite_connect(file)
        self._sqlite = getattr(self, "_sqlite", {})
        self._sqlite[index] = con
        definitions: dict[str, tuple[str, str, str]] = {}
        with contextlib.suppress(sqlite3.DatabaseError):
            cur = con.execute("SELECT * FROM message_definitions")
            names = [d[0] for d in cur.description]
            for row in cur:
                r = dict(zip(names, row, strict=True))
                definitions[r["topic_type"]] = (r.get("encoded_message_definition") or "",
                                                r.get("encoding") or "",
                                                r.get("type_description_hash") or "")
        try:
            cur = con.execute("SELECT * FROM topics")
        except sqlite3.DatabaseError as exc:
            raise BagReadError(f"{file}: the topics table is unreadable: {exc}") from exc
        names = [d[0] for d in cur.description]
        for row in cur:
            r = dict(zip(names, row, strict=True))
            msgdef, fmt, digest = definitions.get(r["type"], ("", "", ""))
            qos: list[Any] = []
            with contextlib.suppress(Exception):
                from rosbags.rosbag2.metadata import parse_qos

                qos = parse_qos(r.get("offered_qos_profiles") or "") or []
            self._add_topic((index, r["id"]), Topic(
                r["name"], r["type"], msgdef, fmt, r.get("type_description_hash") or digest, qos))

    def _sqlite_messages(self, index: int, ids: set[int]) -> Iterator[tuple[Topic, int, bytes]]:
        con = self._sqlite[index]
        marks = ",".join("?" * len(ids))
        cur = con.execute(f"SELECT topic_id, timestamp, data FROM messages "
                          f"WHERE topic_id IN ({marks}) ORDER BY id", sorted(ids))
        for topic_id, timestamp, data in cur:
            yield self._by_key[(index, topic_id)], timestamp, data

    # -- mcap -------------------------------------------------------------------------------

    def _mcap_topics(self, index: int, file: Path) -> None:
        for _ in self._mcap_scan(index, file, None):
            pass

    def _mcap_scan(self, index: int, file: Path, wanted: set[int] | None
                   ) -> Iterator[tuple[Topic, int, bytes]]:
        """Scan records; ``wanted`` None: collect schemas and channels only."""
        schemas: dict[int, tuple[str, str, str]] = {}
        problems = self.problems if wanted is None else []
        with open(file, "rb") as f:
            if f.read(len(MCAP_MAGIC)) != MCAP_MAGIC:
                raise BagReadError(f"{file} is not an MCAP file")
            while True:
                head = f.read(RECORD_HEAD.size)
                if len(head) < RECORD_HEAD.size:
                    if head or wanted is None:
                        problems.append(f"{file.name}: ends without a footer (truncated)")
                    return
                op, length = RECORD_HEAD.unpack(head)
                if op in (OP_FOOTER, OP_DATA_END):
                    return
                body = f.read(length)
                if op == OP_CHUNK:
                    records = self._mcap_chunk(file, body, length, problems)
                    yield from self._mcap_records(index, records, schemas, wanted)
                elif len(body) < length:
                    problems.append(f"{file.name}: truncated in a record at byte "
                                    f"{f.tell() - len(body)}")
                    return
                else:
                    yield from self._mcap_records(
                        index, RECORD_HEAD.pack(op, length) + body, schemas, wanted)
                if len(body) < length:
                    return

    @staticmethod
    def _mcap_chunk(file: Path, body: bytes, length: int, problems: list[str]) -> bytes:
        """Records of a chunk; of a chunk cut short only what is readable."""
        view = memoryview(body)
        _, _, size, crc = CHUNK_HEAD.unpack_from(view, 0)
        pos = CHUNK_HEAD.size
        (n,) = U32.unpack_from(view, pos)
        compression = bytes(view[pos + U32.size:pos + U32.size + n]).decode()
        pos += U32.size + n
        (compressed_size,) = U64.unpack_from(view, pos)
        pos += U64.size
        data = bytes(view[pos:pos + compressed_size])
        if len(body) < length or len(data) < compressed_size:
            if compression:
                problems.append(f"{file.name}: the last ({compression}) chunk is cut short; "
                                "its messages are lost")
                return b""
            problems.append(f"{file.name}: the last chunk is cut short; its complete "
                            "messages are read")
            return data
        if not compression:
            return data
        from rosbags.rosbag2.storage_mcap import decompress

        return bytes(decompress(data, compression, size, crc))

    def _mcap_records(self, index: int, data: bytes, schemas: dict[int, tuple[str, str, str]],
                      wanted: set[int] | None) -> Iterator[tuple[Topic, int, bytes]]:
        view = memoryview(data)
        pos = 0
        while pos + RECORD_HEAD.size <= len(view):
            op, length = RECORD_HEAD.unpack_from(view, pos)
            start = pos + RECORD_HEAD.size
            if start + length > len(view):
                return  # a record cut short at the end of a damaged chunk
            body = view[start:start + length]
            pos = start + length
            if op == OP_MESSAGE:
                channel, _, log_time, _ = MESSAGE_HEAD.unpack_from(body, 0)
                if wanted is not None and channel in wanted:
                    yield self._by_key[(index, channel)], log_time, bytes(
                        body[MESSAGE_HEAD.size:])
            elif op == OP_SCHEMA and wanted is None:
                (sid,) = U16.unpack_from(body, 0)
                name, p = _mcap_string(body, U16.size)
                encoding, p = _mcap_string(body, p)
                (n,) = U32.unpack_from(body, p)
                schemas[sid] = (name, encoding, bytes(body[p + U32.size:p + U32.size + n])
                                .decode(errors="replace"))
            elif op == OP_CHANNEL and wanted is None:
                cid, sid = struct.unpack_from("<HH", body, 0)
                topic, p = _mcap_string(body, 2 * U16.size)
                name, encoding, text = schemas.get(sid, ("", "", ""))
                if name and (index, cid) not in self._by_key:
                    self._add_topic((index, cid), Topic(topic, name, text, encoding))

    # -- messages ---------------------------------------------------------------------------

    def _raw_messages(self, topics: Collection[Topic]) -> Iterator[tuple[Topic, int, bytes]]:
        wanted_topics = {id(t) for t in topics}
        for index, file in enumerate(self.files):
            keys = {key for (i, key), t in self._by_key.items()
                    if i == index and id(t) in wanted_topics}
            if not keys:
                continue
            if file.suffix == ".db3":
                yield from self._sqlite_messages(index, keys)
            else:
                yield from self._mcap_scan(index, file, keys)

    def close(self) -> None:
        for con in getattr(self, "_sqlite", {}).values():
            con.close()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


def _mcap_string(view: memoryview, pos: int) -> tuple[str, int]:
    (n,) = U32.unpack_from(view, pos)
    end = pos + U32.size + n
    return bytes(view[pos + U32.size:end]).decode(errors="replace"), end


def recorded_counts(path: Path) -> dict[str, int]:
    """Messages per topic that metadata.yaml says were recorded ({} if unknown)."""
    with contextlib.suppress(Exception):
        info = yaml.safe_load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
        return {t["topic_metadata"]["name"]: int(t["message_count"])
                for t in info["topics_with_message_count"]}
    return {}


def storage_files(path: Path) -> list[Path]:
    """Storage files of a bag folder (metadata.yaml's order when it is readable)."""
    if path.is_file():
        return [path]
    files: list[Path] = []
    with contextlib.suppress(Exception):
        info = yaml.safe_load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
        files = [path / Path(p).name for p in info["relative_file_paths"]]
        files = [f for f in files if f.exists()]
    if not files:
        files = sorted(p for p in path.iterdir() if p.suffix in STORAGE_SUFFIXES)
    return [f for f in files if f.suffix in STORAGE_SUFFIXES]


def open_bag(path: str | Path) -> BagSource:
    """Open a bag for reading; damaged rosbag2 bags fall back to the tolerant reader."""
    path = Path(path)
    if not path.exists():
        raise BagReadError(f"{path} does not exist")
    if path.is_file() and path.suffix in STORAGE_SUFFIXES:
        return StorageFileSource(path, [path])
    try:
        return AnyReaderSource(path)
    except Exception as exc:
        first = f"{type(exc).__name__}: {exc}"
        if path.suffix == ".bag":
            raise BagReadError(f"{path}: {first} (a ROS 1 bag cut short needs "
                               "'rosbag reindex' first)") from exc
        if not path.is_dir():
            raise BagReadError(f"{path}: {first}") from exc
    files = storage_files(path)
    if not files:
        raise BagReadError(f"{path}: {first}; no .db3 or .mcap files to read")
    if len({f.suffix for f in files}) != 1:
        raise BagReadError(f"{path}: {first}; mixed storage files {[f.name for f in files]}")
    try:
        source = StorageFileSource(path, files)
    except Exception as exc:
        raise BagReadError(f"{path}: {first}; reading the storage files failed too: "
                           f"{type(exc).__name__}: {exc}") from exc
    source.problems.insert(0, f"rosbags could not open the bag ({first}); read what is "
                              "present in its storage files")
    source.recorded = recorded_counts(path)
    return source
