"""PSG claims on the embedded psg-scenes (test split), one training seed per paired sample.

* ``psg/two-stage-above-prior`` (demo, quick): the two-stage model beats the prior-only baseline (most
  frequent predicate per subject-object class pair, pairs ranked by that frequency, same masks and classes)
  on test R@20 in PredCls **and** SGDet; margin per seed: the smaller of the two differences.
* ``psg/psgtr-above-prior`` (quick): PSGTR beats the same baseline on SGDet R@20 (PSGTR has no PredCls mode;
  the paper reports it in SGDet only). The issue's claim 1 ("both models") holds when both claims pass.
* ``psg/predcls-sgcls-sgdet`` (quick): two-stage R@20 PredCls > SGCls > SGDet; margin = min of the two steps.
* ``psg/long-tail-gap`` (quick): two-stage PredCls mR@20 is below R@20 (margin R@20 - mR@20).
* ``psg/debias-raises-mr`` (quick): logit adjustment (tau = 1, post hoc, same trained model) raises
  PredCls mR@20 (margin debiased - plain); its R@20 is reported beside it (the usual price).
* PSGTR vs two-stage in SGDet is reported in the first claim's table, whichever wins.

Each seed trains both models once; every claim reads the same runs (cached per bench). The quick suite trains
the two-stage model on 8 seeds (the power analysis; ~50 CPU-s a run) and PSGTR on the first 3 (~250 CPU-s a run).

Validity gates (a failed one makes the verdict INVALID): the segmenter works (test PQ >= ``PQ_MIN``: SGDet and
the prior's SGDet run on its masks), the prior / plain model leaves room above it for the effect, the relation
head learned more than the class-pair prior (PredCls R@20 above the prior's), mR@K is computed over every
predicate class (an absent one counts 0) and at least ``MIN_PREDICATES`` of them.
"""

from __future__ import annotations

from typing import Any

from trustlab.bench.claims import (
    ClaimResult,
    Gate,
    gate_above,
    gate_below,
    mean,
    paired_result,
    register_claim,
    std,
)

TWO, TR = "psg/two-stage", "psg/psgtr"
# effects of interest (test R@20 / mR@20 points, as fractions; sources at register_claim)
EFFECT_PRIOR, EFFECT_MODES, EFFECT_TAIL, EFFECT_DEBIAS = 0.02, 0.01, 0.02, 0.02
PQ_MIN = 0.5  # segmenter works: at PQ 0.5 a typical segment is matched (IoU > 0.5) and mostly right
PRIOR_MAX = 0.6  # the prior-only PredCls R@20 at most this: the predicate depends on the layout, not only on the
# class pair, so the frequency prior is a baseline a model can beat (issue 27)
MIN_PREDICATES = 5  # mR@K averages per-predicate recalls; over fewer classes it is one or two classes' recall
SCALE: dict[str, dict[str, Any]] = {
    "smoke": {"seeds": [0], "two": {"method.seg_epochs": 1, "method.rel_epochs": 2, "data.max_train": 32,
                                    "data.max_test": 16, "method.figures": False},
              "tr": {"method.epochs": 1, "data.max_train": 16, "data.max_test": 8, "method.figures": False}},
    # demo: 14 segmenter epochs (8 gave test PQ 0.37 on psg-scenes v2, under the segmenter-works gate; 14 gave val PQ
    # 0.673 on seed 0 at ~37 CPU-s a run, README "Demo slice")
    "demo": {"seeds": [0, 1, 2], "two": {"method.seg_epochs": 14, "method.rel_epochs": 15, "data.max_train": 160,
                                         "data.max_test": 60, "method.figures": False},
             "tr": {"method.epochs": 6, "data.max_train": 160, "data.max_test": 60, "method.figures": False}},
    # quick: two-stage seeds from the power analysis (README "Seeds"; v1: long-tail-gap needed 8), PSGTR on 3 (a run
    # costs several hundred CPU-s: the claim says so in its notes)
    "quick": {"seeds": list(range(8)), "tr_seeds": [0, 1, 2], "two": {}, "tr": {}},
    "full": {"seeds": [0, 1, 2, 3, 4], "two": {"method.seg_epochs": 40, "method.rel_epochs": 60},
             "tr": {"method.epochs": 150}},
}


def _tr_seeds(suite: str) -> list[int]:
    return SCALE[suite].get("tr_seeds", SCALE[suite]["seeds"])


