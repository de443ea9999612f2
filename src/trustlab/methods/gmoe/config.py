"""GMoE recipe configs: the ViT's shape (``vit:``) and the recipe config (data, model, train, vit, moe)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from trustlab.experiment import DataConfig, ModelConfig, TrainConfig
from trustlab.models.moe import MoEConfig


@dataclass
class ViTOptions:
    """The ViT's shape (``trustlab.models.vit``), its start and its training augmentation. ``moe_blocks`` empty:
    the last two of every other block, ``[depth - 3, depth - 1]`` (GMoE: blocks 8 and 10 of 12)."""

    patch_size: int = 8
    embed_dim: int = 48  # at model.width 1.0 (rounded to a multiple of num_heads)
    depth: int = 4
    num_heads: int = 4
    mlp_ratio: float = 4.0
    drop_path: float = 0.1
    pos_init_std: float = 1.0
    moe_blocks: list[int] = field(default_factory=list)
    match_dense_flops: bool = True  # trim each expert's hidden so MoE MACs/token <= the dense ViT's
    fusion: Literal["none", "layers"] = "none"  # layers: our fusion block (models/vit.py)
    # shipped: start from the ViT pretrained on colourised Fashion-MNIST (shipped.py; GMoE's experts copy its MLP)
    pretrained: Literal["none", "shipped"] = "shipped"
    augment: Literal["none", "domainbed"] = "domainbed"  # training images, both arms (augment.py; reference)


@dataclass
class GMoERecipeConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=lambda: ModelConfig(name="vit_moe"))
    train: TrainConfig = field(default_factory=TrainConfig)
    vit: ViTOptions = field(default_factory=ViTOptions)
    moe: MoEConfig = field(default_factory=MoEConfig)
