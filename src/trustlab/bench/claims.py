"""Claims: a paper's headline finding as a runnable, checked comparison over runs.

A claim is registered in ``CLAIMS`` and, given a suite name and a :class:`BenchContext`, runs (or
reuses) the recipes it needs and returns a :class:`ClaimResult`. ``trustlab bench`` writes every
result to ``reports/<suite>/claims.json`` and renders ``index.html``. A claim that fails is reported
as failed with its margin, never hidden.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

# smoke: seconds (CI); demo: `make demo`, each method's headline claims in about a minute; quick: the
# >= 3-seed claims, minutes per method on 2 cores; full: paper-like scale (GPU).
SUITES = ("smoke", "demo", "quick", "full")


# FAIL: the interval lies below zero, or below the claim's effect of interest (the paper's effect, scaled).
# INCONCLUSIVE: this regime can test the claim, but the seeds could not tell. INVALID: this regime cannot
# test it (a validity gate failed: a compared model at chance, a positive control that does not work, an arm
# at a floor or ceiling that makes the margin true by construction).
VERDICTS = ("PASS", "FAIL", "INCONCLUSIVE", "INVALID")
CONFIDENCE = 0.90  # two-sided level of the interval on the mean paired difference (one-sided 95% each way)


@dataclass
class ClaimResult:
    """What one claim measured. ``margin`` > 0 means the claim held by that much (in ``unit``).

    ``verdict`` is PASS only when the whole ``interval`` (on the mean paired difference over seeds, see
    :func:`decide`) lies above zero, FAIL when it lies below zero or wholly below the claim's effect of interest
    (:func:`decide_with_effect`), INCONCLUSIVE when it straddles zero and reaches the effect of interest, or there
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
    verdict: str = ""  # PASS | FAIL | INCONCLUSIVE | INVALID; "" -> derived from ``passed`` (older claims.json)
    interval: list[float] = field(default_factory=list)  # [low, high] of the margin, CONFIDENCE two-sided
    diffs: list[float] = field(default_factory=list)  # the paired per-seed margins the verdict came from
    gates: list[dict[str, Any]] = field(default_factory=list)  # every validity gate checked: name, ok, detail
    reason: str = ""  # INVALID: the failed preconditions, one line

    def __post_init__(self) -> None:
        if not self.verdict:
            self.verdict = "PASS" if self.passed else "FAIL"
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")
        if self.verdict == "INVALID" and not self.reason:
            raise ValueError("an INVALID verdict needs the failed precondition as its reason")
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


@dataclass(frozen=True)
class Gate:
    """One validity gate checked on the runs a claim read: a precondition under which its comparison means
    something. ``name`` is one of the claim's declared ``preconditions``; ``detail`` says, in one line, what
    was measured against what (``"gmoe/digits-dg mean held-out acc 0.098 < 0.200 (chance 0.1 + 0.1)"``)."""

    name: str
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": bool(self.ok), "detail": self.detail}


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def gate_above(name: str, label: str, values: Sequence[float] | float, floor: float, why: str = "") -> Gate:
    """Passes when the mean of ``values`` is at least ``floor`` (e.g. a model above chance by a margin,
    a positive control's ASR above 0.8)."""
    m = mean([values] if isinstance(values, (int, float)) else list(values))
    ok = m >= floor
    return Gate(name, ok, f"{label} {_fmt(m)} {'>=' if ok else '<'} {_fmt(floor)}{f' ({why})' if why else ''}")


def gate_below(name: str, label: str, values: Sequence[float] | float, ceiling: float, why: str = "") -> Gate:
    """Passes when the mean of ``values`` is at most ``ceiling``."""
    m = mean([values] if isinstance(values, (int, float)) else list(values))
    ok = m <= ceiling
    return Gate(name, ok, f"{label} {_fmt(m)} {'<=' if ok else '>'} {_fmt(ceiling)}{f' ({why})' if why else ''}")


def gate_above_chance(name: str, label: str, values: Sequence[float] | float, chance: float,
                      margin: float) -> Gate:
    """Passes when the mean of ``values`` (an accuracy) is at least ``chance + margin``."""
    return gate_above(name, label, values, chance + margin, f"chance {_fmt(chance)} + {_fmt(margin)}")


def gate_inside(name: str, label: str, values: Sequence[float] | float, floor: float, ceiling: float) -> Gate:
    """Passes when the mean of ``values`` lies strictly between ``floor`` and ``ceiling``: an arm sitting at
    a floor or a ceiling (0 collisions, accuracy 1.0) can make a comparison true or false by construction."""
    m = mean([values] if isinstance(values, (int, float)) else list(values))
    ok = floor < m < ceiling
    where = "inside" if ok else ("at the floor of" if m <= floor else "at the ceiling of")
    return Gate(name, ok, f"{label} {_fmt(m)} {where} ({_fmt(floor)}, {_fmt(ceiling)})")


def gate_differs(name: str, label: str, a: Sequence[float], b: Sequence[float], tol: float = 0.0) -> Gate:
    """Passes when the two arms are not identical on every seed (within ``tol``): a control that cannot
    differ from the baseline tests nothing."""
    same = len(a) == len(b) and all(abs(float(x) - float(y)) <= tol for x, y in zip(a, b))
    return Gate(name, not same, f"{label}: {'identical' if same else 'differ'} on "
                f"{'every' if same else 'some'} seed (tol {_fmt(tol)})")


