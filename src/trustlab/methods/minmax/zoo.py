"""Data and victim models for the attack recipes: load a dataset, train small classifiers, pick inputs.

Datasets (``data.name``): ``mnist5k`` (always available) and ``fashion-mnist`` (Debian package, when
installed) as one-channel 28 px images; any other registered dataset (``digits-dg``, ``folder`` = your
own DomainBed-layout folder under ``data.root``) with the domains listed in ``data.target`` pooled. Models are named by
specs ``<registry name>[:key=value...]``, e.g. ``small_cnn:width=0.125:depth=2:norm=none``; ``width``
is the channel multiplier and other keys are the model's options (``trustlab list models``).
Victims are trained with ``trustlab.tasks.classification.train_classifier`` (ERM) and saved in the run record.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import yaml
from torch import Tensor, nn
from torch.utils.data import ConcatDataset, Dataset

from trustlab.data.base import TensorImageDataset
from trustlab.errors import ConfigError, DataError
from trustlab.experiment import DataConfig, TrainConfig
from trustlab.methods.minmax.config import AttackDataConfig
from trustlab.runs.store import RunRecord


@dataclass
class ImageData:
    """A train set (torch Dataset of (x, y)) and the whole test split as tensors in [0, 1]."""

    name: str
    train: Dataset
    x_test: Tensor  # (N, C, H, W) float in [0, 1]
    y_test: Tensor  # (N,) int64
    num_classes: int
    in_chans: int
    size: int


@functools.lru_cache(maxsize=4)
def _grey(name: str) -> Any:
    from trustlab.data.mnist import load_grey

    return load_grey(name)  # parsing the CSV takes seconds: reuse it within one process


def load_data(cfg: DataConfig | AttackDataConfig) -> ImageData:
    """The dataset of ``cfg.name`` (see the module docstring); ``max_per_domain`` subsamples train.

    Grey sets (``trustlab.data.mnist.GREY``: mnist5k, fashion-mnist) stay one-channel at 28 px; every other
    registered dataset (``digits-dg``, ``folder`` for a DomainBed-layout folder of your own, ...) is built
    by the shared task layer and the domains named in ``data.target`` (all when empty) are pooled.
    """
    import trustlab.data  # noqa: F401  (registers the datasets)
    from trustlab.data.mnist import GREY as GREY_SETS
    from trustlab.registry import DATASETS

    if cfg.name in GREY_SETS:
        s = _grey(cfg.name)
        x_tr, y_tr = s.x_train, s.y_train
        if cfg.max_per_domain:
            keep = np.random.default_rng(cfg.split_seed).permutation(len(y_tr))[: cfg.max_per_domain]
            x_tr, y_tr = x_tr[keep], y_tr[keep]
        x_tr = np.array(x_tr)  # own, writable copies: the shared loaders hand out read-only arrays
        x_te, y_te = TensorImageDataset(np.array(s.x_test), np.array(s.y_test)).tensors()
        return ImageData(cfg.name, TensorImageDataset(x_tr, y_tr), x_te, y_te, len(s.classes), 1, s.x_train.shape[1])
    if cfg.name not in DATASETS:
        raise ConfigError(f"data.name '{cfg.name}' is not supported by the attack recipes; use one of "
                          f"{', '.join(sorted(set(GREY_SETS.names()) | set(DATASETS.names())))} "
                          "(`trustlab list datasets`; data.name=folder with data.root for your own images)")
    from trustlab.tasks.classification import build_data

    data = build_data(cfg.to_data_config() if isinstance(cfg, AttackDataConfig) else cfg)
    domains = [t.strip() for t in (cfg.target or "").split(",") if t.strip()] or list(data.domains)
    for d in domains:
        data.check_domain(d)
    tests = [data.get(d, "test") for d in domains]
    xs, ys = zip(*[t.tensors() for t in tests]) if all(hasattr(t, "tensors") for t in tests) else _gather(tests)
    train = ConcatDataset([data.get(d, "train") for d in domains])
    return ImageData(f"{cfg.name}:" + ",".join(domains), train, torch.cat(xs), torch.cat(ys), data.num_classes,
                     3, cfg.image_size)


def _gather(datasets: list[Dataset]) -> tuple[list[Tensor], list[Tensor]]:
    xs, ys = [], []
    for d in datasets:
        items = [d[i] for i in range(len(d))]
        xs.append(torch.stack([x for x, _ in items]))
        ys.append(torch.as_tensor([int(y) for _, y in items]))
    return xs, ys


def parse_model_spec(spec: str) -> tuple[str, float, dict[str, Any]]:
    """``"small_cnn:width=0.25:depth=2"`` -> ``("small_cnn", 0.25, {"depth": 2})`` (``timm:<name>:...`` too).

    Options are separated by ``:`` so that specs sit in YAML / ``--set`` lists without quoting.
    """
    parts = [p.strip() for p in str(spec).split(":")]
    name, opts = (f"timm:{parts[1]}", parts[2:]) if parts[0] == "timm" and len(parts) > 1 else (parts[0], parts[1:])
    width, kwargs = 1.0, {}
    for part in filter(None, opts):
        key, eq, value = part.partition("=")
        if not eq or not key:
            raise ConfigError(f"model spec '{spec}': options look like key=value, got '{part}'")
        parsed = yaml.safe_load(value)
        if key == "width":
            width = parsed
        else:
            kwargs[key] = parsed
    return name, width, kwargs


def build_victim(spec: str, data: ImageData) -> nn.Module:
    from trustlab.models import build_model

    name, width, kwargs = parse_model_spec(spec)
    return build_model(name, data.num_classes, input_size=data.size, width=width, in_chans=data.in_chans, **kwargs)


def train_victim(
    spec: str, data: ImageData, train: TrainConfig, batch_size: int, seed: int, record: RunRecord | None, tag: str
) -> nn.Module:
    """Build ``spec``, train it with ERM (the shared task layer's ``train_classifier``, seed ``seed``) and
    save ``checkpoints/<tag>.pt``; returns the model in eval mode."""
    from trustlab.engine.runtime import seed_everything
    from trustlab.tasks.classification import train_classifier

    seed_everything(seed, train.deterministic)  # the model's initial weights depend on the seed too
    model = build_victim(spec, data)
    train_classifier(model, data.train, train, batch_size=batch_size, seed=seed)
    if record is not None:
        record.save_checkpoint({"model": model.state_dict(), "spec": spec}, f"{tag}.pt")
    return model


def pick(mask: Tensor, n: int, seed: int, what: str = "correctly classified test inputs") -> Tensor:
    """Indices of up to ``n`` entries where ``mask`` holds, in a seeded random order (none: DataError)."""
    idx = torch.nonzero(mask).squeeze(1)
    if not len(idx):
        raise DataError(f"no {what} to attack; train the victims longer (train.epochs) or on more data")
    g = torch.Generator().manual_seed(seed)
    return idx[torch.randperm(len(idx), generator=g)[:n]]


def device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device
