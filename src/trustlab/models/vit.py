"""Small vision transformers from timm's ``VisionTransformer`` / ``Block``: dense (``vit``) and sparse MoE
(``vit_moe``, GMoE), with an optional layer-fusion head.

Sources: Dosovitskiy et al., "An Image is Worth 16x16 Words", ICLR 2021 (https://arxiv.org/abs/2010.11929),
via timm (``timm.models.vision_transformer``); GMoE, Li et al., ICLR 2023 (https://arxiv.org/abs/2206.04046):
the MLP of chosen blocks becomes a :class:`~trustlab.models.moe.MoEFFN` (reference: DeiT-S/16 with MoE in
blocks 8 and 10 of 12, every other block in the top third; scaled to depth 4: the last two of every other block,
``depth - 3`` and ``depth - 1``, the default here). Every expert starts as a copy of the block's dense MLP (as
the reference expands the pretrained MLP into each expert): the same init as the dense ViT, and with
:meth:`ViTClassifier.load_dense` the same pretrained weights.

Defaults size the model for a 2-core CPU at 32x32: patch 8 (16 patches + a class token), ``embed_dim``
``round(48 * width)`` (a multiple of ``num_heads``), depth 4, 4 heads, MLP ratio 4, drop-path 0.1,
LayerNorm eps 1e-6, qkv bias (DeiT). Shapes: (B, 3, 32, 32) -> tokens (B, 17, D) -> class token (B, D) -> (B, K).
``pos_init_std=1.0`` (timm: 0.02): with 0.02 the class token's attention starts uniform, it sees only the
average patch, and a from-scratch ViT of this size sat at chance for 400+ steps on Digits-DG; with 1.0 it
learns (README, "Deviations"). The reference fine-tunes an ImageNet-pretrained DeiT-S instead.

Fusion (``fusion="layers"``, our design of the SF-MoE v1 "fusion block", which the reference code lacks):
the class tokens after each MoE block and after the final norm are LayerNorm-ed and attended over by a learned
query (one head); ``features = cls_final + W_o * sum_l softmax(q . W_k z_l / sqrt(D)) W_v z_l``. It costs
O(L * D^2) per image, not per token.

Example::

    from trustlab.models import build_model
    net = build_model("vit_moe", 10, input_size=32, num_experts=6, top_k=1, router="cosine")
    logits = net(torch.rand(8, 3, 32, 32)); net.aux_loss()   # CE + net.aux_loss() is GMoE's objective
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn

from trustlab.errors import ConfigError
from trustlab.models.base import Classifier, Stats
from trustlab.models.moe import MoEConfig, MoEFFN
from trustlab.registry import MODELS

FUSIONS = ("none", "layers")


class LayerFusion(nn.Module):
    """Attention of a learned query over L class tokens (B, L, D) -> (B, D)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.query = nn.Parameter(torch.zeros(dim).normal_(0, 0.02))
        self.k, self.v, self.o = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        nn.init.zeros_(self.o.weight)  # starts as the plain ViT (fused term 0)
        nn.init.zeros_(self.o.bias)

    def forward(self, z: Tensor) -> Tensor:
        z = self.norm(z)
        att = (self.k(z) @ self.query / z.shape[-1] ** 0.5).softmax(1)  # (B, L)
        self.last_attention = att.detach()
        return self.o((att.unsqueeze(-1) * self.v(z)).sum(1))


