"""Common ``main()`` of the nodes: init, spin, clean shutdown on Ctrl-C or SIGTERM."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import rclpy
from rclpy.executors import ExternalShutdownException


def spin_node(factory: Callable[..., Any], args: list[str] | None = None) -> None:
    """Create the node with ``factory()`` and spin it until shutdown.

    A node that cannot start (bad parameters, missing files) logs why and exits with status 1.
    """
    rclpy.init(args=args)
    node = None
    try:
        try:
            node = factory()
        except ValueError as exc:
            rclpy.logging.get_logger("thermal_perception").fatal(str(exc))
            sys.exit(1)
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
