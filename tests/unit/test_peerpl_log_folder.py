"""SB3 makes an empty $TMPDIR/SB3-<time> folder per learn() unless the model has a logger: PeerPL's models have one
that writes nowhere, so a run leaves nothing in the temp folder (1,919 such folders piled up in a day of runs)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import gymnasium as gym
import pytest
from stable_baselines3.common.env_util import make_vec_env

from trustlab.methods.peerpl.config import PPOConfig
from trustlab.methods.peerpl.dqn import PeerDQN
from trustlab.methods.peerpl.policies import make_ppo


def test_learn_leaves_no_sb3_folder_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.delenv("SB3_LOGDIR", raising=False)
    venv = make_vec_env(lambda: gym.make("CartPole-v1"), n_envs=1, seed=0)
    dqn = PeerDQN("MlpPolicy", venv, learning_starts=16, train_freq=4, batch_size=8, buffer_size=256, seed=0,
                  peer_xi=0.2)
    dqn.learn(64)
    ppo = make_ppo(PPOConfig(n_steps=32, batch_size=16, n_epochs=1), venv, seed=0, device="cpu")
    ppo.learn(32)
    assert not list(tmp_path.glob("SB3-*")), sorted(p.name for p in tmp_path.iterdir())
    assert dqn.logger.name_to_value or dqn.num_timesteps == 64  # the logger still records in memory
