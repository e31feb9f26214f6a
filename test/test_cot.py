"""Cursor on Target events of located detections (core/fusion/cot.py, io/cot_udp.py) and
the fusion node sending them over UDP, as a TAK client would receive them."""

from __future__ import annotations

import datetime as dt
import math
import socket
import time
import xml.etree.ElementTree as ET

import pytest
from conftest import requires_ros
from test_fusion_node import H, W, geolocation_probe, hovering, info, stamped

from thermal_perception.core.fusion.cot import (
    CotPoint,
    CotThrottle,
    cot_event,
    parse_address,
    utc_iso,
)


def test_event_known_answer() -> None:
    xml = cot_event("tp.uav.person.7", CotPoint(47.3769, 8.5417, 512.25, 2.64), 1700000000.1234,
                    60.0, callsign="person 7", remarks="person, confidence 0.87")
    assert xml.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    event = ET.fromstring(xml)
    assert event.tag == "event" and event.attrib == {
        "version": "2.0", "uid": "tp.uav.person.7", "type": "a-u-G", "how": "m-g",
        "time": "2023-11-14T22:13:20.123Z", "start": "2023-11-14T22:13:20.123Z",
        "stale": "2023-11-14T22:14:20.123Z"}
    assert event.find("point").attrib == {"lat": "47.3769000", "lon": "8.5417000",
                                          "hae": "512.25", "ce": "2.6", "le": "9999999.0"}
    assert event.find("detail/contact").attrib == {"callsign": "person 7"}
    assert event.find("detail/remarks").text == "person, confidence 0.87"
    # made later than observed (a replay): time is when made, stale counts from it
    replay = ET.fromstring(cot_event("x", CotPoint(0.0, 0.0), 1700000000.0, 60.0,
                                     sent_s=1800000000.0))
    assert (replay.get("start"), replay.get("time"), replay.get("stale")) == (
        "2023-11-14T22:13:20.000Z", "2027-01-15T08:00:00.000Z", "2027-01-15T08:01:00.000Z")
    # unknown height and errors are CoT's 9999999
    point = ET.fromstring(cot_event("x", CotPoint(0.0, 0.0), 0.0, 1.0)).find("point")
    assert (point.get("hae"), point.get("ce"), point.get("le")) == ("9999999.0",) * 3
    assert utc_iso(0.0) == "1970-01-01T00:00:00.000Z"


def test_bad_events_and_addresses_are_refused() -> None:
    with pytest.raises(ValueError, match="WGS84"):
        CotPoint(91.0, 0.0)
    with pytest.raises(ValueError, match="WGS84"):
        CotPoint(math.nan, 0.0)
    with pytest.raises(ValueError, match="uid"):
        cot_event("", CotPoint(0.0, 0.0), 0.0, 60.0)
    with pytest.raises(ValueError, match="stale"):
        cot_event("x", CotPoint(0.0, 0.0), 0.0, 0.0)
    assert parse_address("239.2.3.1:6969") == ("239.2.3.1", 6969)
    assert parse_address(" tak.local:8087 ") == ("tak.local", 8087)
    for bad in ("239.2.3.1", ":6969", "host:", "host:0", "host:70000", "host:port"):
        with pytest.raises(ValueError, match="host:port"):
            parse_address(bad)


def test_throttle_sends_each_uid_once_per_interval() -> None:
    throttle = CotThrottle(1.0)
    assert [throttle.due("a", t) for t in (10.0, 10.5, 10.99, 11.0, 11.2)] == \
        [True, False, False, True, False]
    assert throttle.due("b", 10.5)  # per uid
    assert throttle.due("a", 5.0)  # time went back (a looping bag): sent again
    small = CotThrottle(1.0, capacity=4)
    for k in range(10):
        assert small.due(f"u{k}", float(k))
    assert len(small._last) <= 4