def invalid_reason(gates: Sequence[Gate]) -> str:
    """The failed gates as one line (empty when all passed)."""
    return "; ".join(f"{g.name}: {g.detail}" for g in gates if not g.ok)


def decide_with_effect(diffs: Sequence[float], effect: float | None, min_seeds: int = 3,
                       confidence: float = CONFIDENCE) -> tuple[str, list[float], str]:
    """:func:`decide`, plus the claim's effect of interest: (verdict, [low, high], note).

    The claim states the paper's finding, a margin of about ``effect`` (the paper's effect scaled to this
    regime). PASS needs the sign proven (low end above 0) as in :func:`decide`. FAIL also when the interval's
    high end is below ``effect``: the seeds then rule out a true margin as large as the paper's, so the finding
    did not reproduce here even if the sign is undecided (a replication judged against the effect it set out to
    find, not only against zero). INCONCLUSIVE is left for an interval that straddles 0 and
    still reaches the effect of interest: more seeds could go either way. The note says which rule decided, and a
    PASS whose interval lies wholly below the effect says that the sign holds with a smaller margin than the paper's.
    """
    verdict, iv = decide(diffs, min_seeds=min_seeds, confidence=confidence)
    if effect is None or len(diffs) < min_seeds or len(iv) != 2 or iv[1] != iv[1] or not iv[1] < effect:
        return verdict, iv, ""
    if verdict == "INCONCLUSIVE":
        return "FAIL", iv, (f"FAIL by the effect of interest: interval high end {iv[1]:+.4g} < {effect:g}, the "
                            "paper's (scaled) margin is ruled out; the sign alone is undecided")
    if verdict == "PASS":
        return verdict, iv, (f"the sign holds, but the interval's high end {iv[1]:+.4g} is below the effect of "
                             f"interest {effect:g}: a smaller margin than the paper's (scaled)")
    return verdict, iv, ""


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
    gates: Sequence[Gate] = (),
) -> ClaimResult:
    """A :class:`ClaimResult` decided by :func:`decide` on ``diffs`` (one margin per seed, > 0 = claim holds).

    ``margin`` is the mean of ``diffs``; the statement comes from the registered claim. Use it for every
    claim: the verdict then survives another machine's seed noise. ``gates`` are the claim's validity gates,
    checked on the runs it read, one per declared precondition (``register_claim(preconditions=...)``);
    when any fails, the verdict is ``INVALID`` (this regime cannot test the claim) whatever the interval,
    and ``reason`` names the failed preconditions. The interval is still reported.
    """
    from trustlab.registry import CLAIMS

    claim = CLAIMS.get(claim_id)
    declared, checked = set(claim.preconditions), [g.name for g in gates]
    if sorted(declared) != sorted(checked):
        missing, extra = sorted(declared - set(checked)), sorted(set(checked) - declared)
        raise ValueError(f"claim {claim_id}: gates checked {checked} do not match its declared preconditions "
                         f"{sorted(declared)} (missing {missing}, undeclared {extra})")
    ds = [float(d) for d in diffs]
    verdict, iv, effect_note = decide_with_effect(ds, claim.effect, min_seeds=min_seeds)
    reason = invalid_reason(gates)
    if reason:
        verdict = "INVALID"
    elif effect_note:
        notes = f"{notes} {effect_note}".strip() if notes else effect_note
    return ClaimResult(
        claim_id, claim.statement, suite, passed=verdict == "PASS", margin=mean(ds), unit=unit,
        values={k: [float(v) for v in vs] for k, vs in values.items()}, seeds=list(seeds), table=table or [],
        runs=runs or [], notes=notes, verdict=verdict, interval=iv, diffs=ds,
        gates=[g.to_dict() for g in gates], reason=reason,
    )


def register_claim(claim_id: str, statement: str, check: Callable[[str, Any], ClaimResult], group: str = "",
                   suites: Sequence[str] = SUITES, preconditions: Mapping[str, str] | None = None,
                   effect: float | None = None, effect_source: str = "") -> Claim:
    """Register a claim under its id (spelled once) and return it.

    ``preconditions``: ``{gate name: what must hold}``, the validity gates its check evaluates (every one,
    every time; see :class:`Gate`). ``effect``: the effect size of interest in the claim's own unit (the
    paper's effect, scaled to the miniature), which the power analysis (:mod:`trustlab.bench.power`) turns
    into the seeds needed; ``effect_source`` says where it comes from.
    """
    from trustlab.registry import CLAIMS

    if effect is not None and not effect > 0:
        raise ValueError(f"claim {claim_id}: effect of interest must be > 0 in the claim's unit, got {effect}")
    claim = Claim(claim_id, statement, check, suites=suites, group=group or claim_id.split("/")[0],
                  preconditions=dict(preconditions or {}), effect=effect, effect_source=effect_source)
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
    preconditions: dict[str, str] = field(default_factory=dict)  # gate name -> what must hold
    effect: float | None = None  # effect size of interest, in the claim's unit (power analysis)
    effect_source: str = ""  # where the effect size comes from (the paper's effect, how it was scaled)

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
