"""Reading a bag for the analysis: the topics it uses (the raw images, their status, GPS, IMU,
camera_info, altitude), and the reading thread that decodes raw frames and matches each with
its status, copying every message to the processed bag.
"""

from __future__ import annotations

import math
import queue
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from thermal_perception.analysis.bag_reading import STORAGE_SUFFIXES, BagSource, Topic
from thermal_perception.analysis.options import (
    ALT_NAMESPACE,
    ALTITUDE_NAME,
    CAMERA_INFO_TYPE,
    FLOAT64_TYPE,
    IMAGE_TYPE,
    IMU_TYPE,
    NAVSAT_NO_FIX,
    NAVSATFIX_TYPE,
    NS_PER_S,
    OUTPUT_NAMES,
    RAW_ENCODINGS,
    RAW_SUFFIX,
    STATUS_MEMORY,
    STATUS_TYPE,
    TF_NAMES,
    TF_TYPE,
)
from thermal_perception.io.compressed_image import (
    COMPRESSED_TYPE,
    compressed_to_array,
    is_raw_format,
    transport_base,
    without_compressed_copies,
)
from thermal_perception.io.messages import header_ns


@dataclass
class BagFrame:
    """A raw frame on its way from the reading thread."""

    bag_ns: int
    stamp_ns: int
    frame_id: str
    counts: NDArray[np.uint16] | None
    status: Any = None
    error: str = ""
    altitude_m: float = math.nan  # latest altitude topic value when the frame was read


END_OF_BAG = object()


def is_bag(path: Path) -> bool:
    return (path.is_dir() and (path / "metadata.yaml").exists()) or \
        (path.is_file() and path.suffix in (".bag", *STORAGE_SUFFIXES))


def _holds_raw_counts(source: BagSource, topic: Topic) -> bool:
    """Whether the first message of an image topic is raw counts (False if unreadable)."""
    for _, _, data in source.messages([topic]):
        try:
            msg = source.deserialize(data, topic.msgtype)
        except Exception:
            return False
        if topic.msgtype == COMPRESSED_TYPE:
            return is_raw_format(str(msg.format))
        return str(msg.encoding) in RAW_ENCODINGS
    return False


def find_raw_topic(source: BagSource, topic: str | None) -> Topic:
    """The raw thermal image topic: ``topic``, or the only mono16/16UC1 image topic, or
    16-bit PNG CompressedImage topic (image_transport's ``compressed``/``compressedDepth``:
    :mod:`thermal_perception.io.compressed_image`; names ending in image_raw, before the
    transport's suffix, preferred). Raises ValueError when there is none or a choice."""
    images = [t for t in source.topics if t.msgtype in (IMAGE_TYPE, COMPRESSED_TYPE)]
    if topic is not None:
        chosen = [t for t in images if t.topic == topic]
        if not chosen:
            raise ValueError(f"no sensor_msgs/Image or CompressedImage topic {topic!r}; image "
                             f"topics: {sorted(t.topic for t in images)}")
        return chosen[0]
    if not images:
        raise ValueError("the bag has no sensor_msgs/Image topic")
    raw = [t for t in images if _holds_raw_counts(source, t)]
    if not raw:
        raise ValueError(f"no mono16/16UC1 image topic (or 16-bit PNG compressed one) among "
                         f"{sorted(t.topic for t in images)}")
    preferred = without_compressed_copies(
        [t for t in raw if transport_base(t.topic).endswith(RAW_SUFFIX)] or raw)
    if len(preferred) > 1:
        raise ValueError(f"several raw image topics, choose one with --topic: "
                         f"{sorted(t.topic for t in preferred)}")
    return preferred[0]


def _namespace(topic: str) -> str:
    """Namespace of a topic ('/thermal/image_raw' -> '/thermal', '/image_raw' -> '')."""
    return topic.rsplit("/", 1)[0] if "/" in topic.strip("/") else ""


def _pick_same_namespace(candidates: list[Topic], namespace: str) -> Topic | None:
    if not candidates:
        return None
    same = [t for t in candidates if _namespace(t.topic) == namespace]
    return (same or candidates)[0]


def output_topics(source: BagSource, namespace: str) -> dict[str, str]:
    """Names of the analysis topics: ``<ns>/<name>``, or ``<ns>/analysis/<name>`` when the
    bag already has one of them."""
    existing = {t.topic for t in source.topics}
    names = {n: f"{namespace}/{n}" for n in OUTPUT_NAMES}
    if existing & set(names.values()):
        names = {n: f"{namespace}/{ALT_NAMESPACE}/{n}" for n in OUTPUT_NAMES}
    return names


