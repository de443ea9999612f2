"""AdvSim physics (issue 28 item 1): overlaps in continuous time (swept boxes), the whole actor box on the road,
the lateral-acceleration (friction) bound; hand-made crossings that the 0.5 s step check misses."""

from __future__ import annotations

import numpy as np
import pytest

from trustlab.errors import ConfigError
from trustlab.methods.advsim.adversary import AdversaryConfig, Perturbation, check_config, violations
from trustlab.methods.advsim.stack import Stack, StackConfig
from trustlab.methods.advsim.world import (
    Agent,
    Scenario,
    box_gap,
    interp_states,
    lateral_accel,
    path_gap,
    straight_road,
    swept_gap,
)

CAR = (4.5, 2.0, 1.6)


def test_crossing_between_steps_is_a_collision():
    # A drives east, B north; at both steps they are 0.75 m apart, at mid-step both sit on the origin
    a0, a1 = np.array([-4.0, 0, 0, 4.5, 2]), np.array([4.0, 0, 0, 4.5, 2])
    b0, b1 = np.array([0, -4.0, np.pi / 2, 4.5, 2]), np.array([0, 4.0, np.pi / 2, 4.5, 2])
    assert box_gap(a0, b0) == pytest.approx(0.75) and box_gap(a1, b1) == pytest.approx(0.75)
    assert swept_gap(a0, a1, b0, b1, 0) == pytest.approx(0.75)  # the old check: at the steps only
    assert swept_gap(a0, a1, b0, b1, 4) == pytest.approx(-3.25)  # full overlap (2 m width + 2.25 m half length)


def test_swept_gap_equals_dense_sampling_for_translations():
    rng = np.random.default_rng(0)
    f = np.linspace(0, 1, 2001)[:, None]
    for _ in range(200):
        a0 = np.r_[rng.normal(0, 3, 2), rng.uniform(-3, 3), 4.5, 2.0]
        b0 = np.r_[rng.normal(0, 3, 2), rng.uniform(-3, 3), 2.0, 1.0]
        a1, b1 = a0.copy(), b0.copy()
        a1[:2] += rng.normal(0, 4, 2)
        b1[:2] += rng.normal(0, 4, 2)
        dense = box_gap(a0 + f * (a1 - a0), b0 + f * (b1 - b0)).min()
        assert swept_gap(a0, a1, b0, b1, 1) == pytest.approx(dense, abs=0.01)  # 2001 samples: <= 8 mm apart
        assert swept_gap(a0, a1, b0, b1, 4) <= min(box_gap(a0, b0), box_gap(a1, b1))


def test_path_gap_and_interpolation():
    st = np.array([[0, 0, 0, 10, 0], [5, 0, 0.2, 10, 0.04], [10, 0, -0.2, 10, 0]], float)
    mid = interp_states(st, 4)
    assert mid.shape == (9, 5) and np.allclose(mid[::4], st) and np.allclose(mid[2], [2.5, 0, 0.1, 10, 0.02])
    assert np.allclose(interp_states(st, 1), st)
    far = st.copy()
    far[:, 1] = 10
    assert path_gap(Agent("a", st[0], CAR, np.zeros((2, 2))).box(st), Agent("b", far[0], CAR, np.zeros((2, 2))).box(
        far)).shape == (2,)


def _scenario(actor_state0) -> Scenario:
    road = straight_road(lanes=2, lane_width=3.5, start=(-40.0, 1.75))  # SDV lane centre at y = 0
    sdv = Agent("sdv", np.array([0.0, 0.0, 0.0, 10.0, 0.0]), CAR, np.zeros((1, 2)))
    act = Agent("a0", np.asarray(actor_state0, float), CAR, np.zeros((1, 2)), adversarial=True)
    return Scenario("hand-made", "custom", 0.5, 1, [road], sdv, [act])


def test_closed_loop_collision_found_only_between_steps():
    # a car crossing at 20 m/s through the point the SDV passes at mid-step (x = 2.5 m whatever it plans),
    # 1.75 m clear of it at both steps
    sc = _scenario([2.5, -5.0, np.pi / 2, 20.0, 0.0])
    acts = np.array([[[2.5, -5.0, np.pi / 2, 20.0, 0.0], [2.5, 5.0, np.pi / 2, 20.0, 0.0]]])
    old = Stack(StackConfig(perception="gt", substeps=0)).rollout(sc, acts)
    new = Stack(StackConfig(perception="gt", substeps=4)).rollout(sc, acts)
    assert not old.collision and old.min_gap > 1.0
    assert new.collision and new.collision_step == 1 and new.min_gap < -1.0 and new.failure
    assert np.allclose(old.sdv, new.sdv)  # the check does not change the drive


def test_plausibility_crossing_the_logged_sdv_between_steps():
    sc = _scenario([2.5, -5.0, np.pi / 2, 20.0, 0.0])
    st = np.array([[2.5, -5.0, np.pi / 2, 20.0, 0.0], [2.5, 5.0, np.pi / 2, 20.0, 0.0]])
    assert "collides with the logged SDV path" not in violations(sc, 0, st, -10.0, substeps=0)
    assert "collides with the logged SDV path" in violations(sc, 0, st, -10.0, substeps=4)


def test_whole_box_on_the_road():
    # centre 0.6 m inside the left edge (y = 3.5 + 1.75 = 5.25): passes the centre margin of 0.5 m, but the 2 m
    # wide box hangs 0.4 m over the edge
    st = np.array([[20.0, 4.65, 0.0, 5.0, 0.0], [22.5, 4.65, 0.0, 5.0, 0.0]])
    sc = _scenario(st[0])
    assert violations(sc, 0, st, 0.5) == []  # the old check: centre only
    assert violations(sc, 0, st, 0.5, box_tolerance=0.0) == ["box off road"]
    assert violations(sc, 0, st, 0.5, box_tolerance=0.5) == []
    assert sc.box_on_road(sc.actors[0].box(st), 0.39).tolist() == [False, False]


def test_friction_bound():
    st = np.array([[20.0, 0.0, 0.0, 20.0, 0.0], [30.0, 0.0, 0.0, 20.0, 0.05], [35.0, 0.0, 0.0, 10.0, 0.05]])
    assert lateral_accel(st) == pytest.approx([0.0, 20.0, 20.0])  # step 2 keeps kappa while slowing from 20
    sc = _scenario([-20.0, 3.5, 0.0, 20.0, 0.0])
    far = st.copy()
    far[:, 0] -= 60  # away from the SDV
    far[:, 1] = 3.5
    sc = Scenario("hand-made", "custom", 0.5, 2, sc.roads, Agent("sdv", sc.sdv.state0, CAR, np.zeros((2, 2))),
                  [Agent("a0", far[0], CAR, np.zeros((2, 2)), adversarial=True)])
    assert violations(sc, 0, far, 0.5) == []
    assert violations(sc, 0, far, 0.5, lat_accel_max=7.85) == ["lateral acceleration above the friction bound"]
    assert violations(sc, 0, far, 0.5, lat_accel_max=25.0) == []
    # the projection keeps every trajectory within the bound
    p = Perturbation(sc, AdversaryConfig(lat_accel_max=3.0, speed=[0.0, 8.0], kdot=[0.0, 0.1]))
    _, proj, _ = p.project(np.ones(p.dim))
    assert lateral_accel(proj).max() <= 3.0
    with pytest.raises(ConfigError, match="lat_accel_max"):
        check_config(AdversaryConfig(lat_accel_max=0.0))
    with pytest.raises(ConfigError, match="substeps"):
        check_config(AdversaryConfig(substeps=-1))
