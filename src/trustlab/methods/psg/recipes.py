"""Recipes ``psg/two-stage`` and ``psg/psgtr`` on the embedded psg-scenes, or ``data.name=psg data.root=...``.

Usage::

    trustlab run psg/two-stage --set train.seed=1
    trustlab run psg/psgtr --set train.seed=1
    trustlab run psg/two-stage --set data.name=psg --set data.root=/data/psg --set data.max_images=2000
"""

from __future__ import annotations

from typing import Any

from trustlab.methods.psg.config import PSGTRRecipeConfig, TwoStageRecipeConfig
from trustlab.methods.psg.run import run_psgtr, run_two_stage
from trustlab.recipes import Recipe, register_recipe

TWO_STAGE_TINY: dict[str, Any] = {"method.seg_epochs": 1, "method.rel_epochs": 2, "data.max_train": 24,
                                  "data.max_test": 12, "method.figures": False}
PSGTR_TINY: dict[str, Any] = {"method.epochs": 1, "data.max_train": 16, "data.max_test": 8, "method.figures": False}

register_recipe(Recipe(
    name="psg/two-stage",
    description="PSG two-stage: tiny panoptic segmenter + MOTIFS-style relation head; PredCls/SGCls/SGDet, "
                "frequency baseline, logit-adjusted variant",
    config_cls=TwoStageRecipeConfig, run=run_two_stage, defaults={}, tiny=TWO_STAGE_TINY,
))
register_recipe(Recipe(
    name="psg/psgtr",
    description="PSG one-stage PSGTR: a tiny DETR with triplet queries, Hungarian matching, SGDet",
    config_cls=PSGTRRecipeConfig, run=run_psgtr, defaults={}, tiny=PSGTR_TINY,
))
