"""Backdoor defenses applied to a model trained on a distilled set (and to the distilled images).

Registered in ``DEFENSES`` (``neural-cleanse``, ``fine-pruning``, ``strip``, ``spectral-signatures``,
``activation-clustering``); :func:`run_defenses` runs the names in ``DefenseConfig.names`` and returns
``{name: {detected, <detection metrics>, cta_before, asr_before, cta_after, asr_after, ...}}``.
"""

from __future__ import annotations

import time
from typing import Any

from trustlab.errors import ConfigError
from trustlab.methods.doorping.config import DefenseConfig
from trustlab.methods.doorping.defenses import fine_pruning, inspection, neural_cleanse, strip  # noqa: F401
from trustlab.methods.doorping.defenses.base import DEFENSES, Defense, DefenseContext, register_defense

__all__ = ["DEFENSES", "Defense", "DefenseContext", "register_defense", "run_defenses"]


def run_defenses(cfg: DefenseConfig, **context: Any) -> dict[str, dict[str, float]]:
    """Run every defense in ``cfg.names`` on a :class:`DefenseContext` built from ``context``."""
    unknown = [n for n in cfg.names if n not in DEFENSES]
    if unknown:
        raise ConfigError(f"defense.names has unknown {unknown}; registered: {', '.join(DEFENSES.names())}")
    ctx = DefenseContext(**context)
    out: dict[str, dict[str, float]] = {}
    for name in cfg.names:
        defense = DEFENSES.get(name)
        t0 = time.perf_counter()
        result = defense.run(ctx, getattr(cfg, defense.config))
        row = {"cta_before": ctx.before.get("cta", float("nan")), "asr_before": ctx.before.get("asr", float("nan"))}
        row.update({k: float(v) for k, v in result.items()})
        row["seconds"] = time.perf_counter() - t0
        out[name] = row
    return out
