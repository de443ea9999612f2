"""Every peerpl recipe runs end to end with its tiny overrides (CartPole and Acrobot) and writes a run record."""

from __future__ import annotations

import json

import numpy as np
import pytest

import trustlab.methods  # noqa: F401  (registers recipes)
from trustlab.recipes import run_recipe
from trustlab.registry import RECIPES

PEERPL = [n for n in RECIPES.names() if n.startswith("peerpl/")]


def test_the_four_recipes_are_registered():
    assert sorted(PEERPL) == ["peerpl/bc", "peerpl/cotrain", "peerpl/demos", "peerpl/noisy-reward"]


@pytest.mark.parametrize("name", PEERPL)
def test_recipe_runs_tiny(name, tmp_path):
    rec = run_recipe(name, overrides=dict(RECIPES.get(name).tiny), runs_root=tmp_path, quiet=True)
    assert rec.done
    s = rec.summary()
    if name == "peerpl/noisy-reward":
        assert s["reward"] == "peer" and np.isfinite(s["true_auc"]) and s["env_steps"] >= 300
        curve = json.loads((rec.path / "artifacts" / "curve.json").read_text())
        assert len(curve["curve"]) == 4 and curve["episodes"]["returns"]
    elif name == "peerpl/bc":
        assert s["method"] == "peer_bc"
        # CartPole pays +1 per step: the recorded demonstrations (demo.episodes=2 whole episodes) hold exactly
        # 2 x the demonstrator's mean return transitions, and each evaluation of the clone (train.eval_episodes=2,
        # env.max_episode_steps=50) is a mean of whole episode lengths in [1, 50]
        assert s["demo_transitions"] == round(2 * s["demonstrator_return"]) and 2 * s["demonstrator_return"] % 1 == 0
        curve = json.loads((rec.path / "artifacts" / "curve.json").read_text())["curve"]
        for ret in [s["eval_return"], *curve]:
            assert 1 <= ret <= 50 and (2 * ret) % 1 == 0, ret
    elif name == "peerpl/cotrain":
        assert set(s["agents"]) == {"A", "B"} and np.isfinite(s["true_auc"])
        assert any("copy/A_loss" in row for row in rec.metrics())
    else:
        assert set(s["demonstrators"]) == {"steps_256", "steps_512"}
        assert (rec.path / "artifacts" / "demos_512.npz").is_file()
        assert (rec.path / "artifacts" / "demonstrator_512.zip").is_file()


@pytest.mark.parametrize("reward", ["noisy", "surrogate"])
def test_acrobot_binary_levels(reward, tmp_path):
    """Acrobot pays -1 / 0: the binary noise flips between those levels (no level error) and it learns nothing
    in 300 steps, but the true return is that of the clean env (-50 per 50-step episode)."""
    over = {**RECIPES.get("peerpl/noisy-reward").tiny, "env.id": "Acrobot-v1", "method.reward": reward,
            "noise.e_plus": 0.3, "noise.e_minus": 0.3}
    s = run_recipe("peerpl/noisy-reward", overrides=over, runs_root=tmp_path, quiet=True).summary()
    assert s["true_auc"] == pytest.approx(-50.0)  # max_episode_steps=50, never swung up: the true return


def test_confusion_noise_runs(tmp_path):
    over = {**RECIPES.get("peerpl/noisy-reward").tiny, "noise.kind": "confusion", "noise.levels": [-1.0, 0.0, 1.0],
            "noise.weight": 0.3, "method.reward": "surrogate"}
    assert run_recipe("peerpl/noisy-reward", overrides=over, runs_root=tmp_path, quiet=True).done
