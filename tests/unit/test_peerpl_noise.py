"""PeerPL reward-noise wrappers, the surrogate correction, schedules and config checks."""

from __future__ import annotations

from typing import get_args

import gymnasium as gym
import numpy as np
import pytest

from trustlab.config import build_config
from trustlab.errors import ConfigError, DataError, NotFoundError
from trustlab.methods.peerpl.config import CotrainRecipeConfig, NoisyRewardConfig
from trustlab.methods.peerpl.noise import (
    BinaryRewardNoise,
    ConfusionRewardNoise,
    SurrogateReward,
    binary_confusion,
    check_confusion,
    default_levels,
    surrogate_table,
    uniform_confusion,
)
from trustlab.methods.peerpl.schedules import SCHEDULES, Schedule, check_schedule, peer_weight


class Levels(gym.Env):
    """Pays the rewards of a fixed cycle; observation is a dummy scalar."""

    observation_space = gym.spaces.Box(-1, 1, (1,))
    action_space = gym.spaces.Discrete(2)

    def __init__(self, rewards=(1.0,)):
        self.rewards, self.t = list(rewards), 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        r = self.rewards[self.t % len(self.rewards)]
        self.t += 1
        return np.zeros(1, np.float32), r, False, False, {}


def _noisy_rewards(env, n=20_000):
    env.reset(seed=0)
    out = [env.step(0)[1:2][0] for _ in range(n)]
    return np.array(out)


def test_binary_flip_rates_match_e_plus_and_e_minus():
    hi = _noisy_rewards(BinaryRewardNoise(Levels([1.0]), e_plus=0.3, e_minus=0.1, seed=1))
    lo = _noisy_rewards(BinaryRewardNoise(Levels([-1.0]), e_plus=0.3, e_minus=0.1, seed=1))
    assert set(np.unique(hi)) <= {-1.0, 1.0}
    assert abs((hi == -1).mean() - 0.3) < 0.015  # 20k Bernoulli draws: std 0.003
    assert abs((lo == 1).mean() - 0.1) < 0.01


def test_zero_noise_is_identity_and_true_reward_kept():
    env = BinaryRewardNoise(Levels([1.0, -1.0]), e_plus=0.0, e_minus=0.0, seed=0)
    env.reset(seed=0)
    steps = [env.step(0) for _ in range(10)]
    assert [s[1] for s in steps] == [1.0, -1.0] * 5
    assert all(s[4]["true_reward"] == s[1] for s in steps)


def test_confusion_wrapper_rows_follow_the_matrix():
    levels = [0.0, 1.0, 2.0]
    c = np.array([[0.8, 0.1, 0.1], [0.2, 0.6, 0.2], [0.0, 0.3, 0.7]])
    got = _noisy_rewards(ConfusionRewardNoise(Levels([1.04]), levels, c, seed=3))  # snapped to level 1
    freq = [(got == lv).mean() for lv in levels]
    assert np.allclose(freq, c[1], atol=0.015)


def test_surrogate_is_unbiased_and_matches_the_binary_closed_form():
    ep, em, lo, hi = 0.3, 0.1, -1.0, 1.0
    c = binary_confusion(ep, em)
    table = surrogate_table(c, [lo, hi])
    assert np.allclose(c @ table, [lo, hi])  # E[rhat | true level] = true level
    d = 1 - ep - em
    assert np.isclose(table[0], ((1 - ep) * lo - em * hi) / d)  # paper / reference formula, noisy r_-
    assert np.isclose(table[1], ((1 - em) * hi - ep * lo) / d)  # noisy r_+
    env = SurrogateReward(BinaryRewardNoise(Levels([1.0]), e_plus=ep, e_minus=em, seed=5))
    assert abs(_noisy_rewards(env, 40_000).mean() - 1.0) < 0.03  # empirical mean recovers the true reward


def test_uniform_confusion_rows_sum_to_one():
    c = uniform_confusion(4, 0.3)
    assert np.allclose(c.sum(1), 1) and np.isclose(c[0, 0], 0.7 + 0.3 / 4)


