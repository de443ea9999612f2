"""Recipes ``coop/fewshot`` and ``coop/dg`` (embedded captioned scenes or a user's folder)."""

from __future__ import annotations

from typing import Any

from trustlab.methods.coop.config import CoOpDGRecipeConfig, CoOpRecipeConfig
from trustlab.methods.coop.run import run_dg, run_fewshot
from trustlab.recipes import Recipe, register_recipe

TINY_RUN: dict[str, Any] = {"clip.pretrained": False, "coop.epochs": 2, "fewshot.nearest_k": 2}

register_recipe(
    Recipe(
        name="coop/fewshot",
        description="CoOp vs zero-shot prompts, prompt ensembling and a linear probe at 1-16 shots "
                    "(embedded scene tasks, or data.name=folder data.root=ImageFolder)",
        config_cls=CoOpRecipeConfig,
        run=run_fewshot,
        tiny={**TINY_RUN, "fewshot.tasks": ["colour"], "fewshot.shots": [1, 2]},
    )
)

register_recipe(
    Recipe(
        name="coop/dg",
        description="CoOp context learned on one style (fewshot.source) or source domains, tested on the others",
        config_cls=CoOpDGRecipeConfig,
        run=run_dg,
        tiny={**TINY_RUN, "fewshot.shots": [2]},
    )
)
