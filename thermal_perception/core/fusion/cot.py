"""Cursor on Target (CoT) events of located detections, for TAK clients (ATAK, WinTAK,
iTAK, TAK Server): the map that search-and-rescue and firefighting crews already share.

A CoT event is a small XML document (schema version 2.0): ``<event>`` with ``uid`` (one
marker per uid: a new event for the same uid moves it), ``type`` (a hierarchy: ``a-u-G`` is an
atom of unknown affiliation on the ground), ``how`` (``m-g``: machine, GPS-derived),
``time``/``start``/``stale`` (UTC, ISO 8601: when the event was made, when what it reports
was observed, and when it expires; after ``stale`` clients grey or drop the marker),
``<point lat lon hae ce le>`` (WGS84 degrees, height above the ellipsoid in m, circular and
linear error in m; 9999999 where unknown) and a free ``<detail>`` (here ``contact
callsign`` and ``remarks``). Built with the standard library's ElementTree; sent over UDP by
the fusion node (``cot_address``; ATAK listens on the multicast group ``239.2.3.1:6969`` by
default).
"""

from __future__ import annotations

import datetime as dt
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass

UNKNOWN_ERROR_M = 9999999.0  # CoT's "unknown" for ce and le
DEFAULT_TYPE = "a-u-G"  # atom, unknown affiliation, ground


@dataclass(frozen=True)
class CotPoint:
    """Where a CoT event is: WGS84 degrees, m above the ellipsoid, 1-sigma errors in m."""

    latitude_deg: float
    longitude_deg: float
    hae_m: float = math.nan
    ce_m: float = math.nan  # horizontal
    le_m: float = math.nan  # vertical

    def __post_init__(self) -> None:
        if not (-90.0 <= self.latitude_deg <= 90.0 and -180.0 <= self.longitude_deg <= 180.0):
            raise ValueError(f"not a WGS84 position: {self.latitude_deg}, "
                             f"{self.longitude_deg}")


def utc_iso(t_s: float) -> str:
    """CoT time: UTC, ISO 8601 with milliseconds and 'Z' (2026-12-07T19:40:00.000Z)."""
    t = dt.datetime.fromtimestamp(t_s, dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _metres(value: float) -> str:
    return f"{value:.1f}" if math.isfinite(value) and value >= 0 else f"{UNKNOWN_ERROR_M:.1f}"


def cot_event(uid: str, point: CotPoint, time_s: float, stale_s: float,
              cot_type: str = DEFAULT_TYPE, callsign: str = "", remarks: str = "",
              how: str = "m-g", sent_s: float | None = None) -> bytes:
    """One CoT event as UTF-8 XML bytes (with the XML declaration). ``time_s``: the
    observation, s since the Unix epoch (the event's ``start``); ``sent_s``: when the event
    is made (its ``time``; None: the observation's). The marker goes stale ``stale_s`` after
    the later of the two, so events of a replayed recording, whose observations are old, are
    shown for ``stale_s`` and not dropped as stale on arrival."""
    if not uid or not cot_type or not stale_s > 0:
        raise ValueError("a CoT event needs a uid, a type and a positive stale time")
    sent = time_s if sent_s is None else sent_s
    event = ET.Element("event", {
        "version": "2.0", "uid": uid, "type": cot_type, "how": how,
        "time": utc_iso(sent), "start": utc_iso(time_s),
        "stale": utc_iso(max(time_s, sent) + stale_s)})
    ET.SubElement(event, "point", {
        "lat": f"{point.latitude_deg:.7f}", "lon": f"{point.longitude_deg:.7f}",
        "hae": f"{point.hae_m:.2f}" if math.isfinite(point.hae_m) else f"{UNKNOWN_ERROR_M:.1f}",
        "ce": _metres(point.ce_m), "le": _metres(point.le_m)})
    detail = ET.SubElement(event, "detail")
    if callsign:
        ET.SubElement(detail, "contact", {"callsign": callsign})
    if remarks:
        ET.SubElement(detail, "remarks").text = remarks
    return ET.tostring(event, encoding="utf-8", xml_declaration=True)


def parse_address(address: str) -> tuple[str, int]:
    """``host:port`` of a CoT destination (IPv4 address or host name); ValueError saying
    what is wrong."""
    host, sep, port = address.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"a CoT address is host:port (e.g. 239.2.3.1:6969, ATAK's multicast "
                         f"group), got {address!r}")
    return host, int(port)


class CotThrottle:
    """At most one event per uid every ``min_interval_s`` of event time (a tracked person
    seen at 30 Hz moves its marker once a second, not thirty times)."""

    def __init__(self, min_interval_s: float, capacity: int = 10000) -> None:
        self.min_interval_s = float(min_interval_s)
        self.capacity = capacity
        self._last: dict[str, float] = {}

    def due(self, uid: str, t_s: float) -> bool:
        """Whether to send ``uid`` at ``t_s`` (then counted as sent)."""
        last = self._last.get(uid)
        if last is not None and 0.0 <= t_s - last < self.min_interval_s:
            return False
        if len(self._last) >= self.capacity:  # forget the oldest half (long missions)
            for key in sorted(self._last, key=self._last.__getitem__)[:self.capacity // 2]:
                del self._last[key]
        self._last[uid] = t_s
        return True
