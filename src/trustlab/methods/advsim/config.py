"""AdvSim recipes' configs: the scenario data, the stack, the attack (``advsim/attack``) and adversarial training
(``advsim/adv-train``) with its planner tuning. The sections of the stack's parts (detector, planner, adversary)
live beside their code and are composed here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from trustlab.methods.advsim.adversary import AdversaryConfig
from trustlab.methods.advsim.detector import DetectorConfig
from trustlab.methods.advsim.stack import PlannerConfig


@dataclass
class AdvDataConfig:
    root: str | None = None  # folder of scenario .json files; None = the embedded advsim-scenarios
    split: Literal["all", "train", "test"] = "all"  # index % 4 == 3 is test
    kinds: list[str] = field(default_factory=list)  # keep only these kinds ([] = all)
    max_scenarios: int | None = None  # a random subset of this many (drawn with subset_seed)
    subset_seed: int = 0


@dataclass
class StackSection:
    perception: Literal["lidar", "gt"] = "lidar"  # lidar: BEV detector on simulated sweeps; gt: true actor states
    near_miss: float = 0.5  # m: SAT gap below which the SDV had a near-miss
    # collisions and near-misses in continuous time: pieces per 0.5 s step of the swept-box check (0: only at
    # the steps, the check before issue 28)
    substeps: int = 4
    replay: bool = True  # replay each found failure on the other perception (lidar <-> gt)


@dataclass
class TrainDataConfig:
    """adv-train's scenarios: the split's train and test halves (index % 4 == 3 is test), their subsets of
    ``tune.n_train`` / ``tune.n_test`` drawn with ``tune.seed`` (no split, size or subset seed of its own)."""

    root: str | None = None  # folder of scenario .json files; None = the embedded advsim-scenarios
    kinds: list[str] = field(default_factory=list)  # keep only these kinds ([] = all)


@dataclass
class TrainStackSection:
    perception: Literal["lidar", "gt"] = "lidar"
    near_miss: float = 0.5  # m
    substeps: int = 4  # swept-box pieces per 0.5 s step (0: the steps only)


@dataclass
class AttackConfig:
    data: AdvDataConfig = field(default_factory=AdvDataConfig)
    stack: StackSection = field(default_factory=StackSection)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    planner: PlannerConfig = field(default_factory=PlannerConfig)
    adversary: AdversaryConfig = field(default_factory=AdversaryConfig)
    figures: int = 2  # before/after BEV figures of this many found failures (+ one rollout strip)


@dataclass
class TuneConfig:
    """Adversarial training = fine-tuning the planner's cost parameters on found scenarios (optuna TPE)."""

    n_train: int = 6  # training scenarios attacked to make adversarial ones
    n_test: int = 6  # held-out scenarios, re-attacked against every planner compared
    trials: int = 10  # planner settings tried
    margin: list[float] = field(default_factory=lambda: [0.5, 3.0])
    w_buffer: list[float] = field(default_factory=lambda: [5.0, 100.0])
    w_progress: list[float] = field(default_factory=lambda: [0.3, 1.5])
    target_speed: list[float] = field(default_factory=lambda: [7.0, 12.0])
    progress_tolerance: float = 0.1  # progress may drop this share below the original stack's for free
    seed: int = 0  # scenario subsets, tuning and the random controls (adversary.seed: the attacks)
    # control: planner settings drawn uniformly from the same ranges (no tuning) whose progress on the held-out
    # originals is within progress_tolerance of the original planner's, re-attacked like the others (summary
    # ``untrained_control``); at most ``random_draws`` draws to find them
    n_random: int = 2
    random_draws: int = 20
    # "normal traffic" for keeps-normal: this many random plausible perturbations per held-out scenario (fixed
    # draws, the same for every planner); the unperturbed logs are collision-free for the base planner
    n_normal: int = 4


@dataclass
class AdvTrainConfig:
    data: TrainDataConfig = field(default_factory=TrainDataConfig)
    stack: TrainStackSection = field(default_factory=TrainStackSection)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    planner: PlannerConfig = field(default_factory=PlannerConfig)
    adversary: AdversaryConfig = field(default_factory=AdversaryConfig)
    tune: TuneConfig = field(default_factory=TuneConfig)
