"""Config sections shared by recipes: data, model and training.

A recipe's config is a dataclass with (some of) these sections plus its method's own dataclass::

    @dataclass
    class ERMRecipeConfig:
        data: DataConfig = field(default_factory=DataConfig)
        model: ModelConfig = field(default_factory=ModelConfig)
        train: TrainConfig = field(default_factory=TrainConfig)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, get_type_hints

from trustlab.errors import ConfigError


@dataclass
class DataConfig:
    """Which dataset, which held-out domain, and how to load it."""

    name: str = "digits-dg"
    root: str | None = None  # folder datasets: root/<domain>/<class>/<image>
    target: str = "mnistm"  # held-out domain(s), comma separated
    image_size: int = 32
    batch_size: int = 64
    num_workers: int = 0
    skip_corrupt: bool = False  # skip unreadable images (counted) instead of failing
    val_fraction: float = 0.2  # folder datasets: share of each domain held out for validation
    test_fraction: float = 0.2  # folder datasets: share of each domain kept as in-domain test
    max_per_domain: int | None = None  # subsample each domain's train split (quick runs)
    split_seed: int = 0  # seed of the train/val/test split (not of training)
    augment: Literal["none", "crop", "crop_flip"] = "none"  # train images of the DG recipes (data/augment.py)


@dataclass
class ModelConfig:
    """A model from the registry (`trustlab list models`)."""

    name: str = "small_cnn"
    width: float = 1.0  # channel multiplier (tiny students use < 1)
    weights: str | None = None  # local checkpoint path; nothing is downloaded


@dataclass
class FitKeysConfig:
    """The ``train:`` section of a method whose optimiser and schedule are its own (``method.*``/``coop.*``): only the
    engine keys that act on it through :func:`trustlab.engine.fit.fit`. Subclasses may change a default."""

    seed: int = 0
    grad_clip: float | None = None  # max global gradient norm
    grad_accum_steps: int = 1  # each batch as this many micro-batches (same step)

    def __post_init__(self) -> None:
        if self.grad_accum_steps < 1:
            raise ConfigError(f"train.grad_accum_steps must be >= 1, got {self.grad_accum_steps}")


@dataclass
class TrainConfig:
    """What the engine's fit() loop does. Defaults follow DomainBed/Dassl-style SGD training."""

    epochs: int = 10
    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    # onecycle: torch.optim.lr_scheduler.OneCycleLR (max_lr = lr, its defaults: cosine anneal, div_factor 25,
    # final_div_factor 1e4, momentum / Adam beta1 cycled 0.85-0.95); its first phase is its own warm-up
    schedule: Literal["cosine", "step", "constant", "onecycle"] = "cosine"
    warmup_epochs: int = 0  # warm-up length in epochs ...
    warmup_steps: int = 0  # ... plus this many optimizer steps
    warmup: Literal["linear", "constant"] = "linear"  # linear: lr * (step + 1) / warm-up; constant: lr * warmup_factor
    warmup_factor: float = 0.1  # constant warm-up's LR multiplier (ResNet-110 style: 0.1 lr, then the schedule)
    pct_start: float = 0.3  # onecycle: share of the steps spent raising the LR
    step_size: int = 30  # step schedule: epochs between decays
    gamma: float = 0.1  # step schedule: decay factor
    grad_clip: float | None = None  # max global gradient norm
    grad_accum_steps: int = 1  # each batch runs as this many micro-batches (same step, less activation memory)
    amp: bool = False  # mixed precision (CUDA only)
    amp_dtype: Literal["bf16", "fp16"] = "bf16"  # fp16 adds a GradScaler (loss scaling); bf16 needs none
    log_every: int = 50  # optimizer steps between host syncs: NaN/inf check and progress-bar loss
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    deterministic: bool = True
    eval_every: int = 1  # epochs between evaluations
    max_steps_per_epoch: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.grad_accum_steps < 1:
            raise ConfigError(f"train.grad_accum_steps must be >= 1, got {self.grad_accum_steps}")
        if self.log_every < 1:
            raise ConfigError(f"train.log_every must be >= 1, got {self.log_every}")
        if self.warmup_epochs < 0 or self.warmup_steps < 0:
            raise ConfigError("train.warmup_epochs and train.warmup_steps must be >= 0")
        if not 0.0 < self.warmup_factor <= 1.0:
            raise ConfigError(f"train.warmup_factor must be in (0, 1], got {self.warmup_factor}")
        if not 0.0 < self.pct_start < 1.0:
            raise ConfigError(f"train.pct_start must be in (0, 1), got {self.pct_start}")
        if self.schedule == "onecycle" and (self.warmup_epochs or self.warmup_steps):
            raise ConfigError("train.schedule=onecycle warms up by itself (train.pct_start); "
                              "set train.warmup_epochs=0 and train.warmup_steps=0")


def section_without(cls: type, drop: set[str], name: str, doc: str, module: str = __name__) -> Any:
    """A config section with ``cls``'s fields (types, defaults, ``__post_init__`` checks) except ``drop``, for
    recipes that never read those keys (a key accepted and ignored is not there). Assign it to a module-level
    name equal to ``name`` in ``module`` (pickling finds it there)."""
    hints = get_type_hints(cls)
    specs = [(f.name, hints[f.name], dataclasses.field(default=f.default) if f.default_factory is dataclasses.MISSING
              else dataclasses.field(default_factory=f.default_factory))
             for f in dataclasses.fields(cls) if f.name not in drop]
    namespace = {"__doc__": doc, "__module__": module}
    if hasattr(cls, "__post_init__"):
        namespace["__post_init__"] = cls.__post_init__
    return dataclasses.make_dataclass(name, specs, namespace=namespace)


# The train: section of recipes whose models train without a validation pass (fit gets no evaluator, so
# eval_every would be accepted and ignored): doorping's fresh models, min-max's victims.
NoEvalTrainConfig = section_without(TrainConfig, {"eval_every"}, "NoEvalTrainConfig",
                                    "TrainConfig without eval_every: models trained without a validation pass.")
