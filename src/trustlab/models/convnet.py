"""``small_cnn``: the ConvNet of the dataset-distillation papers (DC / DSA / DM).

Source: Zhao, Mopuri & Bilen, "Dataset Condensation with Gradient Matching", ICLR 2021
(https://arxiv.org/abs/2006.05929), class ``ConvNet`` in ``utils.py`` of
https://github.com/VICO-UoE/DatasetCondensation; the same network is used by DSA (ICML 2021) and
DM (WACV 2023), and by the backdoor-in-distillation paper (Liu et al., Backdoor Attacks Against Dataset Distillation,
arXiv:2301.01197).

Architecture (defaults ``net_width=128, net_depth=3, net_norm='instancenorm', net_act='relu',
net_pooling='avgpooling'``): ``depth`` blocks of

    Conv2d(c_in, w, 3, padding=1) -> norm(w) -> ReLU -> AvgPool2d(2)

then flatten -> ``Linear(w * (H / 2**depth) * (W / 2**depth), num_classes)``. "instancenorm" is
``GroupNorm(w, w, affine=True)`` as in the DC code. ``w = max(8, round(128 * width))``.
With ``hidden=n > 0`` the flattened map first goes through ``Linear(., n) -> ReLU`` (the features are
then these n units) before the head: the ConvNet of the backdoor-distillation reference code (Liu et al.,
arXiv:2301.01197,
``ConvNet`` in baadd's ``networks.py``: ``hidden=192``, ``norm="none"``).

Shapes at the defaults: (B, 3, 32, 32) -> (B, 128, 4, 4) -> features (B, 2048) -> logits (B, K).
Deviation: the DC code pads MNIST's first conv by 3 (28 -> 32 px); here odd sizes are floored
by the pooling instead (28 -> 14 -> 7 -> 3), the same as DC's shape bookkeeping.

Example::

    from trustlab.models import build_model
    net = build_model("small_cnn", num_classes=10, input_size=32)        # 320k params
    net = build_model("small_cnn", 10, input_size=28, in_chans=1, norm="batchnorm")
"""

from __future__ import annotations

from torch import Tensor, nn

from trustlab.errors import ConfigError
from trustlab.models.base import Classifier, Stats
from trustlab.registry import MODELS

NORMS = ("instancenorm", "batchnorm", "none")


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "instancenorm":
        return nn.GroupNorm(channels, channels, affine=True)
    if kind == "batchnorm":
        return nn.BatchNorm2d(channels)
    return nn.Identity()


class ConvNet(Classifier):
    """DC/DSA/DM ConvNet wrapped as a :class:`Classifier`; see the module docstring."""

    def __init__(
        self,
        num_classes: int,
        input_size: tuple[int, int] = (32, 32),
        width: float = 1.0,
        in_chans: int = 3,
        depth: int = 3,
        norm: str = "instancenorm",
        mean: Stats = 0.5,
        std: Stats = 0.5,
        hidden: int = 0,
    ) -> None:
        if int(hidden) != hidden or hidden < 0:
            raise ConfigError(f"small_cnn hidden must be an integer >= 0 (0: no hidden layer), got {hidden}")
        if norm not in NORMS:
            raise ConfigError(f"small_cnn norm '{norm}' is not one of {', '.join(NORMS)}")
        if int(depth) != depth or depth < 1:
            raise ConfigError(f"small_cnn depth must be an integer >= 1, got {depth}")
        h, w = input_size
        if min(h, w) < 2**depth:
            raise ConfigError(
                f"small_cnn with depth={depth} needs inputs of at least {2**depth} px, got {h}x{w}; "
                "lower depth or enlarge the images"
            )
        channels = max(8, round(128 * width))
        fh, fw = h, w
        blocks: list[nn.Module] = []
        c_in = in_chans
        for _ in range(depth):
            blocks += [
                nn.Conv2d(c_in, channels, kernel_size=3, padding=1),
                _norm(norm, channels),
                nn.ReLU(inplace=True),
                nn.AvgPool2d(kernel_size=2, stride=2),
            ]
            c_in = channels
            fh, fw = fh // 2, fw // 2
        conv_dim = channels * fh * fw
        super().__init__(num_classes, int(hidden) or conv_dim, input_size, in_chans, mean, std)
        self.width = channels
        self.depth = depth
        self.norm = norm
        self.hidden = int(hidden)
        self.body = nn.Sequential(*blocks)
        self.mlp = nn.Sequential(nn.Linear(conv_dim, self.hidden), nn.ReLU()) if self.hidden else nn.Identity()
        self.head = nn.Linear(self.feature_dim, num_classes)

    def features(self, x: Tensor) -> Tensor:
        """(B, C, H, W) normalised, H x W == input_size -> (B, width * H/2**depth * W/2**depth)."""
        if tuple(x.shape[-2:]) != self.input_size:
            raise ConfigError(
                f"small_cnn was built for {self.input_size[0]}x{self.input_size[1]} inputs, got "
                f"{x.shape[-2]}x{x.shape[-1]}; build it with input_size={tuple(x.shape[-2:])}"
            )
        return self.mlp(self.body(x).flatten(1))


@MODELS.register("small_cnn", help="3-block ConvNet of dataset distillation (DC/DSA/DM), width 128")
def small_cnn(
    num_classes: int,
    input_size: tuple[int, int] = (32, 32),
    width: float = 1.0,
    in_chans: int = 3,
    *,
    depth: int = 3,
    norm: str = "instancenorm",
    mean: Stats = 0.5,
    std: Stats = 0.5,
    hidden: int = 0,
) -> ConvNet:
    """Build the DC ConvNet: ``depth`` x [conv3x3 -> norm -> ReLU -> avgpool2] -> Linear."""
    return ConvNet(num_classes, input_size, width, in_chans, depth, norm, mean, std, hidden)
