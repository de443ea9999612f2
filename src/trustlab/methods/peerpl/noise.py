"""Reward-noise models as gymnasium wrappers, and the surrogate-reward correction (Wang et al., 2020).

PeerPL setting 1 (Wang, Guo, Zhu, Liu, "Policy Learning Using Weak Supervision", NeurIPS 2021,
https://arxiv.org/abs/2010.01748): the agent only sees a perturbed reward. Two noise models:

- :class:`BinaryRewardNoise`: rewards on two levels ``(low, high)`` (default ``(-1, +1)``); ``high`` becomes
  ``low`` with probability ``e_plus`` and ``low`` becomes ``high`` with ``e_minus`` (the reference's
  ``--error_positive`` / ``--error_negative``; its CartPole scripts use ``e_plus`` in {0.1, 0.2, 0.3}, ``e_minus=0``).
- :class:`ConfusionRewardNoise`: rewards snapped to ``M`` levels; true level ``i`` is reported as level ``j``
  with probability ``C[i, j]`` (rows sum to 1).

The surrogate correction (:class:`SurrogateReward`, needs ``C``) replaces a noisy level ``j`` by
``rhat[j] = (C^{-1} levels)[j]``, so that ``E[rhat | true level i] = sum_j C[i, j] rhat[j] = levels[i]``
(unbiased). For the binary case this is the paper's ``((1 - e_plus) r_- - e_minus r_+) / (1 - e_plus - e_minus)``
for a noisy ``r_-`` and ``((1 - e_minus) r_+ - e_plus r_-) / (1 - e_plus - e_minus)`` for a noisy ``r_+``.

Wrap *above* a ``Monitor`` so that the monitor still records the true return::

    env = BinaryRewardNoise(Monitor(gym.make("CartPole-v1")), e_plus=0.2, seed=0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from trustlab.errors import ConfigError, DataError

# Reward levels of the classic-control tasks (the binary noise flips between them). CartPole only pays
# +1, so its low level -1 appears only through noise, as in the reference.
KNOWN_LEVELS: dict[str, tuple[float, float]] = {
    "CartPole": (-1.0, 1.0),
    "Acrobot": (-1.0, 0.0),
    "MountainCar": (-1.0, 0.0),
    "FrozenLake": (0.0, 1.0),
}


def check_rate(name: str, value: float) -> float:
    """A noise rate must lie in [0, 0.5): at 0.5 the noisy reward carries no information."""
    if not (0.0 <= float(value) < 0.5):
        raise ConfigError(f"config key '{name}': noise rate {value} is outside [0, 0.5); use e.g. 0.2")
    return float(value)


def binary_confusion(e_plus: float, e_minus: float) -> np.ndarray:
    """``C`` for levels ``(low, high)``: row = true level, column = reported level."""
    e_plus, e_minus = check_rate("noise.e_plus", e_plus), check_rate("noise.e_minus", e_minus)
    return np.array([[1.0 - e_minus, e_minus], [e_plus, 1.0 - e_plus]])


def uniform_confusion(levels: int, weight: float) -> np.ndarray:
    """The reference's ``uniform`` noise: ``weight * ones / M + (1 - weight) * I`` (weight in [0, 1))."""
    if not (0.0 <= weight < 1.0):
        raise ConfigError(f"config key 'noise.weight': {weight} is outside [0, 1)")
    return weight * np.ones((levels, levels)) / levels + (1.0 - weight) * np.eye(levels)


def check_confusion(matrix: Any, levels: Sequence[float]) -> np.ndarray:
    """Validate a confusion matrix for ``levels``: square, matching, rows are distributions, invertible."""
    c = np.asarray(matrix, dtype=float)
    m = len(levels)
    if m < 2 or len(set(levels)) != m:
        raise ConfigError(f"config key 'noise.levels': need at least two distinct levels, got {list(levels)}")
    if c.shape != (m, m):
        raise ConfigError(f"config key 'noise.matrix': shape {c.shape} does not match {m} levels; give {m}x{m}")
    if (c < 0).any() or not np.allclose(c.sum(axis=1), 1.0, atol=1e-6):
        raise ConfigError("config key 'noise.matrix': every row must be a probability distribution (>= 0, sums to 1)")
    if abs(np.linalg.det(c)) < 1e-8:
        raise ConfigError("config key 'noise.matrix': the matrix is singular; the surrogate correction needs C^-1")
    return c


