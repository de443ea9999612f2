"""The peerpl recipes from the CLI: bad input gives one `error:` line and exit 2; your own demonstrations
(.npz with obs and actions) train a (peer) BC run."""

from __future__ import annotations

import numpy as np
import pytest

from tests.e2e.helpers import cli, run_dir

TINY_BC = ["--set", "bc.epochs=2", "--set", "train.eval_episodes=2", "--set", "train.curve_points=2",
           "--set", "env.max_episode_steps=50", "--quiet"]


@pytest.mark.parametrize("args,needle", [
    (["peerpl/noisy-reward", "--set", "env.id=CartPol-v1"], "did you mean 'CartPole-v1'"),
    (["peerpl/noisy-reward", "--set", "noise.e_plus=0.5"], "outside [0, 0.5)"),
    (["peerpl/cotrain", "--set", "cotrain.schedule=inc_dec"], "'inc_dec' is not one of"),
])
def test_bad_config_is_one_error_line(args, needle, tmp_path):
    proc = cli("run", *args, runs=tmp_path / "runs")
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0]
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").rglob("done"))


def test_demonstrations_that_do_not_fit_the_env(tmp_path):
    bad = tmp_path / "acrobot.npz"
    np.savez(bad, obs=np.zeros((10, 6), np.float32), actions=np.zeros(10, np.int64))  # Acrobot obs, CartPole env
    proc = cli("run", "peerpl/bc", "--set", f"demo.path={bad}", runs=tmp_path / "runs")
    assert proc.returncode == 2 and "observes (4,)" in proc.stderr and proc.stderr.startswith("error:")
    wrong_act = tmp_path / "act.npz"
    np.savez(wrong_act, obs=np.zeros((10, 4), np.float32), actions=np.full(10, 3))
    proc = cli("run", "peerpl/bc", "--set", f"demo.path={wrong_act}", runs=tmp_path / "runs")
    assert proc.returncode == 2 and "integers in [0, 2)" in proc.stderr


def test_your_own_demonstrations(tmp_path):
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(200, 4)).astype(np.float32)
    actions = (obs[:, 2] + obs[:, 3] > 0).astype(np.int64)  # a pole-angle heuristic "demonstrator"
    path = tmp_path / "mine.npz"
    np.savez(path, obs=obs, actions=actions, episode_returns=np.array([40.0, 60.0]))
    proc = cli("run", "peerpl/bc", "--set", f"demo.path={path}", *TINY_BC, runs=tmp_path / "runs", check=True)
    rec = run_dir(proc.stdout)
    assert (rec / "done").is_file()
    import json

    s = json.loads((rec / "summary.json").read_text())
    assert s["demonstrator_return"] == 50.0 and s["demo_transitions"] == 200
