"""Fine-pruning: Liu, Dolan-Gavitt & Garg, "Fine-Pruning: Defending Against Backdooring Attacks on Deep
Neural Networks", RAID 2018 (https://arxiv.org/abs/1805.12185).

Prune the penultimate channels that are least active on clean data (the distilled set), ``ratio`` of
them (default 0.6), by masking their features before the classifier, then fine-tune on the distilled set
for ``finetune_epochs`` with the mask kept. A removal defense: ``detected`` is NaN; as its detection
quality we report ``trigger_channels_pruned``, the share of the 10% channels whose activation rises most
under the true trigger (measured on test images) that were pruned.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from trustlab.methods.doorping.config import FinePruningConfig
from trustlab.methods.doorping.defenses.base import DefenseContext, features, register_defense
from trustlab.methods.doorping.triggers import penultimate_layer


def channel_activations(model: nn.Module, x: Tensor) -> Tensor:
    """Mean penultimate activation per channel (C,), channels = out channels of the last conv/linear."""
    layer = penultimate_layer(model)
    c = getattr(layer, "out_channels", None) or layer.out_features
    f = features(model, x)
    return f.view(len(f), c, -1).mean(dim=(0, 2))


def prune(model: nn.Module, channels: Tensor, num_channels: int) -> None:
    """Zero the features of ``channels`` before the head, with a forward pre-hook (kept while fine-tuning)."""
    keep = torch.ones(num_channels)
    keep[channels] = 0.0
    head = model.classifier()

    def hook(_m: nn.Module, inputs: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        f = inputs[0]
        mask = keep.to(f.device).repeat_interleave(f.shape[1] // num_channels)
        return (f * mask,)

    head.register_forward_pre_hook(hook)


@register_defense("fine-pruning", "fine_pruning", "Fine-pruning: prune dormant penultimate channels, fine-tune "
                  "(RAID 2018)")
def fine_pruning(ctx: DefenseContext, cfg: FinePruningConfig) -> dict[str, float]:
    model = ctx.copy_model()
    act = channel_activations(model, ctx.syn_x)
    c = len(act)
    n = int(round(cfg.ratio * c))
    pruned = torch.argsort(act)[:n]
    # evaluation only: which channels does the real trigger excite?
    x = ctx.x_test[:200]
    rise = channel_activations(model, ctx.trigger.stamp(x)) - channel_activations(model, x)
    top = torch.argsort(rise, descending=True)[: max(1, c // 10)]
    hit = float(torch.isin(top, pruned).float().mean())
    prune(model, pruned, c)
    ctx.finetune(model, ctx.syn_x, ctx.syn_y, cfg.finetune_epochs)
    return {"detected": float("nan"), "pruned_channels": float(n), "trigger_channels_pruned": hit,
            **ctx.measure(model)}
