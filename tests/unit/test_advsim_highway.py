"""advsim/highway: AdvSim's adversary in highway-env against a user's agent (issue 29, the AdvSim bullet)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from trustlab.errors import ConfigError
from trustlab.methods.advsim import highway as hw
from trustlab.methods.advsim.adversary import AdversaryConfig, Perturbation, perturbed_states, search
from trustlab.methods.advsim.world import bicycle_rollout


def test_missing_highway_env_is_one_error_line(monkeypatch, capsys, tmp_path) -> None:
    monkeypatch.setitem(sys.modules, "highway_env", None)  # import highway_env -> ImportError
    with pytest.raises(ConfigError, match=r"pip install 'trustlab\[advsim-sim\]'") as e:
        hw.make_env(hw.HighwayEnvSection())
    assert "\n" not in str(e.value)
    from trustlab.cli import main

    assert main(["run", "advsim/highway", "--set", "env.scenarios=1", "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: advsim/highway needs highway-env"), err
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]  # nothing half-written


def test_fit_controls_follows_a_lane_change() -> None:
    t = np.arange(11) * hw.DT
    x = 25.0 * t
    y = 4.0 / (1 + np.exp(-(x - 60.0) / 12.0))  # a smooth 4 m lane change at 25 m/s
    yaw = np.arctan2(np.gradient(y, x), 1.0)
    traj = np.stack([x, y, yaw, np.full_like(x, 25.0)], -1)
    s0, ctrl = hw.fit_controls(traj)
    fit = bicycle_rollout(s0, ctrl, hw.DT, hw.LIMITS)
    assert np.abs(fit[:, :2] - traj[:, :2]).max() < 0.3


@pytest.fixture(scope="module")
def scene():
    """highway-v0, env seed 1, the constant-speed lane-keeping agent (``idle``), the defaults (10 steps, 8 actors)."""
    pytest.importorskip("highway_env")
    cfg = hw.HighwayConfig()
    env = hw.make_env(cfg.env)
    stack = hw.HighwayStack(env, hw.make_agent(cfg.agent, env, 0), cfg.stack)
    sc = hw.prepare_scene(stack, 1, cfg.env, cfg.adversary)
    assert sc is not None
    return cfg, stack, sc


def test_perturbed_scenario_is_plausible_and_replayed(scene) -> None:
    cfg, stack, sc = scene
    rng = np.random.default_rng(0)
    pert = Perturbation(sc, cfg.adversary)
    assert not pert.violations(sc.actor_log(sc.adversary))  # the logged scene is plausible
    moved = 0
    for _ in range(6):
        d, st, _ = pert.project(rng.random(pert.dim))
        assert not pert.violations(st)  # every query the adversary makes is a plausible scenario
        assert np.allclose(st, perturbed_states(sc, sc.adversary, d, cfg.adversary.knots))
        moved += np.abs(st[:, :2] - sc.actor_log(sc.adversary)[:, :2]).max() > 0.5
    assert moved >= 3  # and most of them move the actor
    # highway-env replays the perturbed trajectory: the replayed vehicle is at the perturbed pose at each step
    rep = stack.replay(None, st, 5.0, 2.0)
    for k in range(1, sc.steps + 1):
        for _ in range(hw.FRAMES):
            rep.step(hw.DT / hw.FRAMES)
        assert np.allclose(rep.position, st[k, :2], atol=1e-6) and abs(rep.speed - st[k, 3]) < 1e-6


def test_a_collision_is_highway_envs_crash(scene) -> None:
    cfg, stack, sc = scene
    acts = sc.actor_logs().copy()
    acts[sc.adversary] = sc.sdv_log().copy()  # an actor driven through the ego's start
    acts[sc.adversary][:, 0] += 2.0
    r = stack.rollout(sc, acts)
    assert r.crashed and r.collision and r.min_gap < 0 and r.steps == 1
    base = stack.rollout(sc)
    assert not base.crashed and base.progress > r.progress


def test_the_attack_finds_a_collision_the_unperturbed_scene_has_not(scene) -> None:
    """Against the constant-speed agent: the unperturbed scene (the no-perturbation baseline) has no failure, the
    search reaches a plausible collision within 4 queries. (BO against random search over many scenes is measured,
    not asserted: docs/notes/advsim-highway.md.)"""
    cfg, stack, sc = scene
    base = stack.rollout(sc)
    assert not base.failure and base.min_gap > cfg.stack.near_miss
    res = search(sc, stack, AdversaryConfig(budget=4), seed=1)
    assert not res.base_failure and res.found_collision
    assert min(res.gaps) < 0 <= base.min_gap


def test_the_users_agent_callable_predict_or_sb3_checkpoint(scene, tmp_path) -> None:
    """agent.policy as 'file.py:function', as an object with predict(), and as a stable-baselines3 .zip: each drives
    the same scene; a bad spec is one ConfigError."""
    cfg, stack, sc = scene
    env = stack.env
    f = tmp_path / "my_agent.py"
    f.write_text("class Slow:\n    def predict(self, obs, deterministic=True):\n        return 4, None\n\n"
                 "def keep(obs):\n    return 1\n\nslow = Slow()\n")
    keep = hw.make_agent(hw.HighwayAgentSection(policy=f"{f}:keep"), env, 0)
    slow = hw.make_agent(hw.HighwayAgentSection(policy=f"{f}:slow"), env, 0)
    assert keep(None) == 1 and slow(None) == 4  # IDLE, SLOWER (DiscreteMetaAction)
    fast = hw.HighwayStack(env, keep, cfg.stack).rollout(sc)
    braking = hw.HighwayStack(env, slow, cfg.stack).rollout(sc)
    assert braking.progress < fast.progress and braking.max_decel > 0
    from stable_baselines3 import DQN

    DQN("MlpPolicy", env, learning_starts=0, buffer_size=64, seed=0, device="cpu").save(tmp_path / "dqn.zip")
    agent = hw.make_agent(hw.HighwayAgentSection(policy=str(tmp_path / "dqn.zip"), algo="DQN"), env, 0)
    assert hw.HighwayStack(env, agent, cfg.stack).rollout(sc).steps >= 1
    for bad in ("nope", f"{f}:missing", str(tmp_path / "none.zip")):
        with pytest.raises(ConfigError, match="agent.policy"):
            hw.make_agent(hw.HighwayAgentSection(policy=bad), env, 0)
    with pytest.raises(ConfigError, match="agent.algo"):
        hw.make_agent(hw.HighwayAgentSection(algo="XYZ"), env, 0)
