"""OKD's paper protocol for ``trustlab bench --suite paper`` (On-device Domain Generalization, arXiv:2209.07521).

Leave-one-domain-out on DomainBed PACS / VLCS / OfficeHome / TerraIncognita with training-domain validation (the
folder reader carves ``data.val_fraction`` of each source domain), through the existing ``okd/folder`` recipe and
its KD / student-ERM siblings: MobileNetV3-Small student at 224 px, ResNet-50 teacher (``--data resnet50=<torchvision
resnet50 state_dict .pth>``; without it the teacher trains from scratch, which is not the paper's), SGD lr 0.01,
cosine, 100 epochs, batch 32, crop + flip, 3 seeds (the paper's section 5 setting, /work/shared/papers/01-okd-dosco.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from trustlab.bench.paper import (
    DOMAINBED_DOMAINS,
    Cost,
    DataNeed,
    PaperRun,
    Protocol,
    domainbed_need,
    lodo_train_images,
    register_paper,
)

DATASETS = ("PACS", "VLCS", "OfficeHome", "TerraIncognita")
RESNET50 = DataNeed("resnet50", "torchvision ResNet-50 ImageNet weights", "a state_dict .pth "
                    "(torchvision's resnet50-11ad3fa6.pth)", "https://pytorch.org/vision/stable/models.html",
                    kind="file", optional=True)
EPOCHS, BATCH, SIZE = 100, 32, 224
STUDENT_GMACS, TEACHER_GMACS = 0.06, 4.1  # MobileNetV3-Small / ResNet-50 at 224 px (torchvision's model tables)
RECIPES = ("okd/folder", "kd/folder", "student-erm/folder")


def runs(data: Mapping[str, Path], seeds: Sequence[int]) -> list[PaperRun]:
    out = []
    teacher = {"teacher.model.name": "timm:resnet50", "teacher.epochs": EPOCHS, "teacher.lr": 0.01,
               "teacher.batch_size": BATCH}
    if "resnet50" in data:
        teacher["teacher.model.weights"] = str(data["resnet50"])
    for name in DATASETS:
        if name not in data:
            continue
        n = lodo_train_images(name)
        for seed in seeds:
            for target in DOMAINBED_DOMAINS[name]:
                for recipe in RECIPES:
                    where = {"data.name": "folder", "data.root": str(data[name]), "data.target": target}
                    scale = {"data.image_size": SIZE, "data.batch_size": BATCH, "data.augment": "crop_flip",
                             "model.name": "mobilenet_v3_small", "model.width": 1.0, "train.epochs": EPOCHS,
                             "train.lr": 0.01}
                    if recipe != "student-erm/folder":
                        scale.update(teacher)
                    # the teacher (trained once per data config, cached) runs forward on every student sample
                    gmacs = STUDENT_GMACS + (TEACHER_GMACS / 3 if recipe != "student-erm/folder" else 0.0)
                    out.append(PaperRun(recipe, where, scale, f"{name}/{target}", name, seed, Cost(EPOCHS * n, gmacs)))
    return out


register_paper(Protocol(
    "okd", "On-device Domain Generalization (arXiv:2209.07521)",
    [*(domainbed_need(d) for d in DATASETS), RESNET50], runs,
    metrics=("heldout_acc", "indomain_acc", "teacher_heldout_acc"),
    not_wired="the teacher's cost is counted per student run (it is trained once per data config and cached)",
))
