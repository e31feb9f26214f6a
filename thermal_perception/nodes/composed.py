"""The pipeline's nodes composed in one process, as a ROS 2 component container runs them.

Driver, processor, detector and fusion (those a parameters file names) share one rclpy
context and one single-threaded executor, and hand their frames to each other in memory,
without serialization (:mod:`thermal_perception.ros.intra_process`); every topic is still published
over DDS for subscribers in other processes. Each node keeps its own name, parameters
(``--params-file`` and per-node overrides) and callback group, exactly as when it runs alone.

    python -m thermal_perception.nodes.composed config/uav_sar.yaml --namespace thermal \
        [--nodes driver,processor,detector] [--overrides '{"driver": {"rate_hz": 10}}']

``thermal-perception run --composed`` and ``thermal-perception demo --composed`` start this
(through :class:`thermal_perception.runner.Pipeline`); launch files start separate nodes.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any

from thermal_perception.settings.nodes import node_names, parameter_arguments

#: Node classes by name (module, class); the runner's NODE_MODULES names the same modules.
NODE_CLASSES = {
    "driver": ("thermal_perception.nodes.driver", "DriverNode"),
    "processor": ("thermal_perception.nodes.processor", "ProcessorNode"),
    "detector": ("thermal_perception.nodes.detector", "DetectorNode"),
    "fusion": ("thermal_perception.nodes.fusion", "FusionNode"),
}


def node_arguments(params_file: str | Path, overrides: dict[str, Any] | None = None
                   ) -> list[str]:
    """ROS arguments of one composed node: the parameters file and its own overrides."""
    return ["--ros-args", "--params-file", str(params_file), *parameter_arguments(overrides)]


def create_nodes(names: list[str], params_file: str | Path, namespace: str = "",
                 overrides: dict[str, dict[str, Any]] | None = None) -> list[Any]:
    """The nodes ``names`` in this process, upstream first (call inside an active
    :class:`~thermal_perception.ros.intra_process.IntraProcessBus`)."""
    nodes = []
    try:
        for name in names:
            module, cls = NODE_CLASSES[name]
            factory = getattr(importlib.import_module(module), cls)
            nodes.append(factory(namespace="/" + namespace.strip("/"),
                                 cli_args=node_arguments(params_file,
                                                         (overrides or {}).get(name))))
    except BaseException:
        for node in nodes:
            node.destroy_node()
        raise
    return nodes


def main(argv: list[str] | None = None) -> int:
    """Entry point: compose the nodes of a parameters file and spin until Ctrl-C/SIGTERM."""
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    from thermal_perception.ros.intra_process import IntraProcessBus

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params_file", type=Path)
    parser.add_argument("--namespace", default="")
    parser.add_argument("--nodes", default="", help="comma-separated subset (default: all)")
    parser.add_argument("--overrides", default="{}", help="JSON {node: {param: value}}")
    args, ros_args = parser.parse_known_args(argv)
    names = node_names(args.params_file)
    if args.nodes:
        names = [n for n in names if n in args.nodes.split(",")]
    rclpy.init(args=ros_args)
    nodes: list[Any] = []
    try:
        with IntraProcessBus():
            try:
                nodes = create_nodes(names, args.params_file, args.namespace,
                                     json.loads(args.overrides))
            except ValueError as exc:
                rclpy.logging.get_logger("thermal_perception").fatal(str(exc))
                return 1
            executor = SingleThreadedExecutor()  # one callback at a time: see intra_process
            for node in nodes:
                executor.add_node(node)
            nodes[0].get_logger().info(f"composed in one process: {', '.join(names)} "
                                       "(frames handed over in memory)")
            executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        for node in reversed(nodes):
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