def surrogate_table(matrix: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """``rhat = C^{-1} levels``: the unbiased surrogate value of each noisy level."""
    return np.linalg.solve(np.asarray(matrix, dtype=float), np.asarray(levels, dtype=float))


class _LevelNoise(gym.Wrapper):
    """Reports a reward's level through a confusion matrix; ``info['true_reward']`` keeps the truth."""

    def __init__(self, env: gym.Env, levels: Sequence[float], matrix: np.ndarray, seed: int | None,
                 snap: bool) -> None:
        super().__init__(env)
        self.levels = np.asarray(levels, dtype=float)
        self.matrix = check_confusion(matrix, levels)
        self.snap = snap
        self._rng = np.random.default_rng(seed)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):  # type: ignore[override]
        if seed is not None:  # the noise stream follows the env's seed (offset: not the env's own stream)
            self._rng = np.random.default_rng([int(seed), 7919])
        return self.env.reset(seed=seed, options=options)

    def level_of(self, reward: float) -> int:
        d = np.abs(self.levels - float(reward))
        i = int(d.argmin())
        if not self.snap and d[i] > 1e-6:
            raise DataError(
                f"reward {reward} of '{self.spec_id}' is not one of the binary levels {self.levels.tolist()}; "
                "set noise.levels=[low, high] or use noise.kind=confusion"
            )
        return i

    @property
    def spec_id(self) -> str:
        spec = self.env.unwrapped.spec
        return spec.id if spec is not None else type(self.env.unwrapped).__name__

    def step(self, action: Any):  # type: ignore[override]
        obs, reward, terminated, truncated, info = self.env.step(action)
        i = self.level_of(float(reward))
        j = int(self._rng.choice(len(self.levels), p=self.matrix[i])) if self.matrix[i, i] < 1.0 else i
        info = dict(info)
        info["true_reward"] = float(reward)
        return obs, float(self.levels[j]), terminated, truncated, info


class BinaryRewardNoise(_LevelNoise):
    """Flip ``high -> low`` with ``e_plus`` and ``low -> high`` with ``e_minus`` (both in [0, 0.5))."""

    def __init__(self, env: gym.Env, e_plus: float, e_minus: float = 0.0, levels: Sequence[float] = (-1.0, 1.0),
                 seed: int | None = None) -> None:
        if len(levels) != 2 or levels[0] >= levels[1]:
            raise ConfigError("config key 'noise.levels': binary noise needs [low, high] with low < high, "
                              f"got {list(levels)}")
        super().__init__(env, levels, binary_confusion(e_plus, e_minus), seed, snap=False)
        self.e_plus, self.e_minus = float(e_plus), float(e_minus)


class ConfusionRewardNoise(_LevelNoise):
    """Snap the reward to the nearest of ``levels`` and report level ``j`` with probability ``C[i, j]``."""

    def __init__(self, env: gym.Env, levels: Sequence[float], matrix: Any, seed: int | None = None) -> None:
        super().__init__(env, levels, np.asarray(matrix, dtype=float), seed, snap=True)


class SurrogateReward(gym.Wrapper):
    """Replace each noisy level by its unbiased surrogate ``C^{-1} levels`` (the noise must be known).

    Wraps a :class:`_LevelNoise` wrapper and uses its levels and matrix."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        noisy = env
        while not isinstance(noisy, _LevelNoise):
            if not isinstance(noisy, gym.Wrapper):
                raise ConfigError("the surrogate reward needs a noise wrapper below it (noise.kind binary|confusion)")
            noisy = noisy.env
        self.levels = noisy.levels
        self.table = surrogate_table(noisy.matrix, noisy.levels)

    def step(self, action: Any):  # type: ignore[override]
        obs, reward, terminated, truncated, info = self.env.step(action)
        j = int(np.abs(self.levels - float(reward)).argmin())
        return obs, float(self.table[j]), terminated, truncated, info


def default_levels(env_id: str) -> tuple[float, float]:
    """Binary levels for ``env_id`` (``KNOWN_LEVELS`` by name prefix, else (-1, +1))."""
    name = env_id.split("/")[-1]
    for prefix, lv in KNOWN_LEVELS.items():
        if name.startswith(prefix):
            return lv
    return (-1.0, 1.0)
