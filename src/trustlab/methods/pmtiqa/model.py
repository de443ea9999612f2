"""The PMT-IQA network: a registry backbone, multi-scale branches on its stages, a shared trunk, two heads.

Pan et al., "Progressive Multi-Task Image Quality Assessment" (2023); reference code github.com/pqy000/PMT-IQA
(``models.py``: ``ResNetBackbone`` + ``MultiTaskIQANet(28, 112, 112, 56, 28, 14, 10)``).

Multi-scale (``multi_scale=True``), as the reference's "lda" branches::

    stage k = 1..3:  1x1 conv (no bias) to 16 / 32 / 64 channels -> average pool to an 8x8 / 4x4 / 2x2 grid
                     -> flatten -> Linear -> 28              (reference: AvgPool2d(7, 7) on 56/28/14 px maps)
    stage 4:         average pool to 1x1 -> Linear -> 112 - 3 * 28 = 28
    concat (112) -> Linear 112 -> LeakyReLU -> Linear 14 -> LeakyReLU          (the shared trunk ``fcs``)
    heads:  fc_mos Linear 14 -> 1 (quality);  fc_cls Linear 14 -> 14 -> LeakyReLU -> 10 (quality level)

Single-scale (``multi_scale=False``, the ablation's baseline): only the last stage, pooled to 1x1 ->
Linear -> 112, then the same trunk and heads (same parameter budget in the trunk).

The stages are read with forward hooks on the backbone's modules named in ``STAGES`` (ResNet-18:
layer1..layer4; MobileNetV3-Small: the blocks that end each resolution). Shapes: x (B, 3, H, W) in [0, 1]
-> ``{"mos": (B,), "cls": (B, num_levels)}``.

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

# Modules whose outputs are the four stages (low to high level) of each supported backbone.
STAGES: dict[str, tuple[str, ...]] = {
    "resnet18": ("layer1", "layer2", "layer3", "layer4"),
    "mobilenet_v3_small": ("net.features.1", "net.features.3", "net.features.8", "net.features.12"),
}
BRANCH_CHANNELS = (16, 32, 64)  # reference: 1x1 convs 256/512/1024 -> 16/32/64 on ResNet-50
BRANCH_GRIDS = (8, 4, 2)  # reference: AvgPool2d(7, 7) on 56/28/14 px maps -> 8x8 / 4x4 / 2x2


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
        if backbone_name not in STAGES:
            raise ConfigError(
                f"model.name '{backbone_name}' has no stage table for PMT-IQA; use one of {', '.join(STAGES)}"
            )
        if multi_scale and hidden <= 3 * branch_dim:
            raise ConfigError(f"method.hidden ({hidden}) must exceed 3 x method.branch_dim ({branch_dim})")
        self.backbone = backbone
        self.multi_scale = multi_scale
        self.num_levels = num_levels
        self._taps: list[Tensor] = []
        modules = dict(backbone.named_modules())
        for name in STAGES[backbone_name]:
            modules[name].register_forward_hook(lambda _m, _i, out: self._taps.append(out))
        channels = self._stage_channels()
        if multi_scale:
            self.branches = nn.ModuleList()
            self.branch_fcs = nn.ModuleList()
            for c_in, c_out, grid in zip(channels[:3], BRANCH_CHANNELS, BRANCH_GRIDS):
                self.branches.append(nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False), nn.AdaptiveAvgPool2d(grid)))
                self.branch_fcs.append(nn.Linear(c_out * grid * grid, branch_dim))
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
    def _stage_channels(self) -> list[int]:
        h, w = self.backbone.input_size
        was_training = self.backbone.training
        self.backbone.eval()
        taps = self._run_backbone(torch.zeros(1, self.backbone.in_chans, h, w))
        self.backbone.train(was_training)
        return [t.shape[1] for t in taps]

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
