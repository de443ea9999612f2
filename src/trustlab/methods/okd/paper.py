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
RESNET50 = DataNeed("resnet50", "torchvision ResNet-50 ImageNet weights", "a state_dict .pth "
                    "(torchvision's resnet50-11ad3fa6.pth)", "https://pytorch.org/vision/stable/models.html",
                    kind="file", optional=True)
EPOCHS, BATCH, SIZE = 100, 32, 224
STUDENT_GMACS, TEACHER_GMACS = 0.06, 4.1  # MobileNetV3-Small / ResNet-50 at 224 px (torchvision's model tables)
RECIPES = ("okd/folder", "kd/folder", "student-erm/folder")
CLASSES = DOMAINBED_CLASSES
ARCH = "resnet50"  # the teacher: trustlab's timm:<ARCH>, initialised from torchvision's ImageNet <ARCH>


def prepared_name(source: Path, num_classes: int) -> str:
    return f"{ARCH}-{file_tag(source)}-{num_classes}cls.pt"


def timm_init_from_torchvision(path: Path, arch: str, num_classes: int, seed: int = 0) -> dict[str, Any]:
    """torchvision's ImageNet state_dict of ``arch`` -> the state_dict of ``build_model("timm:<arch>", num_classes)``:
    every backbone tensor from the file (timm's ResNets use torchvision's names, under the classifier's ``model.``),
    the 1000-class ``fc`` replaced by the model's own seeded initialisation. A file that does not fit is one
    DataError line."""
    import torch

    from trustlab.models import build_model

    where = (f"--data resnet50 '{path}' must be torchvision's ImageNet {arch} state_dict "
             f"(torchvision.models.{arch}(weights='IMAGENET1K_V1').state_dict(), e.g. {arch}-11ad3fa6.pth)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # not a torch file, corrupt, or pickled objects weights_only refuses
        raise DataError(f"{where}; it cannot be read ({type(e).__name__})") from None
    if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise DataError(f"{where}; it holds no state_dict")
    torch.manual_seed(seed)
    target = build_model(f"timm:{arch}", num_classes, input_size=SIZE).state_dict()
    out: dict[str, Any] = {}
    bad = []
    for key, value in target.items():
        src = key.removeprefix("model.")
        if src.startswith("fc."):
            out[key] = value  # the new head: the model's own init
        elif src in state and tuple(state[src].shape) == tuple(value.shape):
            out[key] = state[src].clone()
        else:
            bad.append(src)
    if bad:
        raise DataError(f"{where}; it lacks or mis-shapes {', '.join(bad[:3])}{' ...' if len(bad) > 3 else ''}")
    return out


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