def summaries(suite: str, ctx: Any, psgtr: bool = True) -> tuple[list[dict], list[dict], list[str]]:
    """Two-stage runs of the suite's seeds, or (``psgtr``) two-stage and PSGTR runs of the PSGTR seeds, paired."""
    seeds = _tr_seeds(suite) if psgtr else SCALE[suite]["seeds"]
    jobs = [(TWO, {**SCALE[suite]["two"], "train.seed": s}) for s in seeds]
    if psgtr:
        jobs += [(TR, {**SCALE[suite]["tr"], "train.seed": s}) for s in seeds]
    recs = ctx.run_many(jobs)
    sums = [r.summary() for r in recs]
    return sums[: len(seeds)], sums[len(seeds):], [str(r.path) for r in recs]


def _gate_segmenter(two: list[dict]) -> Gate:
    return gate_above("segmenter-works", "two-stage segmenter test PQ", [float(s["test_PQ"]) for s in two], PQ_MIN,
                      "SGDet recall on worse masks is capped by the masks, not by relations")


def _gate_room(name: str, label: str, vals: list[float], effect: float) -> Gate:
    return gate_below(name, label, vals, 1 - effect, f"room for the effect {effect} below recall 1")


def _gate_prior_beatable(two: list[dict]) -> Gate:
    return gate_below("prior-beatable", "prior-only test PredCls R@20", [_v(s, "predcls_freq") for s in two], PRIOR_MAX,
                      "the predicate depends on the segments' layout, not only on the class pair")


def _gate_learned(two: list[dict]) -> Gate:
    return gate_above("relations-learned", "two-stage PredCls R@20 minus the prior-only's",
                      [_v(s, "predcls") - _v(s, "predcls_freq") for s in two], 0.0,
                      "the relation head learned more than the class-pair prior")


def _gate_predicates(two: list[dict]) -> Gate:
    """mR@K over every predicate class with test instances (an absent class counts recall 0 in mR@K: it lowers mR
    by construction) and at least MIN_PREDICATES of them. Presence from per_predicate_R@50 (nan when absent)."""
    present, total = [], []
    for s in two:
        pp = s.get("per_predicate_R@50") or {}
        vals = [float(v.get("predcls", float("nan")) if isinstance(v, dict) else v) for v in pp.values()]
        present.append(sum(v == v for v in vals))
        total.append(len(s.get("predicates") or pp))
    ok = bool(total) and all(p == t and p >= MIN_PREDICATES for p, t in zip(present, total))
    need = "every one and" if not ok else "every one,"
    return Gate("mr-predicates", ok, f"predicate classes with test instances {min(present, default=0)}-"
                f"{max(present, default=0)} of {max(total, default=0)} per seed ({need} >= {MIN_PREDICATES})")


def _v(s: dict, mode: str, key: str = "R@20") -> float:
    return float(s[f"test_{mode}"][key])


def _prior_rows(two: list[dict], tr: list[dict]) -> list[dict[str, Any]]:
    rows = []
    series = [("two-stage PredCls", [_v(s, "predcls") for s in two]),
              ("prior-only PredCls (control)", [_v(s, "predcls_freq") for s in two]),
              ("two-stage SGDet", [_v(s, "sgdet") for s in two])]
    if tr:
        series.append(("PSGTR SGDet", [_v(t, "sgdet") for t in tr]))
    series.append(("prior-only SGDet on the segmenter's masks (control)", [_v(s, "sgdet_freq") for s in two]))
    for name, vals in series:
        rows.append({"model / mode": name, "test R@20": mean(vals), "std": std(vals)})
    return rows


def check_two_stage_above_prior(suite: str, ctx: Any) -> ClaimResult:
    two, _, paths = summaries(suite, ctx, psgtr=False)
    d_pc = [_v(s, "predcls") - _v(s, "predcls_freq") for s in two]
    d_det = [_v(s, "sgdet") - _v(s, "sgdet_freq") for s in two]
    return paired_result(
        "psg/two-stage-above-prior", suite, [min(a, b) for a, b in zip(d_pc, d_det)],
        unit="test R@20, min(PredCls, SGDet) of two-stage minus the prior-only baseline (same masks and classes)",
        values={"two_predcls": [_v(s, "predcls") for s in two], "freq_predcls": [_v(s, "predcls_freq") for s in two],
                "two_sgdet": [_v(s, "sgdet") for s in two], "freq_sgdet": [_v(s, "sgdet_freq") for s in two],
                "diff_predcls": d_pc, "diff_sgdet": d_det},
        seeds=SCALE[suite]["seeds"], table=_prior_rows(two, []), runs=paths,
        gates=[_gate_segmenter(two), _gate_prior_beatable(two),
               _gate_room("room-above-prior", "prior-only test R@20 (the higher of PredCls and SGDet)",
                          [max(_v(s, "predcls_freq"), _v(s, "sgdet_freq")) for s in two], EFFECT_PRIOR)],
        notes=f"margins: PredCls {mean(d_pc):+.3f}, SGDet {mean(d_det):+.3f}")


