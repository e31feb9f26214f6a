"""The view's web server (aiohttp): one page, its static files, a WebSocket and a small JSON
API. Binds to 127.0.0.1 unless told otherwise; everything the page needs is served from
here (no asset from the internet: the page's Content-Security-Policy allows only this
origin).

Routes: ``/`` the page; ``/static/*`` its script and style; ``/ws`` the page's socket (see
:mod:`.protocol`); ``/api/streams`` stream names; ``/api/latest/{stream}`` the newest message
of a stream (the frame as JPEG); ``/api/probe?x=&y=[&stamp_ns=]`` temperature at a pixel;
``/api/health`` stream health.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from thermal_perception.view.hub import TooManyClients
from thermal_perception.view.model import ViewModel
from thermal_perception.view.protocol import (
    MAX_CLIENT_MESSAGE_BYTES,
    STREAMS,
    Ack,
    Probe,
    ProtocolError,
    Subscribe,
    parse_client_message,
    text_message,
)

STATIC = Path(__file__).resolve().parent / "static"
#: Refused messages a page may send before its socket is closed (1008, policy violation).
MAX_REFUSALS = 20
#: A frame not acknowledged within this time is taken as lost (the page may have been hidden).
ACK_TIMEOUT_S = 2.0
CSP = ("default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; "
       "style-src 'self'; script-src 'self'")
log = logging.getLogger("thermal_perception.view")


def _json_error(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


class ViewServer:
    """The web server of a :class:`ViewModel`.

    Parameters
    ----------
    model : the view's state (its hub gives each page its messages).
    host : address to bind, 127.0.0.1 by default (``0.0.0.0`` serves other machines too).
    port : TCP port; 0 picks a free one (see :attr:`port` after start).
    """

    def __init__(self, model: ViewModel, host: str = "127.0.0.1", port: int = 8080) -> None:
        self.model = model
        self.hub = model.hub
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = "localhost" if self.host in ("127.0.0.1", "::1", "localhost") else self.host
        return f"http://{host}:{self.port}/"

    # -- app ------------------------------------------------------------------------------
    def make_app(self) -> web.Application:
        @web.middleware
        async def headers(request: web.Request, handler: Any) -> web.StreamResponse:
            response = await handler(request)
            response.headers.setdefault("Content-Security-Policy", CSP)
            response.headers.setdefault("Cache-Control", "no-store")
            return response

        app = web.Application(middlewares=[headers], client_max_size=64 * 1024)
        app.router.add_get("/", self._index)
        app.router.add_static("/static/", STATIC, show_index=False)
        app.router.add_get("/ws", self._socket)
        app.router.add_get("/api/streams", self._streams)
        app.router.add_get("/api/latest/{stream}", self._latest)
        app.router.add_get("/api/probe", self._probe)
        app.router.add_get("/api/health", self._health)
        return app

    async def _index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html")

    async def _streams(self, request: web.Request) -> web.Response:
        return web.json_response({"streams": list(STREAMS)})

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(text=text_message("health", **self.model.health()),
                            content_type="application/json")

    async def _latest(self, request: web.Request) -> web.StreamResponse:
        stream = request.match_info["stream"]
        if stream not in STREAMS:
            return _json_error(404, f"unknown stream {stream!r}; known: {list(STREAMS)}")
        if stream == "frame":
            snapshot = self.model.snapshot_jpeg()
            if snapshot is None:
                return _json_error(404, "no display image received yet")
            return web.Response(body=snapshot[1], content_type="image/jpeg",
                                headers={"X-Stamp-Ns": str(snapshot[0])})
        message = self.hub.latest(stream)
        if message is None:
            return _json_error(404, f"nothing received on {stream!r} yet")
        return web.Response(text=message, content_type="application/json")

    async def _probe(self, request: web.Request) -> web.Response:
        query = {k: request.query.get(k) for k in ("x", "y", "stamp_ns")}
        try:
            values = {k: int(v) for k, v in query.items() if v is not None}
            probe = parse_client_message(json.dumps({"op": "probe", **values}))
        except (ValueError, ProtocolError) as exc:
            return _json_error(400, f"probe needs integer x, y (and optional stamp_ns): {exc}")
        assert isinstance(probe, Probe)
        return web.Response(text=self.model.probe(probe.x, probe.y, probe.stamp_ns),
                            content_type="application/json")

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        try:
            slot = self.hub.register(loop)
        except TooManyClients as exc:
            return _json_error(503, str(exc))
        ws = web.WebSocketResponse(max_msg_size=MAX_CLIENT_MESSAGE_BYTES, heartbeat=10.0)
        try:
            await ws.prepare(request)
        except Exception:
            self.hub.unregister(slot)
            raise
        sender = asyncio.create_task(self._send_loop(ws, slot))
        refusals = 0
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    reply = self._handle(slot, msg.data)
                elif msg.type == WSMsgType.BINARY:
                    reply = ProtocolError("binary messages are not accepted; send JSON text")
                else:
                    break
                if isinstance(reply, ProtocolError):
                    refusals += 1
                    await ws.send_str(text_message("error", reason=str(reply)))
                    if refusals >= MAX_REFUSALS:
                        await ws.close(code=1008, message=b"too many refused messages")
                        break
                elif reply is not None:
                    await ws.send_str(reply)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender
            self.hub.unregister(slot)
        return ws

    def _handle(self, slot: Any, text: str) -> str | ProtocolError | None:
        try:
            message = parse_client_message(text)
        except ProtocolError as exc:
            return exc
        if isinstance(message, Ack):
            self.hub.acknowledge(slot, message.seq)
            if message.latency_ms is not None:
                self.model.on_ack_latency(message.latency_ms)
            return None
        if isinstance(message, Probe):
            return self.model.probe(message.x, message.y, message.stamp_ns)
        if isinstance(message, Subscribe):
            self.hub.set_streams(slot, message.streams)
            return text_message("subscribed", streams=list(message.streams))
        return None

    async def _send_loop(self, ws: web.WebSocketResponse, slot: Any) -> None:
        waited = 0.0
        while not ws.closed:
            try:
                await asyncio.wait_for(slot.wake.wait(), timeout=0.5)
                waited = 0.0
            except asyncio.TimeoutError:
                waited += 0.5
                if waited >= ACK_TIMEOUT_S and slot.frames_in_flight:
                    slot.frames_in_flight = 0  # acks lost (page hidden): send afresh
                    waited = 0.0
                    slot.wake.set()
                continue
            slot.wake.clear()
            for message in self.hub.take(slot):
                if isinstance(message, bytes):
                    await ws.send_bytes(message)
                else:
                    await ws.send_str(message)

    # -- running --------------------------------------------------------------------------
    async def start(self) -> str:
        """Start serving (in the running loop); returns the page's URL."""
        self._runner = web.AppRunner(self.make_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def start_in_thread(self, timeout_s: float = 10.0) -> str:
        """Serve from a thread of its own (its own event loop); returns the URL."""
        started: dict[str, Any] = {}
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                started["url"] = loop.run_until_complete(self.start())
            except BaseException as exc:  # reported to the caller
                started["error"] = exc
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._thread = threading.Thread(target=run, name="view-server", daemon=True)
        self._thread.start()
        if not ready.wait(timeout_s):
            raise RuntimeError(f"view server did not start within {timeout_s} s")
        if "error" in started:
            raise started["error"]
        return started["url"]

    def stop_thread(self, timeout_s: float = 5.0) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout_s)
            self._thread = None
