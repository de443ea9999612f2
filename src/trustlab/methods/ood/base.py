"""The OOD ``Scorer`` base class and the shared forward pass every post-hoc detector reads.

Contract (the one every detector meets; ``SCORERS`` in DEVELOPERS.md): ``scorer.setup(model, fit_loader)`` then
``scorer.score(x) -> Tensor (B,)``,
**higher = more in-distribution**. For speed, the forward pass is separated from scoring: a benchmark
extracts :class:`Outputs` (logits and penultimate features) once per dataset with :func:`extract` and
calls ``scorer.fit(train_outputs, val_outputs, model)`` and ``scorer.score_outputs(outputs)`` for every
post-hoc detector; only input-level detectors (``needs_input``: ODIN, Deep SVDD) see images again.

Model contract (trustlab ``Classifier``; OpenOOD's ``net(x, return_feature=True)`` / ``get_fc()``):
``model(x, return_features=True) -> (logits (B, K), features (B, D))`` and ``model.classifier()`` the last
``nn.Linear`` (``W`` (K, D), ``b`` (K,)). ``model=None`` means "pixel space": features are the flattened
images and there are no logits (classical AD/OD detectors only).

Example::

    det = SCORERS.get("knn")(k=50).setup(model, DataLoader(train_set, batch_size=256))
    s = det.score(x)                                      # (B,), higher = more in-distribution
    out = extract(model, test_set); s = det.score_outputs(out)   # same numbers, forward pass shared
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from trustlab.errors import ConfigError, DataError


@dataclass
class Outputs:
    """One shared forward pass: ``logits`` (N, K) or None, ``features`` (N, D) or None, ``labels`` (N,) or None."""

    logits: Tensor | None
    features: Tensor | None
    labels: Tensor | None = None

    def __len__(self) -> int:
        for t in (self.logits, self.features, self.labels):
            if t is not None:
                return int(t.shape[0])
        return 0

    def subset(self, idx: Tensor | np.ndarray) -> Outputs:
        idx = torch.as_tensor(idx, dtype=torch.long)
        pick = lambda t: None if t is None else t[idx]
        return Outputs(pick(self.logits), pick(self.features), pick(self.labels))


def exposes_features(model: nn.Module | None) -> bool:
    """True when ``model(x, return_features=True)`` and ``model.classifier()`` (an nn.Linear) exist."""
    if model is None or not callable(getattr(model, "classifier", None)):
        return False
    try:
        sig = inspect.signature(model.forward)
    except (TypeError, ValueError):
        return False
    return "return_features" in sig.parameters and isinstance(model.classifier(), nn.Linear)


def model_head(model: nn.Module) -> tuple[Tensor, Tensor]:
    """``(W (K, D), b (K,))`` of the model's last linear layer, detached, float32, on CPU."""
    head = model.classifier()
    b = head.bias if head.bias is not None else torch.zeros(head.out_features)
    return head.weight.detach().float().cpu().clone(), b.detach().float().cpu().clone()


def _batches(data: Dataset | DataLoader | Tensor, batch_size: int) -> Iterable[tuple[Tensor, Tensor | None]]:
    if isinstance(data, Tensor):
        for i in range(0, len(data), batch_size):
            yield data[i : i + batch_size], None
        return
    loader = data if isinstance(data, DataLoader) else DataLoader(data, batch_size=batch_size, shuffle=False)
    for batch in loader:
        if isinstance(batch, (list, tuple)):
            yield batch[0], (batch[1] if len(batch) > 1 else None)
        else:
            yield batch, None


