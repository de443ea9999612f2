"""One-class Deep SVDD: a deep one-class detector trained on normal images only.

Ruff et al., "Deep One-Class Classification", ICML 2018 (http://proceedings.mlr.press/v80/ruff18a.html).
A bias-free network ``phi`` (no bias terms and no affine BatchNorm, so the trivial constant map is not
reachable) is trained to pull normal samples to a fixed centre ``c``:

    min_W  1/n sum_i ||phi(x_i; W) - c||^2  + weight decay,     score(x) = -||phi(x) - c||^2

Network (the paper's MNIST net, for any C x H x W): ``[conv5x5(8) -> BN -> LeakyReLU -> maxpool2] ->
[conv5x5(4) -> BN -> LeakyReLU -> maxpool2] -> Linear(4 * H/4 * W/4 -> rep_dim=32)``. ``c`` is the mean
of the initial network outputs on the fit set, with entries closer to 0 than 0.1 pushed to +-0.1
(as the reference code). Training runs through the engine's ``fit()`` (Adam, constant LR).

Deviations (documented in README): no autoencoder pre-training; Adam lr=1e-3 for ``epochs=10``
(the paper: lr 1e-4, 150 epochs after pre-training). The classifier passed to ``setup`` is not used:
Deep SVDD learns its own representation from the fit images.

Example::

    det = SCORERS.get("deep_svdd")(epochs=5).setup(None, normal_images)   # (N, C, H, W) in [0, 1]
    s = det.score(test_images)                                           # (B,), higher = more normal
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from trustlab.engine.fit import fit
from trustlab.engine.optim import build_optimizer
from trustlab.errors import ConfigError, DataError
from trustlab.experiment import TrainConfig
from trustlab.methods.ood.base import Scorer, images_of, register


class SVDDNet(nn.Module):
    """Bias-free LeNet-style encoder: (B, C, H, W) in [0, 1] -> (B, rep_dim)."""

    def __init__(self, in_chans: int, size: tuple[int, int], rep_dim: int = 32) -> None:
        super().__init__()
        if min(size) < 4:
            raise ConfigError(f"deep_svdd needs images of at least 4x4 px, got {size[0]}x{size[1]}")
        self.conv1 = nn.Conv2d(in_chans, 8, 5, padding=2, bias=False)
        self.bn1 = nn.BatchNorm2d(8, eps=1e-4, affine=False)
        self.conv2 = nn.Conv2d(8, 4, 5, padding=2, bias=False)
        self.bn2 = nn.BatchNorm2d(4, eps=1e-4, affine=False)
        self.fc = nn.Linear(4 * (size[0] // 4) * (size[1] // 4), rep_dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        x = F.max_pool2d(F.leaky_relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.leaky_relu(self.bn2(self.conv2(x))), 2)
        return self.fc(x.flatten(1))


class SVDDObjective(nn.Module):
    """The one-class objective as an engine ``Trainable``: ``loss = mean ||phi(x) - c||^2``."""

    def __init__(self, net: SVDDNet, center: Tensor) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("center", center)

    def training_step(self, batch: Any) -> dict[str, Tensor]:
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        return {"loss": ((self.net(x) - self.center) ** 2).sum(1).mean()}

    def predict(self, x: Tensor) -> Tensor:
        return -((self.net(x) - self.center) ** 2).sum(1)

    def configure_optimizers(self, cfg: TrainConfig) -> torch.optim.Optimizer:
        return build_optimizer(self.net.parameters(), cfg)


@register("deep_svdd")
class DeepSVDD(Scorer):
    """One-class Deep SVDD (Ruff et al. 2018) on images; higher = more normal (closer to the centre)."""

    needs_logits = False
    needs_input = True
    pixels_ok = True
    defaults = {"rep_dim": 32, "epochs": 10, "lr": 1e-3, "weight_decay": 1e-6, "batch_size": 128, "seed": 0,
                "device": "cpu"}
    state = ("net_state", "center", "shape")

    def check_params(self) -> None:
        for key in ("rep_dim", "epochs", "batch_size"):
            if int(self.params[key]) < 1:
                raise ConfigError(f"detector deep_svdd: {key} must be >= 1, got {self.params[key]}")
        if float(self.params["lr"]) <= 0:
            raise ConfigError(f"detector deep_svdd: lr must be > 0, got {self.params['lr']}")

    def check_model(self, model: nn.Module | None) -> None:
        """Deep SVDD learns its own encoder; any (or no) classifier is accepted and ignored."""

    def setup(
        self, model: nn.Module | None, fit_loader: Dataset | DataLoader | Tensor, val_loader: Any = None
    ) -> Scorer:
        x = images_of(fit_loader)
        if len(x) == 0:
            raise DataError("deep_svdd: the fit set is empty; give it at least one image")
        if x.dim() != 4:
            raise DataError(f"deep_svdd needs images (N, C, H, W), got shape {tuple(x.shape)}")
        torch.manual_seed(int(self.params["seed"]))
        self.shape = [int(s) for s in x.shape[1:]]
        net = SVDDNet(self.shape[0], (self.shape[1], self.shape[2]), int(self.params["rep_dim"]))
        net.eval()
        with torch.no_grad():
            c = torch.cat([net(x[i : i + 1024]) for i in range(0, len(x), 1024)]).mean(0)
        c = torch.where(c.abs() < 0.1, torch.where(c < 0, -0.1, 0.1), c)
        objective = SVDDObjective(net, c)
        cfg = TrainConfig(epochs=int(self.params["epochs"]), optimizer="adam", lr=float(self.params["lr"]),
                          weight_decay=float(self.params["weight_decay"]), schedule="constant",
                          device=str(self.params["device"]), deterministic=False, seed=int(self.params["seed"]))
        fit(objective, TensorDataset(x, torch.zeros(len(x))), cfg,
            batch_size=min(int(self.params["batch_size"]), len(x)), quiet=True)
        self.net = net.cpu().eval()
        self.center = c.cpu()
        self.net_state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
        self.model = model
        self.fitted = True
        return self

    def load_state_dict(self, state: dict[str, Any], model: nn.Module | None = None) -> Scorer:
        super().load_state_dict(state, model)
        self.net = SVDDNet(self.shape[0], (self.shape[1], self.shape[2]), int(self.params["rep_dim"]))
        self.net.load_state_dict(self.net_state)
        self.net.eval()
        return self

    @torch.no_grad()
    def score(self, x: Tensor) -> Tensor:
        if not self.fitted:
            raise ConfigError("detector deep_svdd is not set up; call setup(None, fit_images) first")
        if list(x.shape[1:]) != self.shape:
            raise DataError(f"deep_svdd was fit on images of shape {self.shape}, got {list(x.shape[1:])}")
        out = torch.cat([self.net(x[i : i + 1024].float()) for i in range(0, len(x), 1024)])
        return -((out - self.center) ** 2).sum(1)
