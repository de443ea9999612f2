"""PeerPL configs: the environment, reward noise, DQN, peer term, BC, co-training and the run budget.

Defaults follow the reference code (github.com/wangjksjtu/PeerPL) where it has one: DQN on CartPole
(keras-rl: Adam 1e-3, batch 32, buffer 50k, soft target update 0.01 every step, Double DQN, 3x16 MLP,
squared TD error, 10k steps), peer BC (stable-baselines ``pretrain``: Adam 1e-4, batch 128), co-training
(PPO2: 8 envs x 128 steps, 4 epochs, 4 minibatches, lr 2.5e-4, clip 0.1, ent 0.01, lambda 0.95; masks hide
feature 1 ('even' view) / feature 0 ('odd' view)). The README lists every deviation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from trustlab.errors import ConfigError
from trustlab.methods.peerpl.envs import EnvConfig
from trustlab.methods.peerpl.schedules import Schedule


def _check_peer(section: str, xi: float, schedule: str, start: float, end: float) -> None:
    from trustlab.methods.peerpl.schedules import check_schedule

    check_schedule(schedule, f"{section}.schedule")
    if xi < 0:
        raise ConfigError(f"config key '{section}.xi': the peer weight must be >= 0, got {xi}")
    if not 0.0 <= start < end <= 1.0:
        raise ConfigError(f"config keys '{section}.start/end': need 0 <= start < end <= 1, got {start}, {end}")


@dataclass
class NoiseConfig:
    """Reward noise seen by the agent (the true return is always what is reported)."""

    kind: Literal["none", "binary", "confusion"] = "binary"
    e_plus: float = 0.2  # P(high -> low), in [0, 0.5)
    e_minus: float = 0.0  # P(low -> high), in [0, 0.5)
    levels: list[float] | None = None  # binary: [low, high] (None: per env, CartPole [-1, 1], Acrobot [-1, 0])
    matrix: list[list[float]] | None = None  # confusion: M x M, row = true level (None: uniform with `weight`)
    weight: float = 0.2  # confusion without a matrix: weight * ones / M + (1 - weight) * I

    def __post_init__(self) -> None:
        from trustlab.methods.peerpl.noise import check_rate

        check_rate("noise.e_plus", self.e_plus)
        check_rate("noise.e_minus", self.e_minus)


@dataclass
class PeerConfig:
    """Which reward the agent learns from and the peer term's weight xi(t)."""

    reward: Literal["clean", "noisy", "surrogate", "peer"] = "peer"
    xi: float = 0.2  # reference sweeps 0.1-0.5
    schedule: Schedule = "constant"
    start: float = 0.0  # window of training (fractions) where the peer term is on
    end: float = 1.0

    def __post_init__(self) -> None:
        _check_peer("method", self.xi, self.schedule, self.start, self.end)


@dataclass
class DQNConfig:
    """stable-baselines3 DQN arguments (reference values, see the module docstring)."""

    learning_rate: float = 1e-3
    batch_size: int = 32
    buffer_size: int = 50_000
    learning_starts: int = 100
    train_freq: int = 1  # vectorised steps between updates
    gradient_steps: int = 1
    target_update_interval: int = 1
    tau: float = 0.01
    gamma: float = 0.99
    exploration_fraction: float = 0.1
    exploration_final_eps: float = 0.05
    net_arch: list[int] = field(default_factory=lambda: [16, 16, 16])
    double: bool = True
    loss: Literal["huber", "mse"] = "mse"
    max_grad_norm: float = 10.0


@dataclass
class RLTrainConfig:
    """Budget, seed and how the run is scored."""

    steps: int = 10_000  # environment steps (all vectorised copies together)
    seed: int = 0
    curve_points: int = 20  # learning-curve windows (the AUC is the curve's mean height)
    eval_episodes: int = 10  # greedy episodes on the clean env after training
    device: str = "cpu"


