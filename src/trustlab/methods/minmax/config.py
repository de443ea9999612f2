"""minmax configs: the APGDA attack (``attack:``), generalized AT (``at:``) and the recipe configs of
``attack/ensemble``, ``attack/universal``, ``attack/eot`` and ``attack/minmax-at``.

Defaults: the reference's MNIST settings (Wang et al., "Adversarial Attack Generation Empowered by Min-Max
Optimization", NeurIPS 2021, arXiv:1906.03563); see README.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from trustlab.errors import ConfigError, did_you_mean
from trustlab.experiment import DataConfig, ModelConfig, NoEvalTrainConfig
from trustlab.methods.minmax.solver import WEIGHTINGS, Ball, check_norm
from trustlab.methods.minmax.transforms import DEFAULT_TRANSFORMS

AT_MODES = ("minmax", "average", "max", "standard")
LOSSES = ("cw", "ce")
INITS = ("normal", "uniform", "zero")


@dataclass
class AttackConfig:
    """APGDA attack settings. Defaults: the reference's MNIST l_inf ensemble script (eps 0.2, 20
    iterations, beta 40, gamma 3, CW loss with kappa 50, N(0, 0.1) start); ``step_size`` None means
    2.5 * eps / steps (Madry et al.), in input units along the normalised direction."""

    norm: Literal["linf", "l2", "l1"] = "linf"
    eps: float = 0.2
    steps: int = 20
    step_size: float | None = None
    alpha: float | None = None  # set: the reference's raw-gradient step z - (1/alpha) grad (step_size unused)
    loss: Literal["cw", "ce"] = "cw"  # cw: margin with kappa
    kappa: float = 50.0
    weighting: Literal["minmax", "average", "max"] = "minmax"
    beta: float = 40.0  # inverse step size of the w ascent
    gamma: float = 3.0  # pull of w towards 1/K
    targeted: bool = False  # then y holds the target classes
    init: Literal["normal", "uniform", "zero"] = "normal"  # normal: N(0, init_std)
    init_std: float = 0.1
    l1_sparsity: float = 0.05  # share of coordinates moved per l_1 step
    seed: int | None = None  # random start generator; None uses torch's global RNG

    def check(self) -> AttackConfig:
        """Validate every field; raise one ConfigError line naming the bad one."""
        check_norm(self.norm)
        if not (isinstance(self.eps, (int, float)) and math.isfinite(self.eps) and self.eps > 0):
            raise ConfigError(f"attack eps must be > 0, got {self.eps!r}")
        if not isinstance(self.steps, int) or self.steps < 1:
            raise ConfigError(f"attack steps must be an integer >= 1, got {self.steps!r}")
        if self.alpha is not None and not (isinstance(self.alpha, (int, float)) and self.alpha > 0):
            raise ConfigError(f"attack alpha (inverse step size of the raw-gradient rule) must be > 0 or null, "
                              f"got {self.alpha!r}")
        if self.step_size is not None and not self.step_size > 0:
            raise ConfigError(f"attack step_size must be > 0 (or null for 2.5*eps/steps), got {self.step_size!r}")
        for name, value, options in (("loss", self.loss, LOSSES), ("weighting", self.weighting, WEIGHTINGS),
                                     ("init", self.init, INITS)):
            if value not in options:
                raise ConfigError(f"unknown attack {name} '{value}'{did_you_mean(str(value), options)}; "
                                  f"use one of {', '.join(options)}")
        if self.beta <= 0 or self.gamma < 0:
            raise ConfigError(f"attack beta must be > 0 and gamma >= 0, got {self.beta}, {self.gamma}")
        return self

    def ball(self) -> Ball:
        if self.alpha is not None:
            return Ball(self.norm, float(self.eps), 1.0 / float(self.alpha), self.l1_sparsity, raw=True)
        step = self.step_size if self.step_size is not None else 2.5 * self.eps / self.steps
        return Ball(self.norm, float(self.eps), float(step), self.l1_sparsity)


def parse_types(types: list[str]) -> list[tuple[str, float]]:
    """``["linf:0.3", "l2:2.0"]`` -> ``[("linf", 0.3), ("l2", 2.0)]`` with one-line errors."""
    if not types:
        raise ConfigError("at.types is empty (K=0); give at least one type such as linf:0.3")
    out = []
    for t in types:
        norm, _, eps = str(t).partition(":")
        check_norm(norm)
        try:
            value = float(eps)
        except ValueError:
            raise ConfigError(f"perturbation type '{t}' must look like <norm>:<eps>, e.g. linf:0.3") from None
        if not (math.isfinite(value) and value > 0):
            raise ConfigError(f"perturbation type '{t}': eps must be > 0")
        out.append((norm, value))
    return out


@dataclass
class MinMaxATConfig:
    """Generalized AT. Types and eps: the paper's MNIST setting. ``steps`` PGD/APGDA iterations per
    batch with step 2.5 * eps / steps; beta/gamma weight the types (gamma -> inf gives AVG, gamma -> 0
    approaches MAX)."""

    mode: Literal["minmax", "average", "max", "standard"] = "minmax"
    types: list[str] = field(default_factory=lambda: ["linf:0.3", "l2:2.0", "l1:10.0"])
    steps: int = 10
    step_scale: float = 2.5
    beta: float = 10.0
    gamma: float = 2.0
    init: str = "uniform"
    l1_sparsity: float = 0.05

    def check(self) -> MinMaxATConfig:
        if self.mode not in AT_MODES:
            raise ConfigError(f"unknown at.mode '{self.mode}'{did_you_mean(self.mode, AT_MODES)}; "
                              f"use one of {', '.join(AT_MODES)}")
        parse_types(self.types)
        if not isinstance(self.steps, int) or self.steps < 1:
            raise ConfigError(f"at.steps must be an integer >= 1, got {self.steps!r}")
        if self.beta <= 0 or self.gamma < 0 or self.step_scale <= 0:
            raise ConfigError("at.beta and at.step_scale must be > 0 and at.gamma >= 0")
        return self


DEFAULT_ENSEMBLE = ["small_cnn:width=0.125:depth=1:norm=none", "small_cnn:width=0.125:depth=2:norm=none",
                    "small_cnn:width=0.125:depth=3"]


@dataclass
class EvalConfig:
    """What gets attacked and compared (``attack/ensemble``, ``attack/eot``)."""

    samples: int = 300  # attacked test inputs (correctly classified ones; universal: whole groups)
    batch_size: int = 300  # inputs per attack call
    grid: int = 8  # examples in artifacts/examples.png
    compare: list[str] = field(default_factory=lambda: ["minmax", "average", "max"])


@dataclass
class UniversalEvalConfig(EvalConfig):
    """``attack/universal``'s evaluation: also the held-out inputs each group's delta is measured on."""

    heldout: int = 300  # held-out inputs for the fooling rate of each group's delta


@dataclass
class AttackDataConfig:
    """The attack recipes' data (``zoo.load_data``): a grey set (mnist5k, fashion-mnist) reads name, max_per_domain
    and split_seed; any other registered dataset is built from a DataConfig of these keys (``data.target`` names
    the pooled domains). No ``augment`` / ``num_workers``: the victims train on tensors, without augmentation."""

    name: str = "digits-dg"
    root: str | None = None  # folder / torchvision-stored datasets
    target: str = "mnistm"  # domains pooled (all when empty); registered non-grey datasets only
    image_size: int = 32  # registered non-grey datasets (grey sets stay at 28 px)
    batch_size: int = 64
    max_per_domain: int | None = None
    split_seed: int = 0
    skip_corrupt: bool = False  # folder datasets
    val_fraction: float = 0.2  # folder / torchvision-stored datasets
    test_fraction: float = 0.2  # folder datasets

    def to_data_config(self) -> DataConfig:
        """The shared DataConfig a registered dataset's builder reads (its other keys at their defaults)."""
        return DataConfig(name=self.name, root=self.root, target=self.target, image_size=self.image_size,
                          batch_size=self.batch_size, max_per_domain=self.max_per_domain, split_seed=self.split_seed,
                          skip_corrupt=self.skip_corrupt, val_fraction=self.val_fraction,
                          test_fraction=self.test_fraction)


