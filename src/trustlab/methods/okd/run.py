"""Run functions of the on-device DG recipes (registered in ``recipes.py``): ``dg(make)`` for the students
trained with a method object (ERM, MixStyle, EFDMix, RSC, the teacher), ``distill(KD | OKD)`` with the frozen
teacher resolved first (trained and cached when needed), and the linked comparison runs of ``okd/*``
(``compare``: recipes trained beside OKD on the same settings, linked in a ``leaderboard``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from torch import nn

from trustlab.config import to_dict
from trustlab.data.base import DGData
from trustlab.engine.fit import FitResult
from trustlab.engine.runtime import resolve_device
from trustlab.errors import ConfigError
from trustlab.methods.okd.config import OKDStudyConfig
from trustlab.methods.okd.method import KD
from trustlab.methods.okd.teacher import load_teacher, runs_root_of
from trustlab.recipes import RunContext
from trustlab.registry import RECIPES
from trustlab.runs.cache import cached_run
from trustlab.tasks.classification import run_dg

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
