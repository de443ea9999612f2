"""Config sections shared by recipes: data, model and training.

A recipe's config is a dataclass with (some of) these sections plus its method's own dataclass::

    @dataclass
    class ERMRecipeConfig:
        data: DataConfig = field(default_factory=DataConfig)
        model: ModelConfig = field(default_factory=ModelConfig)
        train: TrainConfig = field(default_factory=TrainConfig)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


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
class TrainConfig:
    """What the engine's fit() loop does. Defaults follow DomainBed/Dassl-style SGD training."""

    epochs: int = 10
    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: Literal["cosine", "step", "constant"] = "cosine"
    warmup_epochs: int = 0
    step_size: int = 30  # step schedule: epochs between decays
    gamma: float = 0.1  # step schedule: decay factor
    grad_clip: float | None = None  # max global gradient norm
    amp: bool = False  # mixed precision (CUDA only)
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    deterministic: bool = True
    eval_every: int = 1  # epochs between evaluations
    max_steps_per_epoch: int | None = None
    seed: int = 0
