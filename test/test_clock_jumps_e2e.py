"""Clock jumps with use_sim_time (issue 9): driver, processor and detector on simulated time
published on /clock; the clock jumps back 100 s in the middle of a flat-field correction, then
forward 1000 s. Frames keep flowing through all three nodes, the shutter opens again after
its duration, automatic FFCs stay on schedule, no frames are reported dropped for the jump,
and /diagnostics keeps its pace."""

from __future__ import annotations

import pytest
from conftest import requires_ros
from test_faults_e2e import Harness, detector, processor

pytestmark = requires_ros

RATE_HZ = 10.0
STEP_S = 0.02  # /clock advances this much every STEP_S of wall time (real-time pace)


@pytest.fixture
def sim(rclpy_context):
    from builtin_interfaces.msg import Time as TimeMsg
    from rclpy.clock import Clock, ClockType
    from rclpy.parameter import Parameter
    from rosgraph_msgs.msg import Clock as ClockMsg
    from sensor_msgs.msg import Image

    from thermal_perception.msg import ThermalDetectionArray
    from thermal_perception.nodes.driver import DriverNode
    from thermal_perception.ros.qos import reliable_qos, sensor_qos

    h = Harness.open(rclpy_context, "clock_probe")
    probe = h.probe
    clock_pub = probe.create_publisher(ClockMsg, "/clock", 10)
    state = {"sim_ns": 5000 * 10**9, "temperature": 0, "detections": 0}

    def tick() -> None:
        state["sim_ns"] += round(STEP_S * 1e9)
        ns = state["sim_ns"]
        clock_pub.publish(ClockMsg(clock=TimeMsg(sec=ns // 10**9, nanosec=ns % 10**9)))

    probe.create_timer(STEP_S, tick, clock=Clock(clock_type=ClockType.STEADY_TIME))
    sim_time = [Parameter("use_sim_time", value=True)]
    driver = DriverNode(namespace="/clk", cli_args=["--ros-args", "-r", "__node:=drv_clk"],
                        parameter_overrides=[*sim_time, *(Parameter(k, value=v) for k, v in {
                            "width": 64, "height": 48, "rate_hz": RATE_HZ, "speed_mps": 0.0,
                            "auto_ffc": True, "ffc_interval_s": 2.0, "ffc_min_interval_s": 1.0,
                            "ffc_max_fpa_change_k": 50.0, "ffc_duration_s": 0.3}.items())])
    h.add(driver)
    h.add(processor("proc_clk", "/clk", use_sim_time=True))
    h.add(detector("det_clk", "/clk", use_sim_time=True))

    def count(key: str):
        return lambda _: state.__setitem__(key, state[key] + 1)

    probe.create_subscription(Image, "/clk/image_temperature", count("temperature"),
                              sensor_qos())
    probe.create_subscription(ThermalDetectionArray, "/clk/detections", count("detections"),
                              reliable_qos())
    yield h, driver, state
    h.close()


def test_nodes_survive_clock_jumps(sim):
    h, driver, state = sim
    proc, det = h.nodes[1], h.nodes[2]
    assert h.spin_until(lambda: state["temperature"] >= 20 and state["detections"] >= 20
                        and driver.ffc_count >= 1, 40.0), (state, driver.ffc_count)

    # back in time by 100 s with the shutter just closed
    from std_srvs.srv import Trigger

    assert driver._trigger_ffc(Trigger.Request(), Trigger.Response()).success
    state["sim_ns"] -= 100 * 10**9
    frames, detections, ffcs = state["temperature"], state["detections"], driver.ffc_count
    mark = len(h.diagnostics)
    # the FFC finishes after its 0.3 s, the next one follows the 2 s schedule
    assert h.spin_until(lambda: driver.ffc_count >= ffcs + 2, 15.0), \
        f"FFC stuck after the backward jump: {driver.ffc_count} FFCs, shutter closed until " \
        f"{driver.ffc_until}"
    assert h.spin_until(lambda: state["temperature"] >= frames + 20
                        and state["detections"] >= detections + 20, 15.0), state
    assert proc.input.time_resets >= 1 and det.input.time_resets >= 1

    # forward by 1000 s: no frames reported dropped for it, the rate estimate holds
    dropped = driver.dropped_frames
    state["sim_ns"] += 1000 * 10**9
    frames, ffcs = state["temperature"], driver.ffc_count
    assert h.spin_until(lambda: state["temperature"] >= frames + 20
                        and driver.ffc_count >= ffcs + 1, 15.0), state
    assert driver.dropped_frames - dropped < 5, "the jump was counted as dropped frames"
    assert abs(driver.measured_rate_hz - RATE_HZ) < 0.2 * RATE_HZ

    # health reports kept their 1 Hz pace on the steady clock through both jumps
    names = {"drv_clk: camera", "proc_clk: processing", "det_clk: detection"}
    for name in names:
        assert len(h.statuses(name, mark)) >= 3, (name, h.diagnostics[-5:])
