"""Latest-only delivery from the data thread (ROS callbacks, bag replay) to each page.

Every page has one slot per stream holding the newest message not yet sent: a page that is
slower than the camera gets the newest frame when it is ready for one, and the frames in
between are dropped (counted), so memory per page is one message per stream. Frames are also
gated by acknowledgements: at most ``max_frames_in_flight`` frames sent and not yet drawn.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from thermal_perception.view.protocol import STREAMS


class TooManyClients(RuntimeError):
    """The server has as many pages as it accepts."""


@dataclass(eq=False)
class ClientSlot:
    """One connected page."""

    loop: asyncio.AbstractEventLoop
    streams: set[str] = field(default_factory=lambda: set(STREAMS))
    pending: dict[str, Any] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    frames_in_flight: int = 0
    frames_sent: int = 0
    frames_dropped: int = 0
    last_acked_seq: int = -1

    def _notify(self) -> None:
        self.loop.call_soon_threadsafe(self.wake.set)


class ViewHub:
    """Fan-out of the newest messages to the connected pages (thread-safe ``publish``)."""

    def __init__(self, max_clients: int = 8, max_frames_in_flight: int = 2) -> None:
        self.max_clients = max_clients
        self.max_frames_in_flight = max_frames_in_flight
        self._clients: list[ClientSlot] = []
        self._latest: dict[str, Any] = {}
        self._lock = threading.Lock()
        #: called (data thread) with the number of pages whenever it changes
        self.on_clients_changed: Callable[[int], None] | None = None

    @property
    def client_count(self) -> int:
        with self._lock:
            return len(self._clients)

    def wants(self, stream: str) -> bool:
        """True when a page receives ``stream`` (lazy work: encode frames only then)."""
        with self._lock:
            return any(stream in c.streams for c in self._clients)

    def register(self, loop: asyncio.AbstractEventLoop) -> ClientSlot:
        """A new page; it gets the newest message of each stream at once."""
        with self._lock:
            if len(self._clients) >= self.max_clients:
                raise TooManyClients(f"{len(self._clients)} pages connected; this server "
                                     f"accepts at most {self.max_clients}")
            slot = ClientSlot(loop=loop)
            slot.pending.update(self._latest)
            self._clients.append(slot)
            count = len(self._clients)
        slot.wake.set()
        if self.on_clients_changed:
            self.on_clients_changed(count)
        return slot

    def unregister(self, slot: ClientSlot) -> None:
        with self._lock:
            if slot in self._clients:
                self._clients.remove(slot)
            count = len(self._clients)
        if self.on_clients_changed:
            self.on_clients_changed(count)

    def publish(self, stream: str, message: Any) -> None:
        """Offer the newest ``message`` of ``stream`` (str or bytes) to every page."""
        with self._lock:
            self._latest[stream] = message
            clients = [c for c in self._clients if stream in c.streams]
            for slot in clients:
                if stream == "frame" and "frame" in slot.pending:
                    slot.frames_dropped += 1
                slot.pending[stream] = message
        for slot in clients:
            slot._notify()

    def latest(self, stream: str) -> Any:
        with self._lock:
            return self._latest.get(stream)

    def take(self, slot: ClientSlot) -> list[Any]:
        """Messages to send to ``slot`` now (frames only while fewer than the allowed number
        are in flight); the caller sends them in order."""
        with self._lock:
            out = [m for s, m in slot.pending.items() if s != "frame"]
            frame = slot.pending.get("frame")
            slot.pending = {} if frame is None else {"frame": frame}
            if frame is not None and slot.frames_in_flight < self.max_frames_in_flight:
                del slot.pending["frame"]
                slot.frames_in_flight += 1
                slot.frames_sent += 1
                out.append(frame)
        return out

    def acknowledge(self, slot: ClientSlot, seq: int) -> None:
        """The page drew frame ``seq``: one more frame may be sent."""
        with self._lock:
            if seq > slot.last_acked_seq:
                slot.last_acked_seq = seq
                slot.frames_in_flight = max(0, slot.frames_in_flight - 1)
            if slot.pending:
                slot.wake.set()

    def set_streams(self, slot: ClientSlot, streams: tuple[str, ...]) -> None:
        with self._lock:
            slot.streams = set(streams)
            slot.pending = {s: m for s, m in slot.pending.items() if s in slot.streams}
            slot.pending.update({s: m for s, m in self._latest.items() if s in slot.streams})
        slot.wake.set()

    def stats(self) -> list[dict[str, int]]:
        with self._lock:
            return [{"frames_sent": c.frames_sent, "frames_dropped": c.frames_dropped,
                     "frames_in_flight": c.frames_in_flight} for c in self._clients]
