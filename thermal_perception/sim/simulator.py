"""Thermal camera simulator: a camera flying over a ground-truth scene, through the physics.

Scene radiance at the aperture follows the measurement equation (emissivity, reflected sky,
atmosphere over the altitude), the microbolometer model turns it into counts. Truth maps of the
same frame (kinetic and apparent temperature, emissivity, labels) are available for tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy.constants import zero_Celsius

from thermal_perception.core.physics import BandRadianceTable
from thermal_perception.core.physics.calibration import LinearCalibration, MeasurementConditions
from thermal_perception.core.physics.camera import CameraProfile
from thermal_perception.core.physics.sensor import MicrobolometerModel, fpa_temperature_c
from thermal_perception.sim.scenes import SCENE_BUILDERS, make_scene
from thermal_perception.sim.truth import SceneTruth

SCENES = tuple(SCENE_BUILDERS)


@dataclass
class FrameTruth:
    """Truth of one simulated frame, aligned with its pixels (nearest-cell sampling).

    temperature_c : kinetic surface temperature, deg C.
    apparent_temperature_c : blackbody-equivalent temperature of the radiance reaching the
        camera (what a camera set to emissivity 1, no atmosphere, measures), deg C.
    emissivity, labels : per pixel.
    """

    temperature_c: NDArray[np.float32]
    apparent_temperature_c: NDArray[np.float32]
    emissivity: NDArray[np.float32]
    labels: NDArray[np.uint8]


class ThermalSimulator:
    """Simulated camera over a scene, with camera motion and ground truth.

    Parameters
    ----------
    profile : camera constants (size, field of view, NETD, tau).
    scene : scene name, one of :data:`SCENES` ("uav_sar", "road", "fire": nadir views from
        above; "building": a facade seen head-on; "blackbody": a uniform reference).
    altitude_m : distance to the scene (height above ground, or to the facade), m; sets the
        ground sample distance and the air path.
    speed_mps : ground speed of the camera, m/s (0: hovering).
    seed : random seed of the scene and of the sensor noise.
    time_of_day, air_temperature_c, relative_humidity : scene conditions.
    """

    def __init__(self, profile: CameraProfile, scene: str = "uav_sar", *,
                 altitude_m: float = 60.0, speed_mps: float = 4.0, seed: int = 0,
                 time_of_day: str = "day", air_temperature_c: float = 15.0,
                 relative_humidity: float = 0.5, fire: bool = False, defects: bool = False,
                 scene_options: dict | None = None,
                 table: BandRadianceTable | None = None) -> None:
        if scene not in SCENES:
            raise ValueError(f"unknown scene {scene!r}; known: {list(SCENES)}")
        if altitude_m <= 0 or speed_mps < 0:
            raise ValueError("altitude_m must be > 0 and speed_mps >= 0")
        if profile.radiometric_model != "linear_radiance":
            raise ValueError(f"the simulator makes linear_radiance counts; camera profile "
                             f"{profile.name} is a {profile.radiometric_model} camera")
        self.profile = profile
        self.altitude_m = float(altitude_m)
        self.speed_mps = float(speed_mps)
        self.table = table or BandRadianceTable(profile.band_m)
        self.calibration = LinearCalibration.from_profile(profile, self.table)
        self.gsd_m = self.altitude_m / profile.focal_length_px
        w, h = profile.width, profile.height
        scene_args: dict = dict(scene_options or {})
        if scene == "uav_sar":  # object counts in proportion to the area seen
            scene_args = {"people": max(6, (w * h) // 15000),
                          "animals": max(3, (w * h) // 40000), "fire": fire, **scene_args}
        self.world = make_scene(scene, 3 * w, 3 * h, self.gsd_m, seed=seed,
                                time_of_day=time_of_day, air_temperature_c=air_temperature_c,
                                **scene_args)
        self.conditions = MeasurementConditions(
            emissivity=1.0, reflected_temperature_c=self.world.sky_temperature_c,
            atmosphere_temperature_c=air_temperature_c, distance_m=self.altitude_m,
            relative_humidity=relative_humidity)
        self.world_radiance = self._world_radiance(self.world)
        self.sensor = MicrobolometerModel(profile, self.calibration, self.table, seed=seed + 1,
                                          defects=defects)
        self._radiance = np.empty((h, w), np.float32)
        self._last_time_s: float | None = None

    def _world_radiance(self, world: SceneTruth) -> NDArray[np.float32]:
        """Band radiance reaching the camera from every scene cell, W/(m^2 sr): what leaves
        the scene (emission, reflected sky, smoke), then the air path."""
        c = self.conditions
        tau = c.atmospheric_transmission()
        air = float(self.table.radiance(c.atmosphere_temperature_c + zero_Celsius))
        leaving = world.leaving_radiance(self.table)
        return (np.float32(tau) * leaving + np.float32((1.0 - tau) * air)).astype(np.float32)

    # -- camera motion --------------------------------------------------------------------

    def camera_offset_px(self, time_s: float) -> tuple[float, float]:
        """Top-left corner of the view in world cells at ``time_s`` (a figure-of-eight path)."""
        h_world, w_world = self.world.shape
        ax = (w_world - self.profile.width) / 2.0 - 2.0
        ay = (h_world - self.profile.height) / 2.0 - 2.0
        speed_px = self.speed_mps / self.gsd_m
        omega = speed_px / ax if ax > 0 else 0.0
        x = ax + 1.0 + ax * math.sin(omega * time_s)
        y = ay + 1.0 + 0.5 * ay * math.sin(2.0 * omega * time_s)
        return x, y

    def _view(self, image: NDArray, time_s: float, interpolation: int,
              out: NDArray | None = None) -> NDArray:
        x, y = self.camera_offset_px(time_s)
        if interpolation == cv2.INTER_NEAREST:
            x, y = round(x), round(y)
        if float(x).is_integer() and float(y).is_integer():
            x0, y0 = int(x), int(y)
            view = image[y0:y0 + self.profile.height, x0:x0 + self.profile.width]
            if out is None:
                return view.copy()
            np.copyto(out, view)
            return out
        matrix = np.array([[1.0, 0.0, -x], [0.0, 1.0, -y]], np.float64)
        return cv2.warpAffine(image, matrix, (self.profile.width, self.profile.height),
                              dst=out, flags=interpolation, borderMode=cv2.BORDER_REFLECT)

    # -- frames ---------------------------------------------------------------------------

    def radiance(self, time_s: float) -> NDArray[np.float32]:
        """Band radiance image at the aperture at ``time_s``, W/(m^2 sr) (internal buffer)."""
        return self._view(self.world_radiance, time_s, cv2.INTER_LINEAR, out=self._radiance)

    def fpa_temperature_c(self, time_s: float) -> float:
        """Focal-plane temperature at ``time_s``: warming up from the air temperature."""
        return fpa_temperature_c(self.profile, self.world.air_temperature_c, time_s)

    def counts(self, time_s: float) -> NDArray[np.uint16]:
        """Raw counts of the frame captured at ``time_s`` (seconds since the stream start)."""
        dt = 0.0 if self._last_time_s is None else time_s - self._last_time_s
        self._last_time_s = time_s
        return self.sensor.expose(self.radiance(time_s), dt, self.fpa_temperature_c(time_s))

    def uniform_counts(self, temperature_c: float, time_s: float = 0.0) -> NDArray[np.uint16]:
        """Counts of a uniform blackbody (the closed shutter) at ``temperature_c``."""
        self._radiance.fill(float(self.table.radiance(temperature_c + zero_Celsius)))
        self.sensor.reset()
        return self.sensor.expose(self._radiance, 0.0, self.fpa_temperature_c(time_s))

    def truth(self, time_s: float) -> FrameTruth:
        """Truth maps of the frame at ``time_s``."""
        apparent_k = self.table.temperature_k(
            self._view(self.world_radiance, time_s, cv2.INTER_LINEAR).astype(np.float64))
        return FrameTruth(
            temperature_c=self._view(self.world.temperature_k, time_s, cv2.INTER_NEAREST)
            - np.float32(zero_Celsius),
            apparent_temperature_c=(np.asarray(apparent_k) - zero_Celsius).astype(np.float32),
            emissivity=self._view(self.world.emissivity, time_s, cv2.INTER_NEAREST),
            labels=self._view(self.world.labels, time_s, cv2.INTER_NEAREST),
        )
