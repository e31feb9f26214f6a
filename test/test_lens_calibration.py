"""Lens calibration of thermal cameras: target detection, intrinsics, thermal<->RGB extrinsics,
camera_info YAML files, the CLI and the driver's camera_info_file.

Known answers come from synthetic views: each target is rendered through a camera of known K
and distortion at a known pose, with the pixel positions of its points given independently by
``CameraModel.project`` (OpenCV's ``projectPoints``); the calibrations must recover them.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from conftest import requires_ros
from hypothesis import given, settings
from hypothesis import strategies as st

from thermal_perception.core.fusion.geometry import CameraModel, RigidTransform
from thermal_perception.core.fusion.lens_calibration import (
    calibrate_extrinsics,
    calibrate_intrinsics,
)
from thermal_perception.core.fusion.lens_files import (
    CameraInfoFile,
    camera_info_yaml,
    read_camera_info,
    read_extrinsics,
    write_camera_info,
    write_extrinsics,
)
from thermal_perception.core.fusion.lens_synthetic import (
    TargetRenderer,
    board_visible,
    counts_from_temperature,
    sample_board_poses,
    thermal_view,
)
from thermal_perception.core.fusion.lens_targets import (
    TargetDetection,
    TargetSpec,
    _canonical_order,
    detect_target,
    to_8bit,
)

# A 640x512 thermal camera with a strongly distorting wide lens, and an 800x600 RGB camera.
THERMAL = CameraModel(640, 512, [[700.0, 0.0, 322.3], [0.0, 703.5, 254.1], [0.0, 0.0, 1.0]],
                      [-0.32, 0.12, 0.0008, -0.0012, 0.0])
RGB = CameraModel(800, 600, [[620.0, 0.0, 401.2], [0.0, 622.0, 298.7], [0.0, 0.0, 1.0]],
                  [0.06, -0.11, 0.0004, 0.0, 0.0])
T_THERMAL_RGB = RigidTransform.from_rpy(*np.radians([0.8, -1.2, 0.5]),
                                        translation=[0.055, -0.012, 0.004])
BOARD = TargetSpec("chessboard", 6, 9, 0.04)  # 9 x 6 inner corners, 40 mm squares


def truth_points(camera: CameraModel, pose: RigidTransform, spec: TargetSpec) -> np.ndarray:
    uv, inside = camera.project(pose.apply(spec.object_points()))
    assert inside.all()
    return uv


def rms(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.sum((np.asarray(a) - b) ** 2, axis=1))))


@pytest.fixture(scope="module")
def thermal_renderer():
    return TargetRenderer(THERMAL, BOARD, supersample=3)


@pytest.fixture(scope="module")
def intrinsic_views(thermal_renderer):
    """12 views as raw 14-bit counts: warm squares 35 C on a 20 C board, 15 C background,
    0.7 px blur, 50 mK NETD."""
    poses = sample_board_poses(THERMAL, BOARD, 12, seed=3)
    images = [counts_from_temperature(thermal_view(thermal_renderer.render(pose), 0.7, 0.05,
                                                   seed=i))
              for i, pose in enumerate(poses)]
    return poses, images


@pytest.fixture(scope="module")
def intrinsic_detections(intrinsic_views):
    return [detect_target(image, BOARD) for image in intrinsic_views[1]]


@pytest.fixture(scope="module")
def paired_views(thermal_renderer):
    """8 simultaneous views: thermal temperature (deg C) and RGB (8-bit BGR, black squares
    printed on white: the opposite polarity of the heated squares)."""
    to_rgb = T_THERMAL_RGB.inverse()
    poses = sample_board_poses(THERMAL, BOARD, 8, seed=5,
                               accept=lambda p: board_visible(RGB, to_rgb @ p, BOARD))
    rgb_renderer = TargetRenderer(RGB, BOARD, supersample=2)
    thermal, rgb = [], []
    for i, pose in enumerate(poses):
        thermal.append(thermal_view(thermal_renderer.render(pose), 0.7, 0.05, seed=i))
        grey = thermal_view(rgb_renderer.render(to_rgb @ pose, 30.0, 220.0, 140.0), 0.6, 2.0,
                            seed=100 + i)
        rgb.append(np.repeat(np.clip(np.rint(grey), 0, 255).astype(np.uint8)[..., None], 3, 2))
    return poses, thermal, rgb


# -- detection -------------------------------------------------------------------------------

def test_chessboard_corners_match_projection(intrinsic_views, intrinsic_detections):
    poses, _ = intrinsic_views
    assert all(d is not None for d in intrinsic_detections)
    errors = [rms(d.points, truth_points(THERMAL, pose, BOARD))
              for d, pose in zip(intrinsic_detections, poses, strict=True)]
    assert max(errors) < 0.15, errors  # measured 0.03..0.11 px
    assert all(d.image_size == (640, 512) for d in intrinsic_detections)


@pytest.mark.parametrize("spec", [TargetSpec("circles", 6, 8, 0.04),
                                  TargetSpec("acircles", 9, 4, 0.025)], ids=["sym", "asym"])
def test_circle_grids_found_in_both_polarities(spec):
    renderer = TargetRenderer(THERMAL, spec, supersample=2)
    for i, pose in enumerate(sample_board_poses(THERMAL, spec, 2, seed=11)):
        image = thermal_view(renderer.render(pose), 0.7, 0.05, seed=i)
        truth = truth_points(THERMAL, pose, spec)
        for polarity_image in (image, -image):  # warm circles bright, then dark
            found = detect_target(polarity_image, spec)
            assert found is not None and found.method == "findCirclesGrid"
            assert rms(found.points, truth) < 0.2


def test_polarity_and_orientation_do_not_change_the_points(thermal_renderer):
    """The same board, warm-bright and warm-dark, upright and rolled by 180 degrees: the
    points come back in one canonical order (first point nearest the image top)."""
    pose = sample_board_poses(THERMAL, BOARD, 1, seed=21, max_roll_deg=10)[0]
    x0, y0, x1, y1 = BOARD.outline_m(0.0)
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2, 0.0])
    flip = RigidTransform.from_rpy(0, 0, np.pi, translation=2 * centre)  # about the centre
    rolled = pose @ flip
    for p in (pose, rolled):
        image = thermal_view(thermal_renderer.render(p), 0.7, 0.05, seed=1)
        bright = detect_target(image, BOARD, polarity="as_is")
        dark = detect_target(image, BOARD, polarity="warm_dark")
        assert bright is not None and dark is not None
        assert not bright.inverted and dark.inverted
        assert rms(bright.points, dark.points) < 0.05
        assert bright.points[0, 1] < bright.points[-1, 1]
    # the rolled board shows its points in reverse order at the same places: the canonical
    # order is the upright board's
    upright = truth_points(THERMAL, pose, BOARD)
    np.testing.assert_allclose(truth_points(THERMAL, rolled, BOARD), upright[::-1], atol=1e-6)
    found = detect_target(thermal_view(thermal_renderer.render(rolled), 0.7, 0.05, seed=2),
                          BOARD)
    assert rms(found.points, upright) < 0.15


def test_no_target_gives_none():
    rng = np.random.default_rng(0)
    noise = (20.0 + rng.normal(0, 0.05, (512, 640))).astype(np.float32)
    assert detect_target(noise, BOARD) is None
    assert detect_target(np.full((64, 64), 1000, np.uint16), BOARD) is None


@settings(max_examples=40, deadline=None)
@given(st.floats(-np.pi, np.pi), st.integers(0, 3), st.booleans(),
       st.sampled_from([(4, 6), (5, 5)]))
def test_canonical_order_is_unique(angle, turns, reverse, shape):
    """Any of the orders a detector may return (reversed, or turned for square grids) gives
    the same canonical order."""
    rows, cols = shape
    spec = TargetSpec("chessboard", rows, cols, 0.03)
    i, j = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    c, s = np.cos(angle), np.sin(angle)
    x, y = 20.0 * j - 50.0, 20.0 * i - 40.0
    points = np.stack([c * x - s * y + 300, s * x + c * y + 200], axis=-1).astype(np.float32)
    reference = _canonical_order(points.reshape(-1, 2), spec)
    other = np.rot90(points, 2 * turns if rows != cols else turns)
    other = other.reshape(-1, 2)
    if reverse:
        other = other[::-1]
    np.testing.assert_array_equal(_canonical_order(np.ascontiguousarray(other), spec),
                                  reference)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-50, 150), min_size=16, max_size=64), st.booleans())
def test_to_8bit_keeps_order_and_ignores_nan(values, invert):
    image = np.array([*values, np.nan, np.inf], np.float32).reshape(1, -1)
    out = to_8bit(image, 0.0, 100.0, invert=invert).astype(int)[0, :-2]
    order = np.argsort(values, kind="stable")
    steps = np.diff(out[order])
    assert np.all(steps <= 0) if invert else np.all(steps >= 0)


def test_to_8bit_rejects_bad_images():
    with pytest.raises(ValueError, match="no finite pixels"):
        to_8bit(np.full((4, 4), np.nan))
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        to_8bit(np.zeros((2, 3, 4, 5)))


# -- intrinsics ------------------------------------------------------------------------------

def test_intrinsics_recovered(intrinsic_views, intrinsic_detections):
    result = calibrate_intrinsics(intrinsic_detections, BOARD)
    cam = result.camera
    assert abs(cam.fx / THERMAL.fx - 1) < 0.01 and abs(cam.fy / THERMAL.fy - 1) < 0.01
    assert np.all(np.abs(cam.k[:2, 2] - THERMAL.k[:2, 2]) < 3.0)
    assert result.rms_px < 0.5 and result.per_view_rms_px.max() < 0.5
    assert result.views == list(range(12)) and not result.rejected
    # the lens model as a whole: rays through a grid of pixels agree with the truth
    grid = np.stack(np.meshgrid(np.linspace(10, 629, 12), np.linspace(10, 501, 10)),
                    -1).reshape(-1, 2)
    back, _ = cam.project(THERMAL.rays(grid))
    assert np.abs(back - grid).max() < 1.5
    assert len(result.board_poses) == 12
    # board distances recovered to ~1 % (the focal length sets the scale)
    for estimate, truth in zip(result.board_poses, intrinsic_views[0], strict=True):
        ratio = np.linalg.norm(estimate.translation) / np.linalg.norm(truth.translation)
        assert abs(ratio - 1) < 0.01


def test_outlier_view_rejected(intrinsic_detections):
    good = intrinsic_detections[0]
    rng = np.random.default_rng(1)
    bad = TargetDetection(good.points + rng.normal(0, 3.0, good.points.shape).astype(np.float32),
                          good.image_size, False, "test")
    result = calibrate_intrinsics([*intrinsic_detections, bad], BOARD)
    assert list(result.rejected) == [12] and result.rejected[12] > 1.0
    assert result.views == list(range(12)) and result.rms_px < 0.5


def test_too_few_views_is_a_clear_error(intrinsic_detections):
    views = intrinsic_detections[:4] + [None] * 5
    with pytest.raises(ValueError, match="at least 6 views, found it in 4 of 9"):
        calibrate_intrinsics(views, BOARD)
    with pytest.raises(ValueError, match="different image sizes"):
        small = TargetDetection(intrinsic_detections[0].points, (320, 256), False, "test")
        calibrate_intrinsics([*intrinsic_detections, small], BOARD)


# -- extrinsics ------------------------------------------------------------------------------

def test_extrinsics_recovered(paired_views):
    _, thermal, rgb = paired_views
    thermal_found = [detect_target(image, BOARD) for image in thermal]
    rgb_found = [detect_target(image, BOARD, polarity="as_is") for image in rgb]
    result = calibrate_extrinsics(thermal_found, rgb_found, BOARD, THERMAL, RGB)
    estimate = result.T_thermal_rgb
    error_m = np.linalg.norm(estimate.translation - T_THERMAL_RGB.translation)
    error_deg = np.degrees(np.linalg.norm(
        cv2.Rodrigues(estimate.rotation @ T_THERMAL_RGB.rotation.T)[0]))
    assert error_m < 0.005 and error_deg < 0.2, (error_m, error_deg)
    assert result.rms_px < 0.5 and len(result.views) == 8


def test_extrinsics_bad_inputs(paired_views):
    found = [detect_target(image, BOARD) for image in paired_views[1][:3]]
    with pytest.raises(ValueError, match="3 thermal and 2 RGB"):
        calibrate_extrinsics(found, found[:2], BOARD, THERMAL, RGB)
    with pytest.raises(ValueError, match="at least 3 pairs, found it in 2 of 3"):
        calibrate_extrinsics(found, [None, *found[1:]], BOARD, THERMAL, THERMAL)
    with pytest.raises(ValueError, match="the camera 800x600"):
        calibrate_extrinsics(found, found, BOARD, THERMAL, RGB)


# -- files -----------------------------------------------------------------------------------

coefficient = st.floats(-1.0, 1.0, allow_subnormal=False)


@settings(max_examples=60, deadline=None)
@given(st.floats(50, 5000), st.floats(50, 5000), st.floats(0, 640), st.floats(0, 512),
       st.lists(coefficient, min_size=5, max_size=5),
       st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=20))
def test_camera_info_round_trip(fx, fy, cx, cy, d, name):
    camera = CameraModel(640, 512, [[fx, 0, cx], [0, fy, cy], [0, 0, 1]], d)
    info = CameraInfoFile.monocular(camera, name)
    with tempfile.TemporaryDirectory() as folder:
        path = write_camera_info(Path(folder) / "sub" / "cam.yaml", info)
        back = read_camera_info(path)
    np.testing.assert_array_equal(back.camera.k, camera.k)  # exact: shortest float repr
    np.testing.assert_array_equal(back.camera.d, camera.d)
    np.testing.assert_array_equal(back.projection, info.projection)
    np.testing.assert_array_equal(back.rectification, np.eye(3))
    assert back.camera_name == name and back.camera.distortion_model == "plumb_bob"


def test_camera_info_file_layout_is_ros():
    """Keys in the order of camera_calibration_parsers' parse_yml.cpp writer, each matrix as
    rows/cols/data; a PyYAML float even for small exponents (``1e-05`` would be a string)."""
    camera = CameraModel(640, 512, THERMAL.k, [1e-5, 0.0, 0.0, 0.0, -2.5e-7])
    text = camera_info_yaml(CameraInfoFile.monocular(camera, "boson"))
    doc = yaml.safe_load(text)
    assert list(doc) == ["image_width", "image_height", "camera_name", "camera_matrix",
                         "distortion_model", "distortion_coefficients",
                         "rectification_matrix", "projection_matrix"]
    assert doc["distortion_coefficients"] == {
        "rows": 1, "cols": 5, "data": [1e-5, 0.0, 0.0, 0.0, -2.5e-7]}
    assert doc["camera_matrix"]["rows"] == 3 and len(doc["projection_matrix"]["data"]) == 12


ROS_FILE = """image_width: 640
image_height: 512
camera_name: narrow_stereo
camera_matrix:
  rows: 3
  cols: 3
  data: [700.5, 0, 320.25, 0, 701, 255.5, 0, 0, 1]
