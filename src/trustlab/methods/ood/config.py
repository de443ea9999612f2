"""Generalized OOD detection: configs of the five settings (AD, ND, OSR, OOD detection, OD) and the folder path.

Yang, Zhou, Li & Liu, "Generalized Out-of-Distribution Detection: A Survey", IJCV 2024
(https://arxiv.org/abs/2110.11334); benchmark conventions from OpenOOD v1.5 (Zhang et al., OpenOOD v1.5: Enhanced
Benchmark for Out-of-Distribution Detection, arXiv:2306.09301). One frame:
a model of in-distribution (ID) data flags what does not belong. Detectors are ``Scorer`` classes in
``SCORERS`` (higher score = more in-distribution); see ``logit_scorers``, ``feature_scorers``,
``classical`` and ``deep_svdd``. Recipes: ``ood/ad``, ``ood/nd``, ``ood/osr``, ``ood/ood``, ``ood/od``,
``ood/folder``.

Each recipe config is a dataclass with sections: ``data`` (DataConfig: ``name`` = auto | fashion-mnist |
mnist5k, ``max_per_domain`` = ID train subset, ``batch_size``, ``split_seed``), ``model``, ``train`` and the
setting's own section plus ``detectors``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from trustlab.experiment import ModelConfig, TrainConfig

# Post-hoc detectors on a trained classifier (OpenOOD names in brackets where they differ).
POSTHOC = ["msp", "mls", "odin", "energy", "gen", "mds", "rmds", "knn", "vim", "react", "ash", "gradnorm"]
CLASSICAL = ["iforest", "lof", "ocsvm", "knn", "deep_svdd"]
FEATURE_BASED = ["knn", "vim", "mds"]  # claim 1


@dataclass
class ClassicalDetectorsConfig:
    """The detectors of the recipes that fit on unlabelled images (``ood/ad``, ``ood/od``): which ones, and fixed
    parameters per detector (``params``, e.g. ``{"deep_svdd": {"epochs": 20}}``). No search: there is no
    labelled validation set to choose on."""

    names: list[str] = field(default_factory=lambda: list(CLASSICAL))
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class DetectorsConfig:
    """Which detectors to run and how their hyperparameters are chosen.

    ``params`` fixes parameters per detector, e.g. ``{"knn": {"k": 100}}``; with ``aps=true`` the keys of a
    detector's search grid are then chosen on ID-val vs OOD-val (never a test set). ``grid``: ``reference``
    (the reference's sweep, OpenOOD ``postprocessor_sweep``) or ``wide`` (wider searches: energy T 1..1000,
    ViM dim D/8..3D/4; the rest as reference); ``grids`` replaces lists of one detector's grid, e.g.
    ``{"energy": {"temperature": [1, 10]}}``.
    """

    names: list[str] = field(default_factory=lambda: list(POSTHOC))
    aps: bool = True
    params: dict[str, Any] = field(default_factory=dict)
    grid: str = "reference"
    grids: dict[str, Any] = field(default_factory=dict)


@dataclass
class FolderOODConfig:
    """OOD detection on a user's folders (``ood/folder``): which OOD sets, the OOD-val sources, the covariate shift
    and the figures (the ID split sizes are ``data.*``; the OOD folders are used whole)."""

    near: list[str] = field(default_factory=list)  # sources (ood/ood) or folders (ood/folder); [] = defaults
    far: list[str] = field(default_factory=list)
    val: list[str] = field(default_factory=lambda: ["val_glyphs", "val_photos"])  # OOD-val for APS
    val_size: int = 500  # images per embedded OOD-val source
    covariate: bool = True  # add corrupted ID test images (covariate shift; should be classified)
    covariate_severity: int = 2  # imagecorruptions severity 1..5
    figures: bool = True  # score histograms and ROC curves under artifacts/


@dataclass
class OODConfig(FolderOODConfig):
    """OOD detection on the embedded sets (``ood/ood``): as :class:`FolderOODConfig`, plus how many images of each."""

    id_val: int = 1000  # ID-val images held out of the ID train split (APS, ReAct percentile)
    max_test: int = 2000  # ID test images (0 = all)
    ood_size: int = 1000  # images per OOD set (0 = all)


@dataclass
class NDSplitConfig:
    """Known / unknown class split of ND (``ood/nd``: one split; class ids of the ID dataset)."""

    known: int = 6  # number of known classes in a random split (MNIST-6/4 style)
    known_classes: list[int] = field(default_factory=list)  # explicit known classes (overrides the random split)
    split_seed: int = 0
    max_test: int = 0  # test images per side (0 = all)
    id_val: int = 500
    val_size: int = 300  # OOD-val images per source (APS)
    val: list[str] = field(default_factory=lambda: ["val_glyphs", "val_photos"])
    figures: bool = True


@dataclass
class SplitConfig(NDSplitConfig):
    """Known / unknown class splits of OSR (``ood/osr``): as :class:`NDSplitConfig`, over ``splits`` random splits."""

    splits: int = 3  # random splits (ignored when known_classes is given)


@dataclass
class ADConfig:
    """Anomaly detection: one class normal, the rest anomalous; one-vs-rest over ``classes``."""

    classes: list[int] = field(default_factory=list)  # [] = every class
    max_normal: int = 1000  # normal training images per class
    max_test: int = 2000  # test images (all classes)
    figures: bool = True


@dataclass
class ODConfig:
    """Outlier detection: find the outliers inside one contaminated, unlabelled set."""

    size: int = 2000  # images in the contaminated set
    rate: float = 0.05  # known outlier share
    outliers: list[str] = field(default_factory=lambda: ["glyphs", "textures", "noise"])  # outlier sources
    seed: int = 0
    figures: bool = True


@dataclass
class SeedConfig:
    """The ``train:`` section of the recipes that train no classifier (``ood/ad``, ``ood/od``): the classical
    detectors fit in closed form and Deep SVDD takes its settings from ``detectors.params.deep_svdd``."""

    seed: int = 0
    deterministic: bool = True


@dataclass
class IDDataConfig:
    """The ID dataset of ``ood/ad`` / ``ood/od``: ``name`` = auto | fashion-mnist | mnist5k; ``split_seed`` draws
    the normal-class and test subsets (``ood/ad``)."""

    name: str = "auto"
    split_seed: int = 0


@dataclass
class ODDataConfig:
    """The ID dataset of ``ood/od`` (its contaminated set is drawn with ``od.seed``)."""

    name: str = "auto"


@dataclass
class EmbeddedIDDataConfig:
    """The ID dataset of the embedded-data classifier recipes (``ood/ood``, ``ood/nd``, ``ood/osr``): the
    :class:`~trustlab.experiment.DataConfig` fields that apply to one ID set (no held-out domain, no folder)."""

    name: str = "auto"  # auto | fashion-mnist | mnist5k
    image_size: int = 32
    batch_size: int = 128
    num_workers: int = 0
    max_per_domain: int | None = None  # ID train subset
    split_seed: int = 0
    augment: Literal["none", "crop", "crop_flip"] = "none"  # classifier training images (data/augment.py)


@dataclass
class FolderDataConfig:
    """The ID data of ``ood/folder``: an ImageFolder (or DomainBed/Dassl layout) under ``root``, split into
    train/val/test by :func:`trustlab.data.folder.build_folder`, and how the classifier is fed: the
    :class:`~trustlab.experiment.DataConfig` fields that apply (no dataset name: it is always a folder)."""

    root: str | None = None  # root/[<domain>/]<class>/<image>
    target: str = ""  # the ID domain when root holds several
    image_size: int = 32
    batch_size: int = 64
    num_workers: int = 0
    skip_corrupt: bool = False  # skip unreadable images (counted) instead of failing
    val_fraction: float = 0.1  # share of the ID images held out for validation (APS, ReAct percentile)
    test_fraction: float = 0.2  # share of the ID images kept as ID test
    max_per_domain: int | None = None  # subsample the ID train split
    split_seed: int = 0  # seed of the train/val/test split (and of the embedded OOD-val draws)
    augment: Literal["none", "crop", "crop_flip"] = "none"  # classifier training images (data/augment.py)


@dataclass
class OODRecipeConfig:
    data: EmbeddedIDDataConfig = field(default_factory=EmbeddedIDDataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    ood: OODConfig = field(default_factory=OODConfig)
    detectors: DetectorsConfig = field(default_factory=DetectorsConfig)


@dataclass
class FolderRecipeConfig:
    """``ood/folder``: the user's ImageFolder (``data.root``, ``data.target`` = its domain) as ID."""

    data: FolderDataConfig = field(default_factory=FolderDataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    ood: FolderOODConfig = field(default_factory=FolderOODConfig)
    detectors: DetectorsConfig = field(default_factory=DetectorsConfig)


@dataclass
class NDRecipeConfig:
    data: EmbeddedIDDataConfig = field(default_factory=EmbeddedIDDataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    split: NDSplitConfig = field(default_factory=NDSplitConfig)
    detectors: DetectorsConfig = field(default_factory=DetectorsConfig)


@dataclass
class SplitRecipeConfig:
    data: EmbeddedIDDataConfig = field(default_factory=EmbeddedIDDataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    detectors: DetectorsConfig = field(default_factory=DetectorsConfig)


@dataclass
class ADRecipeConfig:
    data: IDDataConfig = field(default_factory=IDDataConfig)
    train: SeedConfig = field(default_factory=SeedConfig)
    ad: ADConfig = field(default_factory=ADConfig)
    detectors: ClassicalDetectorsConfig = field(default_factory=ClassicalDetectorsConfig)


@dataclass
class ODRecipeConfig:
    data: ODDataConfig = field(default_factory=ODDataConfig)
    train: SeedConfig = field(default_factory=SeedConfig)
    od: ODConfig = field(default_factory=ODConfig)
    detectors: ClassicalDetectorsConfig = field(default_factory=ClassicalDetectorsConfig)
