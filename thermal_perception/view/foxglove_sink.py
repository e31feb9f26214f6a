"""The view's data on a Foxglove WebSocket server (foxglove-sdk, optional extra, off by
default): a Foxglove user connects to ``ws://HOST:8765`` and sees the pipeline.

Channels (topics as in ROS, with Foxglove's schemas, protobuf encoded):

| topic | schema |
| --- | --- |
| ``<ns>/image_display`` | ``foxglove.CompressedImage`` (JPEG of the bgr8 display image) |
| ``<ns>/image_temperature`` | ``foxglove.RawImage`` (``32FC1``, deg C) |
| ``<ns>/detections`` | ``foxglove.ImageAnnotations`` (box outlines, class / track / deg C texts) |
| ``<ns>/gps/fix`` | ``foxglove.LocationFix`` (the platform) |
| ``<ns>/detections_located`` | ``foxglove.LocationFix`` (one per geolocated detection) |

Messages are encoded only for channels a client subscribes to (``has_sinks``); the SDK
drops the oldest messages for a slow client (``message_backlog_size``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from thermal_perception.view.frames import encode_jpeg

#: Default port of Foxglove's WebSocket protocol.
FOXGLOVE_PORT = 8765
_LABEL_RGB = {"person": (0.0, 0.9, 1.0), "animal": (0.46, 1.0, 0.0), "vehicle": (1.0, 0.92, 0.0),
              "fire": (1.0, 0.09, 0.27), "hotspot": (0.88, 0.25, 0.98)}


class FoxgloveSink:
    """A Foxglove WebSocket server fed by :class:`~thermal_perception.view.model.ViewModel`.

    Parameters
    ----------
    namespace : prefix of the topics (the pipeline's namespace, ``/thermal``).
    host : address to bind (127.0.0.1 unless told otherwise).
    port : TCP port (8765; 0 picks a free one, see :attr:`port`).
    backlog : messages buffered per client before the oldest are dropped.
    """

    def __init__(self, namespace: str = "/thermal", host: str = "127.0.0.1",
                 port: int = FOXGLOVE_PORT, backlog: int = 64) -> None:
        try:
            import foxglove
            from foxglove import channels
        except ImportError as exc:
            raise SystemExit(f"--foxglove needs foxglove-sdk ({exc}); install the extra: "
                             "pip install 'thermal_perception[foxglove]'") from exc
        from foxglove import messages

        self._m = messages
        prefix = "/" + namespace.strip("/") if namespace.strip("/") else ""
        self.context = foxglove.Context()
        ctx = self.context
        self._display = channels.CompressedImageChannel(f"{prefix}/image_display", context=ctx)
        self._temperature = channels.RawImageChannel(f"{prefix}/image_temperature", context=ctx)
        self._annotations = channels.ImageAnnotationsChannel(f"{prefix}/detections",
                                                             context=ctx)
        self._fix = channels.LocationFixChannel(f"{prefix}/gps/fix", context=ctx)
        self._located = channels.LocationFixChannel(f"{prefix}/detections_located",
                                                    context=ctx)
        self.server = foxglove.start_server(name="thermal_perception", host=host, port=port,
                                            context=ctx, message_backlog_size=backlog)
        self.host = host
        self.frame_id = "thermal_camera_optical_frame"

    @property
    def port(self) -> int:
        return int(self.server.port)

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def stop(self) -> None:
        self.server.stop()

    def _stamp(self, stamp_ns: int) -> Any:
        return self._m.Timestamp(stamp_ns // 1_000_000_000, stamp_ns % 1_000_000_000)

    def display(self, stamp_ns: int, frame_id: str, bgr: NDArray[np.uint8]) -> None:
        """The display image as a JPEG ``CompressedImage``."""
        self.frame_id = frame_id or self.frame_id
        if self._display.has_sinks():
            self._display.log(self._m.CompressedImage(
                timestamp=self._stamp(stamp_ns), frame_id=frame_id,
                data=encode_jpeg(bgr), format="jpeg"), log_time=stamp_ns)

    def temperature(self, stamp_ns: int, frame_id: str, image_c: NDArray[np.float32]) -> None:
        """The temperature image, deg C, as a ``32FC1`` ``RawImage``."""
        if self._temperature.has_sinks():
            image = np.ascontiguousarray(image_c, dtype="<f4")
            self._temperature.log(self._m.RawImage(
                timestamp=self._stamp(stamp_ns), frame_id=frame_id, width=image.shape[1],
                height=image.shape[0], encoding="32FC1", step=image.shape[1] * 4,
                data=image.tobytes()), log_time=stamp_ns)

    def detections(self, stamp_ns: int, items: list[dict[str, Any]]) -> None:
        """Detections as ``ImageAnnotations``: a box outline and a text per detection."""
        if not self._annotations.has_sinks():
            return
        m, stamp = self._m, self._stamp(stamp_ns)
        boxes, texts = [], []
        for d in items:
            r, g, b = _LABEL_RGB.get(d["label"], (1.0, 1.0, 1.0))
            colour = m.Color(r=r, g=g, b=b, a=1.0)
            x0, y0, x1, y1 = (float(v) for v in d["box"])
            boxes.append(m.PointsAnnotation(
                timestamp=stamp, type=m.PointsAnnotationType.LineLoop, thickness=2.0,
                outline_color=colour,
                points=[m.Point2(x=x0, y=y0), m.Point2(x=x1, y=y0), m.Point2(x=x1, y=y1),
                        m.Point2(x=x0, y=y1)]))
            temperature = "" if d.get("max_c") is None else f" {d['max_c']:.1f} C"
            track = f" #{d['track_id']}" if d.get("track_id") else ""
            texts.append(m.TextAnnotation(
                timestamp=stamp, position=m.Point2(x=x0, y=max(0.0, y0 - 2.0)),
                text=f"{d['label']}{track}{temperature}", font_size=12.0, text_color=colour,
                background_color=m.Color(r=0.0, g=0.0, b=0.0, a=0.6)))
        self._annotations.log(m.ImageAnnotations(points=boxes, texts=texts), log_time=stamp_ns)

    def location(self, stamp_ns: int, kind: str, lat: float, lon: float, alt: float,
                 label: str) -> None:
        """A ``LocationFix``: the platform (``kind`` "gps") or a geolocated detection."""
        channel = self._fix if kind == "gps" else self._located
        if channel.has_sinks():
            channel.log(self._m.LocationFix(
                timestamp=self._stamp(stamp_ns), frame_id=label, latitude=lat, longitude=lon,
                altitude=alt if alt == alt else 0.0), log_time=stamp_ns)
