"""Domain-label-free DG baselines the on-device DG paper compares with: MixStyle, EFDMix and RSC.

All three train the student with cross-entropy and change only what it sees in training; the deployed
network is unchanged (so export and evaluation are as for ERM).

* MixStyle: Zhou, Yang, Qiao & Xiang, "Domain Generalization with MixStyle", ICLR 2021
  (https://arxiv.org/abs/2104.02008). After chosen early layers, with probability ``p`` a batch's
  per-instance channel statistics are mixed with those of a random partner:
  ``f' = (lam*sig + (1-lam)*sig[perm]) * (f - mu)/sig + (lam*mu + (1-lam)*mu[perm])``,
  ``lam ~ Beta(alpha, alpha)`` per sample; mu/sig are detached. Defaults p=0.5, alpha=0.1, eps=1e-6
  (the paper's), random shuffle (DOSCO-style data has no domain labels).
* EFDMix: Zhang, Li, Li, Jia & Zhang, "Exact Feature Distribution Mixing for Arbitrary Style Transfer
  and Domain Generalization", CVPR 2022 (https://arxiv.org/abs/2203.07740). Mixes whole sorted feature
  distributions instead of two moments: ``f' = f + (1-lam) * (sort(f[perm])[rank(f)] - sort(f)[rank(f)])``
  with the gradient as in Dassl's ``EFDMix``: only the sample's own sorted values are detached in the
  difference, so the gradient reaches both the sample (weight 1) and its partner's values (weight 1-lam).
  Same p/alpha/layers as MixStyle.
* RSC: Huang, Wang, Xing & Huang, "Self-Challenging Improves Cross-Domain Generalization", ECCV 2020
  (https://arxiv.org/abs/2007.02454), on the penultimate features as in the on-device DG reference
  (``trainers/dg/rsc.py``, from DomainBed): mute the features whose gradient of the true-class logit is
  in the top ``feature_drop`` share per sample, for the ``batch_drop`` share of the batch whose
  true-class probability drops most under that muting (the other samples keep every feature), and train
  on the muted features. Defaults 0.1 / 0.1 as in the on-device DG reference (DomainBed uses 1/3 / 1/3).

The mixing layers are hooked with ``register_forward_hook`` and only act in training mode. Defaults
(``method.layers=[]``): ``small_cnn`` after its first two blocks, ``resnet18`` after layer1 and layer2,
``mobilenet_v3_small`` after ``net.features.1`` and ``net.features.2`` (the reference's
``mobilenet_v3_small_ms_l12``: after feature blocks 1 and 2); name module paths for others.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from trustlab.engine.optim import build_optimizer
from trustlab.errors import ConfigError
from trustlab.experiment import TrainConfig
from trustlab.methods.okd.config import EFDMIX_VARIANTS, EFDMixConfig, MixConfig, RSCConfig
from trustlab.registry import METHODS


def default_layers(model: nn.Module) -> list[str]:
    """Module paths after which MixStyle/EFDMix act, per known backbone (see the module docstring)."""
    from trustlab.models.convnet import ConvNet
    from trustlab.models.torchvision_models import MobileNetV3Small, ResNet18

    if isinstance(model, ConvNet):
        pools = [n for n, m in model.named_modules() if isinstance(m, nn.AvgPool2d)]
        return pools[: max(1, len(pools) - 1)][:2]
    if isinstance(model, ResNet18):
        return ["layer1", "layer2"]
    if isinstance(model, MobileNetV3Small):
        return ["net.features.1", "net.features.2"]
    raise ConfigError(
        f"no default mixing layers for {type(model).__name__}; set method.layers to module paths, "
        "e.g. method.layers=[stage1,stage2]"
    )


def mixstyle(f: torch.Tensor, lam: torch.Tensor, perm: torch.Tensor, eps: float) -> torch.Tensor:
    """MixStyle on (B, C, H, W) features with per-sample ``lam`` (B,) and partner ``perm`` (B,)."""
    mu = f.mean(dim=(2, 3), keepdim=True).detach()
    sig = (f.var(dim=(2, 3), keepdim=True) + eps).sqrt().detach()
    lam = lam.view(-1, 1, 1, 1)
    mu_mix = lam * mu + (1 - lam) * mu[perm]
    sig_mix = lam * sig + (1 - lam) * sig[perm]
    return (f - mu) / sig * sig_mix + mu_mix


def efdmix(f: torch.Tensor, lam: torch.Tensor, perm: torch.Tensor, variant: str = "reference") -> torch.Tensor:
    """EFDMix on (B, C, H, W): exact histogram matching towards the partner, weight ``1 - lam``.
    ``variant="previous"``: the whole difference detached (the gradient reaches the sample only)."""
    b, c, h, w = f.shape
    flat = f.view(b, c, -1)
    values, index = torch.sort(flat, dim=-1)
    rank = index.argsort(dim=-1)
    partner = values[perm].gather(-1, rank)
    if variant == "previous":
        out = flat + (partner - values.gather(-1, rank)).detach() * (1 - lam.view(-1, 1, 1))
        return out.view(b, c, h, w)
    # Dassl: x + (partner - x.detach()) * (1 - lam): the gradient reaches the partner's sorted values too
    out = flat + (partner - flat.detach()) * (1 - lam.view(-1, 1, 1))
    return out.view(b, c, h, w)


class _FeatureMixing(nn.Module):
    """CE training with a feature-statistics mixing hook after ``cfg.layers`` (MixStyle or EFDMix)."""

    kind = "mixstyle"

    def __init__(self, model: nn.Module, cfg: MixConfig | EFDMixConfig | None = None) -> None:
        super().__init__()
        self.model = model
        self.cfg = cfg or MixConfig()
        if not 0.0 <= self.cfg.p <= 1.0:
            raise ConfigError(f"method.p must be in [0, 1], got {self.cfg.p}")
        if self.cfg.alpha <= 0:
            raise ConfigError(f"method.alpha must be > 0, got {self.cfg.alpha}")
        self.layers = list(self.cfg.layers) or default_layers(model)
        modules = dict(model.named_modules())
        for name in self.layers:
            if name not in modules:
                raise ConfigError(f"method.layers: model has no module '{name}'")
            modules[name].register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, inputs: Any, out: torch.Tensor) -> torch.Tensor | None:
        if not self.training or out.dim() != 4 or len(out) < 2 or torch.rand(()) > self.cfg.p:
            return None
        beta = torch.distributions.Beta(self.cfg.alpha, self.cfg.alpha)
        lam = beta.sample((len(out),)).to(out.device, out.dtype)
        perm = torch.randperm(len(out), device=out.device)
        return self.mix(out, lam, perm)

    def mix(self, f: torch.Tensor, lam: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
        return mixstyle(f, lam, perm, self.cfg.eps)  # type: ignore[union-attr]

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        x, y = batch
        logits = self.model(x)
        loss = F.cross_entropy(logits, y)
        return {"loss": loss, "acc": (logits.detach().argmax(1) == y).float().mean()}

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def configure_optimizers(self, cfg: TrainConfig) -> torch.optim.Optimizer:
        return build_optimizer(self.model.parameters(), cfg)


@METHODS.register("mixstyle")
class MixStyle(_FeatureMixing):
    """MixStyle (Zhou et al., ICLR 2021): mix instance mean/std of early features between samples."""


@METHODS.register("efdmix")
class EFDMix(_FeatureMixing):
    """EFDMix (Zhang et al., CVPR 2022): mix sorted feature distributions between samples."""

    kind = "efdmix"

    def __init__(self, model: nn.Module, cfg: EFDMixConfig | None = None) -> None:
        cfg = cfg or EFDMixConfig()
        if cfg.efdmix_variant not in EFDMIX_VARIANTS:
            raise ConfigError(f"method.efdmix_variant must be one of {list(EFDMIX_VARIANTS)}, "
                              f"got '{cfg.efdmix_variant}'")
        super().__init__(model, cfg)

    def mix(self, f: torch.Tensor, lam: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
        return efdmix(f, lam, perm, self.cfg.efdmix_variant)  # type: ignore[union-attr]


@METHODS.register("rsc")
class RSC(nn.Module):
    """Representation Self-Challenging (Huang et al., ECCV 2020) on the penultimate features."""

    def __init__(self, model: nn.Module, cfg: RSCConfig | None = None) -> None:
        super().__init__()
        self.model = model
        self.cfg = cfg or RSCConfig()
        for key in ("feature_drop", "batch_drop"):
            v = getattr(self.cfg, key)
            if not 0.0 <= v < 1.0:
                raise ConfigError(f"method.{key} must be in [0, 1), got {v}")

    def challenge_mask(self, feats: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(B, D) keep-mask: 0 on the most-attended features of the samples that are challenged."""
        head = self.model.classifier()  # type: ignore[operator]
        onehot = F.one_hot(y, head.out_features).to(feats.dtype)
        f = feats.detach().requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad((head(f) * onehot).sum(), f)
        threshold = torch.quantile(grad, 1.0 - self.cfg.feature_drop, dim=1, keepdim=True)
        mask_f = (grad < threshold).to(feats.dtype)  # drop the top feature_drop share per sample
        with torch.no_grad():
            p = (F.softmax(head(feats), 1) * onehot).sum(1)
            p_muted = (F.softmax(head(feats * mask_f), 1) * onehot).sum(1)
            change = p - p_muted
            cut = torch.quantile(change, 1.0 - self.cfg.batch_drop)
            spare = (change < cut).to(feats.dtype).view(-1, 1)  # these samples keep every feature
        return torch.maximum(mask_f, spare)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        x, y = batch
        logits, feats = self.model(x, return_features=True)
        mask = self.challenge_mask(feats, y)
        muted = self.model.classifier()(feats * mask)  # type: ignore[operator]
        loss = F.cross_entropy(muted, y)
        return {"loss": loss, "acc": (logits.detach().argmax(1) == y).float().mean(), "kept": mask.mean()}

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def configure_optimizers(self, cfg: TrainConfig) -> torch.optim.Optimizer:
        return build_optimizer(self.model.parameters(), cfg)


# the configs live in config.py; imported here for the methods and kept importable from this module
__all__ = ["MixStyle", "EFDMix", "RSC", "MixConfig", "EFDMixConfig", "RSCConfig", "EFDMIX_VARIANTS"]
