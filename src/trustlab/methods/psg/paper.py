"""PSG's paper protocol for ``trustlab bench --suite paper`` (Panoptic Scene Graph Generation, arXiv:2207.11247).

The two-stage baseline and PSGTR on the released ``psg.json`` with COCO panoptic images and masks
(``--data PSG=<COCO's folder with psg.json linked into it>``), through the existing ``psg/two-stage`` and
``psg/psgtr`` recipes with ``data.name=psg``; SGDet recall / mean recall @20/50; 3 seeds. The models stay the
recipes' tiny segmenter / DETR (no ResNet-50 panoptic FPN in the zoo), at the images' resolution the recipes support.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from trustlab.bench.paper import Cost, DataNeed, PaperRun, Protocol, register_paper

# psg.json's file_name / pan_seg_file_name are relative to COCO's folder (train2017/..., panoptic_train2017/...):
# ROOT is that folder with psg.json in it (copied or linked)
PSG = DataNeed("PSG", "PSG (psg.json + COCO panoptic)", "ROOT/psg.json beside the folders its file_name and "
               "pan_seg_file_name entries name (ROOT/train2017/, ROOT/panoptic_train2017/, ...: COCO's folder with "
               "psg.json linked into it)", "OpenPSG's data preparation (https://github.com/Jingkang50/OpenPSG)",
               probe=("psg.json",))
IMAGES = 46563  # PSG's train images
EPOCHS = {"psg/two-stage": 12, "psg/psgtr": 60}  # the paper's 12-epoch two-stage and 60-epoch PSGTR schedules
GMACS = {"psg/two-stage": 2.0, "psg/psgtr": 4.0}  # the recipes' tiny models at 256 px, roughly


def runs(data: Mapping[str, Path], seeds: Sequence[int]) -> list[PaperRun]:
    if "PSG" not in data:
        return []
    out = []
    for seed in seeds:
        for recipe in ("psg/two-stage", "psg/psgtr"):
            where = {"data.name": "psg", "data.root": str(data["PSG"])}
            scale: dict[str, object] = {"data.image_size": 256}
            if recipe == "psg/two-stage":
                scale.update({"method.seg_epochs": EPOCHS[recipe], "method.rel_epochs": EPOCHS[recipe]})
            else:
                scale["method.epochs"] = EPOCHS[recipe]
            out.append(PaperRun(recipe, where, scale, f"PSG/{recipe.split('/')[1]}", "PSG", seed,
                                Cost(EPOCHS[recipe] * IMAGES, GMACS[recipe])))
    return out


register_paper(Protocol(
    "psg", "Panoptic Scene Graph Generation (arXiv:2207.11247)", [PSG], runs,
    metrics=("test_R@20", "test_mR@20", "test_R@50", "test_mR@50", "test_PQ"),
    not_wired="ResNet-50 panoptic FPN / DETR backbones (the recipes' tiny models stand in)",
))