def check_psgtr_above_prior(suite: str, ctx: Any) -> ClaimResult:
    two, tr, paths = summaries(suite, ctx)
    d_tr = [_v(t, "sgdet") - _v(s, "sgdet_freq") for s, t in zip(two, tr)]
    vs_two = [_v(t, "sgdet") - _v(s, "sgdet") for s, t in zip(two, tr)]
    return paired_result(
        "psg/psgtr-above-prior", suite, d_tr,
        unit="test SGDet R@20, PSGTR minus the prior-only baseline on the two-stage segmenter's masks",
        values={"psgtr_sgdet": [_v(t, "sgdet") for t in tr], "freq_sgdet": [_v(s, "sgdet_freq") for s in two],
                "psgtr_minus_two_stage": vs_two,
                "psgtr_resolved_overlaps": [float(t["test_sgdet_resolved"]["R@20"]) for t in tr]},
        seeds=_tr_seeds(suite), table=_prior_rows(two, tr), runs=paths,
        gates=[_gate_segmenter(two), _gate_prior_beatable(two),
               _gate_room("room-above-prior", "prior-only test SGDet R@20", [_v(s, "sgdet_freq") for s in two],
                          EFFECT_PRIOR)],
        notes=f"PSGTR minus two-stage SGDet R@20: {mean(vs_two):+.3f} (reported, not claimed). {POWER_PSGTR}")


def check_modes(suite: str, ctx: Any) -> ClaimResult:
    two, _, paths = summaries(suite, ctx, psgtr=False)
    a = [_v(s, "predcls") - _v(s, "sgcls") for s in two]
    b = [_v(s, "sgcls") - _v(s, "sgdet") for s in two]
    rows = [{"mode": m, "test R@20": mean([_v(s, m) for s in two]),
             "test mR@20": mean([_v(s, m, "mR@20") for s in two])} for m in ("predcls", "sgcls", "sgdet")]
    return paired_result("psg/predcls-sgcls-sgdet", suite, [min(x, y) for x, y in zip(a, b)],
                         unit="test R@20, min(PredCls - SGCls, SGCls - SGDet), two-stage",
                         values={"predcls_minus_sgcls": a, "sgcls_minus_sgdet": b}, seeds=SCALE[suite]["seeds"],
                         table=rows, runs=paths,
                         gates=[_gate_segmenter(two), _gate_learned(two),
                                _gate_room("predcls-not-at-ceiling", "two-stage PredCls test R@20",
                                           [_v(s, "predcls") for s in two], EFFECT_MODES)])


def check_long_tail(suite: str, ctx: Any) -> ClaimResult:
    two, _, paths = summaries(suite, ctx, psgtr=False)
    diffs = [_v(s, "predcls") - _v(s, "predcls", "mR@20") for s in two]
    ctrl = [_v(s, "predcls_freq") - _v(s, "predcls_freq", "mR@20") for s in two]
    return paired_result("psg/long-tail-gap", suite, diffs, unit="test PredCls R@20 - mR@20, two-stage",
                         values={"gap": diffs, "freq_gap": ctrl}, seeds=SCALE[suite]["seeds"], runs=paths,
                         gates=[_gate_predicates(two), _gate_learned(two)],
                         notes=f"same gap of the prior-only baseline: {mean(ctrl):+.3f}")


def check_debias(suite: str, ctx: Any) -> ClaimResult:
    two, _, paths = summaries(suite, ctx, psgtr=False)
    rows = []
    diffs = {}
    for mode in ("predcls", "sgdet"):
        diffs[mode] = [_v(s, f"{mode}_debiased", "mR@20") - _v(s, mode, "mR@20") for s in two]
        for var in ("", "_debiased"):
            rows.append({"mode": mode + var, "test mR@20": mean([_v(s, mode + var, "mR@20") for s in two]),
                         "test R@20": mean([_v(s, mode + var) for s in two])})
    return paired_result("psg/debias-raises-mr", suite, diffs["predcls"],
                         unit="test PredCls mR@20, logit-adjusted (tau=1) minus plain, same model",
                         values={"predcls": diffs["predcls"], "sgdet": diffs["sgdet"]}, seeds=SCALE[suite]["seeds"],
                         table=rows, runs=paths, notes=f"SGDet: {mean(diffs['sgdet']):+.4f}",
                         gates=[_gate_predicates(two), _gate_learned(two),
                                _gate_room("room-above-plain", "plain PredCls test mR@20",
                                           [_v(s, "predcls", "mR@20") for s in two], EFFECT_DEBIAS)])


