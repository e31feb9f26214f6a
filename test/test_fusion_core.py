"""Fusion geometry against the simulator's truth: RGB registration, lidar temperatures with
occlusion, the PointCloud2 layout, and the simulated rig's conventions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from thermal_perception.core.fusion.geometry import R_OPTICAL_LINK, CameraModel, RigidTransform
from thermal_perception.core.fusion.pointcloud import (
    THERMAL_POINT_DTYPE,
    LidarProjector,
    OcclusionSettings,
    box_position,
    sample_temperature,
    thermal_points,
)
from thermal_perception.core.fusion.registration import (
    Registration,
    ScenePlane,
    misregistration_px,
    overlay,
)
from thermal_perception.core.physics.camera import get_profile
from thermal_perception.sim.sensors import SimulatedRig
from thermal_perception.sim.simulator import ThermalSimulator
from thermal_perception.sim.truth import LABELS

ALTITUDE_M = 30.0


@pytest.fixture(scope="module")
def rig():
    profile = get_profile("boson640").with_size(320, 256)
    return SimulatedRig(ThermalSimulator(profile, "uav_sar", altitude_m=ALTITUDE_M, seed=4))


def test_exact_extrinsics_register_rgb_within_a_pixel(rig):
    """Pixels mapped through the registration land where the RGB camera sees the same
    ground point (its own projection of the 3D truth)."""
    reg = Registration(rig.thermal_camera, rig.rgb_camera, rig.T_thermal_rgb.inverse(),
                       ScenePlane(ALTITUDE_M))
    view = rig.thermal_view(1.0)
    uv = rig.thermal_camera.pixel_grid()
    flat = view.lookup(rig.simulator.world.height_m).reshape(-1) == 0.0
    points = view.points_enu.reshape(-1, 3)[flat]
    T_rgb_enu = (rig.T_enu_thermal(1.0) @ rig.T_thermal_rgb).inverse()
    truth, inside = rig.rgb_camera.project(T_rgb_enu.apply(points))
    mapped = reg.thermal_to_rgb(uv[flat])
    # Splatting puts each pixel's point within half a scene cell of its ray; measure the
    # registration at exact ray/ground intersections instead.
    rays = rig.T_enu_thermal(1.0).rotation @ rig.thermal_camera.rays(uv[flat]).T
    origin = rig.T_enu_thermal(1.0).translation
    exact = origin + (rays * (-origin[2] / rays[2])).T
    truth, inside = rig.rgb_camera.project(T_rgb_enu.apply(exact))
    error = np.linalg.norm(mapped[inside] - truth[inside], axis=1)
    assert inside.mean() > 0.95
    assert error.max() < 1e-3  # pixels
    # the renderer's splats lie within a cell of the exact intersections
    assert np.median(np.linalg.norm(points - exact, axis=1)) < rig.simulator.world.gsd_m


def test_one_degree_extrinsic_error_is_reported_in_pixels(rig):
    truth = Registration(rig.thermal_camera, rig.rgb_camera, rig.T_thermal_rgb.inverse(),
                         ScenePlane(ALTITUDE_M))
    tilted = RigidTransform.from_rpy(math.radians(1.0), 0, 0) @ rig.T_thermal_rgb.inverse()
    wrong = Registration(rig.thermal_camera, rig.rgb_camera, tilted, ScenePlane(ALTITUDE_M))
    error = misregistration_px(wrong, truth)
    expected = rig.rgb_camera.fy * math.tan(math.radians(1.0))  # ~9.6 px for this camera
    assert abs(error["median"] - expected) < 0.15 * expected


def test_registered_rgb_labels_match_thermal_labels(rig):
    """Image-level check: the RGB image's label rendering, carried onto the thermal grid,
    agrees with the thermal truth on flat ground."""
    import cv2

    reg = Registration(rig.thermal_camera, rig.rgb_camera, rig.T_thermal_rgb.inverse(),
                       ScenePlane(ALTITUDE_M))
    _, rgb_view = rig.rgb_image(2.0, exact=True)
    world = rig.simulator.world
    rgb_labels = rgb_view.lookup(world.labels, fill=255).astype(np.uint8)
    on_thermal = reg.rgb_to_thermal_grid(rgb_labels, cv2.INTER_NEAREST)
    view = rig.thermal_view(2.0)
    flat = view.lookup(world.height_m) == 0.0
    agree = (on_thermal == view.lookup(world.labels))[flat].mean()
    assert agree > 0.99


def test_overlay_modes():
    thermal = np.full((4, 6, 3), 100, np.uint8)
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[:, 3:] = 200
    blend = overlay(thermal, rgb, "blend", alpha=0.25)
    assert blend[0, 0, 0] == 25 and blend[0, 5, 0] == 175
    edges = overlay(thermal, rgb, "edges")
    flat = overlay(thermal, np.full_like(rgb, 90), "edges")
    assert (flat == 100).all()  # flat RGB adds nothing
    assert edges[:, 3].mean() > 100 and edges[:, 2].mean() < 100  # an outline at the step
    with pytest.raises(ValueError, match="mode"):
        overlay(thermal, rgb, "multiply")


def test_lidar_points_get_true_surface_temperature(rig):
    """Exact pinhole renders: a lidar point the camera sees takes the temperature of the
    surface it lies on (issue #7 goal: within 0.5 K where unoccluded)."""
    scan = rig.lidar_scan(3.0, exact=True)
    view = rig.thermal_view(3.0)
    temperature = (view.lookup(rig.simulator.world.temperature_k) - 273.15).astype(np.float32)
    projector = LidarProjector(rig.thermal_camera, rig.T_thermal_lidar)
    projection = projector.project(scan.points)
    sampled = sample_temperature(temperature, projection)
    seen = projection.visible
    error = np.abs(sampled[seen] - scan.temperature_c[seen])
    assert seen.sum() > 2000
    assert np.mean(error < 0.5) > 0.97  # the rest straddle object edges
    assert np.median(error) < 0.1


def test_occluded_points_are_rejected():
    """A 2 m wide plate 5 m in front of a wall at 10 m; the lidar sits 1 m to the side and sees
    wall behind the plate's edge that the camera cannot see."""
    camera = CameraModel(200, 200, [[200.0, 0, 99.5], [0, 200.0, 99.5], [0, 0, 1]])
    grid = np.linspace(-3, 3, 121)
    gx, gy = np.meshgrid(grid, grid)
    wall = np.column_stack([gx.ravel(), gy.ravel(), np.full(gx.size, 10.0)])
    px, py = np.meshgrid(np.linspace(-1, 1, 41), np.linspace(-1, 1, 41))
    plate = np.column_stack([px.ravel(), py.ravel(), np.full(px.size, 5.0)])
    points_camera = np.vstack([wall, plate])
    # Points seen from the camera: is the straight line to the camera blocked by the plate?
    s = 5.0 / points_camera[:, 2]
    hit = (np.abs(points_camera[:, 0] * s) < 1) & (np.abs(points_camera[:, 1] * s) < 1)
    hidden = hit & (points_camera[:, 2] > 6)
    T_camera_lidar = RigidTransform(np.eye(3), (1.0, 0.0, 0.0))
    points_lidar = T_camera_lidar.inverse().apply(points_camera)
    projection = LidarProjector(camera, T_camera_lidar, OcclusionSettings(window_px=5)
                                ).project(points_lidar)
    inside = projection.in_image
    assert (~projection.visible[hidden & inside]).mean() > 0.95
    # the window also hides wall points within 2 px of the plate's silhouette (~10 %)
    assert projection.visible[~hidden & inside].mean() > 0.85
    # without the window, a sparse plate lets hidden wall points through its gaps
    bare = LidarProjector(camera, T_camera_lidar, OcclusionSettings(window_px=1)
                          ).project(points_lidar)
    assert bare.visible[hidden & inside].mean() > projection.visible[hidden & inside].mean()


def test_thermal_points_cloud_and_box_position():
    camera = CameraModel(100, 100, [[100.0, 0, 49.5], [0, 100.0, 49.5], [0, 0, 1]])
    xy = np.linspace(-2, 2, 41)
    gx, gy = np.meshgrid(xy, xy)
    points = np.column_stack([gx.ravel(), gy.ravel(), np.full(gx.size, 4.0)])
    temperature = np.full((100, 100), 20.0, np.float32)
    temperature[40:60, 40:60] = 33.0  # a warm object in the middle
    projection = LidarProjector(camera, RigidTransform()).project(points)
    cloud = thermal_points(points, None, temperature, projection)
    assert cloud.dtype == THERMAL_POINT_DTYPE
    assert np.isfinite(cloud["temperature"]).all() and len(cloud) == projection.visible.sum()
    everything = thermal_points(points, np.ones(len(points)), temperature, projection,
                                keep_unseen=True)
    assert len(everything) == len(points) and np.isnan(everything["temperature"]).any()
    position, n = box_position(points, projection, (35, 35, 65, 65), temperature, 31.0)
    np.testing.assert_allclose(position, [0, 0, 4.0], atol=0.06)
    u, v = projection.pixel % 100, projection.pixel // 100
    warm = (u >= 40) & (u < 60) & (v >= 40) & (v < 60)
    assert n == int(warm.sum()) == 64  # the warm points only
    assert box_position(points, projection, (0, 0, 2, 2), temperature) is None


def test_rig_conventions(rig):
    from thermal_perception.settings.fusion import (
        LIDAR_ALONG_OPTICAL_AXIS,
        NADIR_CAMERA_MOUNT,
        pose_from,
    )

    np.testing.assert_allclose(pose_from(LIDAR_ALONG_OPTICAL_AXIS, "l").rotation, R_OPTICAL_LINK,
                               atol=1e-12)
    np.testing.assert_allclose(pose_from(NADIR_CAMERA_MOUNT, "m").rotation,
                               rig.T_base_thermal.rotation, atol=1e-12)
    # the UAV faces north: base x = north; the camera looks down
    T = rig.T_enu_base(0.0)
    np.testing.assert_allclose(T.rotation @ [1, 0, 0], [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(rig.T_enu_thermal(0.0).rotation @ [0, 0, 1], [0, 0, -1])
    assert T.translation[2] == pytest.approx(ALTITUDE_M)


def test_uav_sar_config_matches_the_simulated_rig(rig):
    import yaml
    from conftest import REPO

    from thermal_perception.settings.fusion import pose_from

    values = yaml.safe_load((REPO / "config" / "uav_sar.yaml").read_text())
    fusion = values["/**/fusion"]["ros__parameters"]
    np.testing.assert_allclose(pose_from(fusion["rgb_extrinsics"], "rgb").matrix,
                               rig.T_thermal_rgb.matrix, atol=1e-12)
    np.testing.assert_allclose(pose_from(fusion["lidar_extrinsics"], "lidar").matrix,
                               rig.T_thermal_lidar.matrix, atol=1e-12)
    assert fusion["ground_altitude_m"] == rig.origin[2]


def test_live_lidar_is_consistent_with_the_thermal_frames(rig):
    """The fast (live) lidar puts raised surfaces where the simulator's frames draw them."""
    scan = rig.lidar_scan(1.0)
    truth = rig.simulator.truth(1.0)
    projection = LidarProjector(rig.thermal_camera, rig.T_thermal_lidar).project(scan.points)
    labels = np.full(len(scan.points), 255)
    labels[projection.visible] = truth.labels.reshape(-1)[projection.pixel[projection.visible]]
    person = scan.labels == LABELS["person"]
    seen = projection.visible
    assert (labels[seen] == scan.labels[seen]).mean() > 0.97
    if (person & seen).any():
        assert (labels[person & seen] == LABELS["person"]).mean() > 0.8


def test_extrinsics_from_calibration_file(tmp_path):
    from thermal_perception.core.fusion.lens_files import write_extrinsics
    from thermal_perception.settings.fusion import PARAMS, check_combination, extrinsics_from

    values = {spec.name: spec.default for spec in PARAMS}
    T = RigidTransform.from_rpy(0.01, -0.02, 0.03, (0.1, -0.05, 0.02))
    path = write_extrinsics(tmp_path / "rgb.yaml", T, "thermal_optical", "rgb_optical")
    values["rgb_extrinsics_file"] = str(path)
    assert check_combination(values) is None
    np.testing.assert_allclose(extrinsics_from(values, "rgb").matrix, T.matrix, atol=1e-12)
    values["rgb_extrinsics_file"] = str(tmp_path / "missing.yaml")
    assert "rgb_extrinsics_file" in check_combination(values) or "missing" in \
        check_combination(values)
    (tmp_path / "bad.yaml").write_text("transform: [1, 2")
    values["rgb_extrinsics_file"] = str(tmp_path / "bad.yaml")
    assert check_combination(values) is not None
    values["rgb_extrinsics_file"] = ""
    values["lidar_extrinsics"] = [0.0, 0.0, 0.0]
    assert "6 finite values" in check_combination(values)
