"""Registration of the GMoE recipes (their run function is in run.py): GMoE, the dense ViT beside it and the
fusion ablation, on Digits-DG and DomainBed folders.

* ``gmoe/digits-dg``         GMoE (``vit_moe``: 6 experts, cosine router, top-1) leaving ``data.target`` out
* ``gmoe/dense-digits-dg``   the same ViT with dense MLPs (``model.name=vit``), same budget
* ``gmoe/fusion-digits-dg``  GMoE + our layer-fusion block (``vit.fusion=layers``)
* ``gmoe/folder``            GMoE on ``root/<domain>/<class>/<image>`` (PACS, VLCS, OfficeHome, ...)
* ``gmoe/dense-folder``      the dense ViT on a folder dataset

The ERM CNN baseline is ``erm/digits-dg`` (``small_cnn``). Every run also measures routing: expert
specialisation against a permutation control and against the same model at its initial weights (the very
weights this run started from), load balance
over training, and writes ``artifacts/routing.png`` (per expert: classes, domains, visual attributes).
"""

from __future__ import annotations

from typing import Any

from trustlab.methods.gmoe.config import GMoERecipeConfig
from trustlab.methods.gmoe.run import run_gmoe
from trustlab.recipes import TINY_FOLDER, Recipe, register_recipe


def _defaults(data: dict[str, Any], model: str, **vit: Any) -> dict[str, Any]:
    return {
        "data": data,
        "model": {"name": model, "width": 1.0},
        "train": {"epochs": 12, "optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.05, "schedule": "cosine",
                  "warmup_epochs": 1, "grad_clip": 1.0},
        "vit": vit,
        "moe": {"proj_dim": 48},
    }


DIGITS = {"name": "digits-dg", "target": "mnistm", "image_size": 32, "batch_size": 32, "max_per_domain": 500}
FOLDER = {"name": "folder", "target": "", "image_size": 64, "batch_size": 32}
TINY = {"data.max_per_domain": 32, "train.epochs": 1, "train.max_steps_per_epoch": 2, "vit.depth": 2,
        "vit.pretrained": "none"}
TINY_ON_FOLDER = {**TINY, "data.root": TINY_FOLDER, "data.target": "d0", "data.image_size": 32}
# folder datasets are 64 px by default: the shipped ViT is 32 px (its position embedding), so they train from scratch
FOLDER_VIT = {"pretrained": "none"}

for _name, _desc, _data, _model, _vit, _tiny in [
    ("gmoe/digits-dg", "GMoE (sparse MoE ViT, 6 experts, cosine top-1) on Digits-DG (data.target held out)",
     DIGITS, "vit_moe", {}, TINY),
    ("gmoe/dense-digits-dg", "the dense ViT beside GMoE (same recipe, model vit) on Digits-DG", DIGITS, "vit", {},
     TINY),
    ("gmoe/fusion-digits-dg", "GMoE + layer-fusion block (ablation) on Digits-DG", DIGITS, "vit_moe",
     {"fusion": "layers"}, TINY),
    ("gmoe/folder", "GMoE on a DomainBed/Dassl folder dataset (data.root, data.target)", FOLDER, "vit_moe", FOLDER_VIT,
     TINY_ON_FOLDER),
    ("gmoe/dense-folder", "the dense ViT on a DomainBed/Dassl folder dataset", FOLDER, "vit", FOLDER_VIT,
     TINY_ON_FOLDER),
]:
    register_recipe(Recipe(name=_name, description=_desc, config_cls=GMoERecipeConfig, run=run_gmoe,
                           defaults=_defaults(_data, _model, **_vit), tiny=dict(_tiny)))

