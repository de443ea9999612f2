"""Registration of the minmax recipes (their run functions are in run.py):

* ``attack/ensemble``, ``attack/universal``, ``attack/eot``: train victims, attack them with min-max (APGDA),
  average and max weighting at the same eps and iterations;
* ``attack/minmax-at``: adversarial training over l_inf / l_2 / l_1 with min-max (or average / max) type weights.

    trustlab run attack/minmax-at --set at.mode=average --set train.epochs=5
"""

from __future__ import annotations

from trustlab.methods.minmax.config import ATRecipeConfig, EnsembleRecipeConfig, EOTRecipeConfig, UniversalRecipeConfig
from trustlab.methods.minmax.run import run_at, run_ensemble, run_eot, run_universal
from trustlab.recipes import Recipe, register_recipe

DATA = {"name": "mnist5k", "image_size": 28, "batch_size": 64}
TRAIN = {"epochs": 2, "lr": 0.05, "schedule": "cosine"}
MODEL = {"name": "small_cnn:depth=3", "width": 0.125}

# tiny: a few seconds on 2 cores (the generated contract test runs every recipe with these)
_TINY_COMMON = {"data": {"max_per_domain": 200}, "train": {"epochs": 1}, "eval": {"samples": 10, "batch_size": 10,
                                                                                   "compare": ["minmax", "average"],
                                                                                   "grid": 4}}
_TINY_MODEL = {"name": "small_cnn:depth=1:norm=none", "width": 0.0625}

register_recipe(Recipe(
    "attack/ensemble", "Min-max ensemble attack (APGDA) vs average/max weighting over K trained models",
    EnsembleRecipeConfig, run_ensemble, {"data": DATA, "train": TRAIN, "attack": {"eps": 0.2, "steps": 20}},
    tiny={**_TINY_COMMON, "attack": {"steps": 3},
          "ensemble": {"models": ["small_cnn:width=0.0625:depth=1:norm=none", "small_cnn:width=0.0625:depth=2"]}},
))
register_recipe(Recipe(
    "attack/universal", "Min-max universal perturbation over K inputs vs average/max weighting",
    UniversalRecipeConfig, run_universal,
    {"data": DATA, "train": TRAIN, "model": MODEL,
     "attack": {"eps": 0.3, "steps": 20, "beta": 100.0, "gamma": 10.0, "init": "zero"}},
    tiny={**_TINY_COMMON, "model": _TINY_MODEL, "attack": {"steps": 3}, "universal": {"k": 3},
          "eval": {**_TINY_COMMON["eval"], "samples": 9, "heldout": 6}},
))
register_recipe(Recipe(
    "attack/eot", "Min-max attack robust to K data transformations (EOT) vs average/max weighting",
    EOTRecipeConfig, run_eot,
    {"data": DATA, "train": TRAIN, "model": MODEL,
     "attack": {"eps": 0.2, "steps": 20, "beta": 50.0, "gamma": 3.0}, "eval": {"samples": 150, "batch_size": 150}},
    tiny={**_TINY_COMMON, "model": _TINY_MODEL, "attack": {"steps": 3}},
))
register_recipe(Recipe(
    "attack/minmax-at", "Adversarial training over l_inf/l_2/l_1 with min-max (or average/max) type weights",
    ATRecipeConfig, run_at,
    {"data": DATA, "model": {"name": "small_cnn:depth=2:norm=none", "width": 0.125},
     "train": {"epochs": 3, "lr": 0.05, "schedule": "cosine"},
     "at": {"types": ["linf:0.15", "l2:1.0", "l1:5.0"], "steps": 5}},
    tiny={"data": {"max_per_domain": 64}, "train": {"epochs": 1}, "model": {"width": 0.0625},
          "at": {"steps": 1}, "eval": {"samples": 8, "steps": 1, "grid": 4}},
))
