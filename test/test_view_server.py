"""The view's ROS-free parts: protocol checks, temperature look-up, drawing data, latest-only
delivery, and the aiohttp server's answers to good and bad requests (a real server on
127.0.0.1, a real WebSocket client)."""

from __future__ import annotations

import asyncio
import json
import re

import numpy as np
import pytest

aiohttp = pytest.importorskip("aiohttp")

from thermal_perception.view.frames import (  # noqa: E402
    LocalMap,
    TemperatureHistory,
    roi_outlines,
)
from thermal_perception.view.hub import TooManyClients, ViewHub  # noqa: E402
from thermal_perception.view.model import ViewModel  # noqa: E402
from thermal_perception.view.protocol import (  # noqa: E402
    MAX_CLIENT_MESSAGE_BYTES,
    Ack,
    Probe,
    ProtocolError,
    Subscribe,
    pack_frame,
    parse_client_message,
    unpack_frame,
)
from thermal_perception.view.server import STATIC, ViewServer  # noqa: E402

STAMP = 1_796_546_684_201_772_221  # > 2**53: must survive JavaScript as a string


def test_parse_client_messages():
    assert parse_client_message('{"op":"ack","seq":3,"latency_ms":41.5}') == Ack(3, 41.5)
    assert parse_client_message(f'{{"op":"probe","x":1,"y":2,"stamp_ns":"{STAMP}"}}') == \
        Probe(1, 2, STAMP)
    assert parse_client_message('{"op":"subscribe","streams":["frame"]}') == \
        Subscribe(("frame",))
    for bad, reason in [("{", "not JSON"), ("[1]", "JSON object"),
                        ('{"op":"fly"}', "unknown op 'fly'"),
                        ('{"op":"probe","x":-1,"y":0}', "x must be"),
                        ('{"op":"probe","x":1.5,"y":0}', "x must be"),
                        ('{"op":"probe","x":1,"y":0,"stamp_ns":"12a"}', "stamp_ns"),
                        ('{"op":"subscribe","streams":["frame","lidar"]}', "unknown stream"),
                        ('{"op":"ack","seq":1,"latency_ms":"x"}', "latency_ms"),
                        (" " * (MAX_CLIENT_MESSAGE_BYTES + 1), "at most")]:
        with pytest.raises(ProtocolError, match=reason):
            parse_client_message(bad)


def test_frame_packing_round_trip():
    header = {"seq": 7, "stamp_ns": str(STAMP)}
    assert unpack_frame(pack_frame(header, b"\xff\xd8jpeg")) == (header, b"\xff\xd8jpeg")


def test_temperature_history_reads_the_frame_asked_for():
    history = TemperatureHistory(depth=3)
    for i in range(5):
        history.add_temperature(STAMP + i, np.full((4, 6), 20.0 + i, np.float32))
        history.add_sigma(STAMP + i, np.full((4, 6), 0.1 * i, np.float32))
    found = history.lookup(5, 3, STAMP + 3)
    assert found["exact"] and found["temperature_c"] == 23.0
    assert found["sigma_k"] == pytest.approx(0.3)
    old = history.lookup(0, 0, STAMP)  # dropped (depth 3): the newest instead, and said so
    assert not old["exact"] and old["stamp_ns"] == STAMP + 4
    assert "outside" in history.lookup(6, 0)["error"]
    history.add_temperature(STAMP + 9, np.full((4, 6), np.nan, np.float32))
    assert history.lookup(1, 1)["temperature_c"] is None


def test_roi_outlines_and_local_map():
    outlines = roi_outlines(["box a 1 2 30 40 above=80", "spot b 5 6 2", "poly c 0 0 9 0 9 9",
                             "", "box broken 5"])
    assert outlines == [{"name": "a", "shape": "box", "box": [1, 2, 30, 40]},
                        {"name": "b", "shape": "spot", "x": 5, "y": 6, "radius": 2},
                        {"name": "c", "shape": "polygon", "points": [[0, 0], [9, 0], [9, 9]]}]
    local = LocalMap(max_track=3)
    for i in range(5):
        local.add_fix(47.0 + i * 1e-4, 8.0, 400.0)
    local.add_detection("person", 3, 47.0, 8.0 + 1e-4, 400.0, 2.0, 33.0, STAMP)
    snap = local.snapshot()
    assert len(snap["track"]) == 3
    assert snap["track"][-1][1] == pytest.approx(44.5, abs=0.2)  # 4e-4 deg north: ~44.5 m
    assert snap["objects"][0]["east_m"] == pytest.approx(7.6, abs=0.1)


def test_hub_drops_frames_for_a_slow_page_and_gates_on_acks():
    async def run():
        hub = ViewHub(max_clients=1, max_frames_in_flight=1)
        slot = hub.register(asyncio.get_running_loop())
        with pytest.raises(TooManyClients, match="at most 1"):
            hub.register(asyncio.get_running_loop())
        for i in range(10):
            hub.publish("frame", b"frame%d" % i)
        hub.publish("health", "h")
        assert hub.take(slot) == ["h", b"frame9"]  # newest only
        hub.publish("frame", b"frame10")
        assert hub.take(slot) == []  # frame9 not yet drawn
        hub.acknowledge(slot, 1)
        assert hub.take(slot) == [b"frame10"]
        assert hub.stats() == [{"frames_sent": 2, "frames_dropped": 9, "frames_in_flight": 1}]
    asyncio.run(run())


