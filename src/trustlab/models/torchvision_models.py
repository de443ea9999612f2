"""torchvision backbones (``mobilenet_v3_small``, ``resnet18``), never with downloaded weights.

Sources:
- MobileNetV3: Howard et al., "Searching for MobileNetV3", ICCV 2019 (https://arxiv.org/abs/1905.02244);
  built with ``torchvision.models.mobilenet_v3_small(weights=None, width_mult=width)``.
- ResNet-18: He et al., "Deep Residual Learning for Image Recognition", CVPR 2016
  (https://arxiv.org/abs/1512.03385); torchvision's ``BasicBlock`` with every stage width scaled by
  ``width`` (64/128/256/512 at 1.0, 16/32/64/128 at 0.25). torchvision's ``ResNet`` hard-codes 64
  stem channels, so the stages are assembled here; module names and init match torchvision's.

Small inputs (``small_input``, default: ``max(H, W) <= 64``): CIFAR-style stems, as in the usual
CIFAR ResNet (e.g. the DC/DM and adversarial-training code bases): ResNet-18 ``conv1`` becomes
3x3 stride 1 with no max-pool (32x32 -> 4x4 at the last stage); MobileNetV3's first conv gets
stride 1 (32x32 -> 2x2). Shapes: (B, C, H, W) in [0, 1] -> features (B, D) -> logits (B, K), with
D = 512 * width for ResNet-18 and D = torchvision's ``last_channel`` (1024 * width) for MobileNetV3
(the 576 -> 1024 Linear + Hardswish + Dropout belong to the features; the head is the last Linear).

Example::

    from trustlab.models import build_model
    tiny = build_model("mobilenet_v3_small", num_classes=10, input_size=32, width=0.25)
    r18 = build_model("resnet18", num_classes=10, input_size=(64, 64), width=0.5)
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from trustlab.models.base import Classifier, Stats
from trustlab.registry import MODELS


def _is_small(input_size: tuple[int, int], small_input: bool | None) -> bool:
    return max(input_size) <= 64 if small_input is None else bool(small_input)


class MobileNetV3Small(Classifier):
    """torchvision MobileNetV3-Small: ``net`` (everything up to the last Linear) + ``head``."""

    def __init__(
        self,
        num_classes: int,
        input_size: tuple[int, int] = (32, 32),
        width: float = 1.0,
        in_chans: int = 3,
        small_input: bool | None = None,
        dropout: float = 0.2,
        mean: Stats = 0.5,
        std: Stats = 0.5,
    ) -> None:
        import torchvision  # lazy: importing torchvision costs seconds (torch._dynamo)

        net = torchvision.models.mobilenet_v3_small(
            weights=None, num_classes=num_classes, width_mult=width, dropout=dropout
        )
        first: nn.Conv2d = net.features[0][0]
        stride = 1 if _is_small(input_size, small_input) else 2
        if in_chans != first.in_channels or stride != first.stride[0]:
            conv = nn.Conv2d(in_chans, first.out_channels, 3, stride=stride, padding=1, bias=False)
            nn.init.kaiming_normal_(conv.weight, mode="fan_out")
            net.features[0][0] = conv
        head = net.classifier[-1]
        net.classifier = net.classifier[:-1]
        super().__init__(num_classes, head.in_features, input_size, in_chans, mean, std)
        self.net = net
        self.head = head

    def features(self, x: Tensor) -> Tensor:
        """(B, C, H, W) normalised -> (B, last_channel)."""
        return self.net(x)


class ResNet18(Classifier):
    """ResNet-18 with stage widths ``round(64 * width) * (1, 2, 4, 8)`` and torchvision's BasicBlock."""

    def __init__(
        self,
        num_classes: int,
        input_size: tuple[int, int] = (32, 32),
        width: float = 1.0,
        in_chans: int = 3,
        small_input: bool | None = None,
        mean: Stats = 0.5,
        std: Stats = 0.5,
    ) -> None:
        base = max(8, round(64 * width))
        widths = [base, base * 2, base * 4, base * 8]
        super().__init__(num_classes, widths[-1], input_size, in_chans, mean, std)
        if _is_small(input_size, small_input):
            self.conv1 = nn.Conv2d(in_chans, base, kernel_size=3, stride=1, padding=1, bias=False)
            self.maxpool: nn.Module = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(in_chans, base, kernel_size=7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(base)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = _stage(base, widths[0], stride=1)
        self.layer2 = _stage(widths[0], widths[1], stride=2)
        self.layer3 = _stage(widths[1], widths[2], stride=2)
        self.layer4 = _stage(widths[2], widths[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(widths[-1], num_classes)
        for m in self.modules():  # torchvision's ResNet init
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def features(self, x: Tensor) -> Tensor:
        """(B, C, H, W) normalised -> (B, 512 * width)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)


def _stage(inplanes: int, planes: int, stride: int, blocks: int = 2) -> nn.Sequential:
    """Two BasicBlocks, the first with a 1x1 projection when the shape changes (torchvision's _make_layer)."""
    from torchvision.models.resnet import BasicBlock, conv1x1  # lazy, as above

    downsample = None
    if stride != 1 or inplanes != planes:
        downsample = nn.Sequential(conv1x1(inplanes, planes, stride), nn.BatchNorm2d(planes))
    layers = [BasicBlock(inplanes, planes, stride, downsample)]
    layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


@MODELS.register("mobilenet_v3_small", help="torchvision MobileNetV3-Small (width_mult), small-input stem")
def mobilenet_v3_small(
    num_classes: int,
    input_size: tuple[int, int] = (32, 32),
    width: float = 1.0,
    in_chans: int = 3,
    *,
    small_input: bool | None = None,
    dropout: float = 0.2,
    mean: Stats = 0.5,
    std: Stats = 0.5,
) -> MobileNetV3Small:
    """Build MobileNetV3-Small (Howard et al. 2019), random init, first conv stride 1 for small inputs."""
    return MobileNetV3Small(num_classes, input_size, width, in_chans, small_input, dropout, mean, std)


@MODELS.register("resnet18", help="ResNet-18 (torchvision BasicBlock), width-scaled, CIFAR stem for small inputs")
def resnet18(
    num_classes: int,
    input_size: tuple[int, int] = (32, 32),
    width: float = 1.0,
    in_chans: int = 3,
    *,
    small_input: bool | None = None,
    mean: Stats = 0.5,
    std: Stats = 0.5,
) -> ResNet18:
    """Build ResNet-18 (He et al. 2016), random init, 3x3 stride-1 stem and no max-pool for small inputs."""
    return ResNet18(num_classes, input_size, width, in_chans, small_input, mean, std)
