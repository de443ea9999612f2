"""Model size and cost: parameter counts and multiply-accumulates (MACs).

MACs are counted with ``torch.utils.flop_counter.FlopCounterMode`` on one image in eval mode and
halved (one MAC = one multiply + one add = 2 FLOPs). FlopCounterMode counts matrix products and
convolutions (conv, linear, matmul, attention); normalisation, activations, pooling and biases are
not counted, the usual convention of fvcore / ptflops / the MobileNet papers.

Example::

    from trustlab.models import build_model, count_macs, count_parameters
    net = build_model("small_cnn", num_classes=10)
    count_parameters(net), count_macs(net, (3, 32, 32))    # (320010, 50_745_344)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from trustlab.errors import TrustlabError
from trustlab.models.registry import build_model
from trustlab.registry import MODELS


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter elements (shared tensors counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_macs(model: nn.Module, input_size: tuple[int, int, int] = (3, 32, 32)) -> int:
    """MACs of one forward pass on a single (1, C, H, W) input, in eval mode and without gradients.

    The input is built on the model's device and dtype; every submodule's train/eval flag is restored.
    """
    ref = next(iter(model.parameters()), None)
    device = ref.device if ref is not None else torch.device("cpu")
    dtype = ref.dtype if ref is not None and ref.is_floating_point() else torch.float32
    x = torch.zeros(1, *input_size, device=device, dtype=dtype)  # zeros: leave the global RNG untouched
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        from torch.utils.flop_counter import FlopCounterMode  # lazy: pulls in torch._decomp

        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            model(x)
    finally:
        for m, training in modes.items():
            m.training = training
    return int(counter.get_total_flops()) // 2


def model_table(
    names: Iterable[str] | None = None,
    num_classes: int = 10,
    input_size: int | tuple[int, int] = 32,
    width: float = 1.0,
    in_chans: int = 3,
) -> list[dict[str, Any]]:
    """Rows ``{"name", "params", "macs", "description"}`` for ``trustlab list models``.

    ``names`` defaults to every registered model. A model that cannot be built with these settings
    (e.g. a timm model with width != 1) gets ``params = macs = None`` and the reason as description.
    """
    size = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    rows: list[dict[str, Any]] = []
    for name in MODELS.names() if names is None else names:
        try:
            model = build_model(name, num_classes, size, width, in_chans)
        except TrustlabError as e:
            rows.append({"name": name, "params": None, "macs": None, "description": str(e)})
            continue
        rows.append(
            {
                "name": name,
                "params": count_parameters(model),
                "macs": count_macs(model, (in_chans, size[0], size[1])),
                "description": MODELS.help(name) if name in MODELS else name,
            }
        )
    return rows
