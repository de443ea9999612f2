"""DOORPING's paper protocol for ``trustlab bench --suite paper`` (Backdoor Attacks Against Dataset Distillation,
arXiv:2301.01197).

The protocol: NaiveAttack and DOORPING against DC / DSA / DM / DD on CIFAR-10, SVHN, Fashion-MNIST and STL-10 as
torchvision stores them (``data.name=tv-cifar10|tv-svhn|tv-fashion-mnist|tv-stl10`` through ``data.root``;
``doorping.data.load_source`` reads them), ipc 10, the paper's 1% poison budget, 3 seeds, the claims' ``full``
scale (width-1 ConvNet, 1000 distillation iterations, 5 evaluation models of 300 epochs). Every image is brought to
32 px: Fashion-MNIST zero-padded from 28 (as the DC code pads MNIST), STL-10 resized from 96 (assumed: the
reference's hooked Linear(2048, 192) implies 32-px inputs). DOORPING runs train the positive control (BadNets-style
training on the whole poisoned set with the final trigger) and read it on a validation split held out of the
training images (``eval.val_size``), never the test set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from trustlab.bench.paper import Cost, DataNeed, PaperRun, Protocol, register_paper

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
SETS = {"CIFAR-10": ("tv-cifar10", 50000), "SVHN": ("tv-svhn", 73257), "FashionMNIST": ("tv-fashion-mnist", 60000),
        "STL-10": ("tv-stl10", 5000)}  # data.name, official training images
METHODS = ("dc", "dsa", "dm", "dd")
KINDS = ("doorping", "naive")
CONTROLS = ["clean-real", "clean-distilled", "full-data"]
# the claims' full scale (claims._FULL) at the paper's 1% budget; the validation split holds 1000 training images
SCALE: dict[str, Any] = {
    "data.image_size": 32, "model.width": 1.0, "eval.num_models": 5, "train.epochs": 300, "train.step_size": 150,
    "distill.iterations": 1000, "distill.batch_real": 256, "eval.full_data_epochs": 20, "eval.val_size": 1000,
    "attack.trigger_clamp": True, "distill.clamp": True,
}
GMACS = 0.05  # the width-1 ConvNet at 32 px (as minmax's small_cnn estimate)
OUTER = 10  # DC's get_loops(10): network rounds per iteration, each a real batch per class


def _cost(n_train: int, kind: str) -> Cost:
    """Samples through the net: distillation (iterations x rounds x a real batch per class), 5 x 300 epochs over
    the 100 synthetic images, and for DOORPING the controls' full-data model (20 epochs over the training set)."""
    distill = SCALE["distill.iterations"] * OUTER * SCALE["distill.batch_real"] * 10
    evals = SCALE["eval.num_models"] * SCALE["train.epochs"] * 100
    full = SCALE["eval.full_data_epochs"] * n_train if kind == "doorping" else 0
    return Cost(distill + evals * (3 if kind == "doorping" else 1) + full, GMACS)


def runs(data: Mapping[str, Path], seeds: Sequence[int]) -> list[PaperRun]:
    out = []
    for key, (name, n_train) in SETS.items():
        if key not in data:
            continue
        where = {"data.name": name, "data.root": str(data[key]), "distill.ipc": 10, "attack.portion": 0.01}
        for seed in seeds:
            for kind in KINDS:
                controls = {"eval.controls": CONTROLS if kind == "doorping" else []}
                for m in METHODS:
                    out.append(PaperRun(f"backdoor/{kind}-{m}", dict(where), {**SCALE, **controls},
                                        f"{key}/{kind}-{m}", key, seed, _cost(n_train, kind)))
    return out


register_paper(Protocol(
    "doorping", "Backdoor Attacks Against Dataset Distillation (arXiv:2301.01197)", NEEDS, runs,
    metrics=("asr", "cta", "clean_cta", "asr_full_data_val"),
    not_wired="the reference leaves trigger and synthetic images unbounded (here clamped to [0, 1]); the "
              "INVISIBLE attack is not implemented",
))
