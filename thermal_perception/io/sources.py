"""Frame sources for the driver: where raw counts come from.

A source yields :class:`Frame` objects; the driver stamps and publishes them. This first
version has the physics simulator; real cameras (V4L2/UVC Y16), file sequences and bags are
added beside it with the same interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from thermal_perception.core.camera import CameraProfile
from thermal_perception.sim.simulator import ThermalSimulator

SOURCES = ("simulator",)
SHUTTER_BELOW_FPA_K = 2.0  # shutter flag temperature relative to the FPA (typical, a choice)


@dataclass
class Frame:
    """One raw frame.

    counts : (H, W) uint16 raw counts (may be an internal buffer of the source: publish or
        copy before the next read).
    fpa_temperature_c : focal-plane temperature, deg C (NaN if unknown).
    housing_temperature_c : camera housing / shutter temperature, deg C (NaN if unknown).
    shutter_closed : the frame shows the closed shutter (FFC), not the scene.
    """

    counts: NDArray[np.uint16]
    fpa_temperature_c: float = float("nan")
    housing_temperature_c: float = float("nan")
    shutter_closed: bool = False


class FrameSource(Protocol):
    """What the driver needs from a source."""

    name: str

    def read(self, time_s: float, shutter_closed: bool) -> Frame:
        """The frame captured at ``time_s`` seconds after the stream start."""
        ...

    def close(self) -> None: ...


class SimulatorSource:
    """Frames from :class:`ThermalSimulator`; the shutter is a uniform blackbody at the
    housing temperature."""

    name = "simulator"

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


def open_source(kind: str, profile: CameraProfile, **options: object) -> FrameSource:
    """Create the source called ``kind`` (one of :data:`SOURCES`)."""
    if kind == "simulator":
        return SimulatorSource(profile, **options)
    raise ValueError(f"unknown source {kind!r}; known: {list(SOURCES)}")
