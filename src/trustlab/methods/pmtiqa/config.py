"""PMT-IQA recipe config: the method options (:class:`PMTConfig`), the data section (:class:`IQADataConfig`) and
the recipe's whole config (:class:`PMTRecipeConfig`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from trustlab.experiment import ModelConfig, TrainConfig


@dataclass
class PMTConfig:
    """PMT-IQA options (reference values in brackets)."""

    multi_scale: bool = True  # MS branches on every stage [yes]; false = last stage only (ablation)
    schedule: str = "progressive"  # loss weights per epoch, a name in SCHEDULES [progressive with dyn_weight]
    num_levels: int = 10  # quality levels of the classification head [10]
    branch_dim: int = 28  # width of each stage branch [28]
    hidden: int = 112  # concatenated width and trunk width [112]
    out_dim: int = 14  # trunk output [14]
    patch_size: int = 32  # [224 on 500-px images; 32 on the 64-px embedded images]
    train_patches: int = 2  # random crops per image per epoch [4]
    test_patches: int = 4  # random crops averaged at test [4]
    target_scale: float = 100.0  # the regression target is quality in [0, 1] x this [raw MOS, e.g. 0..100 on LIVE]


@dataclass
class IQADataConfig:
    """Which scored images: the embedded ``iqa-distort`` or a pyiqa-style CSV (``name=csv``)."""

    name: str = "iqa-distort"  # iqa-distort | csv
    meta: str | None = None  # csv: the meta file (name, mos[, std], optional ref_name / split columns)
    root: str | None = None  # csv: the image root (paths in the CSV are relative to it)
    layout: str = "generic"  # csv: live | csiq | tid2013 | koniq | livec | bid | generic (sets range, direction)
    mos_range: list[float] | None = None  # csv: (lo, hi) of the labels; null = the layout's (pyiqa's)
    lower_better: bool | None = None  # csv: labels are lower-is-better (DMOS); null = the layout's
    strict_range: bool = False  # csv: scores outside mos_range are an error (default: kept, one warning)
    split_column: str = "auto"  # csv: auto (official_split, else split) | random | a column name
    split_index: int | None = None  # csv: pyiqa's split number: ratio*_split_NN column, or the split_file entry
    split_file: str | None = None  # csv: pyiqa's split pickle {index: {train, val, test: row indices}}
    image_size: int = 64  # csv: shorter side resized to this before cropping patches (0 = keep)
    split_seed: int = 0  # which split by reference content (k-fold: which partition into folds)
    folds: int = 0  # k-fold by reference content (>= 3: fold `fold` is test, the next one val); 0 = fractions
    fold: int = 0  # which fold is the test fold (with data.folds)
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    exclude_types: list[str] = field(default_factory=list)  # iqa-distort: types kept out of training
    types: list[str] = field(default_factory=list)  # iqa-distort: only these types in every split ([] = all 12)
    score_types: list[str] = field(default_factory=list)  # iqa-distort: val/test correlations on these types only
    # (training, per_type and the scatter keep every type; [] = all)
    max_train: int | None = None  # subsample the training images (tiny runs)
    batch_size: int = 32


@dataclass
class PMTRecipeConfig:
    data: IQADataConfig = field(default_factory=IQADataConfig)
    model: ModelConfig = field(default_factory=lambda: ModelConfig(name="resnet18", width=0.125))
    train: TrainConfig = field(default_factory=TrainConfig)
    method: PMTConfig = field(default_factory=PMTConfig)
