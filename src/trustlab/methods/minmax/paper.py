"""The min-max paper's protocol for ``trustlab bench --suite paper`` (Adversarial Attack Generation Empowered by
Min-Max Optimization, arXiv:1906.03563).

The ensemble, universal-perturbation and EOT attacks and min-max adversarial training (with its average / max
weighting controls) on MNIST and CIFAR-10 as torchvision stores them (``tv-mnist``, ``tv-cifar10`` through
``data.name``; the attack recipes read any registered dataset), 3 seeds. The paper's budgets
(/work/shared/papers/03-minmax-attacks.md): l_inf eps 0.2 on MNIST (the recipes' defaults) and 0.05 on CIFAR-10
(the ensemble attack with beta 50, gamma 4); min-max adversarial training on MNIST only, over l_inf 0.3, l_2 2.0 and
l_1 10 (the recipe's default types are a miniature's). The recipes' own models are kept (the paper's MLP / VGG16 /
ResNet-50 / GoogLeNet ensemble members are not in the model zoo), and the recipes' step rule (``attack.alpha``
unset: a normalised step of 2.5 eps / steps, not the reference's raw-gradient step).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

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


AT_TYPES = ["linf:0.3", "l2:2.0", "l1:10.0"]  # the paper's MNIST adversarial training budgets
CIFAR_ATTACK = {"attack.eps": 0.05}  # the paper's CIFAR-10 l_inf budget
# per dataset: (recipe, cell-defining overrides, paper-scale overrides, models trained)
ARMS: dict[str, list[tuple[str, dict[str, Any], dict[str, Any], int]]] = {
    "MNIST": [("attack/ensemble", {}, {}, 3), ("attack/universal", {}, {}, 1), ("attack/eot", {}, {}, 1),
              *(("attack/minmax-at", {"at.mode": m}, {"at.types": AT_TYPES}, 4) for m in ("minmax", "average", "max"))],
    "CIFAR-10": [("attack/ensemble", {}, {**CIFAR_ATTACK, "attack.beta": 50.0, "attack.gamma": 4.0}, 3),
                 ("attack/universal", {}, CIFAR_ATTACK, 1), ("attack/eot", {}, CIFAR_ATTACK, 1)],
}


def runs(data: Mapping[str, Path], seeds: Sequence[int]) -> list[PaperRun]:
    out = []
    for key, (name, size, epochs, n) in SETS.items():
        if key not in data:
            continue
        where = {"data.name": name, "data.root": str(data[key]), "data.target": name}
        for seed in seeds:
            for recipe, extra, paper_scale, k in ARMS[key]:
                cell = f"{key}/{recipe.split('/')[1]}{'/' + extra['at.mode'] if extra else ''}"
                scale = {"data.image_size": size, "train.epochs": epochs, **paper_scale}
                out.append(PaperRun(recipe, {**where, **extra}, scale, cell, key, seed, Cost(epochs * n, GMACS * k)))
    return out


register_paper(Protocol(
    "minmax", "Adversarial Attack Generation Empowered by Min-Max Optimization (arXiv:1906.03563)", NEEDS, runs,
    metrics=("asr_all", "asr_avg", "union_acc", "clean_acc", "fooling_rate_heldout", "eot"),
    not_wired="the paper's ensemble members (MLP, VGG16, ResNet-50, GoogLeNet) are not in the zoo: the recipes' "
              "small CNNs stand in",
))
