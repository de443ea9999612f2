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

# smoke: seconds (CI); demo: `make demo`, each method's headline claims in about a minute; quick: the
# >= 3-seed claims, minutes per method on 2 cores; full: paper-like scale (GPU).
SUITES = ("smoke", "demo", "quick", "full")


VERDICTS = ("PASS", "FAIL", "INCONCLUSIVE")
CONFIDENCE = 0.90  # two-sided level of the interval on the mean paired difference (one-sided 95% each way)


@dataclass
class ClaimResult:
    """What one claim measured. ``margin`` > 0 means the claim held by that much (in ``unit``).

    ``verdict`` is PASS only when the whole ``interval`` (on the mean paired difference over seeds, see
    :func:`decide`) lies above zero, FAIL when it lies below, INCONCLUSIVE when it straddles zero or there
    are too few seeds to tell. ``passed`` is ``verdict == "PASS"``.
    """

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
    verdict: str = ""  # PASS | FAIL | INCONCLUSIVE; "" -> derived from ``passed`` (older claims.json)
    interval: list[float] = field(default_factory=list)  # [low, high] of the margin, CONFIDENCE two-sided
    diffs: list[float] = field(default_factory=list)  # the paired per-seed margins the verdict came from

    def __post_init__(self) -> None:
        if not self.verdict:
            self.verdict = "PASS" if self.passed else "FAIL"
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")
        self.passed = self.verdict == "PASS"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def interval(diffs: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Student-t interval on the mean of ``diffs`` (paired per-seed differences); (nan, nan) below 2."""
    import math

    from scipy import stats

    xs = [float(d) for d in diffs if not math.isnan(float(d))]
    if len(xs) < 2:
        return float("nan"), float("nan")
    m, s = statistics.fmean(xs), statistics.stdev(xs)
    half = float(stats.t.ppf(0.5 + confidence / 2, len(xs) - 1)) * s / math.sqrt(len(xs))
    return m - half, m + half


def decide(diffs: Sequence[float], min_seeds: int = 3, confidence: float = CONFIDENCE) -> tuple[str, list[float]]:
    """The paired decision rule every claim uses: (verdict, [low, high]) for per-seed margins ``diffs``.

    PASS when the interval's low end is above zero, FAIL when its high end is below zero, INCONCLUSIVE
    when it straddles zero or fewer than ``min_seeds`` seeds were run (the smoke suite's single seed).
    A zero-spread set of differences (identical seeds) gives a point interval.
    """
    lo, hi = interval(diffs, confidence)
    if len(diffs) < min_seeds or lo != lo:  # nan
        return "INCONCLUSIVE", [lo, hi]
    if lo > 0:
        return "PASS", [lo, hi]
    if hi < 0:
        return "FAIL", [lo, hi]
    return "INCONCLUSIVE", [lo, hi]


def paired_result(
    claim_id: str,
    suite: str,
    diffs: Sequence[float],
    *,
    unit: str,
    values: dict[str, list[float]],
    seeds: Sequence[int],
    table: list[dict[str, Any]] | None = None,
    runs: list[str] | None = None,
    notes: str = "",
    min_seeds: int = 3,
) -> ClaimResult:
    """A :class:`ClaimResult` decided by :func:`decide` on ``diffs`` (one margin per seed, > 0 = claim holds).

    ``margin`` is the mean of ``diffs``; the statement comes from the registered claim. Use it for every
    claim: the verdict then survives another machine's seed noise.
    """
    from trustlab.registry import CLAIMS

    ds = [float(d) for d in diffs]
    verdict, iv = decide(ds, min_seeds=min_seeds)
    return ClaimResult(
        claim_id, CLAIMS.get(claim_id).statement, suite, passed=verdict == "PASS", margin=mean(ds), unit=unit,
        values={k: [float(v) for v in vs] for k, vs in values.items()}, seeds=list(seeds), table=table or [],
        runs=runs or [], notes=notes, verdict=verdict, interval=iv, diffs=ds,
    )


def register_claim(claim_id: str, statement: str, check: Callable[[str, Any], ClaimResult], group: str = "",
                   suites: Sequence[str] = SUITES) -> Claim:
    """Register a claim under its id (spelled once) and return it."""
    from trustlab.registry import CLAIMS

    claim = Claim(claim_id, statement, check, suites=suites, group=group or claim_id.split("/")[0])
    CLAIMS.add(claim_id, claim)
    return claim


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


def lodo_runs(ctx: Any, recipe: str, targets: Sequence[str], seeds: Sequence[int],
              overrides: dict[str, Any] | None = None) -> tuple[dict[tuple[str, int], dict[str, Any]], list[str]]:
    """Leave-one-domain-out runs of ``recipe`` for every held-out ``target`` and seed, asked for together.

    Returns ``({(target, seed): summary}, run folders)``. Runs are ordered seed-major, so parallel workers
    start on different held-out domains (methods with a per-domain teacher train different teachers).
    """
    keys = [(t, seed) for seed in seeds for t in targets]
    recs = ctx.run_many([(recipe, {"data.target": t, "train.seed": seed, **(overrides or {})}) for t, seed in keys])
    return {key: rec.summary() for key, rec in zip(keys, recs)}, [str(rec.path) for rec in recs]
