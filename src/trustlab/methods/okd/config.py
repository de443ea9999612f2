"""Configs of the on-device DG package: the KD/OKD method sections, the DG baselines' sections (MixStyle,
EFDMix, RSC) and every recipe's config (its ``data``/``model``/``train``/``method``/``teacher``/``compare``
sections). The methods are in ``method.py`` (KD, OKD) and ``baselines.py``; the run functions in ``run.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trustlab.experiment import DataConfig, ModelConfig, TrainConfig
from trustlab.methods.okd.teacher import TeacherConfig

# ---------------------------------------------------------------- method sections


@dataclass
class KDConfig:
    """KD loss weights and temperature (paper defaults)."""

    temperature: float = 4.0
    ce_weight: float = 0.1
    kd_weight: float = 0.9


ID_BRANCHES = ("clean", "in_place")


@dataclass
class OKDConfig:
    """KD plus the OOD term; ``generator`` is one of ``GENERATORS`` (fusion, mixup, cutmix, jigsaw, noise, adv)."""

    temperature: float = 4.0
    ce_weight: float = 0.1
    kd_weight: float = 0.9
    ood_weight: float = 0.9
    generator: str = "fusion"
    noise_std: float = 0.15  # ``noise``: Gaussian std in ImageNet-normalised units (reference; ~0.034 in pixels)
    adv_eps: float = 0.001  # ``adv``: FGSM step on the student's CE, [0, 1] pixel range (reference)
    jigsaw_grid: int = 2  # ``jigsaw``: grid x grid patches
    joint_forward: bool = False  # one teacher and one student pass over cat(x, A(x)) instead of two each
    # the generators before issue 11, each selectable alone for the ablation (generators.py): reference | previous
    cutmix_variant: str = "reference"  # ``cutmix``/``fusion``: previous = one box per sample
    noise_variant: str = "reference"  # ``noise``: previous = noise_std on [0, 1] pixels, clamped
    adv_variant: str = "reference"  # ``adv``: previous = FGSM on KL(teacher || student) (old adv_eps 4/255)
    id_branch: str = "clean"  # or "in_place": the ID branch trains on the cutmixed batch (the reference's quirk)


@dataclass
class MixConfig:
    """MixStyle: probability, Beta(alpha, alpha), the std's epsilon and the hooked module paths (``[]``: default)."""

    p: float = 0.5
    alpha: float = 0.1
    eps: float = 1e-6
    layers: list[str] = field(default_factory=list)


EFDMIX_VARIANTS = ("reference", "previous")


@dataclass
class EFDMixConfig:
    """EFDMix: MixStyle's probability, Beta(alpha, alpha) and layers (no std, so no epsilon), and the gradient
    ``efdmix_variant``: ``reference`` (Dassl's) or ``previous`` (the whole difference detached, before issue 11)."""

    p: float = 0.5
    alpha: float = 0.1
    layers: list[str] = field(default_factory=list)
    efdmix_variant: str = "reference"


@dataclass
class RSCConfig:
    feature_drop: float = 0.1  # the on-device DG reference's f_drop_factor
    batch_drop: float = 0.1  # and b_drop_factor


# ---------------------------------------------------------------- recipe configs


def student_model() -> ModelConfig:
    """The default tiny student: the DC ConvNet at width 0.125 (16 channels, 7.8k parameters)."""
    return ModelConfig(name="small_cnn", width=0.125)


@dataclass
class KDRecipeConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=student_model)  # the student
    train: TrainConfig = field(default_factory=TrainConfig)
    method: KDConfig = field(default_factory=KDConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)


@dataclass
class MixRecipeConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=student_model)
    train: TrainConfig = field(default_factory=TrainConfig)
    method: MixConfig = field(default_factory=MixConfig)


@dataclass
class EFDMixRecipeConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=student_model)
    train: TrainConfig = field(default_factory=TrainConfig)
    method: EFDMixConfig = field(default_factory=EFDMixConfig)


@dataclass
class RSCRecipeConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=student_model)
    train: TrainConfig = field(default_factory=TrainConfig)
    method: RSCConfig = field(default_factory=RSCConfig)


@dataclass
class StudentERMConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=student_model)
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass
class OKDStudyConfig:
    """OKD plus, in ``compare``, recipes of the same student run beside it and linked in the summary."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=student_model)
    train: TrainConfig = field(default_factory=TrainConfig)
    method: OKDConfig = field(default_factory=OKDConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    compare: list[str] = field(default_factory=list)
