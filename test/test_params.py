"""Parameter validation: pure checks, and real nodes rejecting bad values at start and runtime."""

from __future__ import annotations

import pytest
from conftest import requires_ros

from thermal_perception.ros.params import ParamSpec, check_value

RATE = ParamSpec("rate_hz", 30.0, "rate", 0.0, 240.0)
MODE = ParamSpec("mode", "a", "mode", choices=("a", "b"))
COUNT = ParamSpec("count", 3, "count", 0, 10)


@pytest.mark.parametrize("spec,value,words", [
    (RATE, -1.0, "below its minimum"),
    (RATE, 241.0, "above its maximum"),
    (RATE, float("nan"), "finite"),
    (RATE, "fast", "type float"),
    (MODE, "c", "not one of"),
    (COUNT, True, "type int"),
    (COUNT, 2.5, "type int"),
])
def test_check_value_rejects_with_reason(spec, value, words):
    problem = check_value(spec, value)
    assert problem is not None and words in problem and spec.name in problem


@pytest.mark.parametrize("spec,value", [(RATE, 0.0), (RATE, 30), (MODE, "b"), (COUNT, 10)])
def test_check_value_accepts(spec, value):
    assert check_value(spec, value) is None


@requires_ros
class TestNodeParameters:
    def _driver(self, rclpy_context, **overrides):
        from rclpy.parameter import Parameter

        from thermal_perception.nodes.driver import DriverNode

        params = [Parameter(k, value=v) for k, v in overrides.items()]
        return DriverNode(parameter_overrides=params)

    @pytest.mark.parametrize("overrides,words", [
        ({"rate_hz": -5.0}, "out of range"),
        ({"rate_hz": "fast"}, "rate_hz"),
        ({"camera_profile": "flir9000"}, "not one of"),
        ({"frame_id": "  "}, "frame_id must not be empty"),
        ({"width": 320}, "set both width and height"),
    ])
    def test_bad_start_values_refuse_to_start(self, rclpy_context, overrides, words):
        with pytest.raises(ValueError, match=words):
            self._driver(rclpy_context, **overrides)

    def test_integer_for_float_parameter_is_accepted(self, rclpy_context):
        node = self._driver(rclpy_context, rate_hz=10, width=64, height=48)
        try:
            assert node.params["rate_hz"] == 10.0
        finally:
            node.destroy_node()

    def test_runtime_changes_validated_and_old_value_kept(self, rclpy_context):
        from rclpy.parameter import Parameter

        from thermal_perception.nodes.processor import ProcessorNode

        node = ProcessorNode()
        try:
            bad = [Parameter("display_min_c", value=50.0)]  # above display_max_c = 40
            result = node.set_parameters(bad)[0]
            assert not result.successful and "display_max_c" in result.reason
            assert node.get_parameter("display_min_c").value == 0.0
            result = node.set_parameters([Parameter("colormap", value="sepia")])[0]
            assert not result.successful and "not one of" in result.reason
            result = node.set_parameters([Parameter("emissivity", value=1.5)])[0]
            assert not result.successful
            assert node.params["emissivity"] == 1.0
            before = node.converter
            ok = node.set_parameters([Parameter("emissivity", value=0.95)])[0]
            assert ok.successful and node.params["emissivity"] == 0.95
            assert node.converter is not before  # LUT rebuilt for the new emissivity
            result = node.set_parameters([Parameter("radiometric_model", value="flir_planck")])[0]
            assert not result.successful and "flir_r1" in result.reason
            ok = node.set_parameters([Parameter("radiometric_model", value="tlinear")])[0]
            assert ok.successful and node.converter.model.name == "tlinear"
            result = node.set_parameters([Parameter("emissivity_map_file",
                                                    value="/nonexistent/eps.npy")])[0]
            assert not result.successful and "does not exist" in result.reason
            result = node.set_parameters([Parameter("nuc_file", value="/nonexistent/nuc")])[0]
            assert not result.successful and "nuc" in result.reason.lower()
            ok = node.set_parameters([Parameter("colormap", value="white_hot")])[0]
            assert ok.successful and node.renderer.colormap == "white_hot"
        finally:
            node.destroy_node()

    def test_read_only_parameter_cannot_change(self, rclpy_context):
        from rclpy.parameter import Parameter

        node = self._driver(rclpy_context, width=64, height=48)
        try:
            result = node.set_parameters([Parameter("width", value=128)])[0]
            assert not result.successful
            assert node.profile.width == 64
        finally:
            node.destroy_node()