@dataclass
class NoisyRewardConfig:
    """Recipe ``peerpl/noisy-reward``."""

    env: EnvConfig = field(default_factory=EnvConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    method: PeerConfig = field(default_factory=PeerConfig)
    dqn: DQNConfig = field(default_factory=DQNConfig)
    train: RLTrainConfig = field(default_factory=RLTrainConfig)


@dataclass
class PPOConfig:
    """stable-baselines3 PPO arguments (the reference co-training PPO2 values)."""

    n_steps: int = 128
    batch_size: int = 256  # = n_envs * n_steps / 4 minibatches
    n_epochs: int = 4
    learning_rate: float = 2.5e-4
    clip_range: float = 0.1
    ent_coef: float = 0.01
    gae_lambda: float = 0.95
    gamma: float = 0.99
    net_arch: list[int] = field(default_factory=lambda: [64, 64])


@dataclass
class DemoConfig:
    """``peerpl/bc``'s weak demonstrations: a file of your own, or a PPO agent trained here for ``train_steps``."""

    path: str | None = None  # .npz with obs (N x obs_dim), actions (N,), optional episode_returns
    train_steps: int = 20_000  # PPO steps of the demonstrator (its checkpoint = the weak expert); unused with path
    episodes: int = 20  # demonstration episodes recorded from it (stochastic policy, as the reference)
    n_envs: int = 8


@dataclass
class DemonstratorsConfig:
    """``peerpl/demos``: one PPO run checkpointed at each of ``checkpoints`` steps (several qualities), each
    checkpoint saved and recorded."""

    checkpoints: list[int] = field(default_factory=lambda: [5_000, 10_000, 20_000])
    episodes: int = 20  # demonstration episodes recorded at each checkpoint (stochastic policy, as the reference)
    n_envs: int = 8

    def __post_init__(self) -> None:
        if not self.checkpoints or min(int(c) for c in self.checkpoints) < 1:
            raise ConfigError(f"config key 'demo.checkpoints': give one or more step counts >= 1, "
                              f"got {self.checkpoints}")


@dataclass
class DemosTrainConfig:
    """``peerpl/demos``: the seed (PPO, environments, recorded episodes) and the device PPO trains on."""

    seed: int = 0
    device: str = "cpu"


@dataclass
class BCTrainConfig:
    """``peerpl/bc``: seed, how the clone is scored (its budget is ``bc.epochs``; the demonstrator's
    ``demo.train_steps``) and the device."""

    seed: int = 0
    curve_points: int = 20  # evaluations along the BC epochs
    eval_episodes: int = 10  # episodes of the final evaluation (half of them at each curve point)
    device: str = "cpu"


@dataclass
class BCConfig:
    """(Peer) behaviour cloning: ``CE(pi(s), a) - xi * CE(pi(s), a_perm)``."""

    xi: float = 0.2  # 0 = plain BC
    epochs: int = 50
    batch_size: int = 128
    learning_rate: float = 1e-4
    net_arch: list[int] = field(default_factory=lambda: [64, 64])
    deterministic_eval: bool = False  # the reference evaluates the stochastic policy (predict's default)

    def __post_init__(self) -> None:
        if self.xi < 0:
            raise ConfigError(f"config key 'bc.xi': must be >= 0, got {self.xi}")


@dataclass
class DemosRecipeConfig:
    """Recipe ``peerpl/demos``."""

    env: EnvConfig = field(default_factory=lambda: EnvConfig(n_envs=8))
    demo: DemonstratorsConfig = field(default_factory=DemonstratorsConfig)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    train: DemosTrainConfig = field(default_factory=DemosTrainConfig)


@dataclass
class BCRecipeConfig:
    """Recipe ``peerpl/bc``."""

    env: EnvConfig = field(default_factory=lambda: EnvConfig(n_envs=8))
    demo: DemoConfig = field(default_factory=DemoConfig)  # demo.path is read (and checked) when the run starts
    ppo: PPOConfig = field(default_factory=PPOConfig)
    bc: BCConfig = field(default_factory=BCConfig)
    train: BCTrainConfig = field(default_factory=BCTrainConfig)


@dataclass
class CotrainConfig:
    """Co-training of two PPO agents with feature masks, each copying the other after every update."""

    mode: Literal["individual", "cotrain"] = "cotrain"  # individual: no copying at all
    xi: float = 0.2  # peer weight (0 with mode=cotrain = plain copying)
    schedule: Schedule = "constant"
    start: float = 0.0
    end: float = 1.0
    masks: list[int] = field(default_factory=lambda: [1, 0])  # feature hidden from agent A, agent B
    repeat: int = 1  # copying steps per update

    def __post_init__(self) -> None:
        _check_peer("cotrain", self.xi, self.schedule, self.start, self.end)


@dataclass
class CotrainRecipeConfig:
    """Recipe ``peerpl/cotrain``."""

    env: EnvConfig = field(default_factory=lambda: EnvConfig(n_envs=8))
    ppo: PPOConfig = field(default_factory=PPOConfig)
    cotrain: CotrainConfig = field(default_factory=CotrainConfig)
    train: RLTrainConfig = field(default_factory=lambda: RLTrainConfig(steps=50_000))
