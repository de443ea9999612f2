"""Recipes ``distill/{dc,dsa,dm,dd,full-data}`` and ``backdoor/{naive,doorping}-{dc,dsa,dm,dd}``.

All share :func:`~trustlab.methods.doorping.run.run_doorping` (``run.py``) and
:class:`~trustlab.methods.doorping.config.DoorpingRecipeConfig`; a
recipe only fixes ``distill.method`` and ``attack.kind`` (both can still be overridden). One run:

1. load ``data.name`` (mnist5k | fashion-mnist) as float tensors; validate ipc / trigger / portion / target;
2. poison the training set (NaiveAttack, DOORPING), distil it (DOORPING re-optimises its trigger on every
   network the distiller updates), save ``artifacts/distilled.pt`` + ``distilled.png`` (+ ``trigger.png``);
3. train ``eval.num_models`` fresh models on the distilled set: ``cta``, ``asr`` (non-target test images,
   stamped, clipped and 8-bit quantised), ``asr_reference`` and ``asr_unclipped`` (see ``evaluate.py``),
   mean and std; clean runs are measured with NaiveAttack's white patch, or with the trigger of the run
   named by ``attack.trigger_from`` (the trigger on a clean distilled set, the control of the claims);
   backdoor runs also report ``asr_clean_real`` (the trigger on models trained on ipc clean real images
   per class);
4. run ``defense.names`` on the first model and the distilled set (``summary["defenses"]``).

Defaults are sized for a laptop CPU (minutes): MNIST-5k, small_cnn at width 0.25, ipc 10, 200 iterations,
5 evaluation models of 150 epochs; ``--set`` paper values for the real thing (README, "full"). Every
recipe's ``tiny`` overrides (:data:`TINY`) make a run take seconds.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from trustlab.methods.doorping.config import NETS, DoorpingRecipeConfig
from trustlab.methods.doorping.run import clean_subset, hold_out, run_doorping  # noqa: F401  (tests, benchmarks)
from trustlab.recipes import Recipe, register_recipe

# ------------------------------------------------------------------------------------- registration

CPU_DEFAULTS: dict[str, Any] = {
    "data": {"name": "mnist5k", "image_size": 32, "batch_size": 256},
    "model": {"name": "small_cnn", "width": 0.25},
    "train": {"epochs": 150, "lr": 0.01, "schedule": "step", "step_size": 75, "gamma": 0.1},
    "distill": {"ipc": 10, "iterations": 200, "batch_real": 64, "outer_loop": 5, "inner_loop": 5},
    "eval": {"num_models": 5},
}

# What makes any recipe of this package take seconds (the generated contract test runs each with them).
TINY: dict[str, Any] = {
    "threads": 1, "data.max_per_domain": 200, "data.image_size": 16, "eval.test_limit": 60, "model.width": 0.0625,
    "eval.num_models": 1, "train.epochs": 2, "train.step_size": 1, "distill.iterations": 1, "distill.batch_real": 4,
    "distill.outer_loop": 2, "distill.inner_loop": 1, "distill.dd_steps": 1, "attack.trigger_steps": 2,
    "attack.portion": 0.05, "distill.checkpoint_every": 1,
}

# The backdoor reference's network (baadd, of Liu et al., arXiv:2301.01197): no normalisation and a 192-unit
# hidden layer (DOORPING's "penultimate layer"). Fresh models of this net learn slowly with SGD 0.01 at small widths, so
# they are trained with Adam. The trigger and the synthetic images stay in [0, 1] by default (the reference
# leaves both unbounded: attack.trigger_clamp=false distill.clamp=false).
REFERENCE_ATTACK_SETTING: dict[str, Any] = {
    "net": asdict(NETS["reference"]),
    "train": {"epochs": 100, "optimizer": "adam", "lr": 0.001, "weight_decay": 0.0, "schedule": "step",
              "step_size": 50, "gamma": 0.1},
}

_DESCRIPTIONS = {
    "dc": "DC gradient matching", "dsa": "DSA (DC + siamese augmentation)", "dm": "DM distribution matching",
    "dd": "DD unrolled meta-gradient",
}


def _defaults(method: str, kind: str) -> dict[str, Any]:
    d = {key: dict(value) for key, value in CPU_DEFAULTS.items()}
    d["distill"]["method"] = method
    d["attack"] = {"kind": kind}
    if method == "dm":
        d["distill"]["batch_real"] = 128
    if kind != "none":  # the reference's attack setting: its net, no eval augmentation (bounded here)
        d.update(REFERENCE_ATTACK_SETTING)
        d["eval"]["augment"] = False
    if method == "none":
        d["train"] = {"epochs": 5, "lr": 0.01, "schedule": "cosine"}
        d["data"]["batch_size"] = 64
        d["eval"] = {"num_models": 1}
    return d


for _m, _text in _DESCRIPTIONS.items():
    register_recipe(Recipe(f"distill/{_m}", f"{_text}: distil the training set to ipc images per class, "
                           "evaluate fresh models (CTA)", DoorpingRecipeConfig, run_doorping, _defaults(_m, "none"),
                           tiny=TINY))
    for _kind, _label in (("naive", "NaiveAttack"), ("doorping", "DOORPING")):
        register_recipe(Recipe(f"backdoor/{_kind}-{_m}", f"{_label} backdoor against {_text}: CTA and ASR",
                               DoorpingRecipeConfig, run_doorping, _defaults(_m, _kind), tiny=TINY))
register_recipe(Recipe("distill/full-data", "no distillation: train on the whole (optionally poisoned) training "
                       "set, the upper bound of distillation", DoorpingRecipeConfig, run_doorping,
                       _defaults("none", "none"), tiny=TINY))
