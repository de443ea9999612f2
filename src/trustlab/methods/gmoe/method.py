"""GMoE: ERM with a sparse mixture-of-experts ViT and the MoE load-balancing loss.

Li et al., "Sparse Mixture-of-Experts are Domain Generalizable Learners", ICLR 2023
(https://arxiv.org/abs/2206.04046); v1 "Sparse Fusion Mixture-of-Experts are Domain Generalizable Learners"
(SF-MoE). Reference: github.com/Luodian/Generalizable-Mixture-of-Experts, ``algorithms.GMOE.update``:
``loss = CE(model(x), y) + sum_l 0.01 * l_aux_l`` over the MoE blocks, Adam. The model is
``vit_moe`` (``trustlab.models.vit``); the dense baseline is the same recipe with ``model.name=vit``.

    method = GMoE(build_model("vit_moe", 10))
    out = method.training_step((x, y))   # {"loss", "acc", "aux", "moe_cv", "moe_drop"}

Recipe config: ``data``, ``model`` (name ``vit_moe`` | ``vit``; ``width`` scales D = 64 * width),
``train``, ``vit`` (:class:`ViTOptions`), ``moe`` (:class:`~trustlab.models.moe.MoEConfig`), in config.py.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import torch
from torch import nn

from trustlab.errors import ConfigError
from trustlab.experiment import TrainConfig
from trustlab.methods.gmoe.augment import AUGMENTS
from trustlab.methods.gmoe.config import GMoERecipeConfig
from trustlab.models.moe import MoEConfig, MoEFFN
from trustlab.registry import METHODS
from trustlab.tasks.classification import Classify

VIT_MODELS = ("vit", "vit_moe")


def matched_hidden(dim: int, dense_hidden: int, moe: MoEConfig) -> int:
    """Expert hidden size H' so that router + top_k * 2 D H' <= 2 D dense_hidden (per token, per block)."""
    from trustlab.models.moe import ROUTERS

    router = ROUTERS.get(moe.router)(dim, moe.num_experts, moe)
    budget = 2 * dim * dense_hidden - router.macs_per_token()
    hidden = budget // (2 * dim * moe.top_k)
    if hidden < 1:
        raise ConfigError(f"moe.top_k={moe.top_k} with this router leaves no expert width at equal FLOPs; "
                          "set vit.match_dense_flops=false or lower top_k / proj_dim")
    return int(hidden)


def build_vit_model(cfg: GMoERecipeConfig, num_classes: int) -> nn.Module:
    """``vit`` / ``vit_moe`` from the recipe's ``vit`` and ``moe`` sections."""
    from trustlab.models import build_model
    from trustlab.models.vit import scaled_embed_dim

    name = cfg.model.name
    if name not in VIT_MODELS:
        raise ConfigError(f"gmoe recipes train model.name in {VIT_MODELS}, got {name!r}; "
                          "use erm/digits-dg for CNN baselines")
    v = cfg.vit
    opts: dict[str, Any] = {"patch_size": v.patch_size, "depth": v.depth, "num_heads": v.num_heads,
                            "embed_base": v.embed_dim, "mlp_ratio": v.mlp_ratio, "drop_path": v.drop_path,
                            "pos_init_std": v.pos_init_std, "fusion": v.fusion}
    if name == "vit_moe":
        moe = cfg.moe
        if v.moe_blocks:
            opts["moe_blocks"] = list(v.moe_blocks)
        if v.match_dense_flops:
            dim = scaled_embed_dim(cfg.model.width, v.num_heads, v.embed_dim)
            opts["expert_hidden"] = matched_hidden(dim, int(dim * v.mlp_ratio), moe)
        opts.update(asdict(moe))
    elif v.fusion != "none":
        raise ConfigError("vit.fusion=layers fuses the tokens after the MoE blocks; use model.name=vit_moe")
    if v.pretrained not in ("none", "shipped"):
        raise ConfigError(f"vit.pretrained must be 'none' or 'shipped', got {v.pretrained!r}")
    if v.augment not in AUGMENTS:
        raise ConfigError(f"vit.augment must be one of {AUGMENTS}, got {v.augment!r}")
    model = build_model(name, num_classes, input_size=cfg.data.image_size, width=cfg.model.width,
                        weights=cfg.model.weights, **opts)
    if v.pretrained == "shipped" and not cfg.model.weights:
        from trustlab.data.shipped import announce
        from trustlab.methods.gmoe.shipped import load_for

        state, what = load_for(cfg)
        model.load_dense(state)  # dense ViT: all but the head; GMoE: experts = copies of the pretrained MLP
        announce("gmoe ViT", f"starts from the {what}")
    return model


def routing_step_stats(model: nn.Module) -> dict[str, torch.Tensor]:
    """Coefficient of variation of expert load and dropped-assignment share, averaged over MoE layers."""
    layers = [m for m in model.modules() if isinstance(m, MoEFFN)]
    if not layers:
        return {}
    cvs, drops = [], []
    for m in layers:
        load = m.stats["load"]
        cvs.append(load.std(unbiased=False) / load.mean().clamp_min(1e-9))
        drops.append(m.stats["dropped"] / m.stats["assigned"].clamp_min(1.0))
    return {"moe_cv": torch.stack(cvs).mean(), "moe_drop": torch.stack(drops).mean()}


@METHODS.register("gmoe")
class GMoE(Classify):
    """Cross-entropy + the MoE layers' weighted aux loss (zero for a dense ViT)."""

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        x, y = batch
        if self.augment is not None:
            x = self.augment(x)
        logits = self.model(x)
        ce = nn.functional.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        aux = self.model.aux_loss() if hasattr(self.model, "aux_loss") else ce.new_zeros(())
        out = {"loss": ce + aux, "ce": ce.detach(), "aux": aux.detach(),
               "acc": (logits.detach().argmax(1) == y).float().mean()}
        out.update(routing_step_stats(self.model))
        return out

    def configure_optimizers(self, cfg: TrainConfig) -> torch.optim.Optimizer:
        from trustlab.engine.optim import build_optimizer

        return build_optimizer(self.model.parameters(), cfg)
