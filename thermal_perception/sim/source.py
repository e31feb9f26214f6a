"""The simulator as a frame source of the driver
(:class:`~thermal_perception.io.sources.FrameSource`).
"""

from __future__ import annotations

from thermal_perception.core.physics.camera import CameraProfile
from thermal_perception.io.sources import Frame
from thermal_perception.sim.simulator import ThermalSimulator

SHUTTER_BELOW_FPA_K = 2.0  # shutter flag temperature relative to the FPA (typical, a choice)


class SimulatorSource:
    """Frames from :class:`ThermalSimulator`; the shutter is a uniform blackbody at the
    housing temperature."""

    name = "simulator"
    has_shutter = True

    def __init__(self, profile: CameraProfile, **simulator_args: object) -> None:
        self.simulator = ThermalSimulator(profile, **simulator_args)  # type: ignore[arg-type]

    def read(self, time_s: float, shutter_closed: bool = False) -> Frame:
        fpa_c = self.simulator.fpa_temperature_c(time_s)
        # the shutter sits next to the core, slightly cooler than the FPA
        housing_c = fpa_c - SHUTTER_BELOW_FPA_K
        if shutter_closed:
            counts = self.simulator.uniform_counts(housing_c, time_s)
        else:
            counts = self.simulator.counts(time_s)
        return Frame(counts=counts, fpa_temperature_c=fpa_c, housing_temperature_c=housing_c,
                     shutter_closed=shutter_closed)

    def close(self) -> None:
        pass