class ViTClassifier(Classifier):
    """timm VisionTransformer (class-token pooling) as a :class:`Classifier`, with MoE blocks and fusion."""

    def __init__(self, num_classes: int, input_size: tuple[int, int], in_chans: int, *, embed_dim: int,
                 depth: int, num_heads: int, patch_size: int, mlp_ratio: float, drop_path: float,
                 moe_blocks: Sequence[int], moe: MoEConfig | None, expert_hidden: int | None,
                 fusion: str, pos_init_std: float, mean: Stats, std: Stats) -> None:
        from timm.models.vision_transformer import VisionTransformer

        super().__init__(num_classes, embed_dim, input_size, in_chans, mean, std)
        if input_size[0] % patch_size or input_size[1] % patch_size:
            raise ConfigError(f"model patch_size={patch_size} must divide the input size {input_size}")
        if fusion not in FUSIONS:
            raise ConfigError(f"model fusion must be one of {FUSIONS}, got {fusion!r}")
        bad = [b for b in moe_blocks if not (isinstance(b, int) and 0 <= b < depth)]
        if bad or len(set(moe_blocks)) != len(moe_blocks):
            raise ConfigError(f"model moe_blocks {list(moe_blocks)} must be distinct block indices in 0..{depth - 1} "
                              f"(depth={depth}); e.g. {sorted({max(depth - 3, 0), depth - 1})}")
        if fusion == "layers" and not moe_blocks:
            raise ConfigError("model fusion=layers fuses the class tokens after the MoE blocks; give moe_blocks")
        self.vit = VisionTransformer(
            img_size=input_size, patch_size=patch_size, in_chans=in_chans, num_classes=num_classes,
            embed_dim=embed_dim, depth=depth, num_heads=num_heads, mlp_ratio=mlp_ratio, qkv_bias=True,
            drop_path_rate=drop_path, norm_layer=partial(nn.LayerNorm, eps=1e-6),
        )
        if pos_init_std > 0:  # distinct positions from the start: a tiny ViT trained from scratch needs it
            nn.init.normal_(self.vit.pos_embed, 0.0, pos_init_std)
        self.moe_blocks = tuple(sorted(moe_blocks))
        self.dense_hidden = int(embed_dim * mlp_ratio)
        for b in self.moe_blocks:
            dense = self.vit.blocks[b].mlp  # timm-initialised: every expert starts from it (reference)
            self.vit.blocks[b].mlp = MoEFFN(moe or MoEConfig(), embed_dim, expert_hidden or self.dense_hidden)
            self.vit.blocks[b].mlp.copy_mlp(dense.fc1.weight, dense.fc1.bias, dense.fc2.weight, dense.fc2.bias)
        self.fusion = LayerFusion(embed_dim) if fusion == "layers" else None

    def load_dense(self, state: dict[str, Tensor], head: bool = False) -> None:
        """Load a dense ``vit`` state dict (keys ``vit.*``): every MoE block's experts become copies of that
        block's dense MLP (GMoE's init from the pretrained ViT); the head only when ``head`` (new classes
        otherwise: it keeps its fresh init, as DomainBed's classifier)."""
        own = self.state_dict()
        load: dict[str, Tensor] = {}
        for k, v in state.items():
            if not head and k.startswith("vit.head."):
                continue
            if any(k.startswith(f"vit.blocks.{b}.mlp.") for b in self.moe_blocks):
                continue
            if k not in own or own[k].shape != v.shape:
                raise ConfigError(f"pretrained ViT weights do not fit this model: {k} "
                                  f"{tuple(v.shape)} vs {tuple(own[k].shape) if k in own else 'missing'}")
            load[k] = v
        missing = [k for k in own if k not in load and not k.startswith(("vit.head.", "fusion."))
                   and not any(k.startswith(f"vit.blocks.{b}.mlp.") for b in self.moe_blocks)]
        if missing:
            raise ConfigError(f"pretrained ViT weights lack {missing[:3]} (a ViT of another shape?)")
        self.load_state_dict(load, strict=False)
        for b in self.moe_blocks:
            p = f"vit.blocks.{b}.mlp."
            self.vit.blocks[b].mlp.copy_mlp(state[p + "fc1.weight"], state[p + "fc1.bias"],
                                             state[p + "fc2.weight"], state[p + "fc2.bias"])

    def moe_layers(self) -> list[MoEFFN]:
        return [m for m in self.modules() if isinstance(m, MoEFFN)]

    def aux_loss(self) -> Tensor:
        """Sum of the MoE layers' weighted aux losses from the last forward (0 for a dense ViT)."""
        losses = [m.aux_loss for m in self.moe_layers()]
        return torch.stack(losses).sum() if losses else self.mean.new_zeros(())

    def features(self, x: Tensor) -> Tensor:
        vit = self.vit
        x = vit.norm_pre(vit._pos_embed(vit.patch_embed(x)))
        cls_tokens = []
        for i, blk in enumerate(vit.blocks):
            x = blk(x)
            if self.fusion is not None and i in self.moe_blocks:
                cls_tokens.append(x[:, 0])
        x = vit.norm(x)
        feats = vit.forward_head(x, pre_logits=True)
        if self.fusion is not None:
            feats = feats + self.fusion(torch.stack([*cls_tokens, x[:, 0]], 1))
        return feats

    def classifier(self) -> nn.Linear:
        return self.vit.head

    @property
    def num_tokens(self) -> int:
        return self.vit.patch_embed.num_patches + 1

    def macs_per_token(self) -> dict[str, float]:
        """Active MACs per token (analytic; matrix products only, the count_macs convention).

        attention: qkv + proj (4 D^2) + scores and weighted sum (2 N D); MLP: 2 D H; MoE: router + k * 2 D H;
        patch embedding P^2 C D per patch token; head and fusion per image, divided by N tokens (fusion over
        L = MoE blocks + 1 class tokens: keys and values 2 L D^2, output D^2: 7 D^2 at L = 3; the L D of the
        query's scores is a matrix-vector product, as the FLOP counter leaves it out).
        """
        d, n = self.feature_dim, self.num_tokens
        p = self.vit.patch_embed.proj.kernel_size[0]
        attn = 4 * d * d + 2 * n * d
        blocks = 0.0
        for blk in self.vit.blocks:
            mlp = blk.mlp.macs_per_token() if isinstance(blk.mlp, MoEFFN) else 2 * d * self.dense_hidden
            blocks += attn + mlp
        embed = p * p * self.in_chans * d * (n - 1) / n
        fused = len(self.moe_blocks) + 1  # class tokens the fusion block attends over
        per_image = self.num_classes * d + ((2 * fused + 1) * d * d if self.fusion is not None else 0)
        return {"blocks": blocks, "embed": embed, "per_image": per_image / n,
                "total": blocks + embed + per_image / n}


