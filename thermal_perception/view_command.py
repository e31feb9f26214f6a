"""``thermal-perception view``: serve the browser view of a running pipeline (and optionally
start one, live or replaying a bag, and a Foxglove server).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thermal_perception.view.hub import ViewHub
from thermal_perception.view.model import ViewModel
from thermal_perception.view.server import ViewServer


@dataclass
class ViewOptions:
    namespace: str = "thermal"
    host: str = "127.0.0.1"
    port: int = 8080
    params_file: Path | None = None  # start these nodes too (None: view a running pipeline)
    bag: Path | None = None  # start the pipeline with the driver replaying this recording
    sigma: bool = True
    foxglove: bool = False
    foxglove_port: int = 8765
    image_reliability: str = "reliable"
    max_clients: int = 8
    duration_s: float = 0.0  # 0: until Ctrl-C
    open_browser: bool = False


class View:
    """The view's parts in one process: model, web server, optional Foxglove server, and the
    ROS subscriber node (added to an executor the caller spins, or spun here)."""

    def __init__(self, options: ViewOptions) -> None:
        self.options = options
        self.hub = ViewHub(max_clients=options.max_clients)
        self.foxglove = None
        if options.foxglove:
            from thermal_perception.view.foxglove_sink import FoxgloveSink

            self.foxglove = FoxgloveSink("/" + options.namespace.strip("/"), options.host,
                                         options.foxglove_port)
        self.model = ViewModel(self.hub, sinks=[self.foxglove] if self.foxglove else [])
        self.server = ViewServer(self.model, options.host, options.port)
        self.node: Any = None

    def start(self) -> str:
        """Start the web server and create the ROS node (rclpy must be initialised)."""
        from thermal_perception.ros.view_source import ViewSource

        url = self.server.start_in_thread()
        self.node = ViewSource(self.model, "/" + self.options.namespace.strip("/"),
                               self.options.image_reliability, sigma=self.options.sigma)
        return url

    def stop(self) -> None:
        self.server.stop_thread()
        if self.foxglove is not None:
            self.foxglove.stop()
        if self.node is not None:
            with contextlib.suppress(Exception):
                self.node.destroy_node()


def run_view(options: ViewOptions, echo: Any = print) -> int:
    """Run until Ctrl-C (or ``duration_s``); returns an exit status."""
    from thermal_perception.runner import Pipeline, transport_environment

    # the same Fast DDS transport as the nodes the runner starts
    os.environ.update({k: v for k, v in transport_environment().items() if k not in os.environ})
    try:
        import rclpy
        from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    except ImportError as exc:
        raise SystemExit(f"the view needs ROS 2 (rclpy and the built messages): {exc}. "
                         "Run it in the shell of `source tools/env.sh`.") from exc
    pipeline = None
    if options.params_file or options.bag:
        from thermal_perception.runner import default_params_file

        overrides: dict[str, dict[str, Any]] = {}
        if options.bag:
            overrides["driver"] = {"source": "recording", "recording_path": str(options.bag),
                                   "loop": True}
        pipeline = Pipeline(options.params_file or default_params_file(), options.namespace,
                            overrides)
    rclpy.init()
    view = View(options)
    executor = SingleThreadedExecutor()
    try:
        url = view.start()
        executor.add_node(view.node)
        echo(f"view of /{options.namespace.strip('/')} at {url} (Ctrl-C stops)")
        if view.foxglove is not None:
            echo(f"Foxglove WebSocket server at {view.foxglove.url}")
        if pipeline is not None:
            echo(f"starting {', '.join(pipeline.names)}"
                 + (f" replaying {options.bag}" if options.bag else ""))
            pipeline.start()
        if options.open_browser:
            import webbrowser

            threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()
        start = time.monotonic()
        while not options.duration_s or time.monotonic() - start < options.duration_s:
            executor.spin_once(timeout_sec=0.1)
            if pipeline is not None and pipeline.failed():
                echo("\n".join(pipeline.failed()))
                return 1
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if pipeline is not None:
            pipeline.stop()
        view.stop()
        executor.shutdown()
        rclpy.try_shutdown()
    return 0
