"""Dataset containers shared by every recipe.

All image tensors handed to models are float32, CHW, in [0, 1]; normalisation lives inside the
model wrapper (so attacks and detectors see the same [0, 1] inputs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import Dataset

from trustlab.errors import DataError, did_you_mean

SPLITS = ("train", "val", "test")


class TensorImageDataset(Dataset):
    """Images held in memory as uint8 NHWC (or NHW) arrays; items are ``(x float CHW in [0,1], y)``."""

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        if len(images) != len(labels):
            raise DataError(f"{len(images)} images but {len(labels)} labels")
        imgs = torch.as_tensor(np.ascontiguousarray(images))
        if imgs.ndim == 3:
            imgs = imgs.unsqueeze(-1)
        self.images = imgs.permute(0, 3, 1, 2).contiguous()  # uint8 NCHW
        self.labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.images[i].float().div_(255.0)
        if self.transform is not None:
            x = self.transform(x)
        return x, self.labels[i]

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All images as one float tensor in [0,1] (N,C,H,W) and the labels (no transform)."""
        return self.images.float().div(255.0), self.labels


@dataclass
class DGData:
    """A multi-domain classification dataset: ``splits[domain][split]`` is a torch Dataset."""

    name: str
    domains: list[str]
    classes: list[str]
    splits: dict[str, dict[str, Dataset]]
    info: dict[str, object] = field(default_factory=dict)  # e.g. {"skipped_corrupt": 3}

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def check_domain(self, domain: str) -> str:
        if domain not in self.splits:
            raise DataError(
                f"dataset '{self.name}' has no domain '{domain}'{did_you_mean(domain, self.domains)}; "
                f"domains: {', '.join(self.domains)}"
            )
        return domain

    def get(self, domain: str, split: str) -> Dataset:
        self.check_domain(domain)
        if split not in self.splits[domain]:
            raise DataError(f"dataset '{self.name}' domain '{domain}' has no '{split}' split")
        return self.splits[domain][split]

    def parse_targets(self, target: str) -> tuple[list[str], list[str]]:
        """``"mnistm"`` or ``"a,b"`` -> (held-out domains, source domains)."""
        targets = [t.strip() for t in target.split(",") if t.strip()]
        if not targets:
            raise DataError(f"data.target is empty; pick one of: {', '.join(self.domains)}")
        for t in targets:
            self.check_domain(t)
        sources = [d for d in self.domains if d not in targets]
        if not sources:
            raise DataError("data.target holds out every domain; leave at least one for training")
        return targets, sources


@dataclass
class DatasetEntry:
    """A registered dataset that is not a domain-split classification set (IQA scores, scene graphs,
    captioned images, ...): what ``trustlab data build NAME`` and ``trustlab data show NAME`` do with it.

    Register it as ``DATASETS.add("name", DatasetEntry(build, show, "one-line description"))``.
    ``build(cfg)`` builds or reads the cached data and returns the lines to print (split sizes);
    ``show(cfg, out_dir)`` writes PNGs of samples and returns their paths. ``cfg`` is a
    :class:`trustlab.experiment.DataConfig` (``root`` for a user's copy, ``image_size``).
    Classification sets (DGData) are registered as a plain function ``(DataConfig) -> DGData`` instead.
    """

    build: Callable[..., list[str]]
    show: Callable[..., list]
    description: str = ""
    # seconds to build from scratch on 2 cores, roughly; the generated tests build entries under a minute
    # and only check the interface of slower ones (e.g. a model pretrained for minutes)
    build_seconds: float = 10.0

    @property
    def __doc__(self) -> str:  # type: ignore[override]  # registry help line
        return self.description
