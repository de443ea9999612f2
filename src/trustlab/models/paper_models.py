"""The min-max paper's ensemble members that timm does not have: ``mlp`` and torchvision's ``googlenet``.

Adversarial Attack Generation Empowered by Min-Max Optimization (arXiv:1906.03563) attacks an ensemble of
{MLP, VGG16, ResNet-50, GoogLeNet} on CIFAR-10. VGG16 and ResNet-50 come from timm by name (``timm:vgg16``,
``timm:resnet50``); these two complete the set, so the paper suite can run the paper's ensemble.

- ``mlp``: flatten -> ``depth`` x (Linear + ReLU) of ``round(hidden * width)`` units -> Linear head. The
  normalisation buffers of :class:`~trustlab.models.base.Classifier` apply as for every backbone.
- ``googlenet``: Szegedy et al., "Going Deeper with Convolutions", CVPR 2015 (https://arxiv.org/abs/1409.4842),
  built with ``torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True)``. For small inputs
  (``max(H, W) <= 64``, as :mod:`trustlab.models.torchvision_models`) the 7x7 stride-2 stem becomes 3x3 stride 1
  and the first max-pool is dropped, the usual CIFAR adaptation; ``in_chans`` other than 3 replaces the stem's
  first convolution. torchvision's GoogLeNet has no width multiplier, so ``width`` must be 1.0.

Example::

    from trustlab.models import build_model
    m = build_model("mlp", num_classes=10, input_size=28, in_chans=1)           # 784 -> 512 -> 512 -> 10
    g = build_model("googlenet", num_classes=10, input_size=32)
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from trustlab.errors import ConfigError
from trustlab.models.base import Classifier, Stats
from trustlab.registry import MODELS


class MLP(Classifier):
    """Fully connected classifier on the flattened (normalised) image."""

    def __init__(self, num_classes: int, input_size: tuple[int, int], width: float = 1.0, in_chans: int = 3,
                 hidden: int = 512, depth: int = 2, mean: Stats = 0.5, std: Stats = 0.5) -> None:
        units = max(1, round(hidden * width))
        if depth < 1:
            raise ConfigError(f"mlp depth must be >= 1 hidden layer, got {depth}")
        super().__init__(num_classes, units, input_size, in_chans, mean, std)
        layers: list[nn.Module] = [nn.Flatten()]
        fan_in = in_chans * input_size[0] * input_size[1]
        for _ in range(depth):
            layers += [nn.Linear(fan_in, units), nn.ReLU(inplace=True)]
            fan_in = units
        self.net = nn.Sequential(*layers)
        self.head = nn.Linear(units, num_classes)

    def features(self, x: Tensor) -> Tensor:
        """(B, C, H, W) normalised -> (B, hidden * width)."""
        return self.net(x)


class GoogLeNet(Classifier):
    """torchvision GoogLeNet (Inception v1) without auxiliary heads: ``net`` up to the dropout, then ``head``."""

    def __init__(self, num_classes: int, input_size: tuple[int, int], in_chans: int = 3,
                 small_input: bool | None = None, dropout: float = 0.2, mean: Stats = 0.5, std: Stats = 0.5) -> None:
        import torchvision  # lazy: importing torchvision costs seconds

        net = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True,
                                           transform_input=False, num_classes=num_classes, dropout=dropout)
        small = max(input_size) <= 64 if small_input is None else bool(small_input)
        if small or in_chans != 3:
            from torchvision.models.googlenet import BasicConv2d

            k, s, p = (3, 1, 1) if small else (7, 2, 3)
            net.conv1 = BasicConv2d(in_chans, 64, kernel_size=k, stride=s, padding=p)
            nn.init.trunc_normal_(net.conv1.conv.weight, mean=0.0, std=0.01, a=-2, b=2)  # torchvision's init
        if small:
            net.maxpool1 = nn.Identity()
        head = net.fc
        net.fc = nn.Identity()
        super().__init__(num_classes, head.in_features, input_size, in_chans, mean, std)
        self.net = net
        self.head = head

    def features(self, x: Tensor) -> Tensor:
        """(B, C, H, W) normalised -> (B, 1024)."""
        return torch.flatten(self.net(x), 1)


@MODELS.register("mlp", help="MLP on the flattened image (hidden=512 x width, depth=2): the min-max paper's MLP")
def mlp(num_classes: int, input_size: tuple[int, int] = (32, 32), width: float = 1.0, in_chans: int = 3, *,
        hidden: int = 512, depth: int = 2, mean: Stats = 0.5, std: Stats = 0.5) -> MLP:
    """Build the MLP (see the module docstring)."""
    return MLP(num_classes, input_size, width, in_chans, hidden, depth, mean, std)


@MODELS.register("googlenet", help="torchvision GoogLeNet (Inception v1, no aux heads), CIFAR stem for small inputs")
def googlenet(num_classes: int, input_size: tuple[int, int] = (32, 32), width: float = 1.0, in_chans: int = 3,
              *, small_input: bool | None = None, dropout: float = 0.2, mean: Stats = 0.5,
              std: Stats = 0.5) -> GoogLeNet:
    """Build GoogLeNet (Szegedy et al. 2015), random init; ``width`` must be 1.0."""
    if width != 1.0:
        raise ConfigError(f"googlenet has no width multiplier (torchvision's GoogLeNet), got width={width}; use 1.0")
    return GoogLeNet(num_classes, input_size, in_chans, small_input, dropout, mean, std)
