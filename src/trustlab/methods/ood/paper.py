"""Generalized OOD's paper protocol for ``trustlab bench --suite paper`` (Generalized Out-of-Distribution Detection:
A Survey, arXiv:2110.11334; OpenOOD v1.5, arXiv:2306.09301): declared, not wired.

The protocol: OpenOOD v1.5's image lists (ID CIFAR-10 / CIFAR-100 / ImageNet-200 with their near- and far-OOD sets,
read by ``data.name=openood-<id>`` and :func:`trustlab.data.openood_lists.ood_sets`). Not wired: ``ood/folder``
takes OOD sets as folders (``ood.near`` / ``ood.far``) and ``ood/ood`` only the embedded grey sets, so the lists
cannot reach a recipe through ``data.name`` without a change in the method's data loading.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from trustlab.bench.paper import DataNeed, PaperRun, Protocol, register_paper
from trustlab.data.openood_lists import BENCHMARKS, RELEASE

NEEDS = [DataNeed(f"openood-{b.id}", f"OpenOOD v1.5 {b.id}",
                  f"ROOT/benchmark_imglist/{b.id}/*.txt and ROOT/{b.images}/", RELEASE,
                  probe=(f"benchmark_imglist/{b.id}", b.images)) for b in BENCHMARKS.values()]


def runs(data: Mapping[str, Path], seeds: Sequence[int]) -> list[PaperRun]:
    return []  # see the module docstring


register_paper(Protocol(
    "ood", "Generalized Out-of-Distribution Detection: A Survey (arXiv:2110.11334), OpenOOD v1.5 (arXiv:2306.09301)",
    NEEDS, runs, metrics=("auroc",),
    not_wired="ood/folder reads OOD sets as folders and ood/ood only embedded sets; the OpenOOD lists "
              "(data.name=openood-<id>, ood_sets) need the OOD recipes to accept them",
))
