"""Publishing node health on ``/diagnostics`` (diagnostic_msgs/DiagnosticArray)."""

from __future__ import annotations

from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

# Levels as ints (the message constants are bytes objects).
OK, WARN, ERROR, STALE = (
    ord(getattr(DiagnosticStatus, n)) for n in ("OK", "WARN", "ERROR", "STALE"))


def status(name: str, level: int, message: str, values: dict[str, Any],
           hardware_id: str = "") -> DiagnosticStatus:
    """One DiagnosticStatus; values are formatted as strings (floats with 4 significant digits)."""
    def fmt(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    return DiagnosticStatus(
        level=bytes([level]), name=name, message=message, hardware_id=hardware_id,
        values=[KeyValue(key=k, value=fmt(v)) for k, v in values.items()])


class DiagnosticsPublisher:
    """Publishes the statuses returned by ``collect()`` on ``/diagnostics`` every ``period_s``
    of the steady clock: a paused, jumping or fast simulation clock (use_sim_time) neither
    stops nor floods the health reports; their stamps come from the node's clock."""

    def __init__(self, node: Any, collect: Any, period_s: float = 1.0) -> None:
        from rclpy.clock import Clock, ClockType

        self.node = node
        self.collect = collect
        self.publisher = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.timer = node.create_timer(period_s, self.publish,
                                       clock=Clock(clock_type=ClockType.STEADY_TIME))

    def publish(self) -> None:
        array = DiagnosticArray()
        array.header.stamp = self.node.get_clock().now().to_msg()
        array.status = list(self.collect())
        self.publisher.publish(array)