POWER_PSGTR = ("power: 6 seeds needed to detect effect 0.02 R@20 at sd 0.015 (psg-scenes v2, quick, n = 3); quick runs "
               "PSGTR on 3 seeds (a run costs ~340-390 CPU-s): on v2 the margin (-0.133) is 9 sd below 0, a FAIL that "
               "more seeds would not turn")
_SEG = (f"the two-stage segmenter's test PQ >= {PQ_MIN} (SGDet, and the prior-only SGDet baseline, run on its "
        "masks: with worse masks every model's SGDet recall is capped by the masks, not by relations)")
_BEATABLE = (f"the prior-only PredCls R@20 <= {PRIOR_MAX}: on the scenes the predicate depends on the segments' "
             "layout (above / beside / on / in front of / lying on ...), not only on the class pair, so the frequency "
             "prior is a baseline a model can beat")
_LEARNED = ("the relation head learned more than the class-pair prior: two-stage PredCls R@20 >= the prior-only's "
            "(else the comparison is the prior's)")
_PRED = (f"mR@K is averaged over every predicate class, each with test instances, and >= {MIN_PREDICATES} of them "
         "(an absent class counts recall 0 in mR@K: R - mR > 0 by construction; over fewer classes mR is one or two "
         "classes' recall)")
_PRIOR_SRC = ("the paper's SGDet gaps between relation heads (IMP 16.5 -> MOTIFS 20.0 -> VCTree 20.6 R@20: 0.6-3.5 "
              "points on ~20, 3-17 %); on psg-scenes v2 the prior's PredCls R@20 is 0.58 (v1: 0.85), 2 points is the "
              "smallest gain of interest")
register_claim("psg/two-stage-above-prior",
               "PSG two-stage: test R@20 above the prior-only baseline (most frequent predicate per subject-object "
               "class pair, same masks and classes) in PredCls and in SGDet", check_two_stage_above_prior,
               preconditions={"segmenter-works": _SEG, "prior-beatable": _BEATABLE,
                              "room-above-prior": f"the prior-only test R@20 <= 1 - {EFFECT_PRIOR} in PredCls and "
                                                  "SGDet (room above it for the effect)"},
               effect=EFFECT_PRIOR, effect_source=_PRIOR_SRC)
register_claim("psg/psgtr-above-prior",
               "PSG PSGTR: test SGDet R@20 above the prior-only baseline (on the two-stage segmenter's masks)",
               check_psgtr_above_prior, suites=("smoke", "quick", "full"),
               preconditions={"segmenter-works": _SEG, "prior-beatable": _BEATABLE,
                              "room-above-prior": f"the prior-only test SGDet R@20 <= 1 - {EFFECT_PRIOR}"},
               effect=EFFECT_PRIOR, effect_source=_PRIOR_SRC)
register_claim("psg/predcls-sgcls-sgdet", "PSG two-stage: test R@20 PredCls > SGCls > SGDet (ground-truth masks "
               "and classes help)", check_modes, suites=("smoke", "quick", "full"),
               preconditions={"segmenter-works": _SEG + "; a broken segmenter makes SGCls > SGDet by construction",
                              "relations-learned": _LEARNED,
                              "predcls-not-at-ceiling": f"two-stage PredCls R@20 <= 1 - {EFFECT_MODES} (at the "
                                                        "ceiling PredCls >= SGCls holds by construction)"},
               effect=EFFECT_MODES,
               effect_source="the paper's modes differ by tens of points on real images; with 13 easy classes the "
                             "miniature's PredCls - SGCls step is small, 1 R@20 point is the smallest step of interest")
register_claim("psg/long-tail-gap", "PSG two-stage: PredCls mR@20 is below R@20 (long-tailed predicates)",
               check_long_tail, suites=("smoke", "quick", "full"),
               preconditions={"mr-predicates": _PRED, "relations-learned": _LEARNED},
               effect=EFFECT_TAIL,
               effect_source="the paper's mR is about half of R (MOTIFS SGDet 20.0 / 9.1); the miniature's predicates "
                             "are far less skewed, 2 points is the smallest gap of interest")
register_claim("psg/debias-raises-mr", "PSG two-stage: logit adjustment by the predicate prior raises PredCls mR@20",
               check_debias, suites=("smoke", "quick", "full"),
               preconditions={"mr-predicates": _PRED, "relations-learned": _LEARNED,
                              "room-above-plain": f"the plain PredCls mR@20 <= 1 - {EFFECT_DEBIAS} (room to raise it)"},
               effect=EFFECT_DEBIAS,
               effect_source="debiasing on PSG/VG raises mR@K by several points at a cost in R@K (not in the PSG "
                             "paper); 2 mR@20 points is the smallest gain of interest")
