"""Every parameter of every node: out-of-range and wrong-type values are rejected at runtime
with a reason, and the old value is kept (issue 9's parameter checks)."""

from __future__ import annotations

import pytest
from conftest import requires_ros

pytestmark = requires_ros

WRONG_TYPE = {bool: "yes", int: "many", float: "warm", str: 3, list: 7}


def bad_values(spec):
    """(value, why) pairs that must be rejected."""
    cases = [(WRONG_TYPE[type(spec.default)], "wrong type")]
    if spec.min_value is not None:
        below = spec.min_value - 1 if isinstance(spec.default, int) else spec.min_value - 1.0
        cases.append((type(spec.default)(below), "below the minimum"))
    if spec.max_value is not None:
        above = spec.max_value + 1 if isinstance(spec.default, int) else spec.max_value * 2 + 1
        cases.append((type(spec.default)(above), "above the maximum"))
    if spec.choices:
        cases.append(("not-a-choice", "not one of the choices"))
    return cases


def node_cases():
    from thermal_perception.nodes.detector import PARAMS as DETECTOR
    from thermal_perception.nodes.driver import PARAMS as DRIVER
    from thermal_perception.nodes.fusion import PARAMS as FUSION
    from thermal_perception.nodes.processor import PARAMS as PROCESSOR

    for node, specs in (("driver", DRIVER), ("processor", PROCESSOR), ("detector", DETECTOR),
                        ("fusion", FUSION)):
        for spec in specs:
            for value, why in bad_values(spec):
                yield pytest.param(node, spec.name, value, id=f"{node}.{spec.name}-{why}")


@pytest.fixture(scope="module")
def nodes(rclpy_context):
    from rclpy.parameter import Parameter

    from thermal_perception.nodes.detector import DetectorNode
    from thermal_perception.nodes.driver import DriverNode
    from thermal_perception.nodes.fusion import FusionNode
    from thermal_perception.nodes.processor import ProcessorNode

    made = {"driver": DriverNode(parameter_overrides=[Parameter("width", value=64),
                                                      Parameter("height", value=48)]),
            "processor": ProcessorNode(), "detector": DetectorNode(), "fusion": FusionNode()}
    yield made
    for node in made.values():
        node.destroy_node()


@pytest.mark.parametrize("node_name,name,value", list(node_cases()))
def test_bad_value_rejected_and_old_kept(nodes, node_name, name, value):
    from rclpy.parameter import Parameter

    node = nodes[node_name]
    before = node.get_parameter(name).value
    try:
        result = node.set_parameters([Parameter(name, value=value)])[0]
    except Exception as exc:  # rclpy raises for a type it cannot even represent
        pytest.fail(f"set_parameters raised {type(exc).__name__}: {exc}")
    assert not result.successful
    assert result.reason  # says why
    assert node.get_parameter(name).value == before


@pytest.mark.parametrize("name,value,reason", [
    ("rgb_extrinsics", [0.1, 0.2], "6 finite values"),
    ("lidar_extrinsics", [0.0, 0.0, 0.0, 0.0, 0.0, float("nan")], "6 finite values"),
    ("camera_mount", [1.0] * 7, "6 finite values"),
    ("rgb_extrinsics_file", "/no/such/extrinsics.yaml", "extrinsics"),
    ("occlusion_window_px", 4, "odd"),
])
def test_fusion_combination_rules(nodes, name, value, reason):
    from rclpy.parameter import Parameter

    node = nodes["fusion"]
    before = node.get_parameter(name).value
    result = node.set_parameters([Parameter(name, value=value)])[0]
    assert not result.successful and reason in result.reason
    assert node.get_parameter(name).value == before
