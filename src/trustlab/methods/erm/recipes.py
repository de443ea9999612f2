"""Registration of recipes ``erm/digits-dg`` and ``erm/folder`` (leave-one-domain-out ERM; the run is in run.py)."""

from __future__ import annotations

from typing import Any

from trustlab.methods.erm.method import ERMRecipeConfig
from trustlab.methods.erm.run import run_erm
from trustlab.recipes import TINY_FOLDER, Recipe, register_recipe

DIGITS_DG_DEFAULTS: dict[str, Any] = {
    "data": {"name": "digits-dg", "target": "mnistm", "image_size": 32, "batch_size": 64},
    "model": {"name": "small_cnn", "width": 0.25},
    "train": {"epochs": 8, "lr": 0.02, "schedule": "cosine"},
}

# Overrides of a seconds-long run (the generated contract test runs every recipe with its ``tiny``).
TINY: dict[str, Any] = {"train.epochs": 1, "train.max_steps_per_epoch": 2, "data.max_per_domain": 32}

register_recipe(
    Recipe(
        name="erm/digits-dg",
        description="ERM on the embedded Digits-DG, one held-out domain (data.target)",
        config_cls=ERMRecipeConfig,
        run=run_erm,
        defaults=DIGITS_DG_DEFAULTS,
        tiny=TINY,
    )
)

register_recipe(
    Recipe(
        name="erm/folder",
        description="ERM on any DomainBed/Dassl folder dataset (data.root, data.target)",
        config_cls=ERMRecipeConfig,
        run=run_erm,
        defaults={
            "data": {"name": "folder", "target": "", "image_size": 64, "batch_size": 32},
            "model": {"name": "resnet18", "width": 0.5},
            "train": {"epochs": 10, "lr": 0.01},
        },
        tiny={**TINY, "data.root": TINY_FOLDER, "data.target": "d0", "model.name": "small_cnn", "model.width": 0.25,
              "data.image_size": 32},
    )
)
