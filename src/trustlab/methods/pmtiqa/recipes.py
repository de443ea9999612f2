"""Recipe ``pmtiqa/distort`` (registration: defaults and tiny overrides; the run is
:func:`trustlab.methods.pmtiqa.run.run_pmtiqa`, the config :class:`trustlab.methods.pmtiqa.config.PMTRecipeConfig`).

Usage::

    trustlab run pmtiqa/distort --set train.seed=1 --set data.split_seed=1
    trustlab run pmtiqa/distort --set data.folds=7 --set data.fold=3        # the claims' k-fold
    trustlab run pmtiqa/distort --set data.name=csv --set data.meta=koniq.csv --set data.root=images \
        --set data.layout=koniq
"""

from __future__ import annotations

from typing import Any

from trustlab.methods.pmtiqa.config import PMTRecipeConfig
from trustlab.methods.pmtiqa.run import run_pmtiqa
from trustlab.recipes import Recipe, register_recipe

DEFAULTS: dict[str, Any] = {
    "model": {"name": "resnet18", "width": 0.125},
    # eval_every = epochs: the val correlations once, after the last epoch (--set train.eval_every=1: a val curve).
    # warmup_epochs 1 (linear): from scratch at lr 3e-3 with no warm-up, 1 of 49 +MS quick runs never left the mean
    # predictor (train L1 18.0 -> 17.5); with it none of 56 validation probes stalled (README "Warm-up").
    "train": {"epochs": 8, "optimizer": "adam", "lr": 3e-3, "weight_decay": 5e-4, "schedule": "cosine",
              "warmup_epochs": 1, "eval_every": 8},
}
TINY: dict[str, Any] = {"train.epochs": 2, "data.max_train": 64, "method.test_patches": 1}


register_recipe(Recipe(
    name="pmtiqa/distort",
    description="PMT-IQA on the embedded iqa-distort data (proxy MOS), or data.name=csv for a pyiqa-style CSV",
    config_cls=PMTRecipeConfig, run=run_pmtiqa, defaults=DEFAULTS, tiny=TINY,
))
