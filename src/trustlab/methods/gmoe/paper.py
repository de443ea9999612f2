"""GMoE's paper protocol for ``trustlab bench --suite paper`` (Sparse Mixture-of-Experts are Domain Generalizable
Learners, arXiv:2206.04046).

Leave-one-domain-out on DomainBed PACS / VLCS / OfficeHome / TerraIncognita with training-domain validation, through
the existing ``gmoe/folder`` (GMoE) and ``gmoe/dense-folder`` (the dense ViT) recipes at ViT-S/16 size (patch 16,
dim 384, depth 12, 6 heads, 224 px), Adam with the paper's per-dataset learning rate, weight decay 1e-6, batch 32,
5001 steps (as epochs over one split's training images), 3 seeds (/work/shared/papers/05-gmoe.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from trustlab.bench.paper import (
    DOMAINBED_DOMAINS,
    Cost,
    PaperRun,
    Protocol,
    domainbed_need,
    lodo_train_images,
    register_paper,
)

DATASETS = ("PACS", "VLCS", "OfficeHome", "TerraIncognita")
LR = {"PACS": 3e-5, "VLCS": 3e-5, "OfficeHome": 1e-5, "TerraIncognita": 5e-5}
STEPS, BATCH, SIZE = 5001, 32, 224
VIT_S_GMACS = 4.6  # DeiT-S / ViT-S/16 at 224 px (timm's model table); top-1 MoE FFNs keep it about the same
VIT_S = {"vit.patch_size": 16, "vit.embed_dim": 384, "vit.depth": 12, "vit.num_heads": 6, "moe.proj_dim": 384}


def runs(data: Mapping[str, Path], seeds: Sequence[int]) -> list[PaperRun]:
    out = []
    for name in DATASETS:
        if name not in data:
            continue
        n = lodo_train_images(name)
        epochs = max(1, math.ceil(STEPS * BATCH / n))
        for seed in seeds:
            for target in DOMAINBED_DOMAINS[name]:
                for recipe in ("gmoe/folder", "gmoe/dense-folder"):
                    where = {"data.name": "folder", "data.root": str(data[name]), "data.target": target}
                    scale = {"data.image_size": SIZE, "data.batch_size": BATCH, "train.optimizer": "adam",
                             "train.lr": LR[name], "train.weight_decay": 1e-6, "train.epochs": epochs, **VIT_S}
                    out.append(PaperRun(recipe, where, scale, f"{name}/{target}", name, seed,
                                        Cost(epochs * n, VIT_S_GMACS)))
    return out


register_paper(Protocol(
    "gmoe", "Sparse Mixture-of-Experts are Domain Generalizable Learners (arXiv:2206.04046)",
    [domainbed_need(d) for d in DATASETS], runs, metrics=("heldout_acc", "indomain_acc"),
    not_wired="ImageNet-pretrained DeiT-S initialisation: vit_moe has no timm-checkpoint loader, so both ViTs "
              "train from scratch (model.weights would need the method's key mapping)",
))
