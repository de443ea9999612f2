"""GMoE's paper protocol for ``trustlab bench --suite paper`` (Sparse Mixture-of-Experts are Domain Generalizable
Learners, arXiv:2206.04046).

Leave-one-domain-out on DomainBed PACS / VLCS / OfficeHome / TerraIncognita with training-domain validation, through
the existing ``gmoe/folder`` (GMoE) and ``gmoe/dense-folder`` (the dense ViT) recipes at ViT-S/16 size (patch 16,
dim 384, depth 12, 6 heads, 224 px), Adam with the paper's per-dataset learning rate, weight decay 1e-6, batch 32,
5001 steps (as epochs over one split's training images), 3 seeds (/work/shared/papers/05-gmoe.md). GMoE's MoE
layers sit in blocks 8 and 10 (0-based), as the reference's ``moe_layers=['F'] * 8 + ['S', 'F'] * 2``.

``--data deit_s=<timm deit_small_patch16_224 ImageNet checkpoint>`` (optional) starts both arms from it, as the
paper: :func:`prepare` builds each arm's model from its run's own config with the method's builder, loads the
checkpoint with ``load_dense`` (GMoE's experts become copies of each block's pretrained MLP; a fresh seeded head of
the dataset's classes) and saves the whole state under ``<out>/paper/prepared``, which the run loads strictly through
``model.weights``. The classifier normalises with mean = std = 0.5, not ImageNet's statistics (a deviation).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from trustlab.bench.paper import (
    DOMAINBED_CLASSES,
    DOMAINBED_DOMAINS,
    PREPARED,
    Cost,
    DataNeed,
    PaperRun,
    Protocol,
    domainbed_need,
    file_tag,
    lodo_train_images,
    register_paper,
)
from trustlab.errors import DataError

DATASETS = ("PACS", "VLCS", "OfficeHome", "TerraIncognita")
LR = {"PACS": 3e-5, "VLCS": 3e-5, "OfficeHome": 1e-5, "TerraIncognita": 5e-5}
STEPS, BATCH, SIZE = 5001, 32, 224
VIT_S_GMACS = 4.6  # DeiT-S / ViT-S/16 at 224 px (timm's model table); top-1 MoE FFNs keep it about the same
VIT_S = {"vit.patch_size": 16, "vit.embed_dim": 384, "vit.depth": 12, "vit.num_heads": 6, "moe.proj_dim": 384}
MOE_BLOCKS = [8, 10]  # the reference's moe_layers=['F'] * 8 + ['S', 'F'] * 2 (0-based)
CLASSES = DOMAINBED_CLASSES
RECIPES = ("gmoe/folder", "gmoe/dense-folder")
DEIT_S = DataNeed("deit_s", "timm DeiT-S ImageNet weights", "a deit_small_patch16_224 state_dict (.pth, or "
                  "{'model': state_dict} as facebookresearch/deit's deit_small_patch16_224-cd65a155.pth, or timm's "
                  ".safetensors)", "timm / DeiT (https://github.com/facebookresearch/deit)", kind="file",
                  optional=True)


def prepared_name(source: Path, recipe: str, num_classes: int) -> str:
    return f"deit_s-{file_tag(source)}-{recipe.split('/')[1]}-{num_classes}cls.pt"


def read_vit_checkpoint(path: Path) -> dict[str, Any]:
    """A timm ViT state_dict (raw, under 'model' / 'state_dict', or .safetensors) with trustlab's ``vit.`` prefix;
    one DataError line when it is not one."""
    import torch

    where = f"--data deit_s '{path}' must be a timm deit_small_patch16_224 state_dict"
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: Any = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # not a checkpoint, corrupt, or pickled objects weights_only refuses
        raise DataError(f"{where}; it cannot be read ({type(e).__name__})") from None
    for key in ("model", "state_dict"):
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
    if not isinstance(state, Mapping) or "pos_embed" not in state or "blocks.0.mlp.fc1.weight" not in state:
        raise DataError(f"{where}; it has no pos_embed / blocks.0.mlp.fc1.weight")
    return {f"vit.{k}": v for k, v in state.items()}


def prepare(data: Mapping[str, Path], folder: Path) -> None:
    """Each arm's start from DeiT-S per dataset's class count, built from the run's own config (skipped when
    written before)."""
    import torch

    from trustlab.config import override_strings
    from trustlab.errors import ConfigError
    from trustlab.methods.gmoe.method import build_vit_model
    from trustlab.registry import RECIPES as RECIPE_REGISTRY
    from trustlab.runs import atomic

    if "deit_s" not in data:
        return
    state = None
    for run in runs(data, (0,)):  # one per (arm, dataset); the same file serves every target and seed
        path = folder / prepared_name(data["deit_s"], run.recipe, CLASSES[run.data])
        if path.is_file():
            continue
        state = state if state is not None else read_vit_checkpoint(data["deit_s"])
        ov = {k: v for k, v in run.overrides.items() if k != "model.weights"}
        torch.manual_seed(0)
        model = build_vit_model(RECIPE_REGISTRY.get(run.recipe).config(None, override_strings(ov)), CLASSES[run.data])
        try:
            model.load_dense(state)  # the head keeps its fresh init (new classes), as DomainBed's classifier
        except ConfigError as e:
            raise DataError(f"--data deit_s '{data['deit_s']}' does not fit the ViT-S of {run.recipe}: {e}") from None
        atomic.save_torch(path, model.state_dict())


def runs(data: Mapping[str, Path], seeds: Sequence[int]) -> list[PaperRun]:
    out = []
    for name in DATASETS:
        if name not in data:
            continue
        n = lodo_train_images(name)
        epochs = max(1, math.ceil(STEPS * BATCH / n))
        for seed in seeds:
            for target in DOMAINBED_DOMAINS[name]:
                for recipe in RECIPES:
                    where = {"data.name": "folder", "data.root": str(data[name]), "data.target": target}
                    scale = {"data.image_size": SIZE, "data.batch_size": BATCH, "train.optimizer": "adam",
                             "train.lr": LR[name], "train.weight_decay": 1e-6, "train.epochs": epochs, **VIT_S}
                    if recipe == "gmoe/folder":
                        scale["vit.moe_blocks"] = MOE_BLOCKS
                    if "deit_s" in data:  # written by prepare() before the runs
                        scale["model.weights"] = f"{PREPARED}/{prepared_name(data['deit_s'], recipe, CLASSES[name])}"
                    out.append(PaperRun(recipe, where, scale, f"{name}/{target}", name, seed,
                                        Cost(epochs * n, VIT_S_GMACS)))
    return out


register_paper(Protocol(
    "gmoe", "Sparse Mixture-of-Experts are Domain Generalizable Learners (arXiv:2206.04046)",
    [*(domainbed_need(d) for d in DATASETS), DEIT_S], runs, metrics=("heldout_acc", "indomain_acc"),
    prepare=prepare,
))
