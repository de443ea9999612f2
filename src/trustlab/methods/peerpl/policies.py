"""Policy pieces shared by peer BC and co-training: the masked-view feature extractor, PPO construction,
the (peer) cloning loss and demonstration recording.

The peer cloning loss (reference: stable-baselines ``pretrain(peer=...)`` and ``ppo2/copier.py``)::

    loss = CE(logits(s), a) - xi * mean(-log(softmax(logits(s)) + 1e-8)[a_perm])

``a_perm`` are the batch's actions shuffled (``np.random.shuffle``): an action drawn independently of the
state, so the second term scores agreement with an unrelated demonstration and penalises copying the
demonstrator's action marginal (its noise) blindly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch as th
import torch.nn.functional as F

PEER_EPS = 1e-8  # the reference's clipped softmax in the peer term


def peer_cloning_loss(logits: th.Tensor, actions: th.Tensor, xi: float,
                      generator: th.Generator | None = None) -> tuple[th.Tensor, th.Tensor]:
    """(total loss, peer term) for logits ``(B, A)`` and integer actions ``(B,)``."""
    ce = F.cross_entropy(logits, actions)
    if xi == 0.0:
        return ce, th.zeros((), device=logits.device)
    perm = th.randperm(len(actions), generator=generator, device="cpu").to(actions.device)
    probs = F.softmax(logits, dim=1) + PEER_EPS
    peer = -th.log(probs.gather(1, actions[perm].long().view(-1, 1))).mean()
    return ce - xi * peer, peer


def masked_extractor():
    """SB3 features extractor that flattens the observation and zeroes the hidden features (a state view)."""
    import gymnasium as gym
    from stable_baselines3.common.preprocessing import get_flattened_obs_dim
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

    class MaskedFlatten(BaseFeaturesExtractor):
        def __init__(self, observation_space: gym.spaces.Box, hide: Sequence[int] = ()) -> None:
            dim = get_flattened_obs_dim(observation_space)
            super().__init__(observation_space, dim)
            mask = th.ones(dim)
            for i in hide:
                mask[int(i)] = 0.0
            self.register_buffer("mask", mask)

        def forward(self, observations: th.Tensor) -> th.Tensor:
            return th.flatten(observations, start_dim=1) * self.mask

    return MaskedFlatten


def masked_cnn():
    """SB3's Nature CNN (the reference's ``nature_cnn``) on a pixel view: the pixels whose flat index per frame
    (row-major, ``h * W + w``) has parity ``hide`` are zeroed, the reference's CNN views ('even' hides parity 0,
    'odd' parity 1)."""
    import gymnasium as gym
    from stable_baselines3.common.torch_layers import NatureCNN

    class MaskedNatureCNN(NatureCNN):
        def __init__(self, observation_space: gym.spaces.Box, features_dim: int = 512, hide: int = 0) -> None:
            super().__init__(observation_space, features_dim)
            _, h, w = observation_space.shape  # channels first (SB3 transposes image observations)
            keep = (th.arange(h * w) % 2 != int(hide)).float().view(1, 1, h, w)
            self.register_buffer("mask", keep)

        def forward(self, observations: th.Tensor) -> th.Tensor:
            return super().forward(observations * self.mask)

    return MaskedNatureCNN


def make_ppo(ppo_cfg: Any, venv: Any, seed: int, device: str = "cpu", hide: Sequence[int] | None = None):
    """An SB3 PPO with the config's arguments; ``hide`` = observation features this agent does not see (on image
    observations: the parity of the pixels it does not see, :func:`masked_cnn`). Image observations (Atari) get
    SB3's ``CnnPolicy`` (Nature CNN), vectors its ``MlpPolicy``."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.preprocessing import is_image_space

    image = is_image_space(venv.observation_space)
    kwargs: dict[str, Any] = {"net_arch": list(ppo_cfg.net_arch)}
    if hide is not None:
        kwargs["features_extractor_class"] = masked_cnn() if image else masked_extractor()
        kwargs["features_extractor_kwargs"] = {"hide": int(hide[0]) if image else list(hide)}
    from trustlab.methods.peerpl.dqn import without_log_folder

    return without_log_folder(PPO(
        "CnnPolicy" if image else "MlpPolicy", venv, n_steps=ppo_cfg.n_steps, batch_size=ppo_cfg.batch_size,
        n_epochs=ppo_cfg.n_epochs, learning_rate=ppo_cfg.learning_rate, clip_range=ppo_cfg.clip_range,
        ent_coef=ppo_cfg.ent_coef, gae_lambda=ppo_cfg.gae_lambda, gamma=ppo_cfg.gamma, policy_kwargs=kwargs, seed=seed,
        device=device, verbose=0))


def policy_logits(policy: Any, obs: th.Tensor) -> th.Tensor:
    return policy.get_distribution(obs).distribution.logits


def record_demos(policy: Any, env_cfg: Any, episodes: int, seed: int,
                 deterministic: bool = False) -> dict[str, np.ndarray]:
    """Run ``episodes`` episodes of ``policy`` (one vectorised copy each) and keep every (obs, action)."""
    from trustlab.methods.peerpl.envs import make_vec

    venv = make_vec(env_cfg, seed, n_envs=episodes)
    obs_l, act_l = [], []
    returns = np.zeros(episodes)
    done = np.zeros(episodes, dtype=bool)
    try:
        obs = venv.reset()
        while not done.all():
            act = policy.predict(obs, deterministic=deterministic)[0]
            live = ~done
            obs_l.append(obs[live].copy())
            act_l.append(np.asarray(act)[live].copy())
            obs, _, _, infos = venv.step(act)
            for i, info in enumerate(infos):
                if "episode" in info and not done[i]:  # a whole game (an Atari life lost ends no episode here)
                    done[i] = True
                    returns[i] = info["episode"]["r"]
    finally:
        venv.close()
    obs_all = np.concatenate(obs_l)
    # frames stay uint8 (an 84x84x4 float32 frame stack is 113 kB; 100 Atari games are ~1e5 of them)
    return {"obs": obs_all if obs_all.dtype == np.uint8 else obs_all.astype(np.float32),
            "actions": np.concatenate(act_l).astype(np.int64), "episode_returns": returns}
