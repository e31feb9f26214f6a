"""Simulated UAV geolocation trials with ground truth: random flights over known terrain,
ground points projected into a nadir camera, then located back from the (exact or noisy)
pose with :mod:`thermal_perception.core.fusion.geolocation`.

Each trial: the UAV's ``base_link`` at a random place ``altitude_m`` above the ground, with
roll and pitch uniform in +-``max_tilt_deg`` and any yaw; the camera looks straight down
(:func:`~thermal_perception.core.fusion.geolocation.camera_mount` default: image top = forward). A
random ground point inside the image is projected to its pixel (:meth:`CameraModel.project`,
independent of the ray casting under test) and located back. The noisy estimate uses a pose
as a GNSS/INS reports it: position plus Gaussian error per axis, roll/pitch/yaw plus Gaussian
angle errors (Euler angles, as an autopilot reports them), and the pixel plus Gaussian error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.spatial.transform import Rotation

from thermal_perception.core.fusion import geolocate_pixels
from thermal_perception.core.fusion.geolocation import (
    FlatTerrain,
    PoseNoise,
    Terrain,
    TerrainGrid,
    camera_mount,
    camera_pose_enu,
    geolocation_covariance,
)
from thermal_perception.core.fusion.geometry import CameraModel, RigidTransform

#: Ground points tried per trial to find one inside the image.
CANDIDATES = 64


@dataclass
class GeolocationTrials:
    """Results of :func:`run_trials` (N trials; ENU metres, pixels).

    truth : (N, 3) true ground points.
    uv : (N, 2) their exact pixels.
    exact : (N, 3) located from the exact pose and exact pixel.
    rounded : (N, 3) located from the exact pose and the pixel rounded to whole pixels.
    noisy : (N, 3) located from the noisy pose and pixel (NaN rows when no noise was asked).
    covariance : (N, 2, 2) predicted east/north covariance at the noisy pose, m^2.
    """

    truth: NDArray[np.float64]
    uv: NDArray[np.float64]
    exact: NDArray[np.float64]
    rounded: NDArray[np.float64]
    noisy: NDArray[np.float64]
    covariance: NDArray[np.float64]

    @staticmethod
    def horizontal_error(estimate: NDArray[np.float64], truth: NDArray[np.float64]
                         ) -> NDArray[np.float64]:
        return np.hypot(*(estimate[:, :2] - truth[:, :2]).T)

    def consistency(self) -> tuple[float, float]:
        """(observed / predicted RMS horizontal error, sqrt(mean NEES / 2)): both 1 when the
        predicted covariances match the observed errors. NEES = e^T C^-1 e of each trial."""
        err = self.noisy[:, :2] - self.truth[:, :2]
        ok = np.all(np.isfinite(err), axis=1) & np.all(np.isfinite(self.covariance),
                                                       axis=(1, 2))
        e, c = err[ok], self.covariance[ok]
        rms_ratio = math.sqrt(np.mean(np.sum(e ** 2, axis=1))
                              / np.mean(np.trace(c, axis1=1, axis2=2)))
        nees = np.einsum("ni,nij,nj->n", e, np.linalg.inv(c), e)
        return rms_ratio, math.sqrt(float(np.mean(nees)) / 2.0)


def _ground_points(rng: np.random.Generator, centre: NDArray[np.float64], radius: float,
                   terrain: Terrain, count: int) -> NDArray[np.float64]:
    xy = centre[:2] + rng.uniform(-radius, radius, (count, 2))
    if isinstance(terrain, FlatTerrain):
        z = np.full(count, terrain.altitude_m)
    else:
        z = terrain.height_at(xy[:, 0], xy[:, 1])
    return np.column_stack([xy, z])


def _pose(position: NDArray[np.float64], rpy: NDArray[np.float64],
          mount: RigidTransform) -> RigidTransform:
    quaternion = Rotation.from_euler("xyz", rpy).as_quat()
    return camera_pose_enu(position, quaternion, mount)


def run_trials(camera: CameraModel, trials: int, *, altitude_m: float = 100.0,
               max_tilt_deg: float = 10.0, noise: PoseNoise | None = None,
               terrain: Terrain | None = None, locate_terrain: Terrain | None = None,
               area_m: float = 1000.0, covariance_method: str = "monte_carlo",
               covariance_samples: int = 64, seed: int = 0) -> GeolocationTrials:
    """Run ``trials`` simulated geolocations.

    camera : the (nadir) camera. altitude_m : height of ``base_link`` above the ground
    below it, m. max_tilt_deg : roll/pitch bound, degrees. noise : errors of the noisy
    estimate (None: no noisy estimate). terrain : the true ground (default flat at 0 m);
    locate_terrain : the ground model used to locate (default the true one). area_m : side
    of the square the UAV positions are drawn from, m.
    """
    if trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials}")
    rng = np.random.default_rng(seed)
    terrain = terrain if terrain is not None else FlatTerrain(0.0)
    locate = locate_terrain if locate_terrain is not None else terrain
    mount = camera_mount()
    # radius around the UAV that holds the whole (tilted) image footprint, m
    half_diagonal = math.hypot(camera.width / (2 * camera.fx), camera.height / (2 * camera.fy))
    footprint = 1.1 * altitude_m * (half_diagonal + math.tan(math.radians(max_tilt_deg)))
    out = {name: np.full((trials, 3), np.nan) for name in ("truth", "exact", "rounded", "noisy")}
    uvs = np.full((trials, 2), np.nan)
    cov = np.full((trials, 2, 2), np.nan)
    for i in range(trials):
        if isinstance(terrain, TerrainGrid):
            x0, x1, y0, y1 = terrain.bounds
            margin = footprint + 1.0
            xy = rng.uniform([x0 + margin, y0 + margin], [x1 - margin, y1 - margin])
            ground = float(terrain.height_at(*xy))
        else:
            xy = rng.uniform(-area_m / 2, area_m / 2, 2)
            ground = terrain.altitude_m
        position = np.array([xy[0], xy[1], ground + altitude_m])
        rpy = np.array([*np.radians(rng.uniform(-max_tilt_deg, max_tilt_deg, 2)),
                        rng.uniform(-math.pi, math.pi)])
        T = _pose(position, rpy, mount)
        candidates = _ground_points(rng, position, footprint, terrain, CANDIDATES)
        uv, inside = camera.project(T.inverse().apply(candidates))
        inside &= np.all(np.isfinite(candidates), axis=1)
        if not inside.any():
            continue
        k = int(np.argmax(inside))
        out["truth"][i], uvs[i] = candidates[k], uv[k]
        out["exact"][i] = geolocate_pixels(camera, T, uv[k:k + 1], locate)[0]
        out["rounded"][i] = geolocate_pixels(camera, T, np.round(uv[k:k + 1]), locate)[0]
        if noise is not None:
            sig = noise.sigmas
            noisy_position = position + rng.standard_normal(3) * sig[:3]
            noisy_rpy = rpy + rng.standard_normal(3) * sig[3:6]
            noisy_uv = uv[k:k + 1] + rng.standard_normal(2) * sig[6:]
            T_noisy = _pose(noisy_position, noisy_rpy, mount)
            out["noisy"][i] = geolocate_pixels(camera, T_noisy, noisy_uv, locate)[0]
            cov[i] = geolocation_covariance(camera, T_noisy, noisy_uv, locate, noise,
                                            samples=covariance_samples, seed=i,
                                            method=covariance_method,
                                            nominal=out["noisy"][i:i + 1])[0]
    return GeolocationTrials(out["truth"], uvs, out["exact"], out["rounded"], out["noisy"], cov)
