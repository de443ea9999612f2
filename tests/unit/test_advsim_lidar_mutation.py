"""AdvSim LiDAR cases that mutation testing (scripts/mutation.py) showed untested: ray directions, the ground
and range limits, sectors (culling, wrap-around, sensor inside a box), exit ranges from inside a box,
remove-and-recast at its edges, world points, ego frames and the BEV bins."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from trustlab.methods.advsim.lidar import GROUND, NONE, BEVConfig, Lidar, LidarConfig, bev, boxes3, to_ego


def test_config_sizes_and_ray_directions():
    cfg = LidarConfig(beams=3, azimuths=4, elev_min=-30.0, elev_max=30.0)
    assert cfg.rays == 12
    lidar = Lidar(cfg)
    assert lidar.dtheta == pytest.approx(math.pi / 2) and lidar.dirs.shape == (3, 4, 3)
    assert lidar.dirs.dtype == np.float32
    c, s = math.cos(math.radians(30)), math.sin(math.radians(30))
    np.testing.assert_allclose(lidar.dirs[0, 0], [c, 0.0, -s], atol=1e-7)  # lowest beam, azimuth 0
    np.testing.assert_allclose(lidar.dirs[1, 1], [0.0, 1.0, 0.0], atol=1e-7)  # level beam, azimuth 90 deg
    np.testing.assert_allclose(lidar.dirs[2, 2], [-c, 0.0, s], atol=1e-7)
    np.testing.assert_allclose(np.linalg.norm(lidar.dirs, axis=-1), 1.0, atol=1e-6)
    assert BEVConfig().shape == (128, 96) and BEVConfig().channels == 4
    assert BEVConfig(x_min=0.0, x_max=10.0, y_half=5.0, cell=0.5).shape == (20, 20)


def test_ground_return_limits():
    # straight down: the range is the height, kept when it equals max_range; a level beam never hits the ground
    lidar = Lidar(LidarConfig(beams=2, azimuths=8, elev_min=-90.0, elev_max=0.0, height=2.0, max_range=2.0))
    assert lidar.ground.tolist() == [2.0, np.inf]
    sw = lidar.cast(np.zeros(2), np.zeros((0, 6)))
    assert (sw.hit[0] == GROUND).all() and (sw.hit[1] == NONE).all() and np.isinf(sw.range[1]).all()
    far = Lidar(LidarConfig(beams=2, azimuths=8, elev_min=-90.0, elev_max=0.0, height=2.0, max_range=1.99))
    assert np.isinf(far.ground).all()


def test_sector_culls_by_range_plus_the_box_size_and_wraps():
    lidar = Lidar(LidarConfig(azimuths=360))
    o = np.zeros(3)
    # nearest corner 63.0 m: within max_range 60 + the box length 4 (not its width 2) -> tested
    assert len(lidar.sector(o, np.array([65.0, 0.0, 0.0, 4.0, 2.0]))) > 0
    assert len(lidar.sector(o, np.array([67.0, 0.0, 0.0, 4.0, 2.0]))) == 0  # 65 m: culled
    cols = lidar.sector(o, np.array([10.0, 0.0, 0.0, 4.0, 2.0]))  # straddles azimuth 0
    assert {358, 359, 0, 1} <= set(cols.tolist()) and cols.min() >= 0 and cols.max() < 360 and len(cols) < 20
    back = lidar.sector(o, np.array([-10.0, 0.0, 0.0, 4.0, 2.0]))
    assert {179, 180, 181} <= set(back.tolist()) and len(back) < 20
    assert len(lidar.sector(o, np.array([0.0, 0.0, 0.3, 4.0, 2.0]))) == 360  # the sensor inside the box
    assert len(lidar.sector(o, np.array([0.4, 0.0, 0.0, 0.2, 0.2]))) == 360  # centre closer than 0.5 m
    assert len(lidar.sector(o, np.array([0.6, 0.0, 0.0, 0.2, 0.2]))) < 360


def test_returns_beyond_max_range_and_from_inside_a_box():
    lidar = Lidar(LidarConfig(beams=3, azimuths=8, elev_min=-1.0, elev_max=1.0, max_range=60.0))
    wall = np.array([[62.0, 0.0, 0.0, 2.0, 40.0, 10.0]])  # front face at 61 m, inside the culling margin
    sw = lidar.cast(np.zeros(2), wall)
    assert not (sw.hit == 0).any()
    # the sensor inside a 10 x 10 x 4 box: every ray returns where it leaves the box
    room = np.array([[0.0, 0.0, 0.0, 10.0, 10.0, 4.0]])
    sw = Lidar(LidarConfig(beams=1, azimuths=4, elev_min=0.0, elev_max=0.0)).cast(np.zeros(2), room)
    assert (sw.hit == 0).all() and np.allclose(sw.range, 5.0)
    near = np.array([[6.0, 0.0, 0.0, 2.0, 2.0, 4.0]])  # the level ray at azimuth 0 enters at x = 5
    sw = Lidar(LidarConfig(beams=1, azimuths=4, elev_min=0.0, elev_max=0.0)).cast(np.zeros(2), near)
    assert sw.hit[0, 0] == 0 and sw.range[0, 0] == pytest.approx(5.0) and (sw.hit[0, 1:] == NONE).all()


def _same(a, b):
    return np.array_equal(a.range, b.range) and np.array_equal(a.hit, b.hit) and np.array_equal(a.boxes, b.boxes)


@pytest.mark.parametrize("case", ["into-range", "out-of-range", "unhide", "reveal", "swap-occluder"])
def test_remove_and_recast_edges(case):
    lidar = Lidar(LidarConfig(beams=12, azimuths=240))
    car = [4.5, 2.0, 1.6]
    wall = [10.0, 0.0, 0.0, 2.0, 8.0, 3.0]
    scenes = {
        # (boxes, k, new box of k)
        "into-range": ([[90.0, 0.0, 0.0, *car], [0.0, 15.0, 0.0, *car]], 0, [20.0, 0.0, 0.0, *car]),
        "out-of-range": ([[20.0, 0.0, 0.0, *car], [0.0, 15.0, 0.0, *car]], 0, [90.0, 0.0, 0.0, *car]),
        "unhide": ([wall, [20.0, 0.0, 0.0, *car]], 1, [20.0, 12.0, 0.0, *car]),
        "reveal": ([wall, [20.0, 0.0, 0.0, *car], [25.0, 1.0, 0.0, *car]], 0, [10.0, 30.0, 0.0, 2.0, 8.0, 3.0]),
        "swap-occluder": ([wall, [20.0, 0.0, 0.0, *car]], 0, [-10.0, 0.0, 0.0, 2.0, 8.0, 3.0]),
    }
    boxes, k, new = scenes[case]
    boxes = np.array(boxes)
    base = lidar.cast(np.zeros(2), boxes)
    upd = lidar.update_actor(base, k, np.array(new))
    moved = boxes.copy()
    moved[k] = new
    ref = lidar.cast(np.zeros(2), moved)
    assert _same(upd, ref)
    assert not np.array_equal(base.hit, ref.hit)  # the move changed the sweep
    assert np.array_equal(base.boxes, boxes)  # the original sweep is left as it was


def test_world_points_and_what_they_hit():
    lidar = Lidar(LidarConfig(beams=4, azimuths=8, elev_min=-30.0, elev_max=0.0, height=2.0))
    sw = lidar.cast(np.array([3.0, -1.0]), np.zeros((0, 6)))
    pts, hit = sw.points()
    assert (hit == GROUND).all() and len(pts) == 3 * 8  # the level beam has no return
    np.testing.assert_allclose(pts[:, 2], 0.0, atol=1e-4)
    d = np.hypot(pts[:, 0] - 3.0, pts[:, 1] + 1.0)
    np.testing.assert_allclose(np.sort(np.unique(d.round(3))), sorted({round(2.0 / math.tan(math.radians(e)), 3)
                                                                        for e in (30.0, 20.0, 10.0)}), atol=2e-3)


def test_boxes3_and_ego_frame():
    assert boxes3([]).shape == (0, 6)
    st = np.array([1.0, 2.0, 0.3, 5.0, 0.0])
    assert boxes3([(st, (4.5, 2.0, 1.6))]).tolist() == [[1.0, 2.0, 0.3, 4.5, 2.0, 1.6]]
    pose = np.array([1.0, 2.0, math.pi / 2])
    np.testing.assert_allclose(to_ego(np.array([[1.0, 3.0], [0.0, 2.0]]), pose), [[1.0, 0.0], [0.0, 1.0]], atol=1e-12)


def test_bev_bins_and_bounds():
    cfg = BEVConfig(x_min=0.0, x_max=4.0, y_half=2.0, cell=1.0)  # 4 x 4 cells
    pts = np.array([
        [0.5, -1.5, 0.5],  # bin 0 at cell (0, 0)
        [0.0, 0.0, 1.0],  # z = 1.0 -> bin 1, on the cell edge x = 0 -> (0, 2)
        [3.9, 1.9, 2.0],  # bin 2 at (3, 3)
        [1.5, 0.5, 0.1],  # non-ground below the first bin: dropped
        [1.5, 0.5, 0.0],  # a ground return -> ground channel at (1, 2)
        [4.0, 0.0, 0.5],  # x = x_max: outside
        [-0.1, 0.0, 0.5],  # x < x_min: outside
        [1.0, 2.0, 0.5],  # y = y_half: outside
        [1.0, -2.1, 0.5],  # y < -y_half: outside
        [0.5, -1.5, 0.6],  # a second point in bin 0 at (0, 0)
    ], dtype=np.float32)
    hit = np.array([0, 0, 0, 0, GROUND, 0, 0, 0, 0, 0])
    g = bev(pts, hit, np.zeros(3), cfg)
    assert g.shape == (4, 4, 4) and g.dtype == np.float32
    want = np.zeros((4, 4, 4), np.float32)
    want[0, 0, 0] = math.log(3.0)
    want[1, 0, 2] = math.log(2.0)
    want[2, 3, 3] = math.log(2.0)
    want[3, 1, 2] = math.log(2.0)
    np.testing.assert_allclose(g, want, rtol=1e-6)
    # the grid is ego-centric: the same points seen from a pose shifted by +1 m in x move one cell back
    g2 = bev(pts + np.float32([1.0, 0.0, 0.0]), hit, np.array([1.0, 0.0, 0.0]), cfg)
    np.testing.assert_allclose(g2, want, rtol=1e-6)


def _march(lidar: Lidar, origin_xy, box):
    """Brute force: the first range (0.01 m steps) at which each ray is inside the yawed 3D box, inf if none."""
    x, y, yaw, length, w, h = box
    o = np.array([origin_xy[0], origin_xy[1], lidar.cfg.height])
    t = np.arange(0.005, lidar.cfg.max_range, 0.01)
    p = o + t[None, None, :, None] * lidar.dirs.astype(np.float64)[:, :, None, :]  # (B, A, T, 3)
    c, s = math.cos(yaw), math.sin(yaw)
    dx, dy = p[..., 0] - x, p[..., 1] - y
    inside = (np.abs(c * dx + s * dy) <= length / 2) & (np.abs(-s * dx + c * dy) <= w / 2) \
        & (p[..., 2] >= 0) & (p[..., 2] <= h)
    first = np.where(inside.any(-1), t[np.argmax(inside, -1)], np.inf)
    return first


@pytest.mark.parametrize("origin, box", [
    ((0.0, 0.0), (9.0, 3.0, math.pi / 2, 4.5, 2.0, 1.6)),
    ((100.0, 50.0), (107.0, 46.0, 0.7, 4.5, 2.0, 1.6)),
    ((-3.0, 2.0), (-3.0, 12.0, -1.2, 6.0, 2.5, 3.0)),
    ((0.0, 0.0), (1.6, 0.0, 0.3, 2.0, 2.0, 2.5)),  # a box 0.6 m away
])
def test_box_ranges_match_a_brute_force_march(origin, box):
    lidar = Lidar(LidarConfig(beams=8, azimuths=72, elev_min=-25.0, elev_max=5.0, max_range=30.0))
    sw = lidar.cast(np.array(origin), np.array([box]))
    first = _march(lidar, origin, box)
    on_box = sw.hit == 0
    assert on_box.sum() >= 3
    np.testing.assert_allclose(sw.range[on_box], first[on_box], atol=0.02)
    # every ray the march finds on the box before the ground (and not grazing an edge) is a box return
    clear = first < np.minimum(lidar.ground[:, None], 30.0) - 0.05
    assert on_box[clear].all()
    # the same scene seen from the origin is the same sweep shifted: sectors do not depend on where we stand
    shifted = np.array([[box[0] - origin[0], box[1] - origin[1], *box[2:]]])
    assert np.array_equal(lidar.cast(np.zeros(2), shifted).hit, sw.hit)


def test_exact_sector_columns():
    lidar = Lidar(LidarConfig(azimuths=360))
    box = np.array([10.0, 0.0, 0.0, 4.0, 2.0])
    ang = np.degrees([math.atan2(cy, cx) for cx, cy in ((8, 1), (8, -1), (12, 1), (12, -1))])
    want = {c % 360 for c in range(math.floor(ang.min()), math.ceil(ang.max()) + 1)}
    assert set(lidar.sector(np.zeros(3), box).tolist()) == want and len(want) == 17


def test_dtypes_integer_boxes_and_culled_boxes_first():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a level beam divides by sin(0) = 0: silenced
        lidar = Lidar(LidarConfig(beams=6, azimuths=90, elev_min=-20.0, elev_max=0.0))
    boxes = np.array([[90, 0, 0, 4, 2, 2], [12, 3, 0, 4, 2, 2]])  # integers; the first is out of range
    sw = lidar.cast(np.zeros(2), boxes)
    assert sw.hit.dtype == np.int16 and sw.range.dtype == np.float32 and (sw.hit == 1).sum() > 3
    pts, hit = sw.points()
    assert pts.dtype == np.float32 and hit.dtype == np.int16
    new = np.array([20.5, -3.25, 0.3, 4.5, 2.0, 1.6])  # a moved actor keeps its fractional pose
    upd = lidar.update_actor(sw, 1, new)
    moved = boxes.astype(float)
    moved[1] = new
    assert _same(upd, lidar.cast(np.zeros(2), moved)) and upd.boxes[1].tolist() == new.tolist()
    st = np.array([1.5, 2.5, 0.1, 3.0, 0.0], dtype=np.float32)
    assert boxes3([(st, (np.float32(4.5), np.float32(2.0), np.float32(1.5)))]).dtype == np.float64


def test_remove_and_recast_after_an_unrelated_box():
    # the moved wall hid a car; a box elsewhere comes between them in the list
    lidar = Lidar(LidarConfig(beams=12, azimuths=240))
    boxes = np.array([[10.0, 0.0, 0.0, 2.0, 8.0, 3.0], [0.0, -15.0, 0.0, 4.5, 2.0, 1.6],
                      [20.0, 0.0, 0.0, 4.5, 2.0, 1.6]])
    upd = lidar.update_actor(lidar.cast(np.zeros(2), boxes), 0, np.array([10.0, 30.0, 0.0, 2.0, 8.0, 3.0]))
    moved = boxes.copy()
    moved[0] = [10.0, 30.0, 0.0, 2.0, 8.0, 3.0]
    assert _same(upd, lidar.cast(np.zeros(2), moved)) and (upd.hit == 2).sum() > 3


def test_ego_frame_shapes_long_box_around_the_sensor_and_warning_free_casts():
    pose = np.array([1.0, 2.0, math.pi / 2])
    assert to_ego(np.array([1.0, 3.0]), pose) == pytest.approx([1.0, 0.0])  # one point
    pts3 = np.array([[1.0, 3.0, 0.7], [0.0, 2.0, 1.2]])  # (x, y, z): z is ignored
    np.testing.assert_allclose(to_ego(pts3, pose), to_ego(pts3[:, :2], pose))
    lidar = Lidar(LidarConfig(beams=4, azimuths=72, elev_min=-10.0, elev_max=0.0))
    # the sensor inside a long box, 3 m from its centre: every column, also behind
    assert len(lidar.sector(np.zeros(3), np.array([3.0, 0.0, 0.0, 10.0, 4.0]))) == 72
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # level, axis-aligned rays: no division by zero
        sw = lidar.cast(np.zeros(2), np.array([[10.0, 0.0, 0.0, 4.0, 2.0, 3.0]]))
    assert sw.hit[-1, 0] == 0 and sw.range[-1, 0] == pytest.approx(8.0)
    # an updated sweep yields the same world points as a full cast
    upd = lidar.update_actor(sw, 0, np.array([10.0, 5.0, 0.0, 4.0, 2.0, 3.0]))
    ref = lidar.cast(np.zeros(2), np.array([[10.0, 5.0, 0.0, 4.0, 2.0, 3.0]]))
    for a, b in zip(upd.points(), ref.points()):
        assert np.array_equal(a, b)


def test_bev_first_height_bin_starts_at_its_edge():
    cfg = BEVConfig(x_min=0.0, x_max=2.0, y_half=1.0, cell=1.0)
    g = bev(np.array([[0.5, 0.5, 0.25]], dtype=np.float32), np.array([0]), np.zeros(3), cfg)
    assert g[0, 0, 1] == pytest.approx(math.log(2.0))  # z == 0.25 is in the first bin


@pytest.mark.parametrize("origin, box", [
    ((50.0, 0.0), (40.0, 0.0, 0.2, 4.0, 2.0)),  # behind the sensor, far from the world origin
    ((0.0, 50.0), (0.0, 40.0, 0.0, 4.0, 2.0)),
    ((0.0, -50.0), (3.0, -40.0, 1.0, 4.0, 2.0)),
    ((50.0, 50.0), (49.7, 50.0, 0.0, 0.2, 0.2)),  # centre 0.3 m away: every column
    ((50.0, 50.0), (50.0, 50.6, 0.0, 0.2, 0.2)),  # 0.6 m away: its own columns only
])
def test_sectors_depend_only_on_the_box_relative_to_the_sensor(origin, box):
    lidar = Lidar(LidarConfig(azimuths=360))
    o = np.array([origin[0], origin[1], lidar.cfg.height])
    rel = np.array([box[0] - origin[0], box[1] - origin[1], *box[2:]])
    got, want = lidar.sector(o, np.array(box)), lidar.sector(np.array([0.0, 0.0, lidar.cfg.height]), rel)
    assert sorted(got.tolist()) == sorted(want.tolist()) and (len(want) == 360) == (np.hypot(*rel[:2]) < 0.5)