@pytest.mark.parametrize("rate", [-0.1, 0.5, 0.7])
def test_noise_rates_outside_range_are_refused(rate):
    with pytest.raises(ConfigError, match=r"outside \[0, 0.5\)"):
        BinaryRewardNoise(Levels(), e_plus=rate)
    with pytest.raises(ConfigError, match="noise.e_minus"):
        build_config(NoisyRewardConfig, {}, None, [f"noise.e_minus={rate}"])


def test_bad_confusion_matrices_are_refused():
    with pytest.raises(ConfigError, match="probability distribution"):
        check_confusion([[0.5, 0.6], [0.5, 0.5]], [0, 1])
    with pytest.raises(ConfigError, match="singular"):
        check_confusion([[0.5, 0.5], [0.5, 0.5]], [0, 1])
    with pytest.raises(ConfigError, match="does not match"):
        check_confusion(np.eye(3), [0, 1])


def test_reward_off_the_binary_levels_is_a_data_error():
    env = BinaryRewardNoise(Levels([0.5]), e_plus=0.1, seed=0)
    env.reset(seed=0)
    with pytest.raises(DataError, match="noise.levels"):
        env.step(0)


def test_default_levels_per_env():
    assert default_levels("CartPole-v1") == (-1.0, 1.0)
    assert default_levels("Acrobot-v1") == (-1.0, 0.0)


def test_unknown_env_id_and_schedule_are_clear_errors():
    with pytest.raises(NotFoundError, match="did you mean 'CartPole-v1'"):
        build_config(NoisyRewardConfig, {}, None, ["env.id=CartPol-v1"])
    with pytest.raises(ConfigError, match="'trinagle' is not one of .*did you mean 'triangle'"):
        build_config(NoisyRewardConfig, {}, None, ["method.schedule=trinagle"])
    with pytest.raises(ConfigError, match="cotrain.schedule"):
        build_config(CotrainRecipeConfig, {}, None, ["cotrain.schedule=inc_dec"])  # the reference's CLI quirk


@pytest.mark.parametrize("name,expected", [("constant", [0.2, 0.2, 0.2]), ("increasing", [0.0, 0.1, 0.2]),
                                           ("decreasing", [0.2, 0.1, 0.0]), ("triangle", [0.0, 0.2, 0.0])])
def test_schedules(name, expected):
    assert [peer_weight(name, 0.2, p) for p in (0.0, 0.5, 1.0)] == pytest.approx(expected)
    assert peer_weight(name, 0.2, 0.1, start=0.2, end=0.8) == 0.0  # outside the window


def test_schedule_names_are_the_four_of_the_issue():
    assert set(SCHEDULES.names()) == {"constant", "increasing", "decreasing", "triangle"}
    assert set(get_args(Schedule)) == set(SCHEDULES.names())  # the config type and the registry agree
    with pytest.raises(ConfigError, match=r"config key 'method.schedule': unknown peer schedule 'trinagle' "
                                          r"\(did you mean 'triangle'\?\); known: constant, decreasing"):
        check_schedule("trinagle")


def test_frozenlake_one_hot_env_pays_one_at_the_goal_only():
    from trustlab.methods.peerpl.envs import check_env_id

    assert check_env_id("trustlab/FrozenLakeOneHot-v1") == "trustlab/FrozenLakeOneHot-v1"
    assert default_levels("trustlab/FrozenLakeOneHot-v1") == (0.0, 1.0)
    env = gym.make("trustlab/FrozenLakeOneHot-v1")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (16,) and obs.dtype == np.float32 and obs[0] == 1.0 and obs.sum() == 1.0
    rewards = []
    for a in (2, 2, 1, 1, 1, 2):  # right, right, down, down, down, right: around the holes to the goal (not slippery)
        obs, r, terminated, truncated, _ = env.step(a)
        rewards.append(r)
    assert rewards == [0.0] * 5 + [1.0] and terminated and obs[15] == 1.0
    assert env.spec.max_episode_steps == 100
