"""DOORPING's paper protocol for ``trustlab bench --suite paper`` (Backdoor Attacks Against Dataset Distillation,
arXiv:2301.01197): declared, not wired.

The protocol: DOORPING and NaiveAttack against DC / DSA / DM / DD on CIFAR-10, SVHN, Fashion-MNIST and STL-10 as
torchvision stores them (``data.name=tv-cifar10|tv-svhn|tv-fashion-mnist|tv-stl10``). Not wired: the distillation
recipes read their source through ``doorping.data.load_source``, which accepts only ``mnist5k`` and
``fashion-mnist`` (Debian's), not a registered dataset, so the torchvision sets cannot reach them without a change
in the method (owned by the DOORPING work).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from trustlab.bench.paper import DataNeed, PaperRun, Protocol, register_paper

TV = "torchvision.datasets.{}(ROOT, download=True) (https://pytorch.org/vision/stable/datasets.html)"
NEEDS = [
    DataNeed("CIFAR-10", "CIFAR-10 (torchvision)", "ROOT/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}",
             TV.format("CIFAR10"), probe=("cifar-10-batches-py",)),
    DataNeed("SVHN", "SVHN (torchvision)", "ROOT/{train,test}_32x32.mat", TV.format("SVHN"),
             probe=("train_32x32.mat", "test_32x32.mat")),
    DataNeed("FashionMNIST", "Fashion-MNIST (torchvision)", "ROOT/FashionMNIST/raw/*-ubyte[.gz]",
             TV.format("FashionMNIST"), probe=("FashionMNIST/raw",)),
    DataNeed("STL-10", "STL-10 (torchvision)", "ROOT/stl10_binary/{train,test}_{X,y}.bin", TV.format("STL10"),
             probe=("stl10_binary",)),
]


def runs(data: Mapping[str, Path], seeds: Sequence[int]) -> list[PaperRun]:
    return []  # see the module docstring


register_paper(Protocol(
    "doorping", "Backdoor Attacks Against Dataset Distillation (arXiv:2301.01197)", NEEDS, runs, metrics=("asr", "cta"),
    not_wired="doorping's load_source reads only mnist5k / fashion-mnist; the tv-* sets need it to accept a "
              "registered dataset (DOORPING owner)",
))
