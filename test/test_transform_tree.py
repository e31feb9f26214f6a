"""Transform trees (core/fusion/frames.py): chains, siblings, inverses, refusals, and
transforms that move (/tf: interpolation, holding, decimation)."""

from __future__ import annotations

import math
import re
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thermal_perception.core.fusion.frames import TransformTree, rigid_from_transform
from thermal_perception.core.fusion.geometry import RigidTransform


def test_chain_and_siblings_known_answers() -> None:
    # base_link -> gimbal: 1 m up; gimbal -> camera: a quarter turn about z
    frames = TransformTree()
    frames.add("base_link", "gimbal", RigidTransform.from_rpy(0, 0, 0, [0.0, 0.0, 1.0]))
    frames.add("/gimbal", "camera", RigidTransform.from_rpy(0, 0, math.pi / 2))
    frames.add("base_link", "lidar", RigidTransform.from_rpy(0, 0, 0, [2.0, 0.0, 0.0]))
    # the camera's x axis is base_link's y axis, 1 m up
    np.testing.assert_allclose(frames.lookup("base_link", "camera").apply([[1.0, 0, 0]]),
                               [[0.0, 1.0, 1.0]], atol=1e-12)
    # the lidar's origin seen from the camera: 2 m along base x = -2 m along camera y, 1 m below
    np.testing.assert_allclose(frames.lookup("camera", "lidar").apply([[0.0, 0, 0]]),
                               [[0.0, -2.0, -1.0]], atol=1e-12)
    np.testing.assert_allclose(frames.lookup("lidar", "camera").matrix,
                               frames.lookup("camera", "lidar").inverse().matrix, atol=1e-12)
    np.testing.assert_array_equal(frames.lookup("camera", "/camera").matrix, np.eye(4))
    assert len(frames) == 3


def test_unconnected_frames_cycles_and_bad_names_are_refused() -> None:
    frames = TransformTree()
    frames.add("map", "odom", RigidTransform.identity())
    frames.add("base_link", "camera", RigidTransform.identity())
    with pytest.raises(LookupError) as err:
        frames.lookup("odom", "camera")
    assert str(err.value) == ("no transform connects 'camera' to 'odom' (frames known: "
                              "base_link, camera, map, odom)")
    with pytest.raises(LookupError):
        frames.lookup("base_link", "nowhere")
    frames.add("camera", "base_link", RigidTransform.identity())  # now base <-> camera loops
    with pytest.raises(ValueError, match="cycle"):
        frames.lookup("map", "camera")
    with pytest.raises(ValueError, match="two different frame names"):
        frames.add("a", "a", RigidTransform.identity())
    with pytest.raises(ValueError, match="two different frame names"):
        frames.add("", "a", RigidTransform.identity())


def test_a_later_transform_replaces_the_earlier_and_bad_ones_are_skipped() -> None:
    def edge(parent, child, x, w=1.0):
        return SimpleNamespace(header=SimpleNamespace(frame_id=parent), child_frame_id=child,
                               transform=SimpleNamespace(
                                   translation=SimpleNamespace(x=x, y=0.0, z=0.0),
                                   rotation=SimpleNamespace(x=0.0, y=0.0, z=0.0, w=w)))

    frames = TransformTree()
    assert frames.add_message(SimpleNamespace(transforms=[
        edge("base_link", "camera", 1.0), edge("base_link", "bad", 0.0, w=0.0),
        edge("", "nameless", 0.0)])) == 1
    frames.add_message(SimpleNamespace(transforms=[edge("base_link", "camera", 3.0)]))
    assert frames.lookup("base_link", "camera").translation[0] == 3.0
    with pytest.raises(LookupError):
        frames.lookup("base_link", "bad")


def test_transform_message_conversion() -> None:
    msg = SimpleNamespace(translation=SimpleNamespace(x=1.0, y=2.0, z=3.0),
                          rotation=SimpleNamespace(x=0.0, y=0.0, z=math.sin(0.25),
                                                   w=math.cos(0.25)))
    np.testing.assert_allclose(rigid_from_transform(msg).matrix,
                               RigidTransform.from_rpy(0, 0, 0.5, [1, 2, 3]).matrix, atol=1e-12)


