"""Registration of the on-device DG recipes (their run functions are in ``run.py``, their configs in
``config.py``): the teacher, the tiny student with ERM / KD / OKD, and DG baselines.

Each method has a recipe per dataset kind, recorded under its own name:

* Digits-DG (embedded; leave ``data.target`` out): ``student-erm/digits-dg``, ``kd/digits-dg``,
  ``okd/digits-dg``, ``mixstyle/digits-dg``, ``efdmix/digits-dg``, ``rsc/digits-dg``;
* your own DomainBed/Dassl folder ``root/<domain>/<class>/<image>`` (``data.root``, ``data.target``):
  ``student-erm/folder``, ``kd/folder``, ``okd/folder``, ``mixstyle/folder``, ``efdmix/folder``,
  ``rsc/folder`` (the KD/OKD teacher trains on the same folder and held-out domain);
* DOSCO (test contexts unseen in training, ``data.target=unseen``): ``student-erm/dosco-digits``,
  ``kd/dosco-digits``, ``okd/dosco-digits`` (embedded split; OKD also trains ERM and KD of the same
  student as linked runs and writes a ``leaderboard``), and ``okd/dosco`` (a split JSON from
  ``trustlab data dosco`` or the reference, ``data.root``; without it the embedded split);
* ``kd/teacher``: ERM of the teacher (what KD/OKD train on demand and cache; any dataset).

Student: ``small_cnn`` width 0.125 (7.8k parameters) at 32 px; teacher: ``resnet18`` width 0.25 (0.7M).
Student optimisation (every student recipe, so methods compare at equal settings): SGD, cosine, lr 0.05,
batch 32, 8 epochs, chosen by mean source-domain validation accuracy over the four leave-one-domain-out
splits of Digits-DG (seed 0) from lr {0.02, 0.05, 0.1} x batch {32, 64}: best for ERM and KD, within
0.004 of the best for OKD. Held-out domains played no part. The folder recipes use the same settings
(see the README for how they compare with ``erm/folder`` on a folder, by source validation).
"""

from __future__ import annotations

from typing import Any

from trustlab.config import merge
from trustlab.methods.okd.baselines import RSC, EFDMix, MixStyle
from trustlab.methods.okd.config import (
    EFDMixRecipeConfig,
    KDRecipeConfig,
    MixRecipeConfig,
    OKDStudyConfig,
    RSCRecipeConfig,
    StudentERMConfig,
)
from trustlab.methods.okd.method import KD, OKD
from trustlab.methods.okd.run import dg, distill
from trustlab.methods.okd.teacher import TEACHER_RECIPE
from trustlab.recipes import TINY_FOLDER, Recipe, register_recipe
from trustlab.tasks.classification import Classify, ERMRecipeConfig

DIGITS_DATA: dict[str, Any] = {"name": "digits-dg", "target": "mnistm", "image_size": 32, "batch_size": 32}
DOSCO_DATA: dict[str, Any] = {"name": "dosco-digits", "target": "unseen", "image_size": 32, "batch_size": 32}
FOLDER_DATA: dict[str, Any] = {"name": "folder", "target": "", "image_size": 32, "batch_size": 32}
STUDENT: dict[str, Any] = {"name": "small_cnn", "width": 0.125}
TRAIN: dict[str, Any] = {"epochs": 8, "lr": 0.05, "schedule": "cosine"}
TEACHER: dict[str, Any] = {"model": {"name": "resnet18", "width": 0.25}, "epochs": 8, "lr": 0.02}

# A seconds-long run (the generated contract test runs every recipe with its ``tiny`` overrides).
TINY: dict[str, Any] = {"data.max_per_domain": 32, "train.epochs": 1, "train.max_steps_per_epoch": 2}
TINY_TEACHER: dict[str, Any] = {"teacher.model.name": "small_cnn", "teacher.model.width": 0.125,
                                "teacher.epochs": 1}