def bag_name(path: Path) -> str:
    """Output folder name of a bag: the folder name, or the file name without suffix."""
    return path.stem if path.is_file() or path.suffix in (".bag", *STORAGE_SUFFIXES) \
        else path.name


class ReadStage:
    """Reading stage of :class:`~.analyze.BagAnalysis`: topic discovery and the reading thread.
    Sets ``raw_topic``, ``status_topic``, ``gps_topic``, ``info_topic``,
    ``altitude_topic``, ``imu_topic`` and ``names`` (the output topics); fills ``gps``,
    ``imu``, ``camera_info``, ``focal_px`` and ``altitude_now_m`` from the side topics.
    """

    def _setup_topics(self, source: BagSource) -> None:
        o = self.options
        self.raw_topic = find_raw_topic(source, o.topic)
        namespace = _namespace(transport_base(self.raw_topic.topic))
        status = [t for t in source.topics if t.msgtype == STATUS_TYPE]
        self.status_topic = _pick_same_namespace(status, namespace)
        gps = [t for t in source.topics if t.msgtype == NAVSATFIX_TYPE]
        self.gps_topic = gps[0] if gps else None
        if len(gps) > 1:
            self.result.warnings.append(f"several NavSatFix topics; using {gps[0].topic}")
        self.gps.topic = self.gps_topic.topic if self.gps_topic else ""
        if self.detector is not None:  # what the detector node subscribes besides images
            infos = [t for t in source.topics if t.msgtype == CAMERA_INFO_TYPE]
            self.info_topic = _pick_same_namespace(infos, namespace)
            heights = [t for t in source.topics if t.msgtype == FLOAT64_TYPE
                       and t.topic.rsplit("/", 1)[-1] == ALTITUDE_NAME]
            self.altitude_topic = _pick_same_namespace(heights, namespace)
            imus = [t for t in source.topics if t.msgtype == IMU_TYPE]
            if self.gps_topic is not None and imus:
                self.imu_topic = imus[0]
                self.imu.topic = imus[0].topic
                if len(imus) > 1:
                    self.result.warnings.append(f"several Imu topics; using {imus[0].topic}")
                self.tf_topics = [t for t in source.topics if t.msgtype == TF_TYPE  # mount
                                  and t.topic.rsplit("/", 1)[-1] in TF_NAMES]
        self.names = output_topics(source, namespace)
        r = self.result
        r.topic = self.raw_topic.topic
        r.status_topic = self.status_topic.topic if self.status_topic else ""
        r.gps_topic = self.gps.topic
        r.imu_topic = self.imu.topic
        r.storage = source.storage
        if not self.status_topic:
            r.warnings.append("no ThermalStatus topic: no FPA temperatures and no shutter "
                              "frames (no flat-field corrections)")

    def _frame_rate_hz(self, source: BagSource) -> float:
        reader = source.reader
        conn = self.raw_topic.key
        count = getattr(conn, "msgcount", 0) if reader is not None else 0
        if reader is not None and count > 1 and reader.duration > 0:
            return float((count - 1) * NS_PER_S / reader.duration)
        return float(self.profile.rate_hz)

    def _read(self, source: BagSource, frames: queue.Queue) -> None:
        """Reading thread: copies messages to the processed bag, decodes raw frames, matches
        them with their status (a frame waits for its status until the next frame, as in the
        processor node; offline even the first frame waits, since the bag's topics are known)
        and collects GPS fixes."""
        status_at: OrderedDict[int, Any] = OrderedDict()
        waiting: BagFrame | None = None
        raw, status_topic, gps_topic = self.raw_topic, self.status_topic, self.gps_topic
        info_topic, altitude_topic = self.info_topic, self.altitude_topic
        imu_topic, tf_topics = self.imu_topic, self.tf_topics
        wanted = source.topics if self.bag_writer is not None else \
            [t for t in (raw, status_topic, gps_topic, info_topic, altitude_topic, imu_topic,
                         *tf_topics) if t is not None]
        copy = self.bag_writer.copy if self.bag_writer is not None else None
        limit = self.options.max_frames
        read = 0
        try:
            for topic, bag_ns, data in source.messages(wanted):
                if self.stop.is_set():
                    break
                if copy is not None:
                    copy(topic, bag_ns, data)
                if topic is raw:
                    if limit is not None and read >= limit:
                        break
                    read += 1
                    frame = self._decode(source, bag_ns, data)
                    frame.altitude_m = self.altitude_now_m
                    if waiting is not None:  # its status never came: a scene frame
                        frames.put(waiting)
                        waiting = None
                    if status_topic is not None and frame.stamp_ns not in status_at:
                        waiting = frame
                        continue
                    frame.status = status_at.get(frame.stamp_ns)
                    frames.put(frame)
                elif topic is status_topic:
                    msg = self._deserialize(source, topic, bag_ns, data)
                    if msg is None:
                        continue
                    stamp = header_ns(msg.header)
                    status_at[stamp] = msg
                    while len(status_at) > STATUS_MEMORY:
                        status_at.popitem(last=False)
                    if not self.camera_profile_seen:
                        self.camera_profile_seen = str(getattr(msg, "camera_profile", ""))
                    if not self.frame_source_seen:
                        self.frame_source_seen = str(getattr(msg, "source", ""))
                    if waiting is not None and waiting.stamp_ns == stamp:
                        waiting.status = msg
                        frames.put(waiting)
                        waiting = None
                elif topic in (gps_topic, info_topic, altitude_topic, imu_topic, *tf_topics):
                    msg = self._deserialize(source, topic, bag_ns, data)
                    if msg is not None:
                        self._side_message(topic, bag_ns, msg)
            if waiting is not None:
                frames.put(waiting)
        except Exception as exc:  # keep what was read
            self.error(f"reading failed: {type(exc).__name__}: {exc}")
        finally:
            frames.put(END_OF_BAG)

    def _decode(self, source: BagSource, bag_ns: int, data: bytes) -> BagFrame:
        from thermal_perception.io.image_encoding import image_to_array

        msgtype = self.raw_topic.msgtype
        try:
            msg = source.deserialize(data, msgtype)
        except Exception as exc:
            return BagFrame(bag_ns, bag_ns, "", None, error=f"undecodable image message: {exc}")
        stamp = header_ns(msg.header)
        frame = BagFrame(bag_ns, stamp, str(msg.header.frame_id), None)
        if not self.camera_frame:
            self.camera_frame = frame.frame_id
        if msgtype == COMPRESSED_TYPE:
            try:
                frame.counts = compressed_to_array(msg)
            except ValueError as exc:
                frame.error = str(exc)
            return frame
        if msg.encoding not in RAW_ENCODINGS:
            frame.error = f"encoding {msg.encoding!r} is not raw counts"
            return frame
        try:
            frame.counts = image_to_array(msg)
        except ValueError as exc:
            frame.error = str(exc)
        return frame

    def _deserialize(self, source: BagSource, topic: Topic, bag_ns: int, data: bytes) -> Any:
        """A message object, or None (error recorded) for an undecodable one."""
        try:
            return source.deserialize(data, topic.msgtype)
        except Exception as exc:
            self.error(f"undecodable {topic.topic} message at {bag_ns} ns: {exc}")
            return None

    def _side_message(self, topic: Topic, bag_ns: int, msg: Any) -> None:
        """GPS fix, camera_info (focal length, camera model), IMU orientation, altitude or
        static transforms."""
        if topic in self.tf_topics:
            self.transforms.add_message(msg, static=topic.topic.endswith("tf_static"))
        elif topic is self.imu_topic:
            if msg.orientation_covariance[0] != -1.0:  # REP 145: -1 = no orientation
                o = msg.orientation
                if not self.imu_frame:
                    self.imu_frame = str(msg.header.frame_id)
                stamp = header_ns(msg.header)
                self.imu.add(stamp or bag_ns, (o.x, o.y, o.z, o.w))
        elif topic is self.gps_topic:
            if int(msg.status.status) <= NAVSAT_NO_FIX:
                return
            stamp = header_ns(msg.header)
            self.gps.add(stamp or bag_ns, float(msg.latitude), float(msg.longitude),
                         float(msg.altitude))
        elif topic is self.info_topic:
            if not math.isfinite(self.focal_px) and msg.k[0] > 0:
                self.focal_px = float(msg.k[0])
                self.camera_info = msg
        else:
            self.altitude_now_m = float(msg.data)
