"""CoOp's paper protocol for ``trustlab bench --suite paper`` (Learning to Prompt for Vision-Language Models,
arXiv:2109.01134).

CoOp vs zero-shot CLIP (and the recipe's prompt ensembling and linear probe) at 1/2/4/8/16 shots, 3 seeds, on the nine
Dassl datasets through their released splits (``--data OxfordPets=<$DATA/oxford_pets>``, ...), with a local open_clip
checkpoint (``--data clip=<file>``, read as open_clip's ``RN50``, the paper's main backbone; without it the
embedded tiny CLIP stands in, which is not the paper's). The ``coop/fewshot`` recipe reads folders
(``data.name=folder``), so :func:`prepare` lays each released split out once as a Dassl-layout folder (hard links,
copies across file systems; :func:`trustlab.data.dassl_splits.materialize`) under ``<out>/paper/prepared``: the
train/val/test images are the released ones, class folders named by the file's class names (CoOp's prompts use them
with ``_`` -> space, as the recipe does). The recipe holds each split's images in memory as tensors: the large sets
(Food101, SUN397) need a node with that memory (about 0.6 MB per image at 224 px).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from trustlab.bench.paper import PREPARED, Cost, DataNeed, PaperRun, Protocol, file_tag, register_paper
from trustlab.data.dassl_splits import materialize

COOP_DATA = "CoOp's DATASETS.md (https://github.com/KaiyangZhou/CoOp/blob/main/DATASETS.md)"
# dataset: (classes, images in its released test split) (CoOp's DATASETS.md / the paper's table)
DATASETS = {"OxfordPets": (37, 3669), "OxfordFlowers": (102, 2463), "DescribableTextures": (47, 1692),
            "EuroSAT": (10, 8100), "StanfordCars": (196, 8041), "Food101": (101, 30300), "SUN397": (397, 19850),
            "Caltech101": (100, 2465), "UCF101": (101, 3783)}
NEEDS = [DataNeed(d, f"{d} (Dassl split)", f"ROOT/split_zhou_{d}.json and its image folder", COOP_DATA,
                  probe=(f"split_zhou_{d}.json",)) for d in DATASETS]
NEEDS.append(DataNeed("clip", "open_clip checkpoint (OpenAI or LAION)", "a local open_clip RN50 .pt/.bin file",
                      "open_clip's pretrained table (https://github.com/mlfoundations/open_clip)", kind="file",
                      optional=True))
SHOTS = [1, 2, 4, 8, 16]
SHOT_EPOCHS = {1: 50, 2: 100, 4: 100, 8: 200, 16: 200}  # CoOp's per-shot schedules (its configs/trainers)
RN50_GMACS = 5.4  # CLIP RN50 image encoder at 224 px; CoOp backpropagates through the text encoder only


def folder_name(root: Path, name: str) -> str:
    return f"dassl-{name}-{file_tag(root / f'split_zhou_{name}.json')}"


def prepare(data: Mapping[str, Path], folder: Path) -> None:
    for name in DATASETS:
        if name in data and not (folder / folder_name(data[name], name)).is_dir():
            materialize(data[name], folder / folder_name(data[name], name), name)


def runs(data: Mapping[str, Path], seeds: Sequence[int]) -> list[PaperRun]:
    out = []
    clip: dict[str, Any] = {"clip.arch": "RN50", "clip.weights": str(data["clip"])} if "clip" in data else {}
    for name, (classes, n_test) in DATASETS.items():
        if name not in data:
            continue
        where = {"data.name": "folder", "data.root": f"{PREPARED}/{folder_name(data[name], name)}", **clip}
        # the image encoder's forward (a third of a training step's FLOPs) on shots x classes images per epoch of
        # each shot's schedule, and on the test set once per shot count: an estimate
        cost = Cost(classes * sum(k * e for k, e in SHOT_EPOCHS.items()) + len(SHOTS) * n_test, RN50_GMACS / 3)
        out += [PaperRun("coop/fewshot", where, {"fewshot.shots": SHOTS}, name, name, seed, cost) for seed in seeds]
    return out


register_paper(Protocol(
    "coop", "Learning to Prompt for Vision-Language Models (arXiv:2109.01134)", NEEDS, runs,
    metrics=("accuracy",), prepare=prepare,
    not_wired="ImageNet and its shifted variants (no split_zhou file; Dassl reads them from folders)",
))
