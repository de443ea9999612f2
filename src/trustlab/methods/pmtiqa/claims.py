"""PMT-IQA claims on the embedded iqa-distort data (proxy MOS), one split by source photo per seed.

* ``pmtiqa/ms-pmt-beats-ss-st`` (demo, quick): MS+PMT beats the single-scale single-task regressor of the
  same backbone on test SRCC *and* PLCC; the per-split margin is the smaller of the two differences.
* ``pmtiqa/ms-helps``, ``pmtiqa/pmt-helps`` (quick): the ablation, each component alone above SS-ST on SRCC.
* ``pmtiqa/unseen-type`` (quick): trained without one distortion type, the model ranks that type's five
  levels within each test reference (mean within-reference SRCC) above the mean predictor (SRCC 0); the
  untrained network of the same architecture is reported beside it as a second control.

Seed s means: split seed s (which source photos are test) and training seed s, so the paired difference
of two variants is taken on the same split and the same initialisation draw.
"""

from __future__ import annotations

from typing import Any

from trustlab.bench.claims import ClaimResult, mean, paired_result, register_claim, std

RECIPE = "pmtiqa/distort"
VARIANTS: dict[str, dict[str, Any]] = {
    "SS-ST": {"method.multi_scale": False, "method.schedule": "regression"},
    "+MS": {"method.multi_scale": True, "method.schedule": "regression"},
    "+PMT": {"method.multi_scale": False, "method.schedule": "progressive"},
    "MS+PMT": {"method.multi_scale": True, "method.schedule": "progressive"},
}
HELD_OUT = "gaussian_blur"  # the unseen-type claim's held-out type (motion_blur stays in training)

# Scale per suite: overrides shared by every run of the suite, and the seeds (= splits).
SCALE: dict[str, dict[str, Any]] = {
    "smoke": {"seeds": [0], "overrides": {"train.epochs": 1, "data.max_train": 96, "method.test_patches": 1}},
    "demo": {"seeds": [0, 1, 2], "overrides": {"train.epochs": 3, "method.train_patches": 1}},
    "quick": {"seeds": [0, 1, 2], "overrides": {"train.epochs": 5, "method.train_patches": 1}},
    "full": {"seeds": [0, 1, 2, 3, 4], "overrides": {"train.epochs": 20, "method.train_patches": 4,
                                                     "model.width": 0.5, "method.test_patches": 8}},
}


def _overrides(suite: str, seed: int, extra: dict[str, Any]) -> dict[str, Any]:
    return {**SCALE[suite]["overrides"], "train.seed": seed, "data.split_seed": seed, **extra}


def variant_summaries(suite: str, ctx: Any, names: list[str]) -> tuple[dict[str, list[dict]], list[str]]:
    """``{variant: [summary per seed]}`` (runs trained together, ``--jobs`` at a time)."""
    seeds = SCALE[suite]["seeds"]
    keys = [(v, s) for v in names for s in seeds]
    recs = ctx.run_many([(RECIPE, _overrides(suite, s, VARIANTS[v])) for v, s in keys])
    out: dict[str, list[dict]] = {v: [] for v in names}
    for (v, _), rec in zip(keys, recs):
        out[v].append(rec.summary())
    return out, [str(r.path) for r in recs]


def _table(runs: dict[str, list[dict]]) -> list[dict[str, Any]]:
    rows = []
    for v, sums in runs.items():
        row: dict[str, Any] = {"variant": v}
        for k in ("srcc", "plcc", "krcc", "plcc_l4"):
            vals = [s[f"test_{k}"] for s in sums]
            row[f"test {k.upper()}"] = mean(vals)
            if k in ("srcc", "plcc"):
                row[f"{k.upper()} std"] = std(vals)
        rows.append(row)
    return rows