def _device_of(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@torch.no_grad()
def extract(
    model: nn.Module | None,
    data: Dataset | DataLoader | Tensor,
    features: bool = True,
    batch_size: int = 512,
) -> Outputs:
    """The shared forward pass over ``data`` (a Dataset of (x, y), a DataLoader or an image tensor).

    Returns CPU float32 :class:`Outputs`. ``features=False`` asks only for logits (works on any model that
    maps images to logits); ``model=None`` returns flattened pixels as features (no logits).
    """
    logits, feats, labels = [], [], []
    was_training = model.training if model is not None else False
    if model is not None:
        model.eval()
        device = _device_of(model)
    try:
        for x, y in _batches(data, batch_size):
            if model is None:
                feats.append(x.float().flatten(1).cpu())
            elif features:
                lg, ft = model(x.to(device), return_features=True)
                logits.append(lg.float().cpu())
                feats.append(ft.float().flatten(1).cpu())
            else:
                logits.append(model(x.to(device)).float().cpu())
            if y is not None:
                labels.append(torch.as_tensor(y).long().cpu())
    finally:
        if model is not None and was_training:
            model.train()
    if not logits and not feats:
        raise DataError("the dataset to score is empty; give it at least one image")
    return Outputs(
        torch.cat(logits) if logits else None,
        torch.cat(feats) if feats else None,
        torch.cat(labels) if labels and len(labels) == len(feats or logits) else None,
    )


class Scorer:
    """Base OOD detector. Subclasses set the class flags, ``defaults`` and ``grid``, and implement
    ``_fit(train, val)`` (optional) and ``score_outputs(out)`` (or ``score`` for input-level detectors).

    Flags: ``needs_features`` (penultimate features), ``needs_head`` (the last layer's W, b),
    ``needs_logits`` (logits), ``needs_input`` (scores images: ODIN, Deep SVDD), ``needs_labels``
    (class labels of the fit set: Mahalanobis). ``grid``: the APS search space, the reference's sweep
    (OpenOOD ``configs/postprocessors/<name>.yml``, ``postprocessor_sweep``) where it has one;
    ``wide_grid``: a wider search selected with ``use_grid("wide")`` (``detectors.grid=wide``);
    ``grid_refits``: False when no grid key changes what ``fit`` learns, so APS fits once and scores the
    whole grid with :meth:`score_grid` (ODIN, KNN share work across grid points there).
    ``state`` names the fitted tensors that ``state_dict()`` saves.
    """

    needs_features: ClassVar[bool] = False
    needs_head: ClassVar[bool] = False
    needs_logits: ClassVar[bool] = True
    needs_input: ClassVar[bool] = False
    needs_labels: ClassVar[bool] = False
    needs_fit: ClassVar[bool] = True  # False: nothing is learnt from the fit set (MSP, energy, ODIN, ...)
    pixels_ok: ClassVar[bool] = False  # works on flattened pixels when model is None
    defaults: ClassVar[dict[str, Any]] = {}
    grid: ClassVar[dict[str, list[Any]]] = {}
    wide_grid: ClassVar[dict[str, list[Any]]] = {}  # {} = the same as ``grid``
    grid_refits: ClassVar[bool] = True
    state: ClassVar[tuple[str, ...]] = ()
    GRIDS: ClassVar[tuple[str, ...]] = ("reference", "wide")

    def __init__(self, **params: Any) -> None:
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            known = ", ".join(self.defaults) or "(none)"
            raise ConfigError(f"detector {self.name()} has no parameter {', '.join(unknown)}; its parameters: {known}")
        self.params: dict[str, Any] = {**self.defaults, **params}
        self.check_params()
        self.model: nn.Module | None = None
        self.head: tuple[Tensor, Tensor] | None = None
        self.fitted = False
        self.grid_name = "reference"
        self.search: dict[str, list[Any]] = {k: list(v) for k, v in self.grid.items()}

    @classmethod
    def name(cls) -> str:
        return getattr(cls, "registered_name", cls.__name__.lower())

    def check_params(self) -> None:
        """Validate ``self.params`` (one-line ConfigError); subclasses extend."""

    def set_params(self, **params: Any) -> Scorer:
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            raise ConfigError(f"detector {self.name()} has no parameter {', '.join(unknown)}")
        self.params.update(params)
        self.check_params()
        return self

    def use_grid(self, which: str = "reference", override: Mapping[str, Sequence[Any]] | None = None) -> Scorer:
        """Choose the APS search space: ``reference`` (``grid``) or ``wide`` (``wide_grid``), then replace the
        lists of the keys in ``override`` (e.g. ``{"temperature": [1, 10]}``); each key must be a parameter."""
        if which not in self.GRIDS:
            raise ConfigError(f"detectors.grid must be one of {', '.join(self.GRIDS)}, got {which!r}")
        base = (self.wide_grid or self.grid) if which == "wide" else self.grid
        override = dict(override or {})
        unknown = sorted(set(override) - set(self.defaults))
        if unknown:
            raise ConfigError(f"detectors.grids.{self.name()} has no parameter {', '.join(unknown)}; "
                              f"its parameters: {', '.join(self.defaults) or '(none)'}")
        for k, v in override.items():
            if not isinstance(v, (list, tuple)) or not v:
                raise ConfigError(f"detectors.grids.{self.name()}.{k} must be a non-empty list, got {v!r}")
        self.grid_name = which
        self.search = {**{k: list(v) for k, v in base.items()}, **{k: list(v) for k, v in override.items()}}
        return self

    def param_grid(self, train: Outputs) -> dict[str, list[Any]]:
        """APS search space for this fit set (subclasses clip it to the data, e.g. K <= bank size)."""
        return {k: list(v) for k, v in self.search.items()}

    def score_grid(self, combos: Sequence[Mapping[str, Any]], out: Outputs | None = None,
                   x: Tensor | None = None) -> list[Tensor]:
        """Scores of one set (``out``, or images ``x`` for ``needs_input``) under each parameter combo, the
        fitted state kept (only meaningful when ``grid_refits`` is False). Default: one combo at a time;
        detectors that can share work across combos override it. Leaves the params as they were."""
        saved = dict(self.params)
        try:
            res = []
            for combo in combos:
                self.set_params(**combo)
                res.append(self.score(x) if self.needs_input else self.score_outputs(out))  # type: ignore[arg-type]
            return res
        finally:
            self.params = saved

    # ---------------------------------------------------------------- model checks and fitting
    def check_model(self, model: nn.Module | None) -> None:
        """Fail with one line when the model cannot give what this detector needs."""
        if model is None:
            if self.needs_logits or self.needs_head or not self.pixels_ok:
                raise ConfigError(f"detector {self.name()} needs a trained classifier; pass the model to setup()")
            return
        if (self.needs_features or self.needs_head) and not exposes_features(model):
            raise ConfigError(
                f"detector {self.name()} needs penultimate features, but {type(model).__name__} does not expose "
                "forward(x, return_features=True) and classifier(); wrap it as a trustlab Classifier or use a "
                "logit-only detector (msp, mls, energy, gen, odin)"
            )

    def setup(
        self, model: nn.Module | None, fit_loader: Dataset | DataLoader | Tensor, val_loader: Any = None
    ) -> Scorer:
        """Run the forward pass over ``fit_loader`` (and ``val_loader``), then :meth:`fit`."""
        self.check_model(model)
        if not self.needs_fit:  # no forward pass over a fit set that would not be used
            return self.fit(Outputs(None, None), None, model)
        want = self.needs_features or self.needs_head
        train = extract(model, fit_loader, features=want)
        val = extract(model, val_loader, features=want) if val_loader is not None else None
        return self.fit(train, val, model)

    def fit(self, train: Outputs, val: Outputs | None = None, model: nn.Module | None = None) -> Scorer:
        """Fit on precomputed outputs of the fit set (and ID-val); ``model`` gives the head / input access.

        Detectors that only read outputs (MSP, KNN, Mahalanobis, ...) need no model here.
        """
        if model is not None:
            self.check_model(model)
        elif self.needs_head or (self.needs_input and not self.pixels_ok):
            raise ConfigError(f"detector {self.name()} needs the classifier itself; pass model= to fit()")
        self.model = model
        if self.needs_head and model is not None:
            self.head = model_head(model)
        if self.needs_fit:
            if len(train) == 0:
                raise DataError(f"detector {self.name()}: the fit set is empty; give it at least one sample")
            if self.needs_features and train.features is None:
                raise ConfigError(f"detector {self.name()} needs features; extract them with features=True")
            if self.needs_labels and train.labels is None:
                raise DataError(f"detector {self.name()} needs the class labels of the fit set; give (x, y) batches")
        self._fit(train, val)
        self.fitted = True
        return self

    def _fit(self, train: Outputs, val: Outputs | None) -> None:
        """Detector-specific fitting (class means, feature bank, ...); default: nothing to fit."""

    # ---------------------------------------------------------------- scoring
    def score_outputs(self, out: Outputs) -> Tensor:
        """(N,) scores from a shared forward pass; higher = more in-distribution."""
        raise ConfigError(f"detector {self.name()} scores images, not precomputed outputs; call score(x)")

    def score(self, x: Tensor) -> Tensor:
        """(B,) scores of images ``x`` (B, C, H, W) in [0, 1]; higher = more in-distribution."""
        if not self.fitted:
            raise ConfigError(f"detector {self.name()} is not set up; call setup(model, fit_loader) first")
        out = extract(self.model, x, features=self.needs_features or self.needs_head)
        return self.score_outputs(out)

    def fit_score(self, out: Outputs) -> Tensor:
        """Transductive outlier detection: fit on ``out`` and score the same samples."""
        self.fit(out, None, self.model)
        return self.score_outputs(out)

    # ---------------------------------------------------------------- save / load
    def state_dict(self) -> dict[str, Any]:
        """Params and fitted tensors (loadable with ``torch.load(..., weights_only=True)``)."""
        out: dict[str, Any] = {"params": dict(self.params)}
        for key in self.state:
            out[key] = getattr(self, key)
        if self.head is not None:
            out["head_w"], out["head_b"] = self.head
        return out

    def load_state_dict(self, state: dict[str, Any], model: nn.Module | None = None) -> Scorer:
        """Restore a fitted detector; ``model`` is needed by detectors that see images (ODIN)."""
        self.set_params(**state["params"])
        for key in self.state:
            if key not in state:
                raise DataError(f"detector {self.name()} state has no '{key}'; save it with state_dict()")
            setattr(self, key, state[key])
        if "head_w" in state:
            self.head = (state["head_w"], state["head_b"])
        self.model = model
        self.fitted = True
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"


def images_of(data: Dataset | DataLoader | Tensor) -> Tensor:
    """All images of a Dataset / DataLoader of (x, y) or of an image tensor, as one (N, C, H, W) tensor."""
    if isinstance(data, Tensor):
        return data.float()
    if hasattr(data, "tensors") and callable(data.tensors):
        return data.tensors()[0].float()
    loader = data if isinstance(data, DataLoader) else DataLoader(data, batch_size=512, shuffle=False)
    xs = [b[0] if isinstance(b, (list, tuple)) else b for b in loader]
    if not xs:
        raise DataError("the image set is empty; give it at least one image")
    return torch.cat(xs).float()


def register(name: str) -> Any:
    """Class decorator: register a Scorer in ``SCORERS`` under ``name`` (its ``name()`` then returns it)."""
    from trustlab.registry import SCORERS

    def deco(cls: type[Scorer]) -> type[Scorer]:
        cls.registered_name = name  # type: ignore[attr-defined]
        SCORERS.add(name, cls)
        return cls

    return deco


def require(t: Tensor | None, what: str, who: str) -> Tensor:
    """``t`` or a one-line ConfigError saying which detector needs which output."""
    if t is None:
        raise ConfigError(f"detector {who} needs {what}, but the outputs have none; extract with features=True")
    return t
