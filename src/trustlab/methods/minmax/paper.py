"""The min-max paper's protocol for ``trustlab bench --suite paper`` (Adversarial Attack Generation Empowered by
Min-Max Optimization, arXiv:1906.03563).

The ensemble, universal-perturbation and EOT attacks and min-max adversarial training (with its average / max
weighting controls) on MNIST and CIFAR-10 as torchvision stores them (``tv-mnist``, ``tv-cifar10`` through
``data.name``; the attack recipes read any registered dataset), 3 seeds. The recipes' own models and attack budgets
are kept (the paper's VGG16 / ResNet-50 / GoogLeNet ensemble members are not in the model zoo); only the data and the
training length are the paper's scale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from trustlab.bench.paper import Cost, DataNeed, PaperRun, Protocol, register_paper

NEEDS = [
    DataNeed("MNIST", "MNIST (torchvision)", "ROOT/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]",
             "torchvision.datasets.MNIST(ROOT, download=True) (https://pytorch.org/vision/stable/datasets.html)",
             probe=("MNIST/raw",)),
    DataNeed("CIFAR-10", "CIFAR-10 (torchvision)", "ROOT/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}",
             "torchvision.datasets.CIFAR10(ROOT, download=True) (https://www.cs.toronto.edu/~kriz/cifar.html)",
             probe=("cifar-10-batches-py",)),
]
SETS = {"MNIST": ("tv-mnist", 28, 20, 60000), "CIFAR-10": ("tv-cifar10", 32, 100, 50000)}  # name, px, epochs, train
GMACS = 0.05  # small_cnn at 32 px (`trustlab list models`); ensembles of three count three


def runs(data: Mapping[str, Path], seeds: Sequence[int]) -> list[PaperRun]:
    out = []
    for key, (name, size, epochs, n) in SETS.items():
        if key not in data:
            continue
        where = {"data.name": name, "data.root": str(data[key]), "data.target": name}
        scale = {"data.image_size": size, "train.epochs": epochs}
        for seed in seeds:
            for recipe, extra, k in (("attack/ensemble", {}, 3), ("attack/universal", {}, 1), ("attack/eot", {}, 1),
                                     *(("attack/minmax-at", {"at.mode": m}, 4) for m in ("minmax", "average", "max"))):
                cell = f"{key}/{recipe.split('/')[1]}{'/' + extra['at.mode'] if extra else ''}"
                out.append(PaperRun(recipe, {**where, **extra}, scale, cell, key, seed, Cost(epochs * n, GMACS * k)))
    return out


register_paper(Protocol(
    "minmax", "Adversarial Attack Generation Empowered by Min-Max Optimization (arXiv:1906.03563)", NEEDS, runs,
    metrics=("asr_all", "asr_avg", "union_acc", "clean_acc", "fooling_rate_heldout", "eot"),
    not_wired="the paper's ensemble members (MLP, VGG16, ResNet-50, GoogLeNet) are not in the zoo: the recipes' "
              "small CNNs stand in",
))
