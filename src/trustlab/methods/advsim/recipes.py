"""Recipes ``advsim/attack`` (search safety-critical perturbations of a scenario set) and ``advsim/adv-train``
(fine-tune the planner on found scenarios, evaluate on held-out adversarial and original scenarios).

Usage::

    trustlab run advsim/attack --set adversary.optimizer=cma --set data.max_scenarios=10
    trustlab run advsim/attack --set stack.perception=gt            # the same search on true actor states
    trustlab run advsim/attack --set data.root=my_scenarios/         # your own scenario .json files
    trustlab run advsim/adv-train --set tune.n_train=6 --set tune.n_test=6
    trustlab run advsim/highway --set env.id=merge-v0 --set agent.policy=my_dqn.zip   # highway-env (advsim-sim extra)
"""

from __future__ import annotations

from typing import Any

from trustlab.methods.advsim.config import AdvTrainConfig, AttackConfig
from trustlab.methods.advsim.highway import HighwayConfig, run_highway
from trustlab.methods.advsim.run import run_adv_train, run_attack
from trustlab.recipes import Recipe, register_recipe

# A detector trained for seconds (it is poor; tiny runs check the plumbing, not the numbers).
TINY_DETECTOR: dict[str, Any] = {"detector.samples": 48, "detector.steps": 4, "detector.batch": 8}
TINY: dict[str, Any] = {**TINY_DETECTOR, "data.max_scenarios": 2, "adversary.budget": 3, "figures": 1}
TINY_TRAIN: dict[str, Any] = {**TINY_DETECTOR, "tune.n_train": 2, "tune.n_test": 2, "tune.trials": 2,
                              "adversary.budget": 3}

register_recipe(Recipe(
    name="advsim/attack",
    description="AdvSim: black-box search (bo/cma/random) for plausible actor perturbations that make the LiDAR "
                "(or gt) autonomy stack collide or near-miss, re-simulating the LiDAR in closed loop",
    config_cls=AttackConfig, run=run_attack, defaults={}, tiny=TINY,
))
register_recipe(Recipe(
    name="advsim/adv-train",
    description="AdvSim: fine-tune the planner's costs on found adversarial scenarios; collision rates on held-out "
                "adversarial and original scenarios vs the original stack and an original-only tuning control",
    config_cls=AdvTrainConfig, run=run_adv_train, defaults={}, tiny=TINY_TRAIN,
))
register_recipe(Recipe(
    name="advsim/highway",
    description="AdvSim in highway-env (pip install 'trustlab[advsim-sim]'): plausible actor-trajectory perturbations "
                "(bo/cma/random, random-search baseline) against your agent (callable or stable-baselines3 .zip)",
    config_cls=HighwayConfig, run=run_highway, defaults={},
    tiny={"env.scenarios": 2, "env.steps": 6, "adversary.budget": 3},
))
