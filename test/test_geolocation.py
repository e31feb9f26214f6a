"""UAV geolocation: WGS84 <-> ENU known answers, camera pose conventions (REP 103/145), ray
casting onto flat ground and terrain grids, uncertainty against closed-form sigmas, the
simulated 100 m flight accuracy, and the GeoJSON (RFC 7946) / KML 2.2 mission log."""

import json
import math
import xml.etree.ElementTree as ET
from datetime import datetime

import geojson
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from thermal_perception.core.fusion import GeoOrigin, geolocate_pixels
from thermal_perception.core.fusion.geolocation import (
    FlatTerrain,
    PoseNoise,
    TerrainGrid,
    camera_mount,
    camera_pose_enu,
    enu_to_geodetic,
    geodetic_to_enu,
    geolocation_covariance,
    horizontal_sigma_m,
    intersect_rays,
    locate_geodetic,
)
from thermal_perception.core.fusion.geolocation_log import GeoDetectionLog
from thermal_perception.core.fusion.geometry import CameraModel
from thermal_perception.core.physics.camera import get_profile
from thermal_perception.sim.flights import run_trials

BOSON = CameraModel.from_profile(get_profile("boson640"))
CENTRE = (319.5, 255.5)  # principal point of the nominal Boson 640 camera
WGS84_A = 6378137.0  # semi-major axis, m (NIMA TR8350.2, WGS 84 definition)
WGS84_B = 6356752.314245  # semi-minor axis, m (NIMA TR8350.2, table 3.1)
LEVEL_EAST = (0.0, 0.0, 0.0, 1.0)  # REP 103: identity orientation = level, facing east
KML = "{http://www.opengis.net/kml/2.2}"


def quat_rpy(roll_deg, pitch_deg, yaw_deg):
    return Rotation.from_euler("xyz", [roll_deg, pitch_deg, yaw_deg], degrees=True).as_quat()


def nadir_pose(position=(0.0, 0.0, 100.0), orientation=LEVEL_EAST):
    return camera_pose_enu(position, orientation, camera_mount())


# --- geodetic ----------------------------------------------------------------------------------

def test_matterhorn_from_zermatt_matches_matlab_example():
    # MathWorks Mapping Toolbox, geodetic2enu reference page, example "ENU coordinates of the
    # Matterhorn with respect to Zermatt": xEast = -7134.8, yNorth = -4556.3, zUp = 2852.4.
    zermatt = GeoOrigin(46.017, 7.750, 1673.0)
    enu = geodetic_to_enu(45.976, 7.658, 4531.0, zermatt)
    np.testing.assert_allclose(enu, [-7134.8, -4556.3, 2852.4], atol=0.06)
    lat, lon, alt = enu_to_geodetic([-7134.8, -4556.3, 2852.4], zermatt)
    np.testing.assert_allclose([lat, lon], [45.976, 7.658], atol=1e-5)
    assert alt == pytest.approx(4531.0, abs=0.1)


