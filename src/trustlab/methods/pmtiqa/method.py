"""PMT-IQA training: loss schedules, patch datasets, the Trainable and patch-averaged prediction.

Progressive multi-task learning (Pan et al. 2023; reference ``MultiTaskIQASolver.py``): at epoch t of T the
loss is ``lambda1 * L1(mos_pred, mos) + lambda2 * CE(level_logits, level)`` with ``lambda1 = t / (T - 1)``,
``lambda2 = 1 - lambda1`` (classification of the quality level, the easy task, first; regression last).
Other schedules by name in ``SCHEDULES``: ``regression`` (single task, the ablation's ST), ``constant``
(both weights 1, the reference's default without ``--dyn_weight``), ``reverse`` (regression first).

Targets: the label mapped to [0, 1], higher = better (``IQAData.quality01``); the quality level is the
[0, 1] range cut into ``num_levels`` uniform bins. Training patches: a random ``patch_size`` crop (+ a random
horizontal flip) of each image, ``train_patches`` crops per image per epoch. Prediction: the mean over
``test_patches`` random crops (fixed seed), mapped back to the label scale.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset

from trustlab.engine.optim import build_optimizer
from trustlab.errors import ConfigError, DataError
from trustlab.experiment import ModelConfig, TrainConfig
from trustlab.methods.pmtiqa.config import PMTConfig
from trustlab.registry import Registry

Schedule = Callable[[int, int], tuple[float, float]]
SCHEDULES: Registry[Schedule] = Registry("iqa loss schedule", key="iqa-schedules")


@SCHEDULES.register("progressive", help="PMT: lambda1 = t/(T-1) (regression), lambda2 = 1 - lambda1 (levels)")
def progressive(epoch: int, epochs: int) -> tuple[float, float]:
    lam1 = epoch / (epochs - 1) if epochs > 1 else 1.0
    return lam1, 1.0 - lam1


@SCHEDULES.register("regression", help="single task: L1 regression only (lambda1 = 1, lambda2 = 0)")
def regression(epoch: int, epochs: int) -> tuple[float, float]:
    return 1.0, 0.0


@SCHEDULES.register("constant", help="both tasks at weight 1 every epoch (reference default, no dyn_weight)")
def constant(epoch: int, epochs: int) -> tuple[float, float]:
    return 1.0, 1.0


@SCHEDULES.register("reverse", help="anti-curriculum: regression first, levels last (lambda2 = t/(T-1))")
def reverse(epoch: int, epochs: int) -> tuple[float, float]:
    lam1, lam2 = progressive(epoch, epochs)
    return lam2, lam1


def quality_levels(q01: np.ndarray, num_levels: int) -> np.ndarray:
    """[0, 1] quality -> level 0..num_levels-1 (uniform bins; 1.0 falls in the top bin)."""
    return np.clip((np.asarray(q01) * num_levels).astype(np.int64), 0, num_levels - 1)


def check_patchable(images: list[Tensor], patch: int, names: list[str] | None = None) -> None:
    for i, im in enumerate(images):
        if im.shape[-1] < patch or im.shape[-2] < patch:
            what = names[i] if names else f"image {i}"
            raise DataError(
                f"{what} is {im.shape[-1]}x{im.shape[-2]} px, smaller than method.patch_size={patch}; "
                "lower method.patch_size or raise data.image_size"
            )


class PatchDataset(Dataset):
    """Items ``(patch float (C, p, p) in [0, 1], quality in [0, 1] float, level long)``: a random crop + flip each time.

    ``patches`` copies of every image per epoch (the reference's ``train_patch_num``).
    """

    def __init__(self, images: list[Tensor], q01: np.ndarray, num_levels: int, patch: int, patches: int = 1) -> None:
        check_patchable(images, patch)
        self.images, self.patch, self.patches = images, patch, max(1, patches)
        self.q = torch.as_tensor(np.asarray(q01), dtype=torch.float32)
        self.levels = torch.as_tensor(quality_levels(q01, num_levels))

    def __len__(self) -> int:
        return len(self.images) * self.patches

    def __getitem__(self, k: int) -> tuple[Tensor, Tensor, Tensor]:
        i = k % len(self.images)
        im = self.images[i]
        h, w = im.shape[-2:]
        y = int(torch.randint(0, h - self.patch + 1, ()))
        x = int(torch.randint(0, w - self.patch + 1, ()))
        crop = im[:, y : y + self.patch, x : x + self.patch].float().div_(255.0)
        if torch.rand(()) < 0.5:
            crop = crop.flip(-1)
        return crop, self.q[i], self.levels[i]


class PMTIQA(nn.Module):
    """Trainable: ``training_step((x, q, level))`` -> weighted L1 + CE; ``predict(x)`` -> quality in [0, 1]."""

    def __init__(self, net: nn.Module, schedule: str, epochs: int, target_scale: float = 100.0) -> None:
        super().__init__()
        self.net = net
        self.target_scale = target_scale
        self.schedule_name = schedule
        self.schedule = SCHEDULES.get(schedule)
        self.epochs = epochs
        self.lambda1, self.lambda2 = self.schedule(0, epochs)

    def on_epoch_start(self, epoch: int) -> None:
        self.lambda1, self.lambda2 = self.schedule(epoch, self.epochs)

    def training_step(self, batch: tuple[Tensor, Tensor, Tensor]) -> dict[str, Tensor]:
        x, q, level = batch
        out = self.net(x)
        # L1 on the label-like scale (0..100): its gradient reaches the trunk through fc_mos weights of that
        # scale, which sets the balance against the CE term as in the reference (raw MOS/DMOS targets)
        l1 = F.l1_loss(out["mos"], q * self.target_scale)
        ce = F.cross_entropy(out["cls"], level)
        loss = self.lambda1 * l1 + self.lambda2 * ce
        return {"loss": loss, "l1": l1.detach(), "ce": ce.detach(), "lambda1": torch.tensor(self.lambda1)}

    def predict(self, x: Tensor) -> Tensor:
        return self.net(x)["mos"] / self.target_scale

    def configure_optimizers(self, cfg: TrainConfig) -> torch.optim.Optimizer:
        return build_optimizer(self.parameters(), cfg)


def build_net(model_cfg: ModelConfig, method: PMTConfig) -> nn.Module:
    """The backbone from the model registry (ImageNet-style stem: the 4 stages stay at 1/4..1/32 of the patch)."""
    from trustlab.methods.pmtiqa.model import TIMM_RESNET, PMTNet, stage_modules
    from trustlab.models import build_model

    stage_modules(model_cfg.name)  # one error line for a backbone without a stage table, before anything is built
    if method.num_levels < 2:
        raise ConfigError(f"method.num_levels must be >= 2, got {method.num_levels}")
    if method.patch_size < 16:
        raise ConfigError(f"method.patch_size must be >= 16 px (the backbone downsamples 32x), got {method.patch_size}")
    stem = {} if model_cfg.name.startswith(TIMM_RESNET) else {"small_input": False}  # timm's stem is ImageNet's
    backbone = build_model(model_cfg.name, num_classes=2, input_size=method.patch_size, width=model_cfg.width,
                           weights=model_cfg.weights, **stem)
    return PMTNet(backbone, model_cfg.name, multi_scale=method.multi_scale, branch_dim=method.branch_dim,
                  hidden=method.hidden, out_dim=method.out_dim, num_levels=method.num_levels)


@torch.no_grad()
def predict_images(net: nn.Module, images: list[Tensor], patch: int, n_patches: int, seed: int = 0,
                   batch_size: int = 256, device: torch.device | str = "cpu",
                   target_scale: float = 100.0) -> np.ndarray:
    """Mean predicted quality ([0, 1] scale) over ``n_patches`` random crops per image (seeded)."""
    check_patchable(images, patch)
    g = torch.Generator().manual_seed(seed)
    crops = []
    for im in images:
        h, w = im.shape[-2:]
        ys = torch.randint(0, h - patch + 1, (n_patches,), generator=g)
        xs = torch.randint(0, w - patch + 1, (n_patches,), generator=g)
        crops.extend(im[:, y : y + patch, x : x + patch] for y, x in zip(ys.tolist(), xs.tolist()))
    was_training = net.training
    net.eval()
    preds = []
    for i in range(0, len(crops), batch_size):
        x = torch.stack(crops[i : i + batch_size]).float().div_(255.0).to(device)
        preds.append(net(x)["mos"].float().cpu())
    net.train(was_training)
    if not preds:
        return np.zeros(0)
    return torch.cat(preds).view(len(images), n_patches).mean(1).numpy().astype(np.float64) / target_scale


def to_label_scale(q01: np.ndarray, mos_range: tuple[float, float], lower_better: bool) -> np.ndarray:
    """[0, 1] quality -> the dataset's label scale and direction (inverse of ``IQAData.quality01``)."""
    lo, hi = mos_range
    q = 1.0 - np.asarray(q01) if lower_better else np.asarray(q01)
    return lo + q * (hi - lo)
