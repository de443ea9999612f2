"""Recipes of the on-device DG study: the teacher, the tiny student with ERM / KD / OKD, and DG baselines.

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

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from trustlab.config import merge, to_dict
from trustlab.data.base import DGData
from trustlab.engine.fit import FitResult
from trustlab.engine.runtime import resolve_device
from trustlab.errors import ConfigError
from trustlab.experiment import DataConfig, ModelConfig, TrainConfig
from trustlab.methods.okd.baselines import RSC, EFDMix, EFDMixRecipeConfig, MixRecipeConfig, MixStyle, RSCRecipeConfig
from trustlab.methods.okd.method import KD, OKD, KDRecipeConfig, OKDConfig, student_model
from trustlab.methods.okd.teacher import TEACHER_RECIPE, TeacherConfig, load_teacher, runs_root_of
from trustlab.recipes import TINY_FOLDER, Recipe, RunContext, register_recipe
from trustlab.registry import RECIPES
from trustlab.runs.cache import cached_run
from trustlab.tasks.classification import Classify, ERMRecipeConfig, run_dg

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


@dataclass
class StudentERMConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=student_model)
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass
class OKDStudyConfig:
    """OKD plus, in ``compare``, recipes of the same student run beside it and linked in the summary."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=student_model)
    train: TrainConfig = field(default_factory=TrainConfig)
    method: OKDConfig = field(default_factory=OKDConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    compare: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- run functions


def _check_data(cfg: Any) -> None:
    if cfg.data.name == "folder" and not cfg.data.root:
        raise ConfigError("this recipe needs data.root: --set data.root=/path/to/dataset "
                          "(root/<domain>/<class>/<image>) and data.target=<held-out domain>")


def _extra(method: nn.Module, data: DGData, result: FitResult) -> dict[str, Any]:
    """Summary extras: the teacher (KD/OKD) and the DOSCO split's provenance and leakage (DOSCO data)."""
    out: dict[str, Any] = {}
    info = dict(getattr(method, "teacher_info", {}))
    if info:
        out["teacher"] = info
    if "dosco" in data.info:
        out["dosco"] = data.info["dosco"]
    return out


def dg(make: Any) -> Any:
    """A recipe run function: ``run_dg`` with ``make(model, cfg)`` as the method."""

    def run(cfg: Any, ctx: RunContext) -> dict[str, Any]:
        _check_data(cfg)
        return run_dg(cfg, ctx, lambda model, data, c: make(model, c), _extra)

    return run


def distill(kind: type[KD]) -> Any:
    """A recipe run function: KD or OKD, with the frozen teacher resolved (trained/cached if needed) first."""

    def run(cfg: Any, ctx: RunContext) -> dict[str, Any]:
        _check_data(cfg)

        def make_method(model: nn.Module, data: DGData, c: Any) -> nn.Module:
            teacher = load_teacher(
                c.teacher, c.data, c.train, data.num_classes, resolve_device(c.train.device), ctx.record, ctx.quiet
            )
            method = kind(model, teacher.model, c.method)
            method.teacher_info = teacher.info
            return method

        summary = run_dg(cfg, ctx, make_method, _extra)
        if getattr(cfg, "compare", None):
            summary["leaderboard"] = compare_runs(cfg, ctx, summary)
        return summary

    return run


# ---------------------------------------------------------------- linked comparison runs


def _board_row(summary: dict[str, Any], run: str | None) -> dict[str, Any]:
    row = {k: summary[k] for k in ("heldout_acc", "indomain_acc", "params") if k in summary}
    return {**row, "run": run} if run else row


def sub_run_overrides(cfg: Any, recipe: str) -> dict[str, Any]:
    """Overrides giving ``recipe`` this run's data/model/train/teacher and the method keys both have."""
    target = RECIPES.get(recipe).config_cls
    names = {f.name: f for f in dataclasses.fields(target)}
    out: dict[str, Any] = {}
    for section in ("data", "model", "train", "teacher"):
        if section in names and hasattr(cfg, section):
            out[section] = to_dict(getattr(cfg, section))
    if "method" in names and hasattr(cfg, "method"):
        wanted = {f.name for f in dataclasses.fields(names["method"].default_factory())}  # type: ignore[misc]
        out["method"] = {k: v for k, v in to_dict(cfg.method).items() if k in wanted}
    return out


def compare_runs(cfg: OKDStudyConfig, ctx: RunContext, own: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Train (or reuse) each ``cfg.compare`` recipe on this run's settings; a leaderboard with OKD."""
    board: dict[str, dict[str, Any]] = {}
    if "teacher" in own:
        board["teacher"] = _board_row(own["teacher"], own["teacher"].get("run"))
    root = runs_root_of(ctx.record)
    links = {}
    for recipe in cfg.compare:
        if recipe not in RECIPES:
            raise ConfigError(f"compare: unknown recipe '{recipe}'; `trustlab list recipes` shows them")
        rec = cached_run(recipe, sub_run_overrides(cfg, recipe), root, ctx.quiet)
        board[recipe.split("/")[0].removeprefix("student-")] = _board_row(rec.summary(), str(rec.path))
        links[recipe] = str(rec.path)
    board["okd"] = _board_row(own, str(ctx.record.path))
    ctx.record.update_env(compare_runs=links)
    return board


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
