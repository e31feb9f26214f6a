"""Fusion benchmark and accuracy figures on the simulated UAV (Boson-class 640x512 at 40 m):

* time per frame of the RGB overlay (registration remap + blend) and of points_thermal
  (project a 19,200-point scan, z-buffer, sample temperatures), next to the thermal processing
  chain (counts -> temperature -> display) measured in the same run;
* overlay misregistration with exact extrinsics and with a 1 degree rotation error, pixels;
* lidar points against the simulator's true surface temperature (exact pinhole renders).

    python bench/fusion.py [--frames 30] [--out out/bench/fusion.json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from common import median_ms  # noqa: E402

from thermal_perception.core.correction.chain import ChainConfig, ProcessingChain  # noqa: E402
from thermal_perception.core.display.render import DisplayRenderer  # noqa: E402
from thermal_perception.core.fusion.geometry import RigidTransform  # noqa: E402
from thermal_perception.core.fusion.pointcloud import (  # noqa: E402
    LidarProjector,
    sample_temperature,
    thermal_points,
)
from thermal_perception.core.fusion.registration import (  # noqa: E402
    Registration,
    ScenePlane,
    misregistration_px,
    overlay,
)
from thermal_perception.core.physics.calibration import CountsToTemperature  # noqa: E402
from thermal_perception.core.physics.camera import get_profile  # noqa: E402
from thermal_perception.sim.sensors import SimulatedRig  # noqa: E402
from thermal_perception.sim.simulator import ThermalSimulator  # noqa: E402

ALTITUDE_M = 40.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--out", type=Path, default=REPO / "out" / "bench" / "fusion.json")
    parser.add_argument("--figure", type=Path, default=REPO / "out" / "bench" / "fusion.png",
                        help="picture of the overlays and the temperature point cloud")
    args = parser.parse_args()
    sim = ThermalSimulator(get_profile("boson640"), "uav_sar", altitude_m=ALTITUDE_M,
                           speed_mps=4.0, seed=5)
    rig = SimulatedRig(sim)
    times_s = [i / 30 for i in range(args.frames)]
    raws = [sim.counts(t).copy() for t in times_s]
    chain = ProcessingChain(ChainConfig(ffc=False), CountsToTemperature(sim.calibration,
                                                                        sim.table))
    renderer = DisplayRenderer()
    chain_ms = median_ms(lambda r: renderer.render(chain.temperature(r)), raws)

    reg = Registration(rig.thermal_camera, rig.rgb_camera, rig.T_thermal_rgb.inverse(),
                       ScenePlane(ALTITUDE_M))
    pairs = [(renderer.render(chain.temperature(r)).copy(), rig.rgb_image(t)[0])
             for r, t in zip(raws, times_s, strict=True)]
    overlay_ms = median_ms(lambda p: overlay(p[0], reg.rgb_to_thermal_grid(p[1]), "blend"),
                           pairs)
    edges_ms = median_ms(lambda p: overlay(p[0], reg.rgb_to_thermal_grid(p[1]), "edges"),
                         pairs)
    projector = LidarProjector(rig.thermal_camera, rig.T_thermal_lidar)
    scans = [(rig.lidar_scan(t).points, chain.temperature(r).copy())
             for r, t in zip(raws[:10], times_s[:10], strict=True)]

    def cloud(item):
        points, temperature = item
        thermal_points(points, None, temperature, projector.project(points))

    cloud_ms = median_ms(cloud, scans)

    tilted = Registration(rig.thermal_camera, rig.rgb_camera,
                          RigidTransform.from_rpy(math.radians(1.0), 0, 0)
                          @ rig.T_thermal_rgb.inverse(), ScenePlane(ALTITUDE_M))
    one_degree = misregistration_px(tilted, reg)
    # Exact registration against independent 3D truth: ground points seen by the thermal
    # camera, projected by the RGB camera.
    uv = rig.thermal_camera.pixel_grid()[::97]
    T = rig.T_enu_thermal(0.0)
    rays = T.rotation @ rig.thermal_camera.rays(uv).T
    ground = T.translation + (rays * (-T.translation[2] / rays[2])).T
    truth, inside = rig.rgb_camera.project(
        (T @ rig.T_thermal_rgb).inverse().apply(ground))
    exact_vs_truth = float(np.max(np.linalg.norm(reg.thermal_to_rgb(uv)[inside]
                                                 - truth[inside], axis=1)))

    errors, seen_total = [], 0
    for t in (0.5, 2.0, 4.0):
        scan = rig.lidar_scan(t, exact=True)
        view = rig.thermal_view(t)
        temperature = (view.lookup(sim.world.temperature_k) - 273.15).astype(np.float32)
        projection = projector.project(scan.points)
        sampled = sample_temperature(temperature, projection)
        seen = projection.visible
        seen_total += int(seen.sum())
        errors.append(np.abs(sampled[seen] - scan.temperature_c[seen]))
    error = np.concatenate(errors)

    results = {
        "chain_ms": chain_ms, "overlay_blend_ms": overlay_ms, "overlay_edges_ms": edges_ms,
        "points_thermal_ms": cloud_ms, "lidar_points_per_scan": len(scans[0][0]),
        "misregistration_exact_px_max": exact_vs_truth,
        "misregistration_1deg_px": one_degree,
        "lidar_points_checked": seen_total,
        "lidar_within_0p5K": float(np.mean(error < 0.5)),
        "lidar_median_error_k": float(np.median(error)),
    }
    print(f"thermal chain (baseline)      {chain_ms:7.2f} ms/frame")
    print(f"overlay blend (remap + mix)   {overlay_ms:7.2f} ms/frame  "
          f"{overlay_ms / chain_ms:5.2f}x chain")
    print(f"overlay edges (detail)        {edges_ms:7.2f} ms/frame  "
          f"{edges_ms / chain_ms:5.2f}x chain")
    print(f"points_thermal ({len(scans[0][0])} pts)   {cloud_ms:7.2f} ms/scan   "
          f"{cloud_ms / chain_ms:5.2f}x chain")
    print(f"misregistration, exact extrinsics: max {exact_vs_truth:.2e} px vs 3D truth")
    print(f"misregistration, 1 deg roll error: median {one_degree['median']:.2f} px, "
          f"p95 {one_degree['p95']:.2f} px (RGB pixels)")
    print(f"lidar temperature vs truth ({seen_total} visible points): "
          f"{100 * results['lidar_within_0p5K']:.2f} % within 0.5 K, "
          f"median error {results['lidar_median_error_k'] * 1e3:.1f} mK")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    figure(args.figure, rig, reg, renderer, chain, raws[-1], times_s[-1], projector)
    print(f"wrote {args.out} and {args.figure}")
    return 0


def figure(path: Path, rig, reg, renderer, chain, raw, time_s, projector) -> None:
    """RGB, blend and edge overlays, and the lidar cloud coloured by temperature."""
    import cv2
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    temperature = chain.temperature(raw).copy()
    colour = renderer.render(temperature).copy()
    rgb = rig.rgb_image(time_s)[0]
    on_thermal = reg.rgb_to_thermal_grid(rgb)
    scan = rig.lidar_scan(time_s)
    cloud = thermal_points(scan.points, scan.intensity, temperature,
                           projector.project(scan.points))
    fig, axes = plt.subplots(1, 4, figsize=(18, 4.2))
    panels = [(rgb, "RGB camera (640x480, 60 deg)"),
              (overlay(colour, on_thermal, "blend"), "overlay: blend"),
              (overlay(colour, on_thermal, "edges"), "overlay: edges (RGB detail on thermal)")]
    for ax, (image, title) in zip(axes[:3], panels, strict=True):
        ax.imshow(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        ax.set_title(title)
        ax.axis("off")
    axes[3].remove()
    ax = fig.add_subplot(1, 4, 4, projection="3d")
    # lidar frame: x along the optical axis (down), y left, z towards the UAV's tail
    height = ALTITUDE_M - cloud["x"]
    sc = ax.scatter(-cloud["y"], -cloud["z"], height, c=cloud["temperature"], s=0.5,
                    cmap="inferno")
    ax.set_title(f"points_thermal: {len(cloud)} points, deg C")
    ax.set_xlabel("right, m")
    ax.set_ylabel("forward, m")
    ax.set_zlabel("height, m")
    ax.view_init(elev=35, azim=-60)
    fig.colorbar(sc, ax=ax, fraction=0.03, pad=0.1)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
