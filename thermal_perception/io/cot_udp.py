"""UDP sender of Cursor on Target events (:mod:`thermal_perception.core.fusion.cot`): unicast
to a TAK server or client, or to a multicast group (ATAK's situational-awareness group
239.2.3.1:6969) with a chosen time-to-live. Standard library sockets; non-blocking, so a
slow or absent network never holds up the node."""

from __future__ import annotations

import ipaddress
import socket

from thermal_perception.core.fusion.cot import parse_address


class CotSender:
    """Sends datagrams to ``address`` (host:port); ValueError when it cannot be resolved."""

    def __init__(self, address: str, ttl: int = 1) -> None:
        host, port = parse_address(address)
        try:
            infos = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_DGRAM)
        except OSError as exc:
            raise ValueError(f"CoT address {address!r}: cannot resolve {host!r} ({exc})") \
                from None
        self.target = infos[0][4]
        self.multicast = ipaddress.ip_address(self.target[0]).is_multicast
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        if self.multicast:
            self.socket.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, int(ttl))
        self.socket.setblocking(False)
        self.sent = 0

    def send(self, data: bytes) -> None:
        """One event; OSError (unreachable network, full buffer) for the caller to report."""
        self.socket.sendto(data, self.target)
        self.sent += 1

    def close(self) -> None:
        self.socket.close()
