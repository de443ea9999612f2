"""AdvSim adversary and stack: projection onto plausible trajectories, equal query budgets, bad bounds,
the planner avoiding a stopped car, constant-velocity prediction."""

from __future__ import annotations

import numpy as np
import pytest

from trustlab.errors import ConfigError
from trustlab.methods.advsim.adversary import (
    AdversaryConfig,
    Perturbation,
    check_config,
    perturbed_states,
    search,
    violations,
)
from trustlab.methods.advsim.scenarios import generate
from trustlab.methods.advsim.stack import PlannerConfig, Stack, StackConfig, Tracker, plan, predict
from trustlab.methods.advsim.world import straight_road


@pytest.fixture(scope="module")
def scs():
    return generate(seed=0, per_kind=1)


def test_generated_logs_are_plausible(scs):
    assert [s.kind for s in scs] == ["following", "cut-in", "merge", "intersection", "parked", "occluding-truck"]
    for sc in scs:
        k = sc.adversary
        assert violations(sc, k, sc.actor_log(k), 0.5) == []
        assert np.allclose(perturbed_states(sc, k, np.zeros(4 + 2 * 3), 3), sc.actor_log(k))


def test_projection_is_always_plausible(scs):
    cfg = AdversaryConfig()
    rng = np.random.default_rng(0)
    moved = 0
    for sc in scs:
        p = Perturbation(sc, cfg)
        for _ in range(6):
            d, st, alpha = p.project(rng.random(p.dim))
            assert violations(sc, p.k, st, cfg.road_margin) == []
            assert 0 <= alpha <= 1 and np.all(d >= p.lo - 1e-9) and np.all(d <= p.hi + 1e-9)
            moved += alpha > 0
    assert moved > 10  # most draws keep part of the perturbation


@pytest.mark.parametrize("opt", ["random", "bo", "cma"])
def test_equal_query_budget(scs, opt):
    stack = Stack(StackConfig(perception="gt"))
    res = search(scs[1], stack, AdversaryConfig(optimizer=opt, budget=7), seed=0)
    assert len(res.values) == 7 and res.best_value == max(res.values)
    assert (res.first_failure > 0) == res.found


def test_bad_bounds(scs):
    with pytest.raises(ConfigError, match=r"adversary.lat must be \[low, high\]"):
        check_config(AdversaryConfig(lat=[1.0, -1.0]))
    with pytest.raises(ConfigError, match="not one of bo, cma, random"):
        check_config(AdversaryConfig(optimizer="ga"))
    bad = AdversaryConfig(lat=[30.0, 40.0])  # every start is 30+ m off the road
    with pytest.raises(ConfigError, match="implausible: off road"):
        Perturbation(scs[0], bad).check_feasible()


def test_planner_avoids_a_stopped_car():
    road = straight_road(lanes=1)
    state = np.array([0.0, 0.0, 0.0, 8.0, 0.0])
    stopped = np.array([[14.0, 0.0, 0.0, 4.5, 2.0, 0.0, 0.0]])
    path, info = plan(state, road, stopped, 0.5, PlannerConfig(), (4.5, 2.0, 1.6))
    assert info["accel"] <= -2.0 and info["collision_cost"] == 0
    free, info2 = plan(state, road, np.zeros((0, 7)), 0.5, PlannerConfig(), (4.5, 2.0, 1.6))
    assert info2["accel"] > 0 and free[-1, 0] > path[-1, 0]


def test_prediction_and_tracker():
    objs = np.array([[0.0, 0.0, 0.0, 4.5, 2.0, 2.0, 1.0]])
    p = predict(objs, 3, 0.5)
    assert np.allclose(p[0, :, :2], [[1.0, 0.5], [2.0, 1.0], [3.0, 1.5]])
    tr = Tracker(dt=0.5, smooth=1.0)
    tr.update(np.array([[0.0, 0.0, 0.0, 4.5, 2.0, 0.9]]))
    out = tr.update(np.array([[2.0, 0.0, 0.0, 4.5, 2.0, 0.9], [30.0, 0.0, 0.0, 4.5, 2.0, 0.9]]))
    assert np.allclose(out[0, 5:7], [4.0, 0.0]) and np.allclose(out[1, 5:7], 0.0)


def test_gt_stack_drives_the_original_scenarios_safely(scs):
    stack = Stack(StackConfig(perception="gt"))
    for sc in scs:
        r = stack.rollout(sc)
        assert not r.collision and r.progress > 20
