"""The PMT-IQA network: a registry backbone, multi-scale branches on its stages, a shared trunk, two heads.

Pan et al., "Progressive Multi-Task Image Quality Assessment" (2023); reference code github.com/pqy000/PMT-IQA
(``models.py``: ``ResNetBackbone`` + ``MultiTaskIQANet(28, 112, 112, 56, 28, 14, 10)``).

Multi-scale (``multi_scale=True``), as the reference's "lda" branches::

    stage k = 1..3:  1x1 conv (no bias) to C_k / 4 channels (never more than C_k)
                     -> AvgPool2d(w_k, stride w_k) -> flatten -> Linear -> 28
    stage 4:         average pool to 1x1 -> Linear -> 112 - 3 * 28 = 28
    concat (112) -> Linear 112 -> LeakyReLU -> Linear 14 -> LeakyReLU          (the shared trunk ``fcs``)
    heads:  fc_mos Linear 14 -> 1 (quality);  fc_cls Linear 14 -> 14 -> LeakyReLU -> 10 (quality level)

The pooling window ``w_k = max(2, S_k // g_k)`` is computed from the stage's map side ``S_k`` at the patch
size used, with ``g_k = 8 / 4 / 2`` the reference's grids (``branch_window``): at the reference's 224-px
patches (maps 56/28/14) it is the reference's ``AvgPool2d(7, 7)`` (grids 8/4/2); at 32-px patches (maps
8/4/2) it is a 2x2 average (grids 4/2/1), never the identity a fixed 8/4/2 grid would be there. The 1x1 conv
reduces by 4 as the reference's ResNet-18 backbone (``ResNetBackbone_18``: 64/128/256 -> 16/32/64; its
ResNet-50 one reduces by 16), so it never expands the narrow stages of a width-0.125 backbone.

Single-scale (``multi_scale=False``, the ablation's baseline): only the last stage, pooled to 1x1 ->
Linear -> 112, then the same trunk and heads (same parameter budget in the trunk).

The stages are read with forward hooks on the backbone's modules named in ``STAGES`` (ResNet-18:
layer1..layer4; MobileNetV3-Small: the blocks that end each resolution; a timm ResNet such as the paper's
``timm:resnet50``: model.layer1..4, with the reference ResNet-50 backbone's reduction by 16).
Shapes: x (B, 3, H, W) in [0, 1] -> ``{"mos": (B,), "cls": (B, num_levels)}``.

Usage::

    backbone = build_model("resnet18", num_classes=2, input_size=32, width=0.25)
    net = PMTNet(backbone, "resnet18", multi_scale=True)
    out = net(torch.rand(4, 3, 32, 32))   # out["mos"].shape == (4,)
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from trustlab.errors import ConfigError
from trustlab.models.base import Classifier

# Modules whose outputs are the four stages (low to high level) of each supported backbone; timm's ResNets
# (``timm:resnet50``, the paper's backbone, and the smaller ones) are read at ``model.layer1..4`` (stage_modules).
STAGES: dict[str, tuple[str, ...]] = {
    "resnet18": ("layer1", "layer2", "layer3", "layer4"),
    "mobilenet_v3_small": ("net.features.1", "net.features.3", "net.features.8", "net.features.12"),
}
TIMM_RESNET = "timm:resnet"
BRANCH_REDUCTION = 4  # 1x1 conv C -> C / 4 (reference ResNetBackbone_18: 64/128/256 -> 16/32/64)
BOTTLENECK_REDUCTION = 16  # reference ResNetBackbone (ResNet-50): 256/512/1024 -> 16/32/64


def stage_modules(backbone_name: str) -> tuple[str, ...]:
    """The four stage modules of ``backbone_name``; one ConfigError line naming the supported ones otherwise."""
    if backbone_name in STAGES:
        return STAGES[backbone_name]
    if backbone_name.startswith(TIMM_RESNET):
        return tuple(f"model.layer{i}" for i in range(1, 5))
    raise ConfigError(f"model.name '{backbone_name}' has no stage table for PMT-IQA; use one of "
                      f"{', '.join(STAGES)} or a timm ResNet ({TIMM_RESNET}50, {TIMM_RESNET}18, ...)")


def branch_reduction(backbone_name: str, stage1_channels: int) -> int:
    """The reference's 1x1-conv reduction: by 16 for a bottleneck ResNet (stage 1 has 4x its stem's 64 channels,
    256 at ResNet-50), by 4 otherwise (ResNet-18, the narrow backbones)."""
    bottleneck = backbone_name.startswith(TIMM_RESNET) and stage1_channels >= 256
    return BOTTLENECK_REDUCTION if bottleneck else BRANCH_REDUCTION


BRANCH_GRIDS = (8, 4, 2)  # reference: AvgPool2d(7, 7) on 56/28/14 px maps -> 8x8 / 4x4 / 2x2


def branch_window(side: int, grid: int) -> int:
    """Average-pooling window (= stride) for a ``side``-px stage map whose reference grid is ``grid``.

    ``side // grid`` where that averages (the reference's 7 on 56/28/14-px maps), else 2, so the branch always
    averages neighbouring positions (a 1-px map, with nothing to average, keeps window 1).
    """
    if side < 2:
        return 1
    return max(2, side // grid)


def branch_channels(c_in: int, reduction: int = BRANCH_REDUCTION) -> int:
    """1x1-conv output width: the reference's reduction (4 for ResNet-18, 16 for ResNet-50), at least 1, never above
    ``c_in``."""
    return max(1, c_in // reduction)


class PMTNet(nn.Module):
    """Backbone + (multi- or single-scale) feature vector + trunk + regression and level heads."""

    def __init__(
        self,
        backbone: Classifier,
        backbone_name: str,
        multi_scale: bool = True,
        branch_dim: int = 28,
        hidden: int = 112,
        out_dim: int = 14,
        num_levels: int = 10,
    ) -> None:
        super().__init__()
        stages = stage_modules(backbone_name)
        if multi_scale and hidden <= 3 * branch_dim:
            raise ConfigError(f"method.hidden ({hidden}) must exceed 3 x method.branch_dim ({branch_dim})")
        self.backbone = backbone
        self.multi_scale = multi_scale
        self.num_levels = num_levels
        self._taps: list[Tensor] = []
        modules = dict(backbone.named_modules())
        for name in stages:
            modules[name].register_forward_hook(lambda _m, _i, out: self._taps.append(out))
        channels, sides = self._stage_shapes()
        if multi_scale:
            self.branches = nn.ModuleList()
            self.branch_fcs = nn.ModuleList()
            self.branch_windows: list[int] = []
            for c_in, (mh, mw), grid in zip(channels[:3], sides[:3], BRANCH_GRIDS):
                c_out = branch_channels(c_in, branch_reduction(backbone_name, channels[0]))
                win = branch_window(min(mh, mw), grid)
                cells = (mh // win) * (mw // win)  # AvgPool2d floors, as the reference's
                self.branches.append(nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False), nn.AvgPool2d(win, win)))
                self.branch_fcs.append(nn.Linear(c_out * cells, branch_dim))
                self.branch_windows.append(win)
            self.last_fc = nn.Linear(channels[3], hidden - 3 * branch_dim)
        else:
            self.last_fc = nn.Linear(channels[3], hidden)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fcs = nn.Sequential(nn.Linear(hidden, hidden), nn.LeakyReLU(), nn.Linear(hidden, out_dim), nn.LeakyReLU())
        self.fc_mos = nn.Linear(out_dim, 1)
        self.fc_cls = nn.Sequential(nn.Linear(out_dim, out_dim), nn.LeakyReLU(), nn.Linear(out_dim, num_levels))
        # reference init: kaiming_normal_ on the branch convs and FCs (the trunk and heads keep PyTorch's)
        if multi_scale:
            for m in [*self.branches, *self.branch_fcs]:
                for p in m.modules():
                    if isinstance(p, (nn.Conv2d, nn.Linear)):
                        nn.init.kaiming_normal_(p.weight)
        nn.init.kaiming_normal_(self.last_fc.weight)

    @torch.no_grad()
    def _stage_shapes(self) -> tuple[list[int], list[tuple[int, int]]]:
        """Channels and map size (H, W) of each stage at the backbone's input size (the patch)."""
        h, w = self.backbone.input_size
        was_training = self.backbone.training
        self.backbone.eval()
        taps = self._run_backbone(torch.zeros(1, self.backbone.in_chans, h, w))
        self.backbone.train(was_training)
        return [t.shape[1] for t in taps], [(t.shape[-2], t.shape[-1]) for t in taps]

    def _run_backbone(self, x: Tensor) -> list[Tensor]:
        self._taps = []
        self.backbone.features(self.backbone.normalize(x))
        taps, self._taps = self._taps, []
        if len(taps) != 4:
            raise ConfigError(f"PMT-IQA expected 4 stage outputs from the backbone, got {len(taps)}")
        return taps

    def embed(self, x: Tensor) -> Tensor:
        """(B, C, H, W) in [0, 1] -> (B, out_dim) trunk features."""
        taps = self._run_backbone(x)
        last = self.last_fc(torch.flatten(self.pool(taps[3]), 1))
        if self.multi_scale:
            parts = [fc(torch.flatten(br(t), 1)) for br, fc, t in zip(self.branches, self.branch_fcs, taps[:3])]
            vec = torch.cat([*parts, last], dim=1)
        else:
            vec = last
        return self.fcs(vec)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        z = self.embed(x)
        return {"mos": self.fc_mos(z).squeeze(1), "cls": self.fc_cls(z)}
