"""A recorder node: writes topics to a rosbag2 bag (via rosbags) and measures the stream.

Messages are taken serialized (``raw=True``) and written as they are, so recording costs no
deserialisation. It also measures what the pipeline delivers: counts, capture-to-arrival
latency (from ``header.stamp``, the capture time) and the achieved frame rate.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rclpy.node import Node
from rclpy.serialization import deserialize_message

from thermal_perception.io.bag import BagWriter
from thermal_perception.ros.qos import reliable_qos, sensor_qos

CDR_LITTLE_ENDIAN = (0x00, 0x01)


def header_stamp_ns(raw: bytes) -> int | None:
    """Capture stamp, ns, of a serialized message that starts with a std_msgs/Header.

    Reads the first two fields of the CDR payload (int32 sec, uint32 nanosec) after the 4-byte
    encapsulation header; None for an unexpected encapsulation.
    """
    if len(raw) < 12 or (raw[0], raw[1]) != CDR_LITTLE_ENDIAN:
        return None
    sec, nanosec = struct.unpack_from("<iI", raw, 4)
    return sec * 1_000_000_000 + nanosec


@dataclass
class TopicStats:
    """What arrived on one topic."""

    received: int = 0
    first_stamp_ns: int | None = None
    last_stamp_ns: int | None = None
    latencies_ms: list[float] = field(default_factory=list)

    def reset(self) -> None:
        """Forget what arrived so far (e.g. after a warm-up)."""
        self.received, self.first_stamp_ns, self.last_stamp_ns = 0, None, None
        self.latencies_ms.clear()

    def add(self, stamp_ns: int | None, now_ns: int) -> None:
        self.received += 1
        if stamp_ns is None:
            return
        if self.first_stamp_ns is None:
            self.first_stamp_ns = stamp_ns
        self.last_stamp_ns = stamp_ns
        self.latencies_ms.append((now_ns - stamp_ns) * 1e-6)

    def rate_hz(self) -> float:
        """Rate of the capture stamps, Hz."""
        if self.received < 2 or self.first_stamp_ns is None or self.last_stamp_ns is None:
            return 0.0
        span_s = (self.last_stamp_ns - self.first_stamp_ns) * 1e-9
        return (self.received - 1) / span_s if span_s > 0 else 0.0

    def latency_percentiles_ms(self) -> dict[str, float]:
        if not self.latencies_ms:
            return {}
        values = np.asarray(self.latencies_ms)
        return {"p50": float(np.percentile(values, 50)), "p90": float(np.percentile(values, 90)),
                "p99": float(np.percentile(values, 99)), "max": float(values.max()),
                "mean": float(values.mean())}


@dataclass
class RecordedTopic:
    """A topic to subscribe: name, message class, whether it goes into the bag, and an
    optional callback on the deserialized message (called every ``every``-th message)."""

    name: str
    msg_class: Any
    record: bool = True
    sensor: bool = True
    on_message: Callable[[Any], None] | None = None
    every: int = 1


class RecorderNode(Node):
    """Subscribes to topics, writes the recorded ones to a bag, keeps per-topic statistics."""

    def __init__(self, topics: list[RecordedTopic], bag: BagWriter | None,
                 name: str = "recorder", image_reliability: str = "reliable",
                 **node_args: Any) -> None:
        super().__init__(name, **node_args)
        self.bag = bag
        self.stats: dict[str, TopicStats] = {}
        self.recording = True
        for topic in topics:
            resolved = self.resolve_topic_name(topic.name)
            self.stats[resolved] = TopicStats()
            if bag is not None and topic.record:
                bag.add_topic(resolved, _type_name(topic.msg_class))
            qos = sensor_qos(image_reliability, depth=10) if topic.sensor else reliable_qos()
            self.create_subscription(topic.msg_class, resolved,
                                     self._callback(resolved, topic), qos, raw=True)

    def _callback(self, topic: str, spec: RecordedTopic) -> Callable[[bytes], None]:
        stats = self.stats[topic]
        record = self.bag is not None and spec.record

        def on_raw(raw: bytes) -> None:
            if not self.recording:
                return
            now_ns = self.get_clock().now().nanoseconds
            stats.add(header_stamp_ns(raw), now_ns)
            if record:
                self.bag.write(topic, now_ns, raw)  # type: ignore[union-attr]
            if spec.on_message is not None and (stats.received - 1) % spec.every == 0:
                spec.on_message(deserialize_message(raw, spec.msg_class))

        return on_raw


def _type_name(msg_class: Any) -> str:
    """ROS type name like ``sensor_msgs/msg/Image`` of a generated message class."""
    module = msg_class.__module__.split(".")  # e.g. sensor_msgs.msg._image
    return f"{module[0]}/msg/{msg_class.__name__}"