def test_static_page_needs_nothing_from_the_internet():
    for path in STATIC.iterdir():
        text = path.read_text()
        assert not re.search(r"(src|href)=\"(https?:)?//", text), path
        assert "https://" not in text and "http://" not in text, path


@pytest.fixture()
def server():
    """A view server on a free port of 127.0.0.1 with one frame and its temperature."""
    model = ViewModel(ViewHub(max_clients=2))
    view = ViewServer(model, port=0)
    url = view.start_in_thread()
    image = np.linspace(10, 40, 48 * 64, dtype=np.float32).reshape(48, 64)
    model.on_temperature(STAMP, "cam", image)
    model.on_display(STAMP, "cam", np.zeros((48, 64, 3), np.uint8))
    yield view, url, image
    view.stop_thread()


async def _get(url: str) -> tuple[int, str, dict]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text(errors="replace"), dict(response.headers)


def test_server_binds_localhost_and_serves_the_page(server):
    view, url, image = server
    assert url.startswith("http://localhost:") and view.host == "127.0.0.1"
    status, text, headers = asyncio.run(_get(url))
    assert status == 200 and "view.js" in text
    assert headers["Content-Security-Policy"].startswith("default-src 'self'")
    status, text, _ = asyncio.run(_get(url + f"api/probe?x=10&y=20&stamp_ns={STAMP}"))
    probe = json.loads(text)
    assert probe["temperature_c"] == float(image[20, 10]) and probe["stamp_ns"] == str(STAMP)
    status, _, headers = asyncio.run(_get(url + "api/latest/frame"))
    assert status == 200 and headers["Content-Type"] == "image/jpeg"


def test_server_refuses_bad_http_requests(server):
    _, url, _ = server
    status, text, _ = asyncio.run(_get(url + "api/latest/lidar"))
    assert status == 404 and "unknown stream 'lidar'" in json.loads(text)["error"]
    status, text, _ = asyncio.run(_get(url + "api/probe?x=a&y=1"))
    assert status == 400 and "integer x, y" in text
    assert asyncio.run(_get(url + "static/../server.py"))[0] in (403, 404)
    assert asyncio.run(_get(url + "nothing"))[0] == 404


def test_socket_refuses_bad_messages_and_keeps_serving(server):
    view, url, image = server

    async def run():
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(url + "ws")
            got = []
            # frames are encoded only while a page is connected
            view.model.on_display(STAMP, "cam", np.zeros((48, 64, 3), np.uint8))

            async def until(kind):
                while True:
                    msg = await asyncio.wait_for(ws.receive(), 5)
                    if msg.type == aiohttp.WSMsgType.BINARY:
                        got.append(unpack_frame(msg.data)[0])
                        continue
                    data = json.loads(msg.data)
                    if data["type"] == kind:
                        return data

            await ws.send_str("not json")
            assert "not JSON" in (await until("error"))["reason"]
            await ws.send_bytes(b"\x00\x01")
            assert "binary" in (await until("error"))["reason"]
            await ws.send_str('{"op":"subscribe","streams":["frame","lidar"]}')
            assert "unknown stream 'lidar'" in (await until("error"))["reason"]
            await ws.send_str(json.dumps({"op": "probe", "x": 3, "y": 4, "stamp_ns": str(STAMP)}))
            assert (await until("probe"))["temperature_c"] == float(image[4, 3])
            assert got and got[0]["stamp_ns"] == str(STAMP)  # the frame came too
            # a third page: refused while two are connected
            second = await session.ws_connect(url + "ws")
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(url + "ws")
            assert refused.value.status == 503
            await second.close()
            # a huge message closes that socket (1009), and the server goes on
            await ws.send_str("x" * (MAX_CLIENT_MESSAGE_BYTES * 4))
            msg = await asyncio.wait_for(ws.receive(), 5)
            while msg.type not in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                msg = await asyncio.wait_for(ws.receive(), 5)
            assert ws.close_code == 1009
            again = await session.ws_connect(url + "ws")
            await again.send_str(json.dumps({"op": "probe", "x": 0, "y": 0}))
            while True:
                msg = await asyncio.wait_for(again.receive(), 5)
                if msg.type == aiohttp.WSMsgType.TEXT and json.loads(msg.data)["type"] == "probe":
                    break
            await again.close()
    asyncio.run(run())


def test_many_refusals_close_the_socket(server):
    _, url, _ = server

    async def run():
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(url + "ws")
            for _ in range(25):
                if ws.closed:
                    break
                await ws.send_str("{}")
            while (await asyncio.wait_for(ws.receive(), 5)).type not in (
                    aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                pass
            assert ws.close_code == 1008
    asyncio.run(run())
