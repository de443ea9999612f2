"""The min-max paper's protocol for ``trustlab bench --suite paper`` (Adversarial Attack Generation Empowered by
Min-Max Optimization, arXiv:1906.03563).

The ensemble, universal-perturbation and EOT attacks and min-max adversarial training (with its average / max
weighting controls) on MNIST and CIFAR-10 as torchvision stores them (``tv-mnist``, ``tv-cifar10`` through
``data.name``; the attack recipes read any registered dataset), 3 seeds. The paper's budgets
(/work/shared/papers/03-minmax-attacks.md): l_inf eps 0.2 on MNIST (the recipes' defaults) and 0.05 on CIFAR-10
(the ensemble attack with beta 50, gamma 4); min-max adversarial training on MNIST only, over l_inf 0.3, l_2 2.0 and
l_1 10 (the recipe's default types are a miniature's). On CIFAR-10 the ensemble attack attacks the paper's four
members, ``ensemble.models = [mlp, timm:vgg16, timm:resnet50, googlenet]`` (trustlab.models.paper_models; timm's
ImageNet-layout VGG16 / ResNet-50 at 32 px, GoogLeNet with the usual CIFAR stem: the reference's exact CIFAR variants
are not published with the paper, a deviation). The MNIST arms and the universal / EOT victims keep the recipes' small
CNNs (the paper's MNIST models are not named per table), and the recipes' step rule (``attack.alpha`` unset: a
normalised step of 2.5 eps / steps, not the reference's raw-gradient step).
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
PAPER_ENSEMBLE = ["mlp", "timm:vgg16", "timm:resnet50", "googlenet"]  # the paper's CIFAR-10 ensemble
PAPER_ENSEMBLE_GMACS = 0.97  # the four at 32 px, trustlab.models.count_macs: 0.002 + 0.433 + 0.083 + 0.452


AT_TYPES = ["linf:0.3", "l2:2.0", "l1:10.0"]  # the paper's MNIST adversarial training budgets
CIFAR_ATTACK = {"attack.eps": 0.05}  # the paper's CIFAR-10 l_inf budget
# per dataset: (recipe, cell-defining overrides, paper-scale overrides, small CNNs trained; 0 = the paper ensemble)
ARMS: dict[str, list[tuple[str, dict[str, Any], dict[str, Any], int]]] = {
    "MNIST": [("attack/ensemble", {}, {}, 3), ("attack/universal", {}, {}, 1), ("attack/eot", {}, {}, 1),
              *(("attack/minmax-at", {"at.mode": m}, {"at.types": AT_TYPES}, 4) for m in ("minmax", "average", "max"))],
    "CIFAR-10": [("attack/ensemble", {}, {**CIFAR_ATTACK, "attack.beta": 50.0, "attack.gamma": 4.0,
                                          "ensemble.models": PAPER_ENSEMBLE}, 0),
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
                gmacs = GMACS * k if k else PAPER_ENSEMBLE_GMACS  # k = 0: the paper's ensemble
                out.append(PaperRun(recipe, {**where, **extra}, scale, cell, key, seed, Cost(epochs * n, gmacs)))
    return out


register_paper(Protocol(
    "minmax", "Adversarial Attack Generation Empowered by Min-Max Optimization (arXiv:1906.03563)", NEEDS, runs,
    metrics=("asr_all", "asr_avg", "union_acc", "clean_acc", "fooling_rate_heldout", "eot"),
    not_wired="MNIST, universal and EOT victims: the recipes' small CNNs stand in for the paper's (not named per "
              "table)",
))
