"""Camera and frame geometry: projection/ray round trips (with distortion), transforms and the
plane homography, checked against direct 3D computation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thermal_perception.core.fusion.geometry import (
    R_OPTICAL_LINK,
    CameraModel,
    RigidTransform,
    plane_homography,
)
from thermal_perception.core.physics.camera import get_profile

BOSON = CameraModel.from_profile(get_profile("boson640"))


@pytest.mark.parametrize("d, model", [((), "plumb_bob"),
                                      ((-0.25, 0.08, 0.001, -0.002, 0.0), "plumb_bob"),
                                      ((-0.03, 0.004, 0.001, 0.0), "equidistant")])
def test_project_then_rays_recovers_directions(d, model):
    cam = CameraModel(640, 512, BOSON.k, d, model)
    rng = np.random.default_rng(1)
    uv = rng.uniform([20, 20], [620, 490], (200, 2))
    rays = cam.rays(uv)
    back, inside = cam.project(rays * rng.uniform(1, 50, (200, 1)))
    assert inside.all()
    np.testing.assert_allclose(back, uv, atol=1e-4)


def test_project_marks_points_behind_and_outside():
    uv, inside = BOSON.project([[0, 0, -1.0], [0, 0, 1.0], [100.0, 0, 1.0]])
    assert inside.tolist() == [False, True, False]
    assert np.isnan(uv[0]).all()
    np.testing.assert_allclose(uv[1], [319.5, 255.5])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-3.1, 3.1), min_size=3, max_size=3),
       st.lists(st.floats(-100, 100), min_size=3, max_size=3))
def test_transform_inverse_and_composition(rpy, t):
    a = RigidTransform.from_rpy(*rpy, translation=t)
    b = RigidTransform.from_quaternion([0.1, -0.2, 0.3, 0.9], [1, 2, 3])
    p = np.array([[1.0, 2.0, 3.0], [-4.0, 5.0, 0.5]])
    np.testing.assert_allclose(a.inverse().apply(a.apply(p)), p, atol=1e-9)
    np.testing.assert_allclose((a @ b).apply(p), a.apply(b.apply(p)), atol=1e-9)
    np.testing.assert_allclose(RigidTransform.from_quaternion(a.quaternion, t).matrix,
                               a.matrix, atol=1e-9)


def test_optical_rotation_looks_along_link_x():
    forward_link = np.array([1.0, 0.0, 0.0])
    left_link = np.array([0.0, 1.0, 0.0])
    up_link = np.array([0.0, 0.0, 1.0])
    np.testing.assert_allclose(R_OPTICAL_LINK @ forward_link, [0, 0, 1])  # optical z forward
    np.testing.assert_allclose(R_OPTICAL_LINK @ left_link, [-1, 0, 0])    # left = -x (right)
    np.testing.assert_allclose(R_OPTICAL_LINK @ up_link, [0, -1, 0])      # up = -y (down)
    assert np.isclose(np.linalg.det(R_OPTICAL_LINK), 1.0)


def test_plane_homography_matches_3d_projection():
    rgb = CameraModel(1280, 720, [[900.0, 0, 640], [0, 900.0, 360], [0, 0, 1]])
    T = RigidTransform.from_rpy(0.01, -0.02, 0.015, [0.08, -0.02, 0.01])
    H = plane_homography(BOSON, rgb, T, distance_m=12.0)
    uv = np.array([[10.0, 10.0], [319.5, 255.5], [600.0, 480.0]])
    points = BOSON.rays(uv)
    points = points * (12.0 / points[:, 2:3])  # on the plane z = 12 m
    expected, _ = rgb.project(T.apply(points))
    mapped = np.column_stack([uv, np.ones(3)]) @ H.T
    np.testing.assert_allclose(mapped[:, :2] / mapped[:, 2:], expected, atol=1e-6)


@pytest.mark.parametrize("bad", [dict(k=[[0, 0, 0], [0, 1, 0], [0, 0, 1]]),
                                 dict(distortion_model="fisheye62"),
                                 dict(d=[np.nan, 0, 0, 0, 0])])
def test_invalid_camera_models_are_rejected(bad):
    args = dict(width=640, height=512, k=BOSON.k) | bad
    with pytest.raises(ValueError, match="camera model"):
        CameraModel(**args)