def test_equator_and_pole_by_hand():
    # origin (0, 0, 0) lies at ECEF (a, 0, 0) with east = +Y, north = +Z, up = +X.
    # (0 N, 90 E) is ECEF (0, a, 0): ENU (a, 0, -a). The north pole is ECEF (0, 0, b):
    # ENU (0, b, -a). (0 N, 0 E, 1000 m) is 1000 m straight up.
    origin = GeoOrigin(0.0, 0.0, 0.0)
    enu = geodetic_to_enu([0.0, 90.0, 0.0], [90.0, 0.0, 0.0], [0.0, 0.0, 1000.0], origin)
    np.testing.assert_allclose(enu, [[WGS84_A, 0, -WGS84_A], [0, WGS84_B, -WGS84_A],
                                     [0, 0, 1000.0]], atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(st.floats(-85, 85), st.floats(-179, 179), st.floats(-100, 5000),
       st.lists(st.floats(-20000, 20000), min_size=3, max_size=3))
def test_enu_round_trip(lat0, lon0, h0, enu):
    origin = GeoOrigin(lat0, lon0, h0)
    lat, lon, alt = enu_to_geodetic(enu, origin)
    np.testing.assert_allclose(geodetic_to_enu(lat, lon, alt, origin), enu, atol=1e-6)


def test_geodetic_shapes_and_bad_input():
    origin = GeoOrigin(47.0, 8.0, 400.0)
    enu = np.zeros((4, 5, 3))
    lat, lon, alt = enu_to_geodetic(enu, origin)
    assert lat.shape == lon.shape == alt.shape == (4, 5)
    assert geodetic_to_enu(lat, lon, alt, origin).shape == (4, 5, 3)
    with pytest.raises(ValueError, match="last axis"):
        enu_to_geodetic(np.zeros((4, 2)), origin)
    with pytest.raises(ValueError, match="latitude"):
        geodetic_to_enu(91.0, 0.0, 0.0, origin)
    with pytest.raises(ValueError, match="geo origin"):
        GeoOrigin(100.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="finite"):
        GeoOrigin(float("nan"), 0.0, 0.0)


# --- poses ------------------------------------------------------------------------------------

def test_nadir_mount_axes():
    R = camera_mount().rotation  # optical -> base_link
    np.testing.assert_allclose(R @ [0, 0, 1], [0, 0, -1], atol=1e-12)  # looks down
    np.testing.assert_allclose(R @ [0, -1, 0], [1, 0, 0], atol=1e-12)  # image up = forward
    np.testing.assert_allclose(R @ [1, 0, 0], [0, -1, 0], atol=1e-12)  # image right = right
    forward = camera_mount(pitch=0.0).rotation
    np.testing.assert_allclose(forward @ [0, 0, 1], [1, 0, 0], atol=1e-12)


def test_nadir_principal_point_straight_below():
    points = geolocate_pixels(BOSON, nadir_pose((12.0, -7.0, 100.0)), [CENTRE], FlatTerrain())
    np.testing.assert_allclose(points, [[12.0, -7.0, 0.0]], atol=1e-9)


def test_yaw_follows_rep103():
    # facing east (yaw 0) the top of the image is east; yaw +90 deg faces north (REP 103).
    top = [[CENTRE[0], 0.0]]
    east = geolocate_pixels(BOSON, nadir_pose(), top, FlatTerrain())[0]
    north = geolocate_pixels(BOSON, nadir_pose(orientation=quat_rpy(0, 0, 90)), top,
                             FlatTerrain())[0]
    assert east[0] > 30 and abs(east[1]) < 1e-9
    assert north[1] > 30 and abs(north[0]) < 1e-9
    # half the image height at 100 m: 100 * 256 / fy
    assert east[0] == pytest.approx(100 * 255.5 / BOSON.fy)


def test_roll_tilts_camera_to_the_left_wing_up():
    # REP 103 roll +10 deg about x forward lifts the left (y) side: the downward optical axis
    # swings to +y, i.e. north when facing east, by 100 tan(10 deg).
    p = geolocate_pixels(BOSON, nadir_pose(orientation=quat_rpy(10, 0, 0)), [CENTRE],
                         FlatTerrain())[0]
    np.testing.assert_allclose(p, [0.0, 100 * math.tan(math.radians(10)), 0.0], atol=1e-9)
    # pitch +10 deg (nose down) swings the axis backwards: west when facing east
    p = geolocate_pixels(BOSON, nadir_pose(orientation=quat_rpy(0, 10, 0)), [CENTRE],
                         FlatTerrain())[0]
    np.testing.assert_allclose(p, [-100 * math.tan(math.radians(10)), 0.0, 0.0], atol=1e-9)


def test_camera_tilted_45_deg_offset_equals_height():
    T = camera_pose_enu((5.0, 0.0, 80.0), LEVEL_EAST, camera_mount(pitch=math.radians(45)))
    p = geolocate_pixels(BOSON, T, [CENTRE], FlatTerrain(-20.0))[0]
    np.testing.assert_allclose(p, [5.0 + 100.0, 0.0, -20.0], atol=1e-9)


def test_camera_pose_rejects_bad_input():
    with pytest.raises(ValueError, match="position"):
        camera_pose_enu((0.0, 0.0), LEVEL_EAST, camera_mount())
    with pytest.raises(ValueError, match="quaternion"):
        camera_pose_enu((0.0, 0.0, 1.0), (0, 0, 0, 0), camera_mount())


# --- ray casting ------------------------------------------------------------------------------

def test_rays_that_miss_are_nan():
    forward = camera_pose_enu((0.0, 0.0, 100.0), LEVEL_EAST, camera_mount(pitch=0.0))
    uv = [CENTRE, (CENTRE[0], 0.0), (CENTRE[0], 511.0), (np.nan, 3.0)]
    p = geolocate_pixels(BOSON, forward, uv, FlatTerrain())
    assert np.isnan(p[0]).all()     # on the horizon
    assert np.isnan(p[1]).all()     # above the horizon
    assert np.isfinite(p[2]).all()  # below it: hits far away
    assert p[2, 0] > 100
    assert np.isnan(p[3]).all()     # non-finite pixel
    limited = geolocate_pixels(BOSON, forward, uv, FlatTerrain(), max_range_m=100.0)
    assert np.isnan(limited[2]).all()
    # camera under the ground
    assert np.isnan(geolocate_pixels(BOSON, nadir_pose((0, 0, -1.0)), [CENTRE],
                                     FlatTerrain())).all()
    assert geolocate_pixels(BOSON, nadir_pose(), np.zeros((0, 2)), FlatTerrain()).shape == (0, 3)
    with pytest.raises(ValueError, match="shape"):
        geolocate_pixels(BOSON, nadir_pose(), np.zeros((3, 3)), FlatTerrain())


def test_terrain_step():
    # ground at 0 m west of x = 50 m and 20 m east of x = 51 m; camera at 100 m looking 45 deg
    # down towards east: the ray (z = 100 - x) meets the top of the step at x = 80 m, z = 20 m
    # (flat ground would be at x = 100 m).
    heights = np.zeros((41, 201))
    heights[:, 51:] = 20.0
    grid = TerrainGrid(heights, origin_enu=(0.0, -20.0), resolution_m=1.0)
    T = camera_pose_enu((0.0, 0.0, 100.0), LEVEL_EAST, camera_mount(pitch=math.radians(45)))
    p = geolocate_pixels(BOSON, T, [CENTRE], grid)[0]
    np.testing.assert_allclose(p, [80.0, 0.0, 20.0], atol=1e-3)
    # looking 80 deg down (10 deg from nadir) from x = c: the ray z = 100 - (x - c) tan(80 deg)
    # meets the cliff face, the bilinear ramp z = 20 (x - 50) between x = 50 and 51 m; c is
    # chosen so that this happens at x = 50.5 m, z = 10 m (the ray is still 12.8 m above the
    # lower ground at x = 50 m).
    slope = math.tan(math.radians(80))
    c = (50.5 * (20 + slope) - 1100) / slope
    T = camera_pose_enu((c, 0.0, 100.0), LEVEL_EAST, camera_mount(pitch=math.radians(80)))
    p = geolocate_pixels(BOSON, T, [CENTRE], grid)[0]
    np.testing.assert_allclose(p, [50.5, 0.0, 10.0], atol=1e-3)


@settings(max_examples=40, deadline=None)
@given(st.floats(-0.3, 0.3), st.floats(-0.3, 0.3), st.floats(-10, 10), st.floats(-15, 15),
       st.floats(-15, 15), st.floats(-180, 180))
def test_planar_grid_matches_plane_intersection(gx, gy, h0, roll, pitch, yaw):
    # a grid sampled from a plane z = h0 + gx x + gy y is that plane (bilinear is exact), so
    # the marched point equals the closed-form ray/plane intersection.
    xs = np.arange(-150.0, 150.5, 2.5)
    X, Y = np.meshgrid(xs, xs)
    grid = TerrainGrid(h0 + gx * X + gy * Y, origin_enu=(-150.0, -150.0), resolution_m=2.5)
    T = nadir_pose((3.0, -4.0, 100.0), quat_rpy(roll, pitch, yaw))
    uv = np.array([CENTRE, (0.0, 0.0), (639.0, 511.0), (100.0, 400.0)])
    got = geolocate_pixels(BOSON, T, uv, grid)
    c = T.translation
    d = BOSON.rays(uv) @ T.rotation.T
    n = np.array([-gx, -gy, 1.0])
    s = (h0 - n @ c) / (d @ n)
    expected = c + s[:, None] * d
    inside = (np.abs(expected[:, :2]) <= 150).all(axis=1)
    np.testing.assert_allclose(got[inside], expected[inside], atol=2e-3)
    assert np.isnan(got[~inside]).all()


def test_grid_height_at_and_validation():
    grid = TerrainGrid(np.array([[0.0, 10.0], [20.0, 30.0]]), origin_enu=(100.0, 200.0),
                       resolution_m=5.0)
    h = grid.height_at([100.0, 105.0, 102.5, 102.5, 99.0], [200.0, 205.0, 200.0, 202.5, 200.0])
    np.testing.assert_allclose(h[:4], [0.0, 30.0, 5.0, 15.0])
    assert np.isnan(h[4])
    assert grid.bounds == (100.0, 105.0, 200.0, 205.0)
    with pytest.raises(ValueError, match="2-D"):
        TerrainGrid(np.zeros(5))
    with pytest.raises(ValueError, match="resolution"):
        TerrainGrid(np.zeros((3, 3)), resolution_m=0.0)
    with pytest.raises(ValueError, match="all NaN"):
        TerrainGrid(np.full((3, 3), np.nan))
    with pytest.raises(ValueError, match="terrain must be"):
        intersect_rays([[0, 0, 1.0]], [[0, 0, -1.0]], terrain=5.0)


def test_off_grid_and_below_grid_are_nan():
    grid = TerrainGrid(np.zeros((11, 11)), origin_enu=(-5.0, -5.0))
    rays = intersect_rays([[0, 0, 10.0], [20, 0, 10.0], [0, 0, -1.0], [0, 0, 10.0]],
                          [[0, 0, -1.0], [0, 0, -1.0], [0, 0, -1.0], [1, 0, -0.1]], grid)
    np.testing.assert_allclose(rays[0], [0, 0, 0])
    assert np.isnan(rays[1:]).all()  # off the grid; under the ground; leaves the grid first


# --- uncertainty ------------------------------------------------------------------------------

def only(**sigmas):
    zero = dict(horizontal_m=0.0, vertical_m=0.0, roll_pitch_deg=0.0, yaw_deg=0.0, pixel=0.0)
    return PoseNoise(**{**zero, **sigmas})


@pytest.mark.parametrize("method, rtol", [("linearized", 0.01), ("monte_carlo", 0.1)])
def test_covariance_closed_forms(method, rtol):
    # nadir camera 100 m above flat ground, level, facing east:
    # * GNSS horizontal sigma s moves every point by s on each axis;
    # * height sigma s moves a point at horizontal offset r radially by (r / 100) s;
    # * yaw sigma s moves it tangentially by r s; tilt sigma s moves the centre by 100 s.
    T = nadir_pose()
    edge = (639.0, CENTRE[1])  # right edge of the image: south of the UAV
    r = 100 * 319.5 / BOSON.fx
    kw = dict(samples=4000, seed=3, method=method)
    cov = geolocation_covariance(BOSON, T, [CENTRE, edge], FlatTerrain(),
                                 only(horizontal_m=2.0), **kw)
    np.testing.assert_allclose(cov, [np.diag([4.0, 4.0])] * 2, rtol=rtol, atol=4 * rtol)
    cov = geolocation_covariance(BOSON, T, [CENTRE, edge], FlatTerrain(),
                                 only(vertical_m=3.0), **kw)
    np.testing.assert_allclose(cov[0], 0.0, atol=1e-9)
    np.testing.assert_allclose(cov[1, 1, 1], (r / 100 * 3.0) ** 2, rtol=2 * rtol)
    assert abs(cov[1, 0, 0]) < 1e-6
    cov = geolocation_covariance(BOSON, T, [edge], FlatTerrain(), only(yaw_deg=2.0), **kw)
    np.testing.assert_allclose(cov[0, 0, 0], (r * math.radians(2.0)) ** 2, rtol=2 * rtol)
    cov = geolocation_covariance(BOSON, T, [CENTRE], FlatTerrain(), only(roll_pitch_deg=0.5),
                                 **kw)
    expected = (100 * math.radians(0.5)) ** 2
    np.testing.assert_allclose(np.diag(cov[0]), [expected] * 2, rtol=2 * rtol)
    cov = geolocation_covariance(BOSON, T, [CENTRE], FlatTerrain(), only(pixel=1.0), **kw)
    np.testing.assert_allclose(np.diag(cov[0]), [(100 / BOSON.fx) ** 2] * 2, rtol=2 * rtol)


def test_locate_geodetic_composes_the_steps():
    """Pixels -> latitude, longitude, height, sigma: the same numbers as geolocate_pixels,
    geolocation_covariance, horizontal_sigma_m and enu_to_geodetic one after the other; a
    pixel above the horizon is a NaN row."""
    T = nadir_pose()
    origin = GeoOrigin(47.0, 8.0, 400.0)
    uv = [CENTRE, (639.0, CENTRE[1]), (10.0, 20.0)]
    noise = PoseNoise()
    got = locate_geodetic(BOSON, T, uv, FlatTerrain(), origin, noise, method="linearized")
    enu = geolocate_pixels(BOSON, T, uv, FlatTerrain())
    sigma = horizontal_sigma_m(geolocation_covariance(BOSON, T, uv, FlatTerrain(), noise,
                                                      method="linearized"))
    np.testing.assert_array_equal(got, np.column_stack([*enu_to_geodetic(enu, origin), sigma]))
    forward = camera_pose_enu((0.0, 0.0, 100.0), LEVEL_EAST, camera_mount(pitch=0.0))
    above = locate_geodetic(BOSON, forward, [(CENTRE[0], 0.0)], FlatTerrain(), origin, noise,
                            samples=16)
    assert above.shape == (1, 4) and np.isnan(above).all()
    assert locate_geodetic(BOSON, T, np.zeros((0, 2)), FlatTerrain(), origin, noise).shape \
        == (0, 4)


def test_covariance_nan_and_bad_input():
    forward = camera_pose_enu((0.0, 0.0, 100.0), LEVEL_EAST, camera_mount(pitch=0.0))
    cov = geolocation_covariance(BOSON, forward, [(CENTRE[0], 0.0)], FlatTerrain(), PoseNoise())
    assert np.isnan(cov).all()
    with pytest.raises(ValueError, match="method"):
        geolocation_covariance(BOSON, forward, [CENTRE], FlatTerrain(), PoseNoise(),
                               method="exact")
    with pytest.raises(ValueError, match="samples"):
        geolocation_covariance(BOSON, forward, [CENTRE], FlatTerrain(), PoseNoise(), samples=1)
    with pytest.raises(ValueError, match="yaw_deg"):
        PoseNoise(yaw_deg=-1.0)


def test_horizontal_sigma_is_major_semi_axis():
    c = np.diag([4.0, 1.0])
    rot = Rotation.from_euler("z", 30, degrees=True).as_matrix()[:2, :2]
    sig = horizontal_sigma_m(np.stack([c, rot @ c @ rot.T, np.full((2, 2), np.nan)]))
    np.testing.assert_allclose(sig[:2], [2.0, 2.0])
    assert np.isnan(sig[2])
    with pytest.raises(ValueError, match="shape"):
        horizontal_sigma_m(np.zeros((3, 3)))


def test_simulated_flights_at_100_m():
    # issue goal: at most 2 m error at 100 m with an exact pose; the predicted spread (Monte
    # Carlo covariance at the noisy pose) within a factor 1.5 of the observed errors.
    exact = run_trials(BOSON, 200, seed=11)
    assert np.nanmax(exact.horizontal_error(exact.rounded, exact.truth)) < 2.0
    assert np.nanmax(exact.horizontal_error(exact.exact, exact.truth)) < 1e-6
    noisy = run_trials(BOSON, 300, noise=PoseNoise(), seed=12)
    rms_ratio, nees_ratio = noisy.consistency()
    assert 1 / 1.5 < rms_ratio < 1.5
    assert 1 / 1.5 < nees_ratio < 1.5
    # a prediction with half the sigma fails the check
    noisy.covariance /= 4.0
    assert min(noisy.consistency()) > 1.5


# --- mission log --------------------------------------------------------------------------------

def fill(log):
    # Zurich: latitude 47.37, longitude 8.54 (distinct, so a swapped order shows)
    log.add(1_700_000_000_250_000_000, "person", 3, 0.9, 47.37, 8.54, 430.5, 2.1, 36.5)
    log.add(1_700_000_001_250_000_000, "person", 3, 0.8, 47.3701, 8.5402, 430.0, 2.0, 36.7)
    log.add(1_700_000_001_500_000_000, "fire", 0, 0.7, 47.3705, 8.5410, float("nan"),
            float("nan"), 310.0)


def test_geojson_follows_rfc7946(tmp_path):
    log = GeoDetectionLog(tmp_path / "out" / "d.geojson", tmp_path / "out" / "d.kml")
    fill(log)
    log.write()
    text = (tmp_path / "out" / "d.geojson").read_text()
    doc = json.loads(text)
    assert geojson.loads(text).is_valid
    assert doc["type"] == "FeatureCollection" and "crs" not in doc  # RFC 7946 section 4
    points = [f for f in doc["features"] if f["geometry"]["type"] == "Point"]
    lines = [f for f in doc["features"] if f["geometry"]["type"] == "LineString"]
    assert len(points) == len(log) == 3
    assert len(lines) == 1 and lines[0]["properties"]["track_id"] == 3  # track 0: untracked
    assert points[0]["geometry"]["coordinates"] == [8.54, 47.37, 430.5]  # lon, lat, height
    assert points[2]["geometry"]["coordinates"] == [8.541, 47.3705]  # height unknown
    for f in doc["features"]:
        coords = f["geometry"]["coordinates"]
        for lon, lat, *_ in [coords] if f["geometry"]["type"] == "Point" else coords:
            assert -180 <= lon <= 180 and -90 <= lat <= 90
    props = points[0]["properties"]
    assert props["label"] == "person" and props["track_id"] == 3
    assert props["confidence"] == 0.9 and props["sigma_m"] == 2.1
    assert props["max_temperature_c"] == 36.5
    assert props["time"] == "2023-11-14T22:13:20.250000Z"
    assert datetime.fromisoformat(props["time"].replace("Z", "+00:00")).timestamp() == \
        pytest.approx(1_700_000_000.25)
    assert points[2]["properties"]["sigma_m"] is None
    assert lines[0]["geometry"]["coordinates"] == [[8.54, 47.37, 430.5],
                                                  [8.5402, 47.3701, 430.0]]
    assert not list((tmp_path / "out").glob(".*"))  # no temporary files left


def test_kml_parses(tmp_path):
    log = GeoDetectionLog(None, tmp_path / "d.kml")
    fill(log)
    log.write()
    root = ET.parse(tmp_path / "d.kml").getroot()
    assert root.tag == f"{KML}kml"
    marks = root.findall(f"{KML}Document/{KML}Placemark")
    assert len(marks) == 4
    coords = marks[0].find(f"{KML}Point/{KML}coordinates").text.split(",")
    assert [float(c) for c in coords] == [8.54, 47.37, 430.5]
    assert marks[0].find(f"{KML}TimeStamp/{KML}when").text == "2023-11-14T22:13:20.250000Z"
    track = marks[3].find(f"{KML}LineString/{KML}coordinates").text.split()
    assert len(track) == 2
    assert not (tmp_path / "d.geojson").exists()


def test_log_flushes_on_interval(tmp_path):
    path = tmp_path / "d.geojson"
    log = GeoDetectionLog(path, None, write_interval_s=5.0)
    assert not log.flush_if_due(0.0)  # nothing to write
    fill(log)
    assert log.flush_if_due(100.0) and path.exists()
    log.add(1_700_000_002_000_000_000, "person", 3, 0.9, 47.3702, 8.5404, 430.0, 2.0, 36.0)
    assert not log.flush_if_due(103.0)
    assert len(json.loads(path.read_text())["features"]) == 4  # 3 points + 1 track
    assert log.flush_if_due(105.0)
    assert len(json.loads(path.read_text())["features"]) == 5
    assert not log.flush_if_due(200.0)  # nothing new
    with pytest.raises(ValueError, match="latitude"):
        log.add(0, "x", 0, 1.0, 95.0, 8.0, 0.0, 1.0, 20.0)
    with pytest.raises(ValueError, match="write_interval_s"):
        GeoDetectionLog(path, None, write_interval_s=-1.0)