def scaled_embed_dim(width: float, num_heads: int, base: int) -> int:
    """``base * width`` rounded to a multiple of ``num_heads`` (at least one per head)."""
    return max(num_heads, int(round(base * width / num_heads)) * num_heads)


def _moe_config(options: dict[str, Any]) -> MoEConfig:
    names = {f.name for f in fields(MoEConfig)}
    unknown = sorted(set(options) - names)
    if unknown:
        raise ConfigError(f"unknown MoE option(s) {unknown}; known: {sorted(names)}")
    return MoEConfig(**options)


@MODELS.register("vit", help="small timm ViT (patch 8, D=48*width, depth 4, 4 heads) for 32x32 inputs")
def build_vit(num_classes: int, input_size: tuple[int, int], width: float, in_chans: int, *,
              patch_size: int = 8, depth: int = 4, num_heads: int = 4, embed_base: int = 48,
              pos_init_std: float = 1.0,
              mlp_ratio: float = 4.0, drop_path: float = 0.1, moe_blocks: Sequence[int] = (),
              expert_hidden: int | None = None, fusion: str = "none", mean: Stats = 0.5, std: Stats = 0.5,
              **moe: Any) -> ViTClassifier:
    """Dense ViT; with ``moe_blocks`` (and MoEConfig keys such as ``num_experts=6``) the MoE variant."""
    if depth < 1 or num_heads < 1 or patch_size < 1:
        raise ConfigError(f"model depth, num_heads and patch_size must be >= 1, got {depth}, {num_heads}, {patch_size}")
    cfg = _moe_config(moe) if moe_blocks else None
    if moe and not moe_blocks:
        raise ConfigError(f"MoE options {sorted(moe)} need moe_blocks (e.g. moe_blocks=[{max(depth - 3, 0)}, "
                          f"{depth - 1}]) or model vit_moe")
    return ViTClassifier(num_classes, input_size, in_chans, embed_dim=scaled_embed_dim(width, num_heads, embed_base),
                         depth=depth, num_heads=num_heads, patch_size=patch_size, mlp_ratio=mlp_ratio,
                         drop_path=drop_path, moe_blocks=list(moe_blocks), moe=cfg, expert_hidden=expert_hidden,
                         fusion=fusion, pos_init_std=pos_init_std, mean=mean, std=std)


@MODELS.register("vit_moe", help="GMoE: the small ViT with sparse MoE FFNs in blocks depth-3 and depth-1")
def build_vit_moe(num_classes: int, input_size: tuple[int, int], width: float, in_chans: int, *,
                  depth: int = 4, moe_blocks: Sequence[int] | None = None, **options: Any) -> ViTClassifier:
    """``vit`` with ``moe_blocks`` defaulting to the last two of every other block (``depth-3``, ``depth-1``)."""
    blocks = list(moe_blocks) if moe_blocks is not None else [b for b in (depth - 3, depth - 1) if b >= 0]
    return build_vit(num_classes, input_size, width, in_chans, depth=depth, moe_blocks=blocks, **options)
