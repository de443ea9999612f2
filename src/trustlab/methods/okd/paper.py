"""OKD's paper protocol for ``trustlab bench --suite paper`` (On-device Domain Generalization, arXiv:2209.07521).

Leave-one-domain-out on DomainBed PACS / VLCS / OfficeHome / TerraIncognita with training-domain validation (the
folder reader carves ``data.val_fraction`` of each source domain), through the existing ``okd/folder`` recipe and
its KD / student-ERM siblings: MobileNetV3-Small student at 224 px, ResNet-50 teacher (``--data resnet50=<torchvision
resnet50 state_dict .pth>``; without it the teacher trains from scratch, which is not the paper's), SGD lr 0.01,
cosine, 100 epochs, batch 32, crop + flip, 3 seeds (the paper's section 5 setting, /work/shared/papers/01-okd-dosco.md).

The teacher is trustlab's ``timm:resnet50`` classifier, which loads ``teacher.model.weights`` strictly (its keys under
``model.``, a head of the dataset's classes): :func:`prepare` re-keys torchvision's ImageNet state_dict into that
model, once per dataset's class count, with a fresh seeded head, under ``<out>/paper/prepared``
(:func:`timm_init_from_torchvision`). The classifier normalises with mean = std = 0.5, not ImageNet's statistics:
the fine-tuned teacher adapts to the shift (a deviation from the paper's ImageNet preprocessing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from trustlab.bench.paper import (
    DOMAINBED_CLASSES,
    DOMAINBED_DOMAINS,
    PREPARED,
    TORCHVISION_RESNET50,
    Cost,
    PaperRun,
    Protocol,
    domainbed_need,
    file_tag,
    lodo_train_images,
    register_paper,
    timm_init_from_torchvision,
)

DATASETS = ("PACS", "VLCS", "OfficeHome", "TerraIncognita")
RESNET50 = TORCHVISION_RESNET50
EPOCHS, BATCH, SIZE = 100, 32, 224
STUDENT_GMACS, TEACHER_GMACS = 0.06, 4.1  # MobileNetV3-Small / ResNet-50 at 224 px (torchvision's model tables)
RECIPES = ("okd/folder", "kd/folder", "student-erm/folder")
CLASSES = DOMAINBED_CLASSES
ARCH = "resnet50"  # the teacher: trustlab's timm:<ARCH>, initialised from torchvision's ImageNet <ARCH>


def prepared_name(source: Path, num_classes: int) -> str:
    return f"{ARCH}-{file_tag(source)}-{num_classes}cls.pt"


def prepare(data: Mapping[str, Path], folder: Path) -> None:
    """The teacher's initialisation per given dataset's class count (skipped when written before)."""
    from trustlab.runs import atomic

    if "resnet50" not in data:
        return
    for k in sorted({CLASSES[name] for name in DATASETS if name in data}):
        path = folder / prepared_name(data["resnet50"], k)
        if not path.is_file():
            atomic.save_torch(path, timm_init_from_torchvision(data["resnet50"], ARCH, k))


def runs(data: Mapping[str, Path], seeds: Sequence[int]) -> list[PaperRun]:
    out = []
    for name in DATASETS:
        if name not in data:
            continue
        teacher = {"teacher.model.name": f"timm:{ARCH}", "teacher.epochs": EPOCHS, "teacher.lr": 0.01,
                   "teacher.batch_size": BATCH}
        if "resnet50" in data:  # written by prepare() before the runs
            teacher["teacher.model.weights"] = f"{PREPARED}/{prepared_name(data['resnet50'], CLASSES[name])}"
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
    metrics=("heldout_acc", "indomain_acc", "teacher_heldout_acc"), prepare=prepare,
))