TINY_ON_FOLDER: dict[str, Any] = {"data.root": TINY_FOLDER, "data.target": "d0"}


# ---------------------------------------------------------------- registration


def _defaults(data: dict[str, Any], teacher: bool = False, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"data": dict(data), "model": dict(STUDENT), "train": dict(TRAIN)}
    if teacher:
        out["teacher"] = merge({}, TEACHER)
    return merge(out, extra)


def _register(name: str, description: str, config_cls: type, run: Any, defaults: dict[str, Any],
              tiny: dict[str, Any]) -> None:
    register_recipe(Recipe(name=name, description=description, config_cls=config_cls, run=run, defaults=defaults,
                           tiny=tiny))


_register(
    TEACHER_RECIPE, "ERM teacher for KD/OKD (resnet18 w0.25 by default); trained once per data config, cached",
    ERMRecipeConfig, dg(lambda model, c: Classify(model, label_smoothing=c.method.label_smoothing)),
    {"data": {**DIGITS_DATA, "batch_size": 64}, "model": dict(TEACHER["model"]),
     "train": {**TRAIN, "lr": TEACHER["lr"]}},
    {**TINY, "model.name": "small_cnn", "model.width": 0.125},
)

# (name, description, config, run function, teacher?) of each method; one recipe per dataset kind below
_METHODS: list[tuple[str, str, type, Any, bool]] = [
    ("student-erm", "ERM of the tiny student (small_cnn w0.125)", StudentERMConfig, dg(lambda m, c: Classify(m)),
     False),
    ("kd", "KD (T=4, 0.1 CE + 0.9 T^2 KL) into the tiny student", KDRecipeConfig, distill(KD), True),
    ("okd", "OKD (KD + T^2 KL on fusion OOD data) into the tiny student", OKDStudyConfig, distill(OKD), True),
    ("mixstyle", "MixStyle (p=0.5, alpha=0.1) for the tiny student", MixRecipeConfig,
     dg(lambda m, c: MixStyle(m, c.method)), False),
    ("efdmix", "EFDMix (p=0.5, alpha=0.1) for the tiny student", EFDMixRecipeConfig,
     dg(lambda m, c: EFDMix(m, c.method)), False),
    ("rsc", "RSC (drop the top 10% features of 10% of the batch) for the tiny student", RSCRecipeConfig,
     dg(lambda m, c: RSC(m, c.method)), False),
]
for _method, _text, _cfg, _run, _teacher in _METHODS:
    _tiny = {**TINY, **(TINY_TEACHER if _teacher else {})}
    _register(f"{_method}/digits-dg", f"{_text} on Digits-DG (held out: data.target)", _cfg, _run,
              _defaults(DIGITS_DATA, teacher=_teacher), _tiny)
    _register(f"{_method}/folder", f"{_text} on your DomainBed folder (data.root, data.target)", _cfg, _run,
              _defaults(FOLDER_DATA, teacher=_teacher), {**_tiny, **TINY_ON_FOLDER})
    if _method in ("student-erm", "kd"):
        _register(f"{_method}/dosco-digits", f"{_text} on the embedded DOSCO split (unseen contexts)", _cfg, _run,
                  _defaults(DOSCO_DATA, teacher=_teacher), _tiny)
_register("okd/dosco-digits", "OKD on the embedded DOSCO split, with student ERM and KD as linked runs (leaderboard)",
          OKDStudyConfig, distill(OKD),
          _defaults(DOSCO_DATA, teacher=True, compare=["student-erm/dosco-digits", "kd/dosco-digits"]),
          {**TINY, **TINY_TEACHER})
_register("okd/dosco", "OKD on a DOSCO split JSON (data.root; none: the embedded split), target 'unseen'",
          OKDStudyConfig, distill(OKD), _defaults({**DOSCO_DATA, "name": "dosco"}, teacher=True),
          {**TINY, **TINY_TEACHER})
