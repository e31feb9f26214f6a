"""The Foxglove connection at the protocol level: a WebSocket client of Foxglove's protocol
(the one the Foxglove app speaks) subscribes to the view's channels and decodes the
protobuf messages with the schemas the server advertises."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import threading
import time

import cv2
import numpy as np
import pytest

pytest.importorskip("foxglove", reason="foxglove-sdk (the [foxglove] extra) is not installed")
aiohttp = pytest.importorskip("aiohttp")

from thermal_perception.view.foxglove_sink import FoxgloveSink  # noqa: E402
from thermal_perception.view.hub import ViewHub  # noqa: E402
from thermal_perception.view.model import ViewModel  # noqa: E402

STAMP_NS = 1_700_000_000_123_456_789
PROTOCOLS = ("foxglove.sdk.v1", "foxglove.websocket.v1")


def decoder(channel: dict):
    """Message class of an advertised channel, built from its protobuf FileDescriptorSet."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    assert channel["encoding"] == "protobuf"
    files = descriptor_pb2.FileDescriptorSet.FromString(base64.b64decode(channel["schema"]))
    pool = descriptor_pool.DescriptorPool()
    for proto in files.file:
        pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(channel["schemaName"]))


def feed(model: ViewModel, stop: threading.Event, temperature_c: np.ndarray,
         display: np.ndarray) -> None:
    """The data thread: what the ROS subscriber would hand the model, 20 times a second."""
    while not stop.is_set():
        model.on_display(STAMP_NS, "cam", display)
        model.on_temperature(STAMP_NS, "cam", temperature_c)
        model.on_detections(STAMP_NS, [{"label": "person", "confidence": 0.9, "track_id": 4,
                                        "box": [10, 20, 30, 60], "max_c": 34.5,
                                        "mean_c": 33.0, "area_m2": 0.5}])
        model.on_fix(STAMP_NS, 47.3765, 8.5424, 460.0)
        time.sleep(0.05)


async def collect(url: str, topics: list[str]) -> dict[str, object]:
    """Connect, read the advertisement, subscribe to ``topics``, decode one message each."""
    async with aiohttp.ClientSession() as session, session.ws_connect(
            url, protocols=PROTOCOLS) as ws:
        channels: dict[str, dict] = {}
        while not set(topics) <= set(channels):
            msg = await asyncio.wait_for(ws.receive(), 10)
            if msg.type == aiohttp.WSMsgType.TEXT:
                data = json.loads(msg.data)
                if data["op"] == "advertise":
                    channels.update({c["topic"]: c for c in data["channels"]})
        subscriptions = {i + 1: channels[t] for i, t in enumerate(topics)}
        await ws.send_str(json.dumps({"op": "subscribe", "subscriptions": [
            {"id": sid, "channelId": c["id"]} for sid, c in subscriptions.items()]}))
        got: dict[str, object] = {}
        while len(got) < len(topics):
            msg = await asyncio.wait_for(ws.receive(), 10)
            if msg.type != aiohttp.WSMsgType.BINARY or msg.data[0] != 0x01:
                continue  # MessageData only
            sid, log_time = struct.unpack_from("<IQ", msg.data, 1)
            channel = subscriptions[sid]
            decoded = decoder(channel).FromString(msg.data[13:])
            got[channel["topic"]] = (channel["schemaName"], log_time, decoded)
        return got


@pytest.fixture()
def sink():
    server = FoxgloveSink("/thermal", port=0)
    yield server
    server.stop()


def test_foxglove_client_subscribes_and_decodes(sink):
    rng = np.random.default_rng(3)
    temperature = (20.0 + rng.normal(0, 2, (48, 64))).astype(np.float32)
    temperature[5, 7] = np.nan
    display = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    model = ViewModel(ViewHub(), sinks=[sink])
    stop = threading.Event()
    thread = threading.Thread(target=feed, args=(model, stop, temperature, display))
    thread.start()
    try:
        got = asyncio.run(collect(sink.url, ["/thermal/image_temperature",
                                             "/thermal/image_display", "/thermal/detections",
                                             "/thermal/gps/fix"]))
    finally:
        stop.set()
        thread.join()

    schema, log_time, raw = got["/thermal/image_temperature"]
    assert schema == "foxglove.RawImage" and log_time == STAMP_NS
    assert (raw.width, raw.height, raw.encoding, raw.step) == (64, 48, "32FC1", 256)
    assert raw.timestamp.seconds * 10**9 + raw.timestamp.nanos == STAMP_NS
    decoded = np.frombuffer(raw.data, "<f4").reshape(48, 64)
    np.testing.assert_array_equal(decoded, temperature)  # bit-exact, NaN included

    schema, _, image = got["/thermal/image_display"]
    assert schema == "foxglove.CompressedImage" and image.format == "jpeg"
    jpeg = cv2.imdecode(np.frombuffer(image.data, np.uint8), cv2.IMREAD_COLOR)
    assert jpeg.shape == (48, 64, 3)

    schema, _, notes = got["/thermal/detections"]
    assert schema == "foxglove.ImageAnnotations"
    corners = [(p.x, p.y) for p in notes.points[0].points]
    assert corners == [(10, 20), (30, 20), (30, 60), (10, 60)]
    assert notes.texts[0].text == "person #4 34.5 C"

    schema, _, fix = got["/thermal/gps/fix"]
    assert schema == "foxglove.LocationFix"
    assert (fix.latitude, fix.longitude, fix.altitude) == (47.3765, 8.5424, 460.0)


def test_foxglove_binds_localhost_by_default(sink):
    assert sink.url.startswith("ws://127.0.0.1:")
