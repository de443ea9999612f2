"""Claims: a paper's headline finding as a runnable, checked comparison over runs.

A claim is registered in ``CLAIMS`` and, given a suite name and a :class:`BenchContext`, runs (or
reuses) the recipes it needs and returns a :class:`ClaimResult`. ``trustlab bench`` writes every
result to ``reports/<suite>/claims.json`` and renders ``index.html``. A claim that fails is reported
as failed with its margin, never hidden.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

SUITES = ("smoke", "quick", "full")


@dataclass
class ClaimResult:
    """What one claim measured. ``margin`` > 0 means the claim held by that much (in ``unit``)."""

    id: str
    statement: str
    suite: str
    passed: bool
    margin: float
    unit: str
    values: dict[str, list[float]]  # measured value per seed, keyed by what was measured
    seeds: list[int]
    table: list[dict[str, Any]] = field(default_factory=list)  # rows for the report
    runs: list[str] = field(default_factory=list)  # run folders the claim read
    notes: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Claim:
    """A registered claim: ``check(suite, ctx) -> ClaimResult``."""

    id: str
    statement: str
    check: Callable[[str, Any], ClaimResult]
    suites: Sequence[str] = SUITES
    group: str = ""  # method area, e.g. "erm"

    @property
    def __doc__(self) -> str:  # type: ignore[override]  # registry help line
        return self.statement


def mean(values: Sequence[float]) -> float:
    return float(statistics.fmean(values)) if values else float("nan")


def std(values: Sequence[float]) -> float:
    return float(statistics.stdev(values)) if len(values) > 1 else 0.0
