"""Downstream classification tasks for CoOp: the embedded scene tasks and a user's ImageFolder.

Embedded tasks read the *downstream* scenes (held-out MNIST digits, fonts and texture halves, see
``scenes.py``); each task labels the same images by one attribute:

=============  ===============================  ==========================================
task           classes                          hand-crafted prompts (the first is CoOp's)
=============  ===============================  ==========================================
digit          zero ... nine                    "a photo of a {}.", "{}.", "a {} digit.", ...
colour         red green blue yellow purple ...  "a photo of a {}.", "{}.", "a {} digit.", ...
background     plain brick grass gravel fur     "a photo of a {}.", "{}.", "a digit on a {} background.", ...
style          handwritten printed outlined     "a photo of a {}.", "{}.", "a {} digit.", ...
position       left centre right                "a photo of a {}.", "{}.", "a digit on the {}.", ...
=============  ===============================  ==========================================

Scenes 0-1799 are the few-shot training pool, 1800-2199 validation, 2200-2999 test. Every image also
carries its style (handwritten / printed / outlined): the domains of ``coop/dg``.

A user's ImageFolder (``root/<class>/<image>``) or DomainBed folder (``root/<domain>/<class>/<image>``)
is read with :func:`trustlab.data.folder.build_folder`; class names are the folder names (``_`` -> space)
or ``fewshot.classnames``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from trustlab.errors import ConfigError, DataError, did_you_mean
from trustlab.experiment import DataConfig
from trustlab.methods.coop import scenes
from trustlab.methods.coop.config import CoOpDataConfig

TEMPLATES: dict[str, list[str]] = {
    "digit": ["a photo of a {}.", "{}.", "a {} digit.", "the number {}.", "a photo of the digit {}."],
    "colour": ["a photo of a {}.", "{}.", "a {} digit.", "a {} object.", "something {}."],
    "background": ["a photo of a {}.", "{}.", "a digit on a {} background.", "{} texture.", "a photo on {}."],
    "style": ["a photo of a {}.", "{}.", "a {} digit.", "{} text.", "a {} character."],
    "position": ["a photo of a {}.", "{}.", "a digit on the {}.", "a photo of the {}.", "something {}."],
}
GENERIC_TEMPLATES = ["a photo of a {}.", "{}.", "a picture of a {}.", "an image of the {}.", "a photo of the {}."]
TASK_ATTR = {"digit": "object", "colour": "colour", "background": "background", "style": "style",
             "position": "position"}
EMBEDDED_TASKS = tuple(TASK_ATTR)
POOLS = {"train": (0, 1800), "val": (1800, 2200), "test": (2200, 3000)}


@dataclass
class Pool:
    """Images (float N,3,H,W in [0,1]) with labels and domains, for one split."""

    x: torch.Tensor
    y: torch.Tensor
    domain: torch.Tensor  # index into TaskData.domains


@dataclass
class TaskData:
    name: str
    classes: list[str]
    templates: list[str]
    pools: dict[str, Pool]
    domains: list[str] = field(default_factory=lambda: ["all"])


def embedded_task(name: str, cache_dir: str | None = None) -> TaskData:
    if name not in TASK_ATTR:
        raise ConfigError(f"unknown CoOp task '{name}'{did_you_mean(name, list(TASK_ATTR))}; "
                          f"embedded tasks: {', '.join(TASK_ATTR)}")
    d = scenes.load_scenes(cache_dir)["downstream"]
    attr = TASK_ATTR[name]
    x = torch.as_tensor(d["images"]).permute(0, 3, 1, 2).float().div_(255.0)
    y = torch.as_tensor(d["attrs"][:, scenes.ATTRS.index(attr)])
    dom = torch.as_tensor(d["attrs"][:, scenes.ATTRS.index("style")])
    pools = {s: Pool(x[a:b], y[a:b], dom[a:b]) for s, (a, b) in POOLS.items()}
    if name == "position":  # two-object scenes are always centred: keep single objects only
        single = torch.as_tensor(d["attrs"][:, scenes.ATTRS.index("count")] == 0)
        pools = {s: Pool(p.x[single[a:b]], p.y[single[a:b]], p.domain[single[a:b]])
                 for (s, p), (a, b) in zip(pools.items(), POOLS.values())}
    return TaskData(name, list(scenes.VALUES[attr]), list(TEMPLATES[name]), pools, list(scenes.STYLES))


def folder_task(cfg: CoOpDataConfig, classnames: list[str], templates: list[str], image_size: int) -> TaskData:
    """A user's ImageFolder / DomainBed folder as one task (all domains pooled; domain kept per image)."""
    from trustlab.data.folder import build_folder

    if not cfg.root:
        raise ConfigError("data.name=folder needs data.root: --set data.root=/path/to/root/<class>/<image>")
    data = build_folder(DataConfig(name="folder", root=cfg.root, target="", image_size=image_size,
                                   skip_corrupt=cfg.skip_corrupt, val_fraction=cfg.val_fraction,
                                   test_fraction=cfg.test_fraction, split_seed=cfg.split_seed))
    names = [c.replace("_", " ") for c in data.classes]
    if classnames:
        if len(classnames) != len(names):
            raise ConfigError(f"fewshot.classnames has {len(classnames)} names but {cfg.root} has {len(names)} "
                              f"class folders ({', '.join(data.classes)}); give one name per folder, in that order")
        names = list(classnames)
    pools = {}
    for split in ("train", "val", "test"):
        xs, ys, ds = [], [], []
        for di, dom in enumerate(data.domains):
            ds_ = data.get(dom, split)
            for i in range(len(ds_)):
                xi, yi = ds_[i]
                xs.append(xi)
                ys.append(int(yi))
                ds.append(di)
        if not xs:
            raise DataError(f"{cfg.root}: the {split} split is empty; add images (or lower data.val_fraction)")
        pools[split] = Pool(torch.stack(xs), torch.tensor(ys), torch.tensor(ds))
    return TaskData("folder", names, list(templates or GENERIC_TEMPLATES), pools, list(data.domains))


def sample_shots(y: torch.Tensor, n_cls: int, shots: int, seed: int, classes: list[str] | None = None) -> torch.Tensor:
    """Indices of ``shots`` random examples per class (without replacement), as Dassl's few-shot sampler."""
    if shots < 1:
        raise ConfigError(f"fewshot.shots must be at least 1, got {shots}")
    rng = np.random.default_rng(seed)
    out = []
    ya = y.numpy()
    for c in range(n_cls):
        idx = np.flatnonzero(ya == c)
        if len(idx) < shots:
            name = classes[c] if classes else str(c)
            raise DataError(f"class '{name}' has {len(idx)} training images but {shots} shots were asked for; "
                            f"lower fewshot.shots to at most {len(idx)} or add images")
        out.extend(rng.choice(idx, size=shots, replace=False).tolist())
    return torch.as_tensor(sorted(out))
