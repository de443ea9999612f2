"""AdvSim LiDAR: ground returns, occlusion by boxes, remove-and-recast equals a full re-cast, the BEV grid."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trustlab.methods.advsim.lidar import GROUND, NONE, BEVConfig, Lidar, LidarConfig, bev


def test_ground_ranges_are_analytic():
    cfg = LidarConfig(beams=8, azimuths=36, elev_min=-20, elev_max=2, height=2.0, max_range=50)
    sw = Lidar(cfg).cast(np.zeros(2), np.zeros((0, 6)))
    el = np.deg2rad(np.linspace(-20, 2, 8))
    for b, e in enumerate(el):
        want = 2.0 / -math.sin(e) if e < 0 and 2.0 / -math.sin(e) <= 50 else np.inf
        assert sw.range[b, 0] == pytest.approx(want, rel=1e-5)
        assert (sw.hit[b] == (GROUND if np.isfinite(want) else NONE)).all()
    pts, _ = sw.points()
    assert np.allclose(pts[:, 2], 0.0, atol=1e-4)


def test_box_occludes_what_is_behind_it():
    lidar = Lidar(LidarConfig(beams=16, azimuths=360))
    wall = np.array([[10.0, 0.0, 0.0, 2.0, 6.0, 3.0]])
    hidden = np.array([[20.0, 0.0, 0.0, 4.5, 2.0, 1.6]])
    sw = lidar.cast(np.zeros(2), np.concatenate([wall, hidden]))
    assert (sw.hit == 0).sum() > 20 and (sw.hit == 1).sum() == 0  # the car behind the wall gets no point
    ahead = sw.hit[:, 0]
    assert (ahead == 0).any() and sw.range[ahead == 0, 0].min() == pytest.approx(9.0, abs=0.05)  # front face
    alone = lidar.cast(np.zeros(2), hidden)
    assert (alone.hit == 0).sum() > 10  # visible without the wall (index 0 in this scene)
    assert (sw.hit == GROUND).sum() < (alone.hit == GROUND).sum()  # the wall's shadow on the ground


def test_remove_and_recast_equals_full_cast():
    rng = np.random.default_rng(3)
    lidar = Lidar()
    for _ in range(15):
        boxes = np.array([[rng.uniform(-30, 30), rng.uniform(-30, 30), rng.uniform(-3, 3), 4.5, 2.0, 1.6]
                          for _ in range(8)])
        boxes = boxes[np.hypot(boxes[:, 0], boxes[:, 1]) > 5]
        base = lidar.cast(np.zeros(2), boxes)
        k = int(rng.integers(len(boxes)))
        new = boxes[k] + np.r_[rng.uniform(-4, 4, 2), rng.uniform(-0.5, 0.5), 0, 0, 0]
        upd = lidar.update_actor(base, k, new)
        moved = boxes.copy()
        moved[k] = new
        ref = lidar.cast(np.zeros(2), moved)
        assert np.array_equal(upd.range, ref.range) and np.array_equal(upd.hit, ref.hit)


def test_bev_channels():
    lidar = Lidar()
    sw = lidar.cast(np.zeros(2), np.array([[12.0, 3.0, 0.0, 4.5, 2.0, 1.6]]))
    pts, hit = sw.points()
    cfg = BEVConfig()
    g = bev(pts, hit, np.zeros(3), cfg)
    assert g.shape == (cfg.channels, *cfg.shape)
    ix, iy = int((12 - cfg.x_min) / cfg.cell), int((3 + cfg.y_half) / cfg.cell)
    assert g[:2, ix - 6 : ix + 6, iy - 4 : iy + 4].sum() > 0  # object returns near the car
    assert g[-1].sum() > 0 and g[2].sum() == 0  # ground returns; nothing above 2 m


def test_bev_high_points_never_land_in_the_ground_channel():
    """Issue 28: a non-ground point at or above the last height edge (4.5 m) used to be binned into the ground
    channel (``digitize`` gives its index); it is dropped now, and a ground point still counts as ground."""
    cfg = BEVConfig()
    pts = np.array([[10.0, 0.0, 5.0], [10.0, 0.0, 4.5], [10.0, 0.0, 3.0], [20.0, 0.0, 0.0]])
    hit = np.array([0, 0, 0, GROUND])
    g = bev(pts, hit, np.zeros(3), cfg)
    ix, iy = int((10 - cfg.x_min) / cfg.cell), int(cfg.y_half / cfg.cell)
    assert g[-1, ix, iy] == 0  # the two high object points are not ground evidence
    assert g[2, ix, iy] == pytest.approx(np.log1p(1.0))  # the 3 m point is in the 2-4.5 m bin
    assert g.sum() == pytest.approx(2 * np.log1p(1.0))  # 3 m point + the ground point, nothing else
    assert g[-1, int((20 - cfg.x_min) / cfg.cell), iy] == pytest.approx(np.log1p(1.0))


def _occupancy_detector(channels: int):
    """A hand-set detector whose boxes follow the sweep: the heatmap logit of each 1 m cell (stride 2) rises with
    the non-ground LiDAR returns in it, so a cell with points on an object is a peak; boxes are 4.5 x 2 m."""
    import torch
    from torch import nn

    net = nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(channels, 7, 1))
    with torch.no_grad():
        conv = net[1]
        conv.weight.zero_()
        conv.bias.zero_()
        conv.weight[0, : channels - 1] = 8.0  # object channels (the last one is ground)
        conv.bias[0] = -3.0
        conv.bias[3] = 1.0  # cos 2 yaw: boxes along the ego heading
        conv.bias[5], conv.bias[6] = math.log(4.5), math.log(2.0)
    return net.eval()


def test_closed_loop_with_remove_and_recast_is_identical():
    """The stack re-uses logged-scene sweeps (remove-and-recast of the perturbed actor) when the SDV is where it
    was in the unperturbed rollout: every sweep, detection and rollout equals the one from full re-casts. The
    detector reads the sweep (its boxes differ between perturbations), so a wrong sweep changes what it sees."""
    from trustlab.methods.advsim.adversary import AdversaryConfig, Perturbation
    from trustlab.methods.advsim.scenarios import generate
    from trustlab.methods.advsim.stack import Stack, StackConfig

    cfg = StackConfig()
    stack = Stack(cfg, net=_occupancy_detector(cfg.bev.channels))
    rng = np.random.default_rng(1)
    seen = differ = 0
    for sc in generate(seed=0, per_kind=1)[:3]:
        p = Perturbation(sc, AdversaryConfig())
        acts = [p.actors(p.project(rng.random(p.dim))[1]) for _ in range(2)]
        runs = {}
        for reuse in (False, True):
            stack.reuse_sweeps = reuse
            stack.rollout(sc)
            runs[reuse] = [stack.rollout(sc, a, keep_sweeps=True) for a in acts]
        for a, b in zip(runs[False], runs[True]):
            for sa, sb in zip(a.sweeps, b.sweeps):
                assert np.array_equal(sa.range, sb.range) and np.array_equal(sa.hit, sb.hit)
            for da, db in zip(a.detections, b.detections):
                assert np.array_equal(da, db)
            assert np.array_equal(a.sdv, b.sdv) and a.min_gap == b.min_gap
            seen += sum(len(d) > 0 for d in a.detections)
        first, second = runs[True]
        differ += any(da.shape != db.shape or not np.allclose(da, db)
                      for da, db in zip(first.detections, second.detections))
    assert stack.sweep_stats["update"] > 0
    assert seen > 10, "the detector reports the actors it has points on"
    assert differ >= 2, "detections follow the perturbed actor"
