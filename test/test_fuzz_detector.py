"""Fuzzing the detector's image callback with hypothesis (issue 9's bad-input checks):
temperature images of random sizes, row padding, byte order and encodings, with NaN, +-inf,
huge and ordinary values, empty data and random (also repeated) stamps. Every message ends in
detections, a counted rejection or a counted dropped stamp; never an exception.
The number of examples comes from the hypothesis profile (conftest.py: HYPOTHESIS_PROFILE)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import requires_ros
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

pytestmark = requires_ros

FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                      HealthCheck.function_scoped_fixture])
TEMPERATURES = st.one_of(
    st.floats(-50.0, 1200.0, width=32),
    st.sampled_from([np.nan, np.inf, -np.inf, 3.0e38, -3.0e38, -273.15, 0.0]),
    st.floats(width=32),  # anything, NaN and infinities included
)


@pytest.fixture(scope="module")
def detector(rclpy_context):
    from rclpy.parameter import Parameter

    from thermal_perception.nodes.detector import DetectorNode

    # a known ground sample distance switches the people/animal detector on too
    node = DetectorNode(parameter_overrides=[Parameter("gsd_m", value=0.1)])
    yield node
    node.destroy_node()


@st.composite
def temperature_messages(draw):
    from sensor_msgs.msg import Image

    shape = draw(st.tuples(st.integers(0, 40), st.integers(0, 40)))
    values = draw(hnp.arrays(np.float32, shape, elements=TEMPERATURES))
    if draw(st.booleans()) and values.size:  # a warm blob, so detectors have work to do
        y, x = draw(st.integers(0, shape[0] - 1)), draw(st.integers(0, shape[1] - 1))
        values[max(0, y - 3):y + 3, max(0, x - 3):x + 3] = draw(TEMPERATURES)
    big = draw(st.booleans())
    pad = draw(st.integers(0, 9))
    rows = values.astype(">f4" if big else "<f4").view(np.uint8).reshape(shape[0], 4 * shape[1])
    data = np.pad(rows, ((0, 0), (0, pad))).tobytes()
    step = 4 * shape[1] + pad
    if draw(st.integers(0, 9)) == 0:  # now and then a broken size or step
        data = data[:draw(st.integers(0, len(data)))]
        step = draw(st.integers(0, step + 8))
    msg = Image(height=shape[0], width=shape[1], step=step, is_bigendian=int(big),
                encoding=draw(st.sampled_from(["32FC1"] * 6 + ["mono16", "64FC1", "", "32FC3"])))
    msg.data = data
    msg.header.stamp.sec = draw(st.sampled_from([0, 1, 5, 100, 2**31 - 1]))
    msg.header.stamp.nanosec = draw(st.integers(0, 999_999_999))
    return msg


def outcomes(node) -> tuple[int, ...]:
    h = node.input
    return node.frames, node.rejected, h.duplicates, h.out_of_order


@FUZZ
@given(msg=temperature_messages())
def test_any_temperature_image_is_detected_or_rejected(detector, msg):
    before = outcomes(detector)
    detector._on_image(msg)
    after = outcomes(detector)
    assert after != before, "the image vanished without detections or a rejection"
    if after[1] > before[1]:
        assert detector.last_reject  # the rejection says why
    status = detector._diagnostics()[0]  # health stays reportable
    assert status.name.endswith("detection")


def test_nan_and_infinite_temperatures_are_no_detections(rclpy_context):
    from rclpy.parameter import Parameter

    from thermal_perception.io.image_encoding import array_to_image
    from thermal_perception.nodes.detector import DetectorNode

    node = DetectorNode(parameter_overrides=[Parameter("gsd_m", value=0.1)])
    got = []
    node.detections_pub.publish = got.append  # what the node would publish
    try:
        image = np.full((40, 40), 15.0, np.float32)
        image[5:15, 5:15] = np.nan
        image[20:30, 20:30] = np.inf
        image[0:4, 30:34] = -np.inf
        node._on_image(array_to_image(image, "32FC1"))
        assert node.frames == 1 and len(got) == 1
        assert got[0].detections == []  # invalid pixels are not hot spots
    finally:
        node.destroy_node()
