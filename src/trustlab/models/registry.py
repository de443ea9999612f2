"""``build_model``: one entry point from a model name to a :class:`Classifier`, with local weights.

Names are looked up in ``trustlab.registry.MODELS`` (``small_cnn``, ``mobilenet_v3_small``,
``resnet18``, ...); names starting with ``timm:`` go to timm (``timm:resnet10t``). A builder
registered in MODELS has the signature::

    builder(num_classes: int, input_size: tuple[int, int], width: float, in_chans: int, *, <options>) -> Classifier

Weights come only from local files (nothing is downloaded: runs work offline): ``weights=path`` loads a raw state_dict
or a dict holding it under ``"model"`` (or ``"state_dict"``) with ``torch.load(..., weights_only=True)``;
a ``module.`` prefix left by DistributedDataParallel is stripped.

Example::

    from trustlab.models import build_model
    net = build_model("resnet18", num_classes=10, input_size=32, width=0.5)
    net = build_model("small_cnn", 10, weights="runs/erm/abc/checkpoints/model.pt", norm="batchnorm")
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from trustlab.errors import ConfigError, NotFoundError, TrustlabError
from trustlab.models.base import Classifier
from trustlab.models.timm_models import PREFIX as TIMM_PREFIX
from trustlab.models.timm_models import build_timm
from trustlab.registry import MODELS


def _as_size(input_size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    """32 -> (32, 32); (H, W) stays; anything else is a ConfigError."""
    if isinstance(input_size, int) and not isinstance(input_size, bool):
        size = (input_size, input_size)
    elif isinstance(input_size, (tuple, list)) and len(input_size) == 2:
        size = (input_size[0], input_size[1])
    else:
        raise ConfigError(f"model input_size must be an int or (H, W), got {input_size!r}")
    if not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size):
        raise ConfigError(f"model input_size must be positive integers, got {input_size!r}")
    return size


def _check_options(name: str, builder: Any, options: dict[str, Any]) -> None:
    """Reject keyword options the builder does not take, listing the ones it does."""
    params = inspect.signature(builder).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    known = [n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
    unknown = sorted(set(options) - set(params))
    if unknown:
        raise ConfigError(
            f"model '{name}' has no option {', '.join(repr(u) for u in unknown)}; "
            f"its options are: {', '.join(known) or '(none)'}"
        )


def build_model(
    name: str,
    num_classes: int,
    input_size: int | tuple[int, int] = 32,
    width: float = 1.0,
    in_chans: int = 3,
    weights: str | Path | None = None,
    **kwargs: Any,
) -> Classifier:
    """Build a registered model (or ``timm:<name>``) with random init, then load local ``weights``.

    Args:
        name: a name in ``MODELS`` or ``timm:<timm model name>``.
        num_classes: K >= 2 outputs.
        input_size: H (square) or (H, W) of the [0, 1] images the model will see.
        width: channel multiplier > 0 (1.0 = the paper's network).
        in_chans: C image channels.
        weights: path to a local checkpoint (state_dict, or a dict with it under "model").
        **kwargs: model options (e.g. ``norm``/``depth`` for small_cnn, ``mean``/``std`` for all).

    Returns: a :class:`Classifier`; ``model(x)`` maps (B, C, H, W) -> (B, K).
    Raises: ConfigError / NotFoundError / TrustlabError with a one-line message.
    """
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 2:
        raise ConfigError(f"model num_classes must be an integer >= 2, got {num_classes!r}")
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not math.isfinite(width) or width <= 0:
        raise ConfigError(f"model width must be a number > 0 (1.0 = full width), got {width!r}")
    if not isinstance(in_chans, int) or isinstance(in_chans, bool) or in_chans < 1:
        raise ConfigError(f"model in_chans must be an integer >= 1, got {in_chans!r}")
    size = _as_size(input_size)
    if name.startswith(TIMM_PREFIX):
        model = build_timm(name, num_classes, size, float(width), in_chans, **kwargs)
    else:
        builder = MODELS.get(name)
        _check_options(name, builder, kwargs)
        model = builder(num_classes, size, float(width), in_chans, **kwargs)
    if not isinstance(model, Classifier):
        raise TrustlabError(f"model '{name}' built a {type(model).__name__}, not a trustlab Classifier")
    if weights is not None:
        load_weights(model, weights, name)
    return model


def _first(keys: list[str], n: int = 3) -> str:
    more = f" (+{len(keys) - n} more)" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def load_weights(model: torch.nn.Module, path: str | Path, name: str | None = None) -> None:
    """Load a local checkpoint into ``model`` strictly; any mismatch is one TrustlabError line."""
    p = Path(path)
    label = name or type(model).__name__
    if not p.is_file():
        raise NotFoundError(f"weights file '{p}' not found; give the path of a saved model state_dict")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt file, not a torch file, or pickled objects weights_only refuses
        detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise TrustlabError(f"could not read weights file '{p}': {detail}") from e
    state = obj
    if isinstance(obj, Mapping):
        for key in ("model", "state_dict"):
            if isinstance(obj.get(key), Mapping):
                state = obj[key]
                break
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise TrustlabError(
            f"weights file '{p}' holds no state_dict (expected a dict of tensors, or one under key 'model')"
        )
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}"
        for k in expected
        if k in state and state[k].shape != expected[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"missing keys {_first(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {_first(unexpected)}")
    if shapes:
        problems.append(f"shape mismatch (file vs model) {_first(shapes, 2)}")
    if problems:
        raise TrustlabError(
            f"weights file '{p}' does not match model '{label}': {'; '.join(problems)}; "
            "build the model with the same name, width, input_size, in_chans and num_classes"
        )
    model.load_state_dict(dict(state), strict=True)
