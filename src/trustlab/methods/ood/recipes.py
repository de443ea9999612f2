"""Recipes of the five generalized-OOD settings and the folder path, each with an embedded default.

=============  ======================================================================================
``ood/ad``     anomaly detection: one class normal, the rest anomalous, one-vs-rest, mean AUROC
``ood/nd``     novelty detection: known classes vs held-out classes (one split)
``ood/osr``    open-set recognition: K known / rest unknown over random splits; acc, AUROC, OSCR
``ood/ood``    OOD detection: ID classifier vs near/far OOD sets, covariate shift reported apart
``ood/od``     outlier detection: find the outliers in one contaminated, unlabelled set
``ood/folder`` OOD detection for a user's ImageFolder (ID) + OOD folders + checkpoint
=============  ======================================================================================

Defaults take minutes on 2 CPU cores (small_cnn at width 0.25, a subset of the ID train split).
"""

from __future__ import annotations

from typing import Any

from trustlab.methods.ood.anomaly import run_ad, run_od
from trustlab.methods.ood.class_settings import run_nd, run_osr
from trustlab.methods.ood.config import (
    CLASSICAL,
    ADRecipeConfig,
    FolderRecipeConfig,
    NDRecipeConfig,
    ODRecipeConfig,
    OODRecipeConfig,
    SplitRecipeConfig,
)
from trustlab.methods.ood.ood_setting import run_folder, run_ood
from trustlab.recipes import TINY_FOLDER, Recipe, register_recipe

SMALL_MODEL = {"name": "small_cnn", "width": 0.25}
TRAIN = {"epochs": 4, "lr": 0.05, "schedule": "cosine"}

OOD_DEFAULTS: dict[str, Any] = {
    "data": {"name": "auto", "max_per_domain": 10000, "batch_size": 128},
    "model": SMALL_MODEL,
    "train": TRAIN,
}
SPLIT_DEFAULTS: dict[str, Any] = {
    "data": {"name": "mnist5k", "batch_size": 64},
    "model": SMALL_MODEL,
    "train": {"epochs": 5, "lr": 0.05, "schedule": "cosine"},
    "detectors": {"names": ["msp", "mls", "energy", "gen", "mds", "rmds", "knn", "vim"]},
}
AD_DEFAULTS: dict[str, Any] = {"data": {"name": "mnist5k"}, "detectors": {"names": list(CLASSICAL)}}
OD_DEFAULTS: dict[str, Any] = {"data": {"name": "auto"}, "detectors": {"names": list(CLASSICAL)}}
FOLDER_DEFAULTS: dict[str, Any] = {  # data: FolderDataConfig's own defaults
    "model": {"name": "small_cnn", "width": 0.5},
    "train": {"epochs": 10, "lr": 0.02},
}

# A few seconds each on 2 cores (the generated contract test runs every recipe with them). ood/folder's
# ID and OOD folders are two domains of the generated test folder (TINY_FOLDER).
_TINY_TRAIN: dict[str, Any] = {"train.epochs": 1, "model.width": 0.1, "data.max_per_domain": 200}
_TINY_CLASSICAL: dict[str, Any] = {"detectors.names": ["iforest", "lof", "ocsvm", "knn", "deep_svdd"],
                                   "detectors.params": {"knn": {"k": 5}, "deep_svdd": {"epochs": 1}}}
_TINY_SPLIT: dict[str, Any] = {**_TINY_TRAIN, "data.name": "mnist5k", "split.max_test": 60, "split.id_val": 30,
                               "split.val_size": 20, "split.figures": False}
TINY: dict[str, dict[str, Any]] = {
    "ood/ad": {"data.name": "mnist5k", "ad.classes": [0, 1], "ad.max_normal": 40, "ad.max_test": 80,
               "ad.figures": False, **_TINY_CLASSICAL},
    "ood/nd": {**_TINY_SPLIT, "split.known_classes": [0, 1, 2], "detectors.names": ["msp", "mds", "energy"]},
    "ood/osr": {**_TINY_SPLIT, "split.splits": 2, "split.known": 4, "detectors.names": ["msp", "mls"]},
    "ood/ood": {**_TINY_TRAIN, "ood.max_test": 60, "ood.ood_size": 40, "ood.val_size": 20, "ood.id_val": 40,
                "ood.figures": False, "detectors.names": ["msp", "odin", "knn", "vim"]},
    "ood/od": {"data.name": "mnist5k", "od.size": 200, "od.rate": 0.1, "od.figures": False, **_TINY_CLASSICAL},
    "ood/folder": {"data.root": f"{TINY_FOLDER}/d0", "ood.far": [f"{TINY_FOLDER}/d1"],
                   "train.epochs": 1, "model.width": 0.1, "ood.val_size": 20, "ood.figures": False,
                   "detectors.names": ["msp", "knn", "vim"], "detectors.params": {"knn": {"k": 3}}},
}

for name, description, cls, run, defaults in (
    ("ood/ad", "Anomaly detection: each class normal in turn, one-vs-rest mean AUROC (classical + Deep SVDD)",
     ADRecipeConfig, run_ad, AD_DEFAULTS),
    ("ood/nd", "Novelty detection: detect held-out classes of the ID dataset (split.known_classes)",
     NDRecipeConfig, run_nd, SPLIT_DEFAULTS),
    ("ood/osr", "Open-set recognition, MNIST-6/4 style random splits: closed-set acc, AUROC, OSCR",
     SplitRecipeConfig, run_osr, SPLIT_DEFAULTS),
    ("ood/ood", "OOD detection on Fashion-MNIST (else MNIST-5k): near/far OOD, covariate shift, 12 detectors",
     OODRecipeConfig, run_ood, OOD_DEFAULTS),
    ("ood/od", "Outlier detection in a contaminated unlabelled set with a known outlier rate",
     ODRecipeConfig, run_od, OD_DEFAULTS),
    ("ood/folder", "OOD leaderboard for your ImageFolder (data.root), OOD folders (ood.near/far), checkpoint",
     FolderRecipeConfig, run_folder, FOLDER_DEFAULTS),
):
    register_recipe(Recipe(name=name, description=description, config_cls=cls, run=run, defaults=defaults,
                           tiny=TINY[name]))
