"""Environments: checked gymnasium ids, vectorised envs with reward noise, episode logs and evaluation.

Every env is ``wrapper(Monitor(gym.make(id)))``: the SB3 ``Monitor`` sits *below* any reward-noise wrapper,
so the episode returns it reports (``info['episode']``) are the true, noise-free returns, whatever the agent
is trained on. ``EpisodeLog`` collects them with the global step at which each episode ended.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trustlab.errors import ConfigError, NotFoundError, did_you_mean

# Toy-text envs with a state-dependent 0/1 reward, given Box (one-hot) observations so that PeerPL's MLP
# agents take them: ``trustlab/FrozenLakeOneHot-v1`` is gymnasium's FrozenLake-v1 (4x4, not slippery by default;
# reward 1 only on reaching the goal, 100-step limit) with the cell index as a one-hot vector. Under reward noise
# that turns 0 into 1 (``noise.e_minus``) every step pays on average, so the noisy agent learns to walk around
# instead of reaching the goal: the noise misleads, not only adds variance (CartPole's reward is a constant +1).
ONE_HOT_ENVS = {"trustlab/FrozenLakeOneHot-v1": "FrozenLake-v1"}


def _make_one_hot(base: str, **kwargs: Any):
    import gymnasium as gym

    kwargs.setdefault("is_slippery", False)
    env = gym.make(base, **kwargs)
    n = int(env.observation_space.n)
    eye = np.eye(n, dtype=np.float32)
    box = gym.spaces.Box(0.0, 1.0, (n,), np.float32)
    return gym.wrappers.TransformObservation(env, lambda o: eye[int(o)].copy(), box)


def _register_one_hot() -> None:
    import gymnasium as gym

    for env_id, base in ONE_HOT_ENVS.items():
        if env_id not in gym.registry:
            gym.register(env_id, entry_point=_make_one_hot, max_episode_steps=100, kwargs={"base": base})


@dataclass
class EnvConfig:
    """Which gymnasium environment, and how many copies step together (SB3 ``DummyVecEnv``)."""

    id: str = "CartPole-v1"
    n_envs: int = 1  # vectorised copies; DQN takes `dqn.gradient_steps` updates per vectorised step
    max_episode_steps: int | None = None  # override the env's time limit (None: the registered one)

    def __post_init__(self) -> None:
        check_env_id(self.id)
        if self.n_envs < 1:
            raise ConfigError(f"config key 'env.n_envs': must be at least 1, got {self.n_envs}")


def check_env_id(env_id: str) -> str:
    """The id must be registered in gymnasium (a clear error with a suggestion otherwise)."""
    import gymnasium as gym

    _register_one_hot()
    try:
        gym.spec(env_id)
    except gym.error.Error:
        ids = list(gym.registry.keys())
        raise NotFoundError(f"config key 'env.id': gymnasium has no environment '{env_id}'"
                            f"{did_you_mean(env_id, ids)}; e.g. CartPole-v1 or Acrobot-v1") from None
    return env_id


def check_discrete(env_id: str) -> tuple[tuple[int, ...], int]:
    """Observation shape and number of actions; PeerPL's DQN/BC/co-training need Box obs + Discrete actions."""
    import gymnasium as gym

    env = gym.make(check_env_id(env_id))
    try:
        if not isinstance(env.action_space, gym.spaces.Discrete):
            raise ConfigError(f"config key 'env.id': '{env_id}' has a {type(env.action_space).__name__} action space; "
                              "PeerPL here needs Discrete actions (e.g. CartPole-v1, Acrobot-v1)")
        if not isinstance(env.observation_space, gym.spaces.Box):
            raise ConfigError(f"config key 'env.id': '{env_id}' needs a Box observation space")
        return tuple(env.observation_space.shape), int(env.action_space.n)
    finally:
        env.close()


def make_vec(cfg: EnvConfig, seed: int, wrapper: Callable[[Any, int], Any] | None = None, n_envs: int | None = None):
    """A ``DummyVecEnv`` of ``n_envs`` (default ``cfg.n_envs``) copies, each ``wrapper(Monitor(env), rank)``."""
    import gymnasium as gym
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    check_env_id(cfg.id)
    if cfg.n_envs < 1:
        raise ConfigError(f"config key 'env.n_envs': must be at least 1, got {cfg.n_envs}")
    kwargs = {} if cfg.max_episode_steps is None else {"max_episode_steps": cfg.max_episode_steps}

    def thunk(rank: int):
        def make():
            env = Monitor(gym.make(cfg.id, **kwargs))
            return wrapper(env, rank) if wrapper is not None else env
        return make

    venv = DummyVecEnv([thunk(r) for r in range(n_envs or cfg.n_envs)])
    venv.seed(seed)
    return venv


@dataclass
class Episodes:
    """Episodes in the order they ended: global env step at the end, true return, length."""

    steps: list[int] = field(default_factory=list)
    returns: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)

    def add(self, step: int, ret: float, length: int) -> None:
        self.steps.append(int(step))
        self.returns.append(float(ret))
        self.lengths.append(int(length))

    def to_dict(self) -> dict[str, list]:
        return {"steps": self.steps, "returns": self.returns, "lengths": self.lengths}


def episode_callback(episodes: Episodes, step_offset: Callable[[], int] | None = None):
    """An SB3 callback that appends every finished episode (from the Monitor's ``info['episode']``)."""
    from stable_baselines3.common.callbacks import BaseCallback

    class EpisodeLog(BaseCallback):
        def _on_step(self) -> bool:
            for info in self.locals.get("infos", []):
                ep = info.get("episode")
                if ep is not None:
                    episodes.add(self.num_timesteps if step_offset is None else step_offset(), ep["r"], ep["l"])
            return True

    return EpisodeLog()


def evaluate(policy_fn: Callable[[np.ndarray], np.ndarray], cfg: EnvConfig, episodes: int, seed: int) -> list[float]:
    """True returns of ``episodes`` episodes (one vectorised copy each, batched actions), clean env."""
    venv = make_vec(cfg, seed, n_envs=episodes)
    try:
        obs = venv.reset()
        done = np.zeros(episodes, dtype=bool)
        out = np.zeros(episodes)
        while not done.all():
            obs, _, dones, infos = venv.step(policy_fn(obs))
            for i, (d, info) in enumerate(zip(dones, infos)):
                if d and not done[i]:
                    done[i] = True
                    out[i] = info["episode"]["r"]
        return out.tolist()
    finally:
        venv.close()
