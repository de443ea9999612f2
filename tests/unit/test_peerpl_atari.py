"""PeerPL on Atari (optional ale-py): the reference's preprocessing, the Nature-CNN pixel views of co-training, and a
tiny wiring run of peerpl/demos -> peerpl/bc (from the recorded file) -> peerpl/cotrain on Pong."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from trustlab.errors import ConfigError

PONG = "PongNoFrameskip-v4"
# 200 emulator frames = 50 agent steps per game: a few seconds of CNN on one CPU thread
TINY = {"env.id": PONG, "env.max_episode_steps": 200, "ppo.n_steps": 16, "ppo.batch_size": 16, "ppo.n_epochs": 1,
        "ppo.net_arch": [], "train.seed": 0}


def test_atari_id_without_ale_py_is_one_config_error(monkeypatch):
    from trustlab.methods.peerpl.envs import check_env_id

    monkeypatch.setitem(sys.modules, "ale_py", None)  # import ale_py raises ImportError
    with pytest.raises(ConfigError, match=r"trustlab\[atari\]"):
        check_env_id("BreakoutNoFrameskip-v4")


def test_atari_preprocessing_and_pixel_views():
    pytest.importorskip("ale_py")
    import torch as th

    from trustlab.methods.peerpl.config import PPOConfig
    from trustlab.methods.peerpl.envs import EnvConfig, check_discrete, make_vec
    from trustlab.methods.peerpl.policies import make_ppo

    assert check_discrete(PONG) == ((84, 84, 4), 6)
    venv = make_vec(EnvConfig(PONG, 2, 200), 0)
    obs = venv.reset()
    assert obs.shape == (2, 84, 84, 4) and obs.dtype == np.uint8
    agent = make_ppo(PPOConfig(n_steps=16, batch_size=16, net_arch=[]), venv, 0, hide=[0])
    ext = agent.policy.features_extractor
    assert type(ext).__name__ == "MaskedNatureCNN" and agent.policy.observation_space.shape == (4, 84, 84)
    flat = ext.mask.view(-1)
    assert flat[0] == 0 and flat[1] == 1 and flat.sum() == 84 * 84 / 2  # parity 0 hidden
    x = th.rand(1, 4, 84, 84)
    y = x.clone()
    y.view(1, 4, -1)[..., 0::2] = th.rand(1, 4, 84 * 42)  # change only the hidden pixels
    with th.no_grad():
        assert th.equal(ext(x), ext(y))
        y.view(1, 4, -1)[..., 1] += 0.5  # a seen pixel changes the features
        assert not th.equal(ext(x), ext(y))
    venv.close()


def test_atari_peer_bc_and_cotrain_wiring(tmp_path):
    pytest.importorskip("ale_py")
    import torch

    from trustlab.recipes import run_recipe

    torch.set_num_threads(1)
    d = run_recipe("peerpl/demos", overrides={**TINY, "demo.checkpoints": [32], "demo.episodes": 1,
                                              "demo.n_envs": 2}, runs_root=tmp_path, quiet=True)
    with np.load(d.path / "artifacts" / "demos_32.npz") as z:
        assert z["obs"].dtype == np.uint8 and z["obs"].shape[1:] == (84, 84, 4) and len(z["actions"]) >= 20
    b = run_recipe("peerpl/bc", overrides={**TINY, "demo.path": str(d.path / "artifacts" / "demos_32.npz"),
                                           "bc.epochs": 1, "bc.net_arch": [], "train.eval_episodes": 1,
                                           "train.curve_points": 1}, runs_root=tmp_path, quiet=True)
    s = b.summary()
    assert s["env"] == PONG and np.isfinite(s["eval_return"]) and 0 <= s["train_agreement"] <= 1
    c = run_recipe("peerpl/cotrain", overrides={**TINY, "env.n_envs": 2, "train.steps": 32, "train.eval_episodes": 1,
                                                "train.curve_points": 1}, runs_root=tmp_path, quiet=True)
    s = c.summary()
    assert s["mode"] == "cotrain" and np.isfinite(s["eval_return"])
    with pytest.raises(ConfigError, match="pixel parities"):
        run_recipe("peerpl/cotrain", overrides={**TINY, "cotrain.masks": [3, 0]}, runs_root=tmp_path, quiet=True)
