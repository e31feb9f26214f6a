"""In-process hand-off of messages between nodes composed in one process (ROS 2
intra-process communication, as rclcpp does it, for rclpy).

rclpy has no intra-process transport: two nodes of one process still serialize every frame,
pass it through Fast DDS and deserialize it. When the nodes run composed
(:mod:`thermal_perception.nodes.composed`), a process-wide :class:`IntraProcessBus` is
active and the nodes create their pipeline topics through :func:`publisher` and
:func:`subscription` instead of ``Node.create_publisher`` / ``create_subscription``:

* ``publish(msg)`` publishes over DDS when a subscriber outside the process listens (matched
  readers beyond the process's own), as rclcpp does, so other programs (rviz, a bag
  recorder, another process) still get every topic, and do not wait for the work the
  in-process callbacks start (a detector's 5 ms, measured);
* then it hands a copy of ``msg`` (plain Python objects, no serialization; one ``memcpy`` of
  an image's data, because the publishers reuse one message per stream), shared by every
  subscription of the same topic in the process (treat it as read-only), by calling their
  callbacks right away, in the order the subscriptions were made. The composed process spins
  all nodes in one single-threaded executor, so no two callbacks ever run at the same time,
  as for a node alone; a frame goes from capture to detections in one pass, with no executor
  wake-up in between (queuing it for the executor, with a guard condition, cost about 1 ms
  per hop with rclpy's executor, measured with bench/transport.py);
* the in-process subscriptions keep their DDS reader for publishers outside the process.
  They take DDS messages serialized (``raw``) and drop those whose header stamp they just got
  in process (the DDS copy of a message handed over), so no frame is processed twice; other
  messages are deserialized and passed on.

With no bus active (every node in its own process, the default) :func:`publisher` and
:func:`subscription` return the plain rclpy objects: nothing changes.

Only messages with a ``std_msgs/Header`` go through the bus (the duplicate check reads the
stamp). No algorithm here; this is transport.
"""

from __future__ import annotations

import copy
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from rclpy.node import Node
from rclpy.qos import QoSProfile
from rclpy.serialization import deserialize_message

from thermal_perception.ros.recorder import header_stamp_ns

#: How many stamps handed over in process a subscription remembers, to drop their DDS copies.
RECENT_STAMPS = 64

_ACTIVE: IntraProcessBus | None = None


def active_bus() -> IntraProcessBus | None:
    """The bus of this process when nodes run composed, else None."""
    return _ACTIVE


def stamp_ns(msg: Any) -> int:
    """Header stamp of a message, ns."""
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


class IntraSubscription:
    """One in-process subscription: its callback called by the publishers of the process,
    plus a raw DDS reader for publishers in other processes."""

    def __init__(self, bus: IntraProcessBus, node: Node, msg_type: Any, topic: str,
                 callback: Callable[[Any], None], qos: QoSProfile) -> None:
        self.bus = bus
        self.node = node
        self.msg_type = msg_type
        self.topic = topic
        self.callback = callback
        self.recent: deque[int] = deque(maxlen=RECENT_STAMPS)  # stamps handed over
        self.lock = threading.Lock()  # recent: DDS readers may run on another thread
        self.handed_over = 0  # messages received in process
        self.from_dds = 0  # messages received over DDS (from other processes)
        self.dropped_duplicates = 0  # DDS copies of messages already handed over
        self.dds = node.create_subscription(msg_type, topic, self._on_raw, qos, raw=True)

    def deliver(self, msg: Any) -> None:
        """Run the callback on ``msg`` (a copy shared by the topic's subscriptions)."""
        with self.lock:
            self.recent.append(stamp_ns(msg))
        self.handed_over += 1
        self.callback(msg)

    def _on_raw(self, raw: bytes) -> None:
        stamp = header_stamp_ns(raw)
        with self.lock:
            duplicate = stamp is not None and stamp in self.recent
            if duplicate:
                self.recent.remove(stamp)
        if duplicate:
            self.dropped_duplicates += 1
            return
        self.from_dds += 1
        self.callback(deserialize_message(raw, self.msg_type))

    def destroy(self) -> None:
        self.node.destroy_subscription(self.dds)