distortion_model: plumb_bob
distortion_coefficients:
  rows: 1
  cols: 5
  data: [-0.31, 0.1, 1e-05, -0.0002, 0]
rectification_matrix:
  rows: 3
  cols: 3
  data: [1, 0, 0, 0, 1, 0, 0, 0, 1]
projection_matrix:
  rows: 3
  cols: 4
  data: [650, 0, 321, 0, 0, 651, 256, 0, 0, 0, 1, 0]
"""


def test_reads_a_file_written_by_ros(tmp_path):
    path = tmp_path / "ros.yaml"
    path.write_text(ROS_FILE)
    info = read_camera_info(path)
    assert info.camera_name == "narrow_stereo"
    np.testing.assert_array_equal(info.camera.k, [[700.5, 0, 320.25], [0, 701, 255.5], [0, 0, 1]])
    np.testing.assert_array_equal(info.camera.d, [-0.31, 0.1, 1e-05, -0.0002, 0])
    assert info.projection[0, 0] == 650 and info.projection.shape == (3, 4)


@pytest.mark.parametrize("edit,words", [
    (lambda t: t.replace("rows: 1\n  cols: 5", "rows: 1\n  cols: 4"), "needs 4 values"),
    (lambda t: t.replace("image_width: 640", "image_width: -3"), "image_width"),
    (lambda t: t.replace("701, 255.5", "abc, 255.5"), "expected a number"),
    (lambda t: t.replace("camera_matrix:\n  rows: 3", "camera_matrix:\n  rows: 2"),
     "camera_matrix must be 3x3"),
    (lambda t: t.replace("data: [700.5", "data: [0.0"), "camera matrix K is invalid"),
    (lambda t: t.replace("projection_matrix:", "projection:"), "projection_matrix must be"),
    (lambda t: t.replace("data: [1, 0, 0, 0, 1", "data: [2, 0, 0, 0, 1"), "not a rotation"),
    (lambda t: t.replace("camera_matrix:", "camera_matrix: [\n"), "not valid YAML"),
    (lambda t: "- just\n- a list\n", "expected a YAML mapping"),
    (lambda t: t.replace("1e-05", ".nan"), "not finite"),
])
def test_corrupt_camera_info_is_a_clear_error(tmp_path, edit, words):
    path = tmp_path / "bad.yaml"
    path.write_text(edit(ROS_FILE))
    with pytest.raises(ValueError, match=words):
        read_camera_info(path)


def test_missing_camera_info_file(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        read_camera_info(tmp_path / "none.yaml")


def test_extrinsics_file_round_trip(tmp_path):
    path = write_extrinsics(tmp_path / "ext.yaml", T_THERMAL_RGB, "thermal_optical",
                            "rgb_optical", {"rms_px": 0.1})
    transform, parent, child = read_extrinsics(path)
    np.testing.assert_allclose(transform.matrix, T_THERMAL_RGB.matrix, atol=1e-12)
    assert (parent, child) == ("thermal_optical", "rgb_optical")
    doc = yaml.safe_load(path.read_text())  # the TransformStamped layout
    assert doc["transform"]["translation"]["x"] == pytest.approx(0.055)
    assert set(doc["transform"]["rotation"]) == {"x", "y", "z", "w"}
    path.write_text(path.read_text().replace("child_frame_id", "child"))
    with pytest.raises(ValueError, match="child_frame_id"):
        read_extrinsics(path)


def test_target_spec_validation():
    with pytest.raises(ValueError, match="pattern"):
        TargetSpec("checkers", 6, 9, 0.04)
    with pytest.raises(ValueError, match="spacing_m"):
        TargetSpec("chessboard", 6, 9, 0.0)
    with pytest.raises(ValueError, match=">= 2"):
        TargetSpec("circles", 1, 9, 0.04)
    acircles = TargetSpec("acircles", 3, 2, 0.01).object_points()[:, :2]
    np.testing.assert_allclose(acircles, [[0, 0], [0.02, 0], [0.01, 0.01], [0.03, 0.01],
                                          [0, 0.02], [0.02, 0.02]])


# -- command line ----------------------------------------------------------------------------

TARGET_ARGS = ["--pattern", "chessboard", "--rows", "6", "--cols", "9", "--square-m", "0.04"]


def test_cli_intrinsics(tmp_path, intrinsic_views, capsys):
    from thermal_perception.cli import main

    folder = tmp_path / "views"
    folder.mkdir()
    for i, counts in enumerate(intrinsic_views[1]):
        cv2.imwrite(str(folder / f"view{i:02d}.png"), counts)  # 16-bit PNG
    out = tmp_path / "thermal.yaml"
    rc = main(["calibrate", "intrinsics", str(folder), *TARGET_ARGS, "--out", str(out),
               "--corners-dir", str(tmp_path / "corners"), "--camera-name", "boson"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "found in 12 of 12 images" in text and "RMS reprojection error" in text
    assert "view11.png:" in text
    info = read_camera_info(out)
    assert info.camera_name == "boson"
    assert abs(info.camera.fx / THERMAL.fx - 1) < 0.01
    assert len(list((tmp_path / "corners").glob("*.png"))) == 12


def test_cli_extrinsics(tmp_path, paired_views, capsys):
    from thermal_perception.cli import main

    _, thermal, rgb = paired_views
    np.save(tmp_path / "thermal.npy", np.stack(thermal))  # float temperature stack
    rgb_files = []
    for i, image in enumerate(rgb):
        rgb_files.append(str(tmp_path / f"rgb{i}.png"))
        cv2.imwrite(rgb_files[-1], image)
    write_camera_info(tmp_path / "t.yaml", CameraInfoFile.monocular(THERMAL))
    write_camera_info(tmp_path / "r.yaml", CameraInfoFile.monocular(RGB, "rgb"))
    out = tmp_path / "ext.yaml"
    rc = main(["calibrate", "extrinsics", "--thermal", str(tmp_path / "thermal.npy"),
               "--rgb", *rgb_files, "--thermal-info", str(tmp_path / "t.yaml"),
               "--rgb-info", str(tmp_path / "r.yaml"), *TARGET_ARGS, "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "8 pairs used" in text
    transform, parent, child = read_extrinsics(out)
    assert (parent, child) == ("thermal_camera_optical_frame", "rgb_camera_optical_frame")
    assert np.linalg.norm(transform.translation - T_THERMAL_RGB.translation) < 0.005


def test_cli_without_a_target_fails_clearly(tmp_path, capsys):
    from thermal_perception.cli import main

    rng = np.random.default_rng(2)
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"wall{i}.png"),
                    rng.integers(3000, 3100, (128, 160)).astype(np.uint16))
    rc = main(["calibrate", "intrinsics", str(tmp_path), *TARGET_ARGS,
               "--out", str(tmp_path / "x.yaml")])
    captured = capsys.readouterr()
    assert rc == 1 and "found it in 0 of 3" in captured.err
    assert not (tmp_path / "x.yaml").exists()
    rc = main(["calibrate", "intrinsics", str(tmp_path / "missing"), *TARGET_ARGS])
    assert rc == 1 and "does not exist" in capsys.readouterr().err


# -- driver ----------------------------------------------------------------------------------

@requires_ros
def test_driver_publishes_the_calibration(rclpy_context, tmp_path):
    import time

    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import CameraInfo

    from thermal_perception.nodes.driver import DriverNode
    from thermal_perception.ros.qos import reliable_qos

    camera = CameraModel(64, 48, [[71.3, 0.0, 31.7], [0.0, 72.1, 23.2], [0.0, 0.0, 1.0]],
                         [-0.2, 0.05, 0.001, -0.002, 0.0])
    calibration = CameraInfoFile.monocular(camera, "small")
    path = write_camera_info(tmp_path / "small.yaml", calibration)

    def driver(file: Path) -> DriverNode:
        return DriverNode(namespace="/lens", parameter_overrides=[
            Parameter("width", value=64), Parameter("height", value=48),
            Parameter("rate_hz", value=20.0), Parameter("camera_info_file", value=str(file))])

    node = driver(path)
    probe = rclpy_context.create_node("lens_probe", namespace="/lens")
    got: list = []
    probe.create_subscription(CameraInfo, "camera_info", got.append, reliable_qos())
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(probe)
    try:
        deadline = time.monotonic() + 30.0
        while not got and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
    finally:
        executor.shutdown()
        node.destroy_node()
        probe.destroy_node()
    assert got, "no camera_info within 30 s"
    info = got[0]
    assert (info.width, info.height) == (64, 48)
    np.testing.assert_array_equal(info.k, camera.k.ravel())
    np.testing.assert_array_equal(info.d, camera.d)
    np.testing.assert_array_equal(info.p, calibration.projection.ravel())
    assert info.header.frame_id == "thermal_camera_optical_frame"

    write_camera_info(tmp_path / "big.yaml", CameraInfoFile.monocular(THERMAL))
    with pytest.raises(ValueError, match="640x512 images, the camera gives 64x48"):
        driver(tmp_path / "big.yaml")
    with pytest.raises(ValueError, match=r"camera_info_file: .* does not exist"):
        driver(tmp_path / "none.yaml")
