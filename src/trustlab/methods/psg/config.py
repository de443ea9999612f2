"""PSG recipes' configs: the data section shared by both recipes, the two-stage and PSGTR options."""

from __future__ import annotations

from dataclasses import dataclass, field

from trustlab.errors import ConfigError
from trustlab.experiment import FitKeysConfig


@dataclass
class PSGDataConfig:
    """Which scenes: the embedded ``psg-scenes`` or a PSG root (``name=psg``)."""

    name: str = "psg-scenes"  # psg-scenes | psg
    root: str | None = None  # psg: the folder holding psg.json and the image / panoptic files
    json: str | None = None  # psg: the json file if not <root>/psg.json
    val_fraction: float = 0.1  # psg without val_image_ids: share of the non-test images used as val
    max_images: int | None = None  # psg: first N images of each split (quick looks at the 48k release)
    max_train: int | None = None  # first N training scenes (tiny runs)
    max_test: int | None = None  # first N val/test scenes (tiny runs)
    image_size: int = 64  # images and panoptic maps are resized to this square for the models
    eval_resolution: str = "original"  # original (every relation, each image's size) | image_size (speed option)
    batch_size: int = 16


@dataclass
class TwoStageConfig:
    """Two-stage model options."""

    seg_epochs: int = 12  # stage 1 (panoptic segmenter) epochs
    seg_width: int = 16
    rel_epochs: int = 30  # stage 2 (relation head) epochs
    rel_dim: int = 64
    context: bool = True  # self-attention object context (MOTIFS-style); false = none
    freq_bias: bool = True  # MOTIFS frequency bias initialised from training counts
    tau: float = 1.0  # logit adjustment of the debiased variant: fg logits - tau * log prior
    lr: float = 3e-3
    min_area: int = 6  # smallest predicted segment (pixels)
    figures: bool = True


@dataclass
class TwoStageTrainConfig(FitKeysConfig):
    """The engine settings that act on the two-stage loops (:func:`trustlab.engine.fit.fit`, both stages);
    epochs, optimiser and schedule are the method's own (``method.*``)."""


@dataclass
class TwoStageRecipeConfig:
    data: PSGDataConfig = field(default_factory=PSGDataConfig)
    method: TwoStageConfig = field(default_factory=TwoStageConfig)
    train: TwoStageTrainConfig = field(default_factory=TwoStageTrainConfig)


@dataclass
class PSGTRConfig:
    """PSGTR options (reference values in brackets)."""

    queries: int = 24  # triplet queries [100]
    dim: int = 64  # transformer width [256]
    enc_layers: int = 1  # [6]
    dec_layers: int = 2  # [6]
    epochs: int = 30  # [60 on PSG]
    lr: float = 1e-3  # AdamW [1e-4, backbone 1e-5]
    bg_weight: float = 0.02  # class weight of the background predicate (and no-object) targets [0.02]
    rel_weight: float = 2.0  # predicate cost and loss weight [r_cls_cost 2, rel_loss_cls 2]
    mask_weight: float = 1.0  # weight of the mask loss of each of subject and object [dice 1]
    mask_loss: str = "dice"  # "dice" [reference] or "bce+dice"
    so_loss: str = "matched"  # subject/object CE on "matched" queries [reference] or "all" (no-object targets)
    decode: str = "openpsg"  # "openpsg": top entries relabelled to the query's best predicate; "per-query"
    mask_thr: float = 0.5  # [0.85]
    figures: bool = True
    # "tiny": the 2-block CNN (64 -> 16 px); or a timm ResNet by name ("timm:resnet50" [the reference's R50])
    backbone: str = "tiny"
    backbone_weights: str | None = None  # a timm:<resnet> classifier state_dict (the paper suite prepares it)

    def __post_init__(self) -> None:
        if self.backbone != "tiny" and not self.backbone.startswith("timm:resnet"):
            raise ConfigError(f"config key 'method.backbone' must be 'tiny' or a timm ResNet ('timm:resnet50'), "
                              f"got '{self.backbone}'")
        if self.backbone_weights and self.backbone == "tiny":
            raise ConfigError("config key 'method.backbone_weights' needs method.backbone=timm:resnet50 (or another "
                              "timm ResNet); the tiny backbone has no pretrained weights")


@dataclass
class PSGTRTrainConfig(FitKeysConfig):
    """The engine settings that act on PSGTR's loop (:func:`trustlab.engine.fit.fit`); epochs, optimiser and
    schedule are PSGTR's own (``method.*``)."""

    grad_clip: float | None = 1.0  # max global gradient norm [0.1]


@dataclass
class PSGTRRecipeConfig:
    data: PSGDataConfig = field(default_factory=PSGDataConfig)
    method: PSGTRConfig = field(default_factory=PSGTRConfig)
    train: PSGTRTrainConfig = field(default_factory=PSGTRTrainConfig)