class IntraPublisher:
    """A DDS publisher that hands its messages to the process's subscriptions first, and
    publishes over DDS only when someone outside the process listens."""

    def __init__(self, bus: IntraProcessBus, publisher: Any, topic: str) -> None:
        self.bus = bus
        self.publisher = publisher
        self.topic = topic
        self.published_dds = 0

    def publish(self, msg: Any) -> None:
        local = self.bus.subscriptions.get(self.topic, ())
        # DDS first: subscribers in other processes do not wait for the in-process callbacks
        if self.publisher.get_subscription_count() > len(local):
            self.publisher.publish(msg)
            self.published_dds += 1
        if local:  # one copy for all of them, as rclcpp shares a const message
            handed = copy.deepcopy(msg)
            for sub in local:
                sub.deliver(handed)

    def get_subscription_count(self) -> int:
        """Matched subscriptions, in process ones included (their DDS readers match too)."""
        return max(self.publisher.get_subscription_count(),
                   len(self.bus.subscriptions.get(self.topic, ())))

    @property
    def topic_name(self) -> str:
        return self.topic

    def __getattr__(self, name: str) -> Any:  # handle, qos_profile, destroy, ...
        return getattr(self.publisher, name)


class IntraProcessBus:
    """Topic name -> in-process subscriptions of the nodes composed in this process.

    Use as a context manager around the creation and life of the nodes::

        with IntraProcessBus():
            nodes = [DriverNode(), ProcessorNode()]
            ...
    """

    def __init__(self) -> None:
        self.subscriptions: dict[str, list[IntraSubscription]] = {}
        self.publishers: list[IntraPublisher] = []

    def __enter__(self) -> IntraProcessBus:
        global _ACTIVE
        if _ACTIVE is not None:
            raise RuntimeError("an intra-process bus is already active in this process")
        _ACTIVE = self
        return self

    def __exit__(self, *exc: object) -> None:
        global _ACTIVE
        _ACTIVE = None

    def stats(self) -> dict[str, dict[str, int]]:
        """Per topic: messages handed over in process, received over DDS, DDS duplicates
        dropped (summed over the topic's subscriptions)."""
        out: dict[str, dict[str, int]] = {}
        for topic, subs in self.subscriptions.items():
            out[topic] = {"handed_over": sum(s.handed_over for s in subs),
                          "from_dds": sum(s.from_dds for s in subs),
                          "dropped_duplicates": sum(s.dropped_duplicates for s in subs)}
        return out


def _resolved(node: Node, topic: str) -> str:
    return node.resolve_topic_name(topic)


def publisher(node: Node, msg_type: Any, topic: str, qos: QoSProfile) -> Any:
    """``node.create_publisher(msg_type, topic, qos)``, handing messages over in process when
    the nodes run composed."""
    dds = node.create_publisher(msg_type, topic, qos)
    bus = _ACTIVE
    if bus is None:
        return dds
    out = IntraPublisher(bus, dds, _resolved(node, topic))
    bus.publishers.append(out)
    return out


def subscription(node: Node, msg_type: Any, topic: str, callback: Callable[[Any], None],
                 qos: QoSProfile) -> Any:
    """``node.create_subscription(msg_type, topic, callback, qos)``, receiving the messages of
    publishers in the same process without serialization when the nodes run composed."""
    bus = _ACTIVE
    if bus is None:
        return node.create_subscription(msg_type, topic, callback, qos)
    sub = IntraSubscription(bus, node, msg_type, _resolved(node, topic), callback, qos)
    bus.subscriptions.setdefault(sub.topic, []).append(sub)
    return sub
