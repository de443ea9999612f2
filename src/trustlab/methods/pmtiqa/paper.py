"""PMT-IQA's paper protocol for ``trustlab bench --suite paper`` (PMT-IQA: Progressive Multi-task Learning for Blind
Image Quality Assessment, arXiv:2301.01182).

The four arms of the ablation (SS-ST, +MS, +PMT, MS+PMT) on KonIQ-10k / LIVE-C / LIVE / CSIQ / BID from pyiqa's meta
CSVs (``--data koniq=<image root> --data koniq-meta=<meta_info_KonIQ10kDataset.csv>``), through the existing
``pmtiqa/distort`` recipe with ``data.name=csv``: Adam lr 1e-4 (/10 every 6 epochs), 20 epochs, 80/20 split by
reference image (the reader's random split by reference, ``data.split_seed`` = seed), 3 seeds
(/work/shared/papers/07-pmt-iqa.md). The backbone is the paper's ResNet-50 (trustlab's ``timm:resnet50``) when
``--data resnet50=<torchvision's ImageNet resnet50 state_dict .pth>`` is given: :func:`prepare` re-keys it once into
the backbone's layout (``bench.paper.timm_init_from_torchvision``) under ``<out>/paper/prepared``, and every arm
loads it strictly (``model.weights``). Without it the arms fall back to the recipe's ResNet-18 at full width from
scratch, which is not the paper's (the plan says so).
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
from trustlab.errors import ConfigError

PYIQA = "pyiqa's dataset README and meta_info CSVs (https://github.com/chaofengc/IQA-PyTorch/blob/main/docs/Dataset_Preparation.md)"
# key: (layout, pyiqa image folder, meta CSV name, images)
SETS = {
    "koniq": ("koniq", "koniq10k/512x384", "meta_info_KonIQ10kDataset.csv", 10073),
    "livec": ("livec", "LIVEC/Images", "meta_info_LIVEChallengeDataset.csv", 1162),
    "live": ("live", "LIVEIQA_release2", "meta_info_LIVEIQADataset.csv", 779),
    "csiq": ("csiq", "CSIQ", "meta_info_CSIQDataset.csv", 866),
    "bid": ("bid", "BID/ImageDatabase", "meta_info_BIDDataset.csv", 586),
}
NEEDS = [n for key, (_, folder, meta, _) in SETS.items() for n in (
    DataNeed(key, f"IQA {key} images", f"the image root pyiqa reads ({folder}/)", PYIQA),
    DataNeed(f"{key}-meta", f"IQA {key} meta CSV", f"pyiqa's {meta}", PYIQA, kind="file", optional=True))]
NEEDS.append(TORCHVISION_RESNET50)
ARMS = {
    "SS-ST": {"method.multi_scale": False, "method.schedule": "regression"},
    "+MS": {"method.multi_scale": True, "method.schedule": "regression"},
    "+PMT": {"method.multi_scale": False, "method.schedule": "progressive"},
    "MS+PMT": {"method.multi_scale": True, "method.schedule": "progressive"},
}
EPOCHS, SIZE, PATCH = 20, 384, 224
ARCH = "resnet50"  # the paper's backbone: trustlab's timm:<ARCH>, initialised from torchvision's ImageNet <ARCH>
# GMACs per training image: 4 patches x the backbone at 224 px (torchvision's tables: ResNet-50 4.1, ResNet-18 1.8)
GMACS = {"timm:resnet50": 4.1 * (PATCH / 224) ** 2 * 4, "resnet18": 1.8 * (PATCH / 224) ** 2 * 4}


def prepared_name(source: Path) -> str:
    return f"pmtiqa-{ARCH}-{file_tag(source)}.pt"


def backbone(data: Mapping[str, Path]) -> dict[str, object]:
    """The arms' model overrides: the paper's ResNet-50 from the prepared ImageNet weights, or the recipe's
    ResNet-18 at full width (from scratch) when ``--data resnet50`` is not given."""
    if "resnet50" in data:
        return {"model.name": f"timm:{ARCH}", "model.width": 1.0,
                "model.weights": f"{PREPARED}/{prepared_name(data['resnet50'])}"}
    return {"model.name": "resnet18", "model.width": 1.0}


def prepare(data: Mapping[str, Path], folder: Path) -> None:
    """The backbone's initialisation from torchvision's ImageNet ResNet-50 (skipped when written before)."""
    from trustlab.runs import atomic

    if "resnet50" not in data or not any(key in data for key in SETS):
        return
    path = folder / prepared_name(data["resnet50"])
    if not path.is_file():
        atomic.save_torch(path, timm_init_from_torchvision(data["resnet50"], ARCH, 2, input_size=PATCH))


def runs(data: Mapping[str, Path], seeds: Sequence[int]) -> list[PaperRun]:
    out = []
    for key, (layout, _, meta, n) in SETS.items():
        if (key in data) != (f"{key}-meta" in data):  # one without the other: one line, nothing runs
            raise ConfigError(f"the paper suite's pmtiqa needs both --data {key}=<image root> and --data "
                              f"{key}-meta=<pyiqa's {meta}>; only one was given")
        if key not in data:
            continue
        for seed in seeds:
            for arm, extra in ARMS.items():
                where = {"data.name": "csv", "data.root": str(data[key]), "data.meta": str(data[f"{key}-meta"]),
                         "data.layout": layout, "data.split_column": "random", "data.split_seed": seed, **extra}
                model = backbone(data)
                scale = {"data.image_size": SIZE, "method.patch_size": PATCH, "method.train_patches": 4, **model,
                         "train.epochs": EPOCHS, "train.lr": 1e-4, "train.schedule": "step", "train.step_size": 6}
                out.append(PaperRun("pmtiqa/distort", where, scale, f"{key}/{arm}", key, seed,
                                    Cost(EPOCHS * 0.8 * n, GMACS[str(model["model.name"])])))
    return out


register_paper(Protocol(
    "pmtiqa", "PMT-IQA: Progressive Multi-task Learning for Blind Image Quality Assessment (arXiv:2301.01182)", NEEDS,
    runs, metrics=("test",), prepare=prepare,
    not_wired="without --data resnet50 the ResNet-18 of the recipe stands in for the paper's ImageNet ResNet-50",
))