def check_ms_pmt_beats_baseline(suite: str, ctx: Any) -> ClaimResult:
    runs, paths = variant_summaries(suite, ctx, ["SS-ST", "MS+PMT"])
    seeds = SCALE[suite]["seeds"]
    d_srcc = [a["test_srcc"] - b["test_srcc"] for a, b in zip(runs["MS+PMT"], runs["SS-ST"])]
    d_plcc = [a["test_plcc"] - b["test_plcc"] for a, b in zip(runs["MS+PMT"], runs["SS-ST"])]
    diffs = [min(a, b) for a, b in zip(d_srcc, d_plcc)]
    values = {f"{v}/{k}": [s[f"test_{k}"] for s in runs[v]] for v in runs for k in ("srcc", "plcc")}
    values.update({"diff/srcc": d_srcc, "diff/plcc": d_plcc})
    return paired_result(
        "pmtiqa/ms-pmt-beats-ss-st", suite, diffs, unit="min(dSRCC, dPLCC), MS+PMT minus SS-ST, test split",
        values=values, seeds=seeds, table=_table(runs), runs=paths,
        notes=f"mean dSRCC {mean(d_srcc):+.4f}, mean dPLCC {mean(d_plcc):+.4f}; proxy MOS, not human opinion",
    )


def _component(claim_id: str, variant: str):
    def check(suite: str, ctx: Any) -> ClaimResult:
        runs, paths = variant_summaries(suite, ctx, list(VARIANTS))
        diffs = [a["test_srcc"] - b["test_srcc"] for a, b in zip(runs[variant], runs["SS-ST"])]
        values = {v: [s["test_srcc"] for s in runs[v]] for v in runs}
        return paired_result(claim_id, suite, diffs, unit=f"test SRCC, {variant} minus SS-ST", values=values,
                             seeds=SCALE[suite]["seeds"], table=_table(runs), runs=paths)

    return check


def check_unseen_type(suite: str, ctx: Any) -> ClaimResult:
    seeds = SCALE[suite]["seeds"]
    recs = ctx.run_many([(RECIPE, _overrides(suite, s, {**VARIANTS["MS+PMT"], "data.exclude_types": [HELD_OUT]}))
                         for s in seeds])
    sums = [r.summary() for r in recs]
    trained = [s["heldout"][HELD_OUT]["level_srcc"] for s in sums]
    untrained = [s["heldout_untrained"][HELD_OUT]["level_srcc"] for s in sums]
    pooled = [s["heldout"][HELD_OUT]["srcc"] for s in sums]
    mean_pred = [0.0 for _ in seeds]  # a constant prediction has no rank order: SRCC 0 by convention
    table = [
        {"model": "MS+PMT trained without " + HELD_OUT, "within-ref level SRCC": mean(trained),
         "std": std(trained), "pooled SRCC (type)": mean(pooled)},
        {"model": "untrained network (control)", "within-ref level SRCC": mean(untrained), "std": std(untrained)},
        {"model": "mean predictor (control)", "within-ref level SRCC": 0.0, "std": 0.0},
    ]
    return paired_result(
        "pmtiqa/unseen-type", suite, [t - m for t, m in zip(trained, mean_pred)],
        unit=f"within-reference SRCC over the 5 levels of held-out {HELD_OUT}, minus the mean predictor",
        values={"trained": trained, "untrained": untrained, "pooled_srcc": pooled}, seeds=seeds, table=table,
        runs=[str(r.path) for r in recs],
        notes=(f"untrained-network control: {mean(untrained):+.3f} "
               f"(margin over it {mean(trained) - mean(untrained):+.3f})"),
    )


register_claim("pmtiqa/ms-pmt-beats-ss-st",
               "PMT-IQA: multi-scale + progressive multi-task beats the single-scale single-task regressor of the "
               "same backbone on test SRCC and PLCC (proxy MOS, splits by source photo)",
               check_ms_pmt_beats_baseline)
register_claim("pmtiqa/ms-helps",
               "PMT-IQA ablation: multi-scale features alone (+MS, single task) beat SS-ST on test SRCC",
               _component("pmtiqa/ms-helps", "+MS"), suites=("smoke", "quick", "full"))
register_claim("pmtiqa/pmt-helps", "PMT-IQA ablation: progressive multi-task alone (+PMT, single scale) beats SS-ST on "
               "test SRCC", _component("pmtiqa/pmt-helps", "+PMT"), suites=("smoke", "quick", "full"))
register_claim("pmtiqa/unseen-type",
               f"PMT-IQA trained without {HELD_OUT} still ranks its 5 levels within each test reference "
               "(within-reference SRCC above the mean predictor's 0)", check_unseen_type,
               suites=("smoke", "quick", "full"))