poses = st.tuples(*[st.floats(-3.0, 3.0)] * 6).map(
    lambda v: RigidTransform.from_rpy(v[3], v[4], v[5], v[:3]))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 100), poses), min_size=1, max_size=7),
       st.data())
def test_lookups_compose_and_invert_in_any_tree(edges, data) -> None:
    # frame k + 1's parent is one of the frames before it: a tree rooted at frame 0
    frames = TransformTree()
    for k, (pick, pose) in enumerate(edges):
        frames.add(f"f{pick % (k + 1)}", f"f{k + 1}", pose)
    names = [f"f{k}" for k in range(len(edges) + 1)]
    a, b, c = (data.draw(st.sampled_from(names)) for _ in range(3))
    ab, bc, ac = frames.lookup(a, b), frames.lookup(b, c), frames.lookup(a, c)
    np.testing.assert_allclose((ab @ bc).matrix, ac.matrix, atol=1e-9)
    np.testing.assert_allclose(frames.lookup(b, a).matrix, ab.inverse().matrix, atol=1e-9)


def test_moving_transforms_are_interpolated_known_answers() -> None:
    # a gimbal yawing from 0 to 0.2 rad and sliding 1 m along x over one second
    tree = TransformTree(hold_s=0.2, min_step_s=0.0)
    tree.add("base_link", "gimbal", RigidTransform.from_rpy(0, 0, 0.0), 10 * 10**9)
    tree.add("base_link", "gimbal", RigidTransform.from_rpy(0, 0, 0.2, [1.0, 0, 0]),
             11 * 10**9)
    tree.add("gimbal", "camera", RigidTransform.from_rpy(0, 0, 0, [0, 0, -0.1]))  # static
    assert tree.dynamic and len(tree) == 2
    half = tree.lookup("base_link", "camera", 10 * 10**9 + 5 * 10**8)
    np.testing.assert_allclose(half.matrix, (RigidTransform.from_rpy(0, 0, 0.1, [0.5, 0, 0])
                                             @ RigidTransform.from_rpy(0, 0, 0, [0, 0, -0.1])
                                             ).matrix, atol=1e-12)
    latest = tree.lookup("base_link", "camera")  # no time: the newest sample
    np.testing.assert_allclose(latest.translation, [1.0, 0.0, -0.1], atol=1e-12)
    held = tree.lookup("base_link", "camera", 11 * 10**9 + 15 * 10**7)  # 0.15 s after: held
    np.testing.assert_allclose(held.matrix, latest.matrix, atol=1e-12)
    outside = re.escape("'base_link' -> 'gimbal': no transform at 11.300 s")
    with pytest.raises(LookupError, match=outside):
        tree.lookup("base_link", "camera", 11 * 10**9 + 3 * 10**8)
    with pytest.raises(LookupError, match=re.escape("samples from 10.000 to 11.000 s")):
        tree.lookup("camera", "base_link", 9 * 10**9)


def test_moving_transforms_win_over_static_and_are_decimated() -> None:
    tree = TransformTree(min_step_s=0.05)
    tree.add("base_link", "camera", RigidTransform.from_rpy(0, 0, 0, [9.0, 0, 0]))
    for k in range(100):  # 200 Hz for half a second: kept at 20 Hz
        tree.add("base_link", "camera", RigidTransform.from_rpy(0, 0, 0, [k * 0.01, 0, 0]),
                 k * 5_000_000)
    assert len(tree._dynamic["camera"].stamps) == 10
    assert tree.lookup("base_link", "camera", 0).translation[0] == 0.0  # not the static 9 m
    # stamps arriving out of order are sorted before use
    late = TransformTree(min_step_s=0.0)
    for t, x in ((2, 2.0), (0, 0.0), (1, 1.0)):
        late.add("a", "b", RigidTransform.from_rpy(0, 0, 0, [x, 0, 0]), t * 10**9)
    np.testing.assert_allclose(late.lookup("a", "b", 15 * 10**8).translation, [1.5, 0, 0])
