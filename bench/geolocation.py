"""Geolocation benchmark: accuracy of pixel -> ground for simulated UAV flights at 100 m with a
Boson 640 camera looking straight down, with the exact and a realistically noisy pose; whether
the predicted uncertainty matches the observed errors; and the time per call, as ratios
against flat-ground ray casting measured in the same run.

    python bench/geolocation.py [--trials 2000] [--out out/bench/geolocation.json]

Flights (thermal_perception.sim.flights): base_link 100 m above the ground at random places,
roll/pitch uniform in +-10 deg, any yaw; the camera mount is ``camera_mount()`` (nadir, image
top = forward: optical z = -z_base, x = -y_base, y = -x_base). A random ground point inside
the image is projected to its pixel and located back. Noise (1-sigma): GNSS 1.5 m per
horizontal axis and 3 m vertical, roll/pitch 0.5 deg, yaw 2 deg, pixel 0.5 px.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from thermal_perception.core.fusion import geolocate_pixels  # noqa: E402
from thermal_perception.core.fusion.geolocation import (  # noqa: E402
    FlatTerrain,
    PoseNoise,
    TerrainGrid,
    camera_mount,
    camera_pose_enu,
    geolocation_covariance,
)
from thermal_perception.core.fusion.geometry import CameraModel  # noqa: E402
from thermal_perception.core.physics.camera import get_profile  # noqa: E402
from thermal_perception.sim.flights import GeolocationTrials, run_trials  # noqa: E402


def stats(errors: np.ndarray) -> dict[str, float]:
    e = errors[np.isfinite(errors)]
    return {"median_m": float(np.median(e)), "p95_m": float(np.percentile(e, 95)),
            "max_m": float(e.max()), "n": int(e.size)}


def line(name: str, s: dict[str, float]) -> str:
    return (f"  {name:<44} median {s['median_m']:8.3g}  p95 {s['p95_m']:8.3g}  "
            f"max {s['max_m']:8.3g} m  (n={s['n']})")


def hills(size_m: float = 2000.0, resolution_m: float = 5.0) -> TerrainGrid:
    """Rolling hills, +-30 m, wavelengths 300-700 m."""
    xs = np.arange(-size_m / 2, size_m / 2 + resolution_m / 2, resolution_m)
    x, y = np.meshgrid(xs, xs)
    z = 20 * np.sin(2 * np.pi * x / 700) * np.cos(2 * np.pi * y / 500) \
        + 10 * np.sin(2 * np.pi * (x + y) / 300)
    return TerrainGrid(z, origin_enu=(xs[0], xs[0]), resolution_m=resolution_m)


def median_ms(fn, repeats: int = 20) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=REPO / "out" / "bench" / "geolocation.json")
    args = parser.parse_args()
    camera = CameraModel.from_profile(get_profile("boson640"))
    noise = PoseNoise()
    result: dict[str, object] = {"trials": args.trials, "altitude_m": 100.0,
                                 "noise": noise.__dict__}
    err = GeolocationTrials.horizontal_error

    print(f"Geolocation, Boson 640 ({camera.width}x{camera.height}, fx {camera.fx:.1f} px), "
          f"nadir, 100 m, roll/pitch +-10 deg, {args.trials} trials; horizontal error:")
    accuracy = {}
    flat = run_trials(camera, args.trials, noise=noise, seed=1)
    accuracy["exact pose, exact pixel"] = stats(err(flat.exact, flat.truth))
    accuracy["exact pose, pixel rounded to whole pixels"] = stats(err(flat.rounded, flat.truth))
    accuracy["noisy pose and pixel"] = stats(err(flat.noisy, flat.truth))
    grid = hills()
    hilly = run_trials(camera, args.trials // 4, terrain=grid, seed=2)
    hilly_flat = run_trials(camera, args.trials // 4, terrain=grid,
                            locate_terrain=FlatTerrain(0.0), seed=2)
    accuracy["hills +-30 m, exact pose, terrain grid"] = stats(err(hilly.exact, hilly.truth))
    accuracy["hills, exact pose, flat ground at 0 m"] = stats(err(hilly_flat.exact,
                                                                  hilly_flat.truth))
    for name, s in accuracy.items():
        print(line(name, s))
    result["accuracy"] = accuracy
    goal = accuracy["exact pose, pixel rounded to whole pixels"]["max_m"] <= 2.0
    print(f"  goal (exact pose, <= 2 m at 100 m): {'met' if goal else 'NOT met'}")

    print("Predicted vs observed spread (noisy pose; 1.0 = consistent):")
    consistency = {}
    linear = run_trials(camera, args.trials, noise=noise, seed=1,
                        covariance_method="linearized")
    for name, trials in (("monte_carlo (64 samples)", flat), ("linearized", linear)):
        rms_ratio, nees_ratio = trials.consistency()
        sigma = float(np.sqrt(np.nanmean(np.trace(trials.covariance, axis1=1, axis2=2))))
        consistency[name] = {"observed_over_predicted_rms": rms_ratio,
                             "sqrt_mean_nees_over_2": nees_ratio, "predicted_drms_m": sigma}
        print(f"  {name:<26} observed/predicted RMS {rms_ratio:.3f}, sqrt(NEES/2) "
              f"{nees_ratio:.3f}, predicted DRMS {sigma:.2f} m")
    result["consistency"] = consistency

    rng = np.random.default_rng(0)
    uv = rng.uniform([0, 0], [camera.width - 1, camera.height - 1], (100, 2))
    T = camera_pose_enu((0.0, 0.0, 100.0), (0.0, 0.0, 0.0, 1.0), camera_mount())
    ground = FlatTerrain(0.0)
    base = median_ms(lambda: geolocate_pixels(camera, T, uv, ground))
    times = {
        "geolocate 100 px, flat": base,
        "geolocate 100 px, terrain grid 401x401": median_ms(
            lambda: geolocate_pixels(camera, T, uv, grid)),
        "covariance 100 px, flat, monte_carlo 64": median_ms(
            lambda: geolocation_covariance(camera, T, uv, ground, noise)),
        "covariance 100 px, flat, linearized": median_ms(
            lambda: geolocation_covariance(camera, T, uv, ground, noise, method="linearized")),
        "covariance 100 px, grid, monte_carlo 64": median_ms(
            lambda: geolocation_covariance(camera, T, uv, grid, noise), repeats=5),
        "covariance 100 px, grid, linearized": median_ms(
            lambda: geolocation_covariance(camera, T, uv, grid, noise, method="linearized"),
            repeats=5),
    }
    print("Time per call (median; ratio to flat-ground geolocation in this run):")
    for name, ms in times.items():
        print(f"  {name:<44} {ms:9.3f} ms  x{ms / base:8.1f}")
    result["times_ms"] = times
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0 if goal else 1


if __name__ == "__main__":
    sys.exit(main())
