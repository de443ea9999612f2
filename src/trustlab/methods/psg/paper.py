"""PSG's paper protocol for ``trustlab bench --suite paper`` (Panoptic Scene Graph Generation, arXiv:2207.11247).

The two-stage baseline and PSGTR on the released ``psg.json`` with COCO panoptic images and masks
(``--data PSG=<COCO's folder with psg.json linked into it>``), through the existing ``psg/two-stage`` and
``psg/psgtr`` recipes with ``data.name=psg``; SGDet recall / mean recall @20/50; 3 seeds. PSGTR runs on the
reference's ResNet-50 (``method.backbone=timm:resnet50``) when ``--data resnet50=<torchvision's ImageNet resnet50
state_dict .pth>`` is given (:func:`prepare` re-keys it once, ``bench.paper.timm_init_from_torchvision``; the
backbone learns at a tenth of the lr, as the reference's), else on its tiny CNN. The two-stage baseline keeps the
recipe's tiny segmenter (no ResNet-50 panoptic FPN in the zoo).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from trustlab.bench.paper import (
    PREPARED,
    TORCHVISION_RESNET50,
    Cost,
    DataNeed,
    PaperRun,
    Protocol,
    file_tag,
    register_paper,
    timm_init_from_torchvision,
)

# psg.json's file_name / pan_seg_file_name are relative to COCO's folder (train2017/..., panoptic_train2017/...):
# ROOT is that folder with psg.json in it (copied or linked)
PSG = DataNeed("PSG", "PSG (psg.json + COCO panoptic)", "ROOT/psg.json beside the folders its file_name and "
               "pan_seg_file_name entries name (ROOT/train2017/, ROOT/panoptic_train2017/, ...: COCO's folder with "
               "psg.json linked into it)", "OpenPSG's data preparation (https://github.com/Jingkang50/OpenPSG)",
               probe=("psg.json",))
IMAGES = 46563  # PSG's train images
EPOCHS = {"psg/two-stage": 12, "psg/psgtr": 60}  # the paper's 12-epoch two-stage and 60-epoch PSGTR schedules
GMACS = {"psg/two-stage": 2.0, "psg/psgtr": 4.0}  # the recipes' tiny models at 256 px, roughly
R50_GMACS = 4.1 * (256 / 224) ** 2 + 1.0  # ResNet-50 at 256 px (torchvision's table, scaled) + the transformer
ARCH = "resnet50"


def prepared_name(source: Path) -> str:
    return f"psgtr-{ARCH}-{file_tag(source)}.pt"


def prepare(data: Mapping[str, Path], folder: Path) -> None:
    """PSGTR's backbone from torchvision's ImageNet ResNet-50 (skipped when written before)."""
    from trustlab.runs import atomic

    if "PSG" not in data or "resnet50" not in data:
        return
    path = folder / prepared_name(data["resnet50"])
    if not path.is_file():
        atomic.save_torch(path, timm_init_from_torchvision(data["resnet50"], ARCH, 2))


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
                if "resnet50" in data:  # written by prepare() before the runs
                    scale.update({"method.backbone": f"timm:{ARCH}",
                                  "method.backbone_weights": f"{PREPARED}/{prepared_name(data['resnet50'])}"})
            gmacs = R50_GMACS if "method.backbone" in scale else GMACS[recipe]
            out.append(PaperRun(recipe, where, scale, f"PSG/{recipe.split('/')[1]}", "PSG", seed,
                                Cost(EPOCHS[recipe] * IMAGES, gmacs)))
    return out


register_paper(Protocol(
    "psg", "Panoptic Scene Graph Generation (arXiv:2207.11247)", [PSG, TORCHVISION_RESNET50], runs,
    metrics=("test_R@20", "test_mR@20", "test_R@50", "test_mR@50", "test_PQ"), prepare=prepare,
    not_wired="the two-stage baseline's ResNet-50 panoptic FPN (its tiny segmenter stands in); PSGTR's R50 needs "
              "--data resnet50",
))
