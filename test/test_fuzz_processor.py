"""Fuzzing the processor's image callback with hypothesis: any message ends in a valid result
or a counted, reported rejection; never an exception (issue 9's bad-input checks)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import requires_ros
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = requires_ros

ENCODINGS = ["mono16", "16UC1", "mono8", "rgb8", "32FC1", "bgr8", "", "mono 16", "16UC3"]


@pytest.fixture(scope="module")
def processor(rclpy_context):
    from rclpy.parameter import Parameter

    from thermal_perception.nodes.processor import ProcessorNode

    # a ROI makes every frame go through the whole chain even with no subscribers
    node = ProcessorNode(parameter_overrides=[Parameter("rois", value=["box a 0 0 8 8"])])
    yield node
    node.destroy_node()


@st.composite
def image_messages(draw):
    from sensor_msgs.msg import Image

    height = draw(st.integers(0, 24))
    width = draw(st.integers(0, 24))
    encoding = draw(st.sampled_from(ENCODINGS))
    step = draw(st.one_of(st.just(2 * width), st.integers(0, 80)))
    size = draw(st.one_of(st.just(step * height), st.integers(0, 2000)))
    data = draw(st.binary(min_size=size, max_size=size))
    msg = Image(height=height, width=width, encoding=encoding, step=step,
                is_bigendian=draw(st.integers(0, 1)))
    msg.data = data
    msg.header.stamp.sec = draw(st.integers(0, 2**31 - 1))
    msg.header.stamp.nanosec = draw(st.integers(0, 999_999_999))
    return msg


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(msg=image_messages())
def test_any_image_is_processed_or_rejected(processor, msg):
    def outcomes() -> tuple[int, ...]:
        health = processor.input
        return (processor.frames_out, processor.rejected, health.duplicates,
                health.out_of_order)

    before = outcomes()
    processor._on_image(msg)
    processor._on_image(msg)  # a duplicate stamp: dropped and counted
    after = outcomes()
    assert after != before, "the frame vanished without a result or a rejection"
    if after[1] > before[1]:
        assert processor.last_reject  # the rejection says why


def test_nan_and_saturated_counts_give_nan_not_errors(processor):
    from thermal_perception.io.image_encoding import array_to_image

    counts = np.full((16, 16), 5000, np.uint16)
    counts[0, :4] = 0           # dead
    counts[1, :4] = 65535       # saturated beyond full scale
    processor._on_image(array_to_image(counts, "mono16"))
    temperature = processor.temperature
    assert np.isnan(temperature[:2, :4]).all()  # dead and saturated pixels are invalid
    assert np.isfinite(temperature[2:]).all()


@st.composite
def status_and_frames(draw):
    """A status (shutter open or closed, any temperatures incl. NaN/inf/huge) and the raw
    frame with the same or another stamp, in either order; sizes change between examples."""
    from thermal_perception.io.image_encoding import array_to_image
    from thermal_perception.msg import ThermalStatus

    temperatures = st.one_of(st.floats(-40.0, 80.0), st.floats(allow_nan=True),
                             st.sampled_from([float("nan"), float("inf"), -1e308, 1e308]))
    shape = draw(st.sampled_from([(8, 8), (8, 8), (6, 10), (1, 1), (0, 4)]))
    counts = np.full(shape, draw(st.integers(0, 65535)), np.uint16)
    frame = array_to_image(counts, draw(st.sampled_from(["mono16", "16UC1"])))
    frame.header.stamp.sec = draw(st.integers(0, 10))
    frame.header.stamp.nanosec = draw(st.integers(0, 3)) * 100_000_000
    status = ThermalStatus(shutter_closed=draw(st.booleans()),
                           fpa_temperature_c=draw(temperatures),
                           housing_temperature_c=draw(temperatures))
    status.header.stamp = frame.header.stamp if draw(st.booleans()) else \
        type(frame.header.stamp)(sec=draw(st.integers(0, 10)))
    return status, frame, draw(st.booleans())


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=status_and_frames())
def test_status_and_frames_in_any_order_never_raise(processor, event):
    """Shutter frames of changing sizes, FFCs finished with NaN or absurd temperatures,
    statuses before, after or without their frames: handled, and health stays reportable."""
    status, frame, status_first = event
    if status_first:
        processor._on_status(status)
        processor._on_image(frame)
    else:
        processor._on_image(frame)
        processor._on_status(status)
    assert processor._diagnostics()[0].name.endswith("processing")