@pytest.fixture()
def listener():
    """A UDP socket on a free port of 127.0.0.1: what a TAK client would listen on."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.05)
    yield sock
    sock.close()


def received(sock) -> list[bytes]:
    out = []
    while True:
        try:
            out.append(sock.recv(65536))
        except (TimeoutError, BlockingIOError):
            return out


@requires_ros
def test_fusion_node_sends_located_tracks_as_cot(rclpy_context, listener) -> None:
    from rclpy.parameter import Parameter

    from thermal_perception.msg import ThermalDetection
    from thermal_perception.msg import ThermalDetectionArray as Detections
    from thermal_perception.nodes.fusion import FusionNode

    port = listener.getsockname()[1]
    ns = f"/cot_{time.monotonic_ns() % 100000}"
    node = FusionNode(namespace=ns, parameter_overrides=[
        Parameter("cot_address", value=f"127.0.0.1:{port}"),
        Parameter("ground_altitude_m", value=500.0), Parameter("lidar_enabled", value=False),
        Parameter("overlay_enabled", value=False)])
    probe, pubs, located, executor, spin_until = geolocation_probe(rclpy_context, node, ns)
    try:
        pubs["info"].publish(info(W, H))
        assert spin_until(lambda: node.thermal_camera is not None)
        for k in range(40):  # 100 m above flat ground, level, nose north, 4 s of GPS/IMU
            fix, imu = hovering(1_700_000_000_000_000_000 + k * 100_000_000, 47.0, 8.0, 600.0)
            pubs["fix"].publish(fix)
            pubs["imu"].publish(imu)
            assert spin_until(lambda k=k: len(node.attitudes) > k and len(node.fixes) > k)
        person = ThermalDetection(label="person", track_id=7, confidence=0.9,
                                  centroid_x=20.0, centroid_y=30.0, x1=1, y1=1,
                                  max_temperature_c=33.5)
        t0 = 1_700_000_000_500_000_000
        for dt_ns in (0, 300_000_000, 1_200_000_000):  # the second within the 1 s interval
            pubs["det"].publish(stamped(Detections(detections=[person]), t0 + dt_ns))
            n = len(located)
            assert spin_until(lambda n=n: len(located) > n)
        spin_until(lambda: False, 0.2)
        events = [ET.fromstring(x) for x in received(listener)]
        assert len(events) == 2 and node.counts["cot_events"] == 2
        first = events[0]
        assert first.get("uid") == f"thermal_perception.{ns[1:]}.person.7"
        # start: the detections' stamps (2023, as a replayed recording's); time: when sent
        # (the wall clock), stale 60 s after it, so TAK shows a replay's markers too
        assert first.get("start") == "2023-11-14T22:13:20.500Z"
        assert events[1].get("start") == "2023-11-14T22:13:21.700Z"
        for event in events:
            sent = dt.datetime.fromisoformat(event.get("time")).timestamp()
            stale = dt.datetime.fromisoformat(event.get("stale")).timestamp()
            assert abs(sent - time.time()) < 30.0 and stale - sent == pytest.approx(60.0)
        assert first.find("detail/contact").get("callsign") == "person 7"
        assert "max 33.5 C" in first.find("detail/remarks").text
        d = located[0].detections[0]
        point = first.find("point").attrib
        assert float(point["lat"]) == pytest.approx(d.latitude_deg, abs=1e-7)
        assert float(point["lon"]) == pytest.approx(d.longitude_deg, abs=1e-7)
        assert float(point["ce"]) == pytest.approx(d.horizontal_sigma_m, abs=0.05)
    finally:
        executor.shutdown()
        node.destroy_node()
        probe.destroy_node()


@requires_ros
def test_bad_cot_address_is_refused_at_start(rclpy_context) -> None:
    from rclpy.parameter import Parameter

    from thermal_perception.nodes.fusion import FusionNode

    with pytest.raises(ValueError, match="cot_address: a CoT address is host:port"):
        FusionNode(namespace="/cot_bad", parameter_overrides=[
            Parameter("cot_address", value="239.2.3.1")])
    with pytest.raises(ValueError, match="cannot resolve"):
        FusionNode(namespace="/cot_bad2", parameter_overrides=[
            Parameter("cot_address", value="no-such-host.invalid:6969")])
