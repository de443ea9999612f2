"""Any timm model by name: ``build_model("timm:resnet10t", num_classes=10)``.

Source: Ross Wightman, PyTorch Image Models (https://github.com/huggingface/pytorch-image-models).
The model is created with ``timm.create_model(name, pretrained=False, num_classes=K, in_chans=C)``
(never a download; load local weights with ``build_model(..., weights=path)``) and wrapped as a
:class:`~trustlab.models.base.Classifier`:

    features(x) = model.forward_head(model.forward_features(x), pre_logits=True)   # (B, D)
    classifier() = model.get_classifier()                                          # Linear(D, K)

Only models whose classifier is a single ``nn.Linear`` are accepted (most CNNs and ViTs; not
distilled two-head models). timm has no common width multiplier, so ``width`` must be 1.0: pick a
smaller variant by name instead (``resnet10t``, ``mobilenetv3_small_050``, ``vit_tiny_patch16_224``).
No small-input stem is swapped in; the timm model sees the input size it is given. Extra keyword
arguments (e.g. ``drop_rate=0.1``, ``img_size=32`` for ViTs) go to ``timm.create_model``.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from trustlab.errors import ConfigError, NotFoundError, TrustlabError, did_you_mean
from trustlab.models.base import Classifier, Stats

PREFIX = "timm:"


class TimmClassifier(Classifier):
    """A timm model whose last layer is ``get_classifier()``; see the module docstring."""

    def __init__(
        self,
        model: nn.Module,
        name: str,
        num_classes: int,
        input_size: tuple[int, int],
        in_chans: int = 3,
        mean: Stats = 0.5,
        std: Stats = 0.5,
    ) -> None:
        head = model.get_classifier()
        if not isinstance(head, nn.Linear):
            raise ConfigError(
                f"timm model '{name}' has a {type(head).__name__} classifier, not one nn.Linear; "
                "pick a model with a linear head"
            )
        super().__init__(num_classes, head.in_features, input_size, in_chans, mean, std)
        self.model = model
        self.timm_name = name

    def features(self, x: Tensor) -> Tensor:
        """(B, C, H, W) normalised -> (B, D) pre-logits features."""
        return self.model.forward_head(self.model.forward_features(x), pre_logits=True)

    def classifier(self) -> nn.Linear:
        return self.model.get_classifier()


def build_timm(
    name: str,
    num_classes: int,
    input_size: tuple[int, int] = (32, 32),
    width: float = 1.0,
    in_chans: int = 3,
    *,
    mean: Stats = 0.5,
    std: Stats = 0.5,
    **timm_kwargs: Any,
) -> TimmClassifier:
    """Create ``timm:<name>`` (prefix optional) with random init; errors are one-line TrustlabErrors."""
    arch = name[len(PREFIX) :] if name.startswith(PREFIX) else name
    try:
        import timm
    except ImportError as e:
        raise ConfigError(f"model '{PREFIX}{arch}' needs timm, which is not installed; `pip install timm`") from e
    if width != 1.0:
        raise ConfigError(f"timm models take no width multiplier (got width={width}); pick a smaller variant by name")
    if not timm.is_model(arch):
        hint = did_you_mean(arch, timm.list_models())
        raise NotFoundError(
            f"unknown timm model '{arch}'{hint}; `python -c \"import timm; print(timm.list_models('*{arch[:4]}*'))\"` "
            "lists similar names"
        )
    try:
        model = timm.create_model(arch, pretrained=False, num_classes=num_classes, in_chans=in_chans, **timm_kwargs)
    except TypeError as e:  # an option the timm model does not take
        raise ConfigError(f"timm model '{arch}' rejected its options {sorted(timm_kwargs)}: {e}") from e
    except (RuntimeError, ValueError, AssertionError) as e:
        raise TrustlabError(f"timm could not build '{arch}': {str(e).splitlines()[0] if str(e) else e!r}") from e
    return TimmClassifier(model, arch, num_classes, input_size, in_chans, mean, std)