@dataclass
class EnsembleConfig:
    models: list[str] = field(default_factory=lambda: list(DEFAULT_ENSEMBLE))  # model specs (zoo.py)
    weights: list[str] = field(default_factory=list)  # optional local checkpoints, one per model


@dataclass
class EnsembleRecipeConfig:
    data: AttackDataConfig = field(default_factory=AttackDataConfig)
    train: NoEvalTrainConfig = field(default_factory=NoEvalTrainConfig)
    ensemble: EnsembleConfig = field(default_factory=EnsembleConfig)
    attack: AttackConfig = field(default_factory=AttackConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


@dataclass
class UniversalConfig:
    k: int = 5  # inputs sharing one perturbation


@dataclass
class UniversalRecipeConfig:
    data: AttackDataConfig = field(default_factory=AttackDataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: NoEvalTrainConfig = field(default_factory=NoEvalTrainConfig)
    universal: UniversalConfig = field(default_factory=UniversalConfig)
    attack: AttackConfig = field(default_factory=AttackConfig)
    eval: UniversalEvalConfig = field(default_factory=UniversalEvalConfig)


@dataclass
class EOTConfig:
    transforms: list[str] = field(default_factory=lambda: list(DEFAULT_TRANSFORMS))
    distortion: float = 0.5  # the reference's Lambda


@dataclass
class EOTRecipeConfig:
    data: AttackDataConfig = field(default_factory=AttackDataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: NoEvalTrainConfig = field(default_factory=NoEvalTrainConfig)
    eot: EOTConfig = field(default_factory=EOTConfig)
    attack: AttackConfig = field(default_factory=AttackConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


@dataclass
class ATEvalConfig:
    samples: int = 500  # test inputs attacked per type
    steps: int = 20  # attack iterations per type
    batch_size: int = 250
    grid: int = 8


@dataclass
class ATRecipeConfig:
    data: AttackDataConfig = field(default_factory=AttackDataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: NoEvalTrainConfig = field(default_factory=NoEvalTrainConfig)
    at: MinMaxATConfig = field(default_factory=MinMaxATConfig)
    eval: ATEvalConfig = field(default_factory=ATEvalConfig)
