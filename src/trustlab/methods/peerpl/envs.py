"""Environments: checked gymnasium ids, vectorised envs with reward noise, episode logs and evaluation.

Every env is ``wrapper(Monitor(gym.make(id)))``: the SB3 ``Monitor`` sits *below* any reward-noise wrapper,
so the episode returns it reports (``info['episode']``) are the true, noise-free returns, whatever the agent
is trained on. ``EpisodeLog`` collects them with the global step at which each episode ended.

Atari ids (``PongNoFrameskip-v4``, ``ALE/Pong-v5``, ...; the optional ``ale-py`` package, ``pip install
trustlab[atari]``, whose wheel ships the ROMs) get the preprocessing of the reference's ``make_atari_env`` +
``VecFrameStack(4)``: ``AtariWrapper(Monitor(env))`` (30 no-op starts, max-pool over a 4-frame skip, end of a life
ends a training episode, FIRE on reset, 84x84 grey, rewards clipped to their sign) and 4 stacked frames, so the
observation is ``(84, 84, 4)`` uint8. The Monitor below it still logs the true, unclipped score of whole games.
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


ATARI_FRAMES = 4  # stacked frames (the reference's VecFrameStack(env, 4))
ATARI_SIZE = 84  # AtariWrapper's grey square (pixels)


def _looks_atari(env_id: str) -> bool:
    return env_id.startswith("ALE/") or "NoFrameskip" in env_id or env_id.split("-")[0].endswith("Deterministic")


def _register_atari(env_id: str) -> None:
    """Register ale-py's envs with gymnasium (gymnasium >= 1.0 does not import it by itself)."""
    import gymnasium as gym

    try:
        import ale_py
    except ImportError:
        raise ConfigError(f"config key 'env.id': '{env_id}' is an Atari game; it needs the optional ale-py package "
                          "(its wheel ships the ROMs): pip install 'trustlab[atari]'") from None
    gym.register_envs(ale_py)


def is_atari(env_id: str) -> bool:
    """Whether ``env_id`` is one of ale-py's Atari games (it gets the Atari preprocessing)."""
    import gymnasium as gym

    if _looks_atari(env_id):
        _register_atari(env_id)
    try:
        return "ale_py" in str(gym.spec(env_id).entry_point)
    except gym.error.Error:
        return False


def check_env_id(env_id: str) -> str:
    """The id must be registered in gymnasium (a clear error with a suggestion otherwise)."""
    import gymnasium as gym

    _register_one_hot()
    if _looks_atari(env_id):
        _register_atari(env_id)
    try:
        gym.spec(env_id)
    except gym.error.Error:
        ids = list(gym.registry.keys())
        raise NotFoundError(f"config key 'env.id': gymnasium has no environment '{env_id}'"
                            f"{did_you_mean(env_id, ids)}; e.g. CartPole-v1 or Acrobot-v1") from None
    return env_id


def check_discrete(env_id: str) -> tuple[tuple[int, ...], int]:
    """Observation shape (as the agent sees it) and number of actions; PeerPL's DQN/BC/co-training need Box obs +
    Discrete actions. Atari games: ``(84, 84, 4)`` after the preprocessing."""
    import gymnasium as gym

    env = gym.make(check_env_id(env_id))
    if is_atari(env_id):
        n = int(env.action_space.n)
        env.close()
        return (ATARI_SIZE, ATARI_SIZE, ATARI_FRAMES), n
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
    """A ``DummyVecEnv`` of ``n_envs`` (default ``cfg.n_envs``) copies, each ``wrapper(Monitor(env), rank)``;
    Atari games: ``wrapper(AtariWrapper(Monitor(env)), rank)``, 4 frames stacked (module docstring)."""
    import gymnasium as gym
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv, VecFrameStack

    check_env_id(cfg.id)
    if cfg.n_envs < 1:
        raise ConfigError(f"config key 'env.n_envs': must be at least 1, got {cfg.n_envs}")
    kwargs = {} if cfg.max_episode_steps is None else {"max_episode_steps": cfg.max_episode_steps}
    atari = is_atari(cfg.id)

    def thunk(rank: int):
        def make():
            env = Monitor(gym.make(cfg.id, **kwargs))
            if atari:
                from stable_baselines3.common.atari_wrappers import AtariWrapper

                env = AtariWrapper(env, screen_size=ATARI_SIZE)
            return wrapper(env, rank) if wrapper is not None else env
        return make

    venv = DummyVecEnv([thunk(r) for r in range(n_envs or cfg.n_envs)])
    venv.seed(seed)
    return VecFrameStack(venv, ATARI_FRAMES) if atari else venv


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
            obs, _, _, infos = venv.step(policy_fn(obs))
            for i, info in enumerate(infos):
                if "episode" in info and not done[i]:  # a whole game (an Atari life lost ends no episode here)
                    done[i] = True
                    out[i] = info["episode"]["r"]
        return out.tolist()
    finally:
        venv.close()
