"""Test setup: every test run talks DDS on its own domain, on this host only."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

REPO = Path(__file__).resolve().parents[1]
# Real FLIR radiometric recordings kept in the repository (flirpy's test data, MIT; see
# data/flir/README.md), so every clone and CI run tests radiometry on real camera data.
FLIR_DATA = REPO / "data" / "flir"

# A unique domain per run keeps parallel runs (and other ROS users) apart; discovery stays on
# the loopback interface. Set before rclpy starts and inherited by spawned nodes.
os.environ["ROS_DOMAIN_ID"] = str(1 + os.getpid() % 100)
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("PYTHONUNBUFFERED", "1")

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# Hypothesis profiles for the fuzz tests (those that leave max_examples to the profile):
# "fast" for make test, "soak" (many more examples) for make soak: HYPOTHESIS_PROFILE=soak.
settings.register_profile("fast", max_examples=200, deadline=None)
settings.register_profile("soak", max_examples=4000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))


def ros_available() -> bool:
    try:
        import rclpy  # noqa: F401

        from thermal_perception.msg import ThermalStatus  # noqa: F401
    except ImportError:
        return False
    return True


requires_ros = pytest.mark.skipif(not ros_available(),
                                  reason="needs rclpy and the colcon-built messages (make test)")


@pytest.fixture(scope="session")
def rclpy_context():
    """rclpy initialised once for the session."""
    if not ros_available():
        pytest.skip("needs rclpy and the colcon-built messages (make test)")
    import rclpy

    rclpy.init()
    yield rclpy
    rclpy.try_shutdown()
