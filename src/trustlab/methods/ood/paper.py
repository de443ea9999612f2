"""Generalized OOD's paper protocol for ``trustlab bench --suite paper`` (Generalized Out-of-Distribution Detection:
A Survey, arXiv:2110.11334; OpenOOD v1.5, arXiv:2306.09301).

OpenOOD v1.5's OOD-detection benchmarks (ID CIFAR-10 / CIFAR-100 / ImageNet-200 with their near- and far-OOD test
sets and OOD validation set, ``--data openood-<id>=<OpenOOD's data/ folder>``) through the existing ``ood/folder``
recipe: the ID classifier (ResNet-18; CIFAR: 32 px, 100 epochs, SGD lr 0.1, batch 128; ImageNet-200: 224 px, 90
epochs) trained on the list's train split, model selection on its val split, every ID test and OOD test image
scored by the recipe's detectors, APS on the OOD validation list; 3 seeds. ``ood/folder`` reads folders, so
:func:`prepare` lays the lists out as folders once per benchmark (hard links, copies across file systems;
:func:`trustlab.data.openood_lists.materialize`) under ``<out>/paper/prepared``. The covariate-shift extra of the
recipe is off (OpenOOD's OOD table has none).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from trustlab.bench.paper import PREPARED, Cost, DataNeed, PaperRun, Protocol, file_tag, register_paper
from trustlab.data.openood_lists import BENCHMARKS, RELEASE, materialize

NEEDS = [DataNeed(f"openood-{b.id}", f"OpenOOD v1.5 {b.id}",
                  f"ROOT/benchmark_imglist/{b.id}/*.txt and ROOT/{b.images}/", RELEASE,
                  probe=(f"benchmark_imglist/{b.id}", b.images)) for b in BENCHMARKS.values()]
# id: (image px, epochs, batch, ID train images, ResNet-18 forward GMACs at that size)
SCALE = {"cifar10": (32, 100, 128, 50_000, 0.56), "cifar100": (32, 100, 128, 50_000, 0.56),
         "imagenet200": (224, 90, 256, 200 * 1300, 1.82)}


def folder_name(root: Path, id_name: str) -> str:
    return f"openood-{id_name}-{file_tag(root / 'benchmark_imglist' / id_name)}"


def prepare(data: Mapping[str, Path], folder: Path) -> None:
    for id_name in BENCHMARKS:
        key = f"openood-{id_name}"
        if key in data and not (folder / folder_name(data[key], id_name)).is_dir():
            materialize(data[key], id_name, folder / folder_name(data[key], id_name))


def runs(data: Mapping[str, Path], seeds: Sequence[int]) -> list[PaperRun]:
    out = []
    for id_name, b in BENCHMARKS.items():
        if f"openood-{id_name}" not in data:
            continue
        base = f"{PREPARED}/{folder_name(data[f'openood-{id_name}'], id_name)}"
        val = Path(b.ood_val).stem.removeprefix("val_")
        where: dict[str, Any] = {
            "data.root": f"{base}/id", "data.target": id_name,  # ood/folder reads folders only
            "ood.near": [f"{base}/near/{k}" for k in b.near], "ood.far": [f"{base}/far/{k}" for k in b.far],
            "ood.val": [f"{base}/val/{val}"], "ood.covariate": False}  # ood/folder scores every listed image
        size, epochs, batch, n, gmacs = SCALE[id_name]
        scale = {"data.image_size": size, "data.batch_size": batch, "model.name": "resnet18", "model.width": 1.0,
                 "train.epochs": epochs, "train.lr": 0.1, "train.schedule": "cosine"}
        out += [PaperRun("ood/folder", where, scale, id_name, f"openood-{id_name}", seed, Cost(epochs * n, gmacs))
                for seed in seeds]
    return out


register_paper(Protocol(
    "ood", "Generalized Out-of-Distribution Detection: A Survey (arXiv:2110.11334), OpenOOD v1.5 (arXiv:2306.09301)",
    NEEDS, runs, metrics=("id_acc", "best_near_auroc", "best_far_auroc", "auroc"), prepare=prepare,
))
