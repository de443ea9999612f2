"""Claims of the generalized-OOD survey / OpenOOD, checked on runs of ``ood/ood`` and ``ood/osr``.

Every claim is decided by the bench's paired rule (:func:`trustlab.bench.claims.paired_result`) on one
margin per seed (per class split for OSR); PASS only when the 90% interval on the mean margin clears 0.

1. ``ood/feature-beats-msp-far`` (headline, in ``demo``): the feature-based detector (KNN, ViM or
   Mahalanobis) with the best ID-val vs OOD-val AUROC (chosen on validation sets, per seed, never on a test
   set) beats MSP, the baseline on the same model and forward pass, on far-OOD AUROC (OpenOOD v1.5:
   feature-space methods lead on far-OOD).
2. ``ood/covariate-between`` (in ``demo``, same runs): post-hoc detectors place covariate-shifted ID between
   clean ID and semantic OOD: averaged over detectors, AUROC(clean ID vs covariate) > 0.5 and
   AUROC(covariate vs OOD) > 0.5; the per-seed margin is the smaller of the two minus 0.5.
3. ``ood/osr-better-classifier``: in OSR, the classifier with the better closed-set accuracy has the better
   open-set AUROC (Vaze et al., ICLR 2022), MSP score, paired over the same class splits.

Validity gates (declared with each claim, checked on the runs it read; a failed gate is INVALID): the
classifier has learned its ID classes (MSP and the feature detectors read a trained model), no compared arm
sits at the AUROC ceiling that decides the comparison by construction, and for OSR the premise itself (the
"stronger" classifier is more accurate on every split, and the weaker one above chance).

Scale per suite (``SCALE``): ``smoke`` seconds, ``demo`` the headline claim on 3 seeds in well under a
minute with ``--jobs 2``, ``quick`` minutes on 2 CPU cores, ``full`` the whole ID set at width 1.0 (GPU).
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
from trustlab.methods.ood.config import FEATURE_BASED

# Gates. LEARNED_SHARE: a classifier counts as trained when its closed-set accuracy is at least half-way from
# chance to perfect (MSP is the classifier's own confidence; an untrained model's scores rank ID and OOD at
# random). AUROC_CEILING: a detector-mean AUROC at or above it misorders under 1% of (ID, OOD) pairs: the two
# sets are separated outright and the comparison says nothing about the detectors.
LEARNED_SHARE = 0.5
AUROC_CEILING = 0.99
EFFECT_FAR, EFFECT_COV, EFFECT_OSR = 0.02, 0.05, 0.03
# power analysis (README "Seeds from the power analysis"): sd of the per-split margin of the last quick run
POWER_OSR = ("power: 19 class splits needed for effect 0.03 AUROC at sd 0.050 per split; quick runs 3 (each OSR "
             "run trains one classifier per split, the two runs took 93 s together at load 20: more than a minute)")


def gate_learned(name: str, label: str, accs: list[float], n_classes: int) -> Gate:
    chance = 1.0 / n_classes
    return gate_above(name, label, accs, chance + LEARNED_SHARE * (1 - chance),
                      f"chance {chance:.3g} + {LEARNED_SHARE} x (1 - chance)")

_POSTHOC_FAST = ["msp", "mls", "energy", "gen", "mds", "knn", "vim", "react", "ash", "gradnorm"]
_SMALL = {"model.width": 0.125, "ood.figures": False}
SCALE: dict[str, dict[str, Any]] = {
    "smoke": {
        "seeds": [0],
        "ood": {**_SMALL, "data.max_per_domain": 600, "train.epochs": 1, "ood.max_test": 200, "ood.ood_size": 100,
                "ood.val_size": 50, "ood.id_val": 100, "detectors.names": _POSTHOC_FAST},
        "osr": {"model.width": 0.125, "data.max_per_domain": 600, "split.splits": 1, "split.max_test": 200,
                "split.id_val": 100, "split.val_size": 50, "split.figures": False, "detectors.names": ["msp", "mls"]},
        "weak": {"train.epochs": 1, "train.max_steps_per_epoch": 2},
        "strong": {"train.epochs": 2},
    },
    "demo": {
        "seeds": [0, 1, 2],
        "ood": {**_SMALL, "data.max_per_domain": 1000, "train.epochs": 2, "ood.max_test": 300, "ood.ood_size": 150,
                "ood.val_size": 75, "ood.id_val": 150, "detectors.names": _POSTHOC_FAST},
    },
    "quick": {
        "seeds": [0, 1, 2],
        "ood": {**_SMALL, "data.max_per_domain": 3000, "train.epochs": 3, "ood.max_test": 600, "ood.ood_size": 300,
                "ood.val_size": 150, "ood.id_val": 300},
        "osr": {"model.width": 0.125, "data.max_per_domain": 1200, "split.splits": 3, "split.id_val": 200,
                "split.figures": False, "detectors.names": ["msp", "mls"]},
        "weak": {"train.epochs": 1},
        "strong": {"train.epochs": 3},
    },
    "full": {
        "seeds": [0, 1, 2],
        "ood": {"model.width": 1.0, "data.max_per_domain": 0, "train.epochs": 20, "ood.max_test": 0,
                "ood.ood_size": 0, "ood.val_size": 1000},
        "osr": {"model.width": 1.0, "split.splits": 5},
        "weak": {"model.width": 0.125, "train.epochs": 1, "train.max_steps_per_epoch": 10},
        "strong": {"train.epochs": 20},
    },
}


def _ood_runs(suite: str, ctx: Any) -> tuple[list[dict[str, Any]], list[str], list[int]]:
    scale = SCALE[suite]
    recs = ctx.run_many([("ood/ood", {"train.seed": s, **scale["ood"]}) for s in scale["seeds"]])
    return [r.summary() for r in recs], [str(r.path) for r in recs], list(scale["seeds"])


def val_choice(run: dict[str, Any], candidates: list[str]) -> str:
    """The candidate detector with the best ID-val vs OOD-val AUROC of one run (ties: the first listed)."""
    aps = run.get("aps_choice", {})
    scored = [d for d in candidates if "val_auroc" in aps.get(d, {})]
    if not scored:
        return candidates[0]
    return max(scored, key=lambda d: aps[d]["val_auroc"])


def check_feature_beats_msp(suite: str, ctx: Any) -> ClaimResult:
    runs, paths, seeds = _ood_runs(suite, ctx)
    feats = [d for d in FEATURE_BASED if d in runs[0]["leaderboard"]]
    chosen = [val_choice(r, feats) for r in runs]
    far = lambda r, d: r["leaderboard"][d]["far/auroc"]
    diffs = [far(r, c) - far(r, "msp") for r, c in zip(runs, chosen)]
    dets = ["msp", *feats]
    table = [{"detector": d, "far AUROC": mean([far(r, d) for r in runs]), "std": std([far(r, d) for r in runs]),
              "near AUROC": mean([r["leaderboard"][d]["near/auroc"] for r in runs if "near/auroc" in
                                  r["leaderboard"][d]] or [float("nan")]),
              "far FPR@95": mean([r["leaderboard"][d]["far/fpr95"] for r in runs]),
              "val AUROC": mean([r.get("aps_choice", {}).get(d, {}).get("val_auroc", float("nan")) for r in runs]),
              "chosen on val (seeds)": sum(c == d for c in chosen)} for d in dets]
    n_cls = int(runs[0].get("num_classes", 10))
    gates = [gate_learned("classifier-learned", "mean ID test accuracy", [r["id_acc"] for r in runs], n_cls),
             # MSP at the ceiling leaves no room for a feature detector to beat it by the effect of interest
             gate_below("msp-headroom", "mean far-OOD AUROC of MSP", [far(r, "msp") for r in runs], 1 - EFFECT_FAR,
                        f"1 - effect of interest {EFFECT_FAR}")]
    return paired_result(
        "ood/feature-beats-msp-far", suite, diffs, gates=gates,
        unit="far-OOD AUROC, val-chosen feature detector minus MSP (same model), per seed",
        values={"chosen": [far(r, c) for r, c in zip(runs, chosen)], **{d: [far(r, d) for r in runs] for d in dets}},
        seeds=seeds, table=table, runs=paths,
        notes=f"ID {runs[0]['id_dataset']}, far sets: {runs[0]['far_sets']}; chosen per seed on ID-val vs OOD-val: "
              f"{', '.join(chosen)}; ID accuracy {mean([r['id_acc'] for r in runs]):.3f}; control: MSP on the same "
              "classifier and forward pass",
    )


def check_covariate_between(suite: str, ctx: Any) -> ClaimResult:
    runs, paths, seeds = _ood_runs(suite, ctx)
    dets = sorted(runs[0]["covariate"])
    clean = [mean([r["covariate"][d]["clean_vs_cov_auroc"] for d in dets]) for r in runs]  # per seed
    apart = [mean([r["covariate"][d]["cov_vs_ood_auroc"] for d in dets]) for r in runs]
    diffs = [min(c - 0.5, a - 0.5) for c, a in zip(clean, apart)]
    cov_key = next(k for k in runs[0] if k.startswith("covariate_s") and k.endswith("_acc"))
    table = [{"detector": d, "AUROC clean>cov": mean([r["covariate"][d]["clean_vs_cov_auroc"] for r in runs]),
              "AUROC cov>OOD": mean([r["covariate"][d]["cov_vs_ood_auroc"] for r in runs])} for d in dets]
    table.append({"detector": "mean", "AUROC clean>cov": mean(clean), "AUROC cov>OOD": mean(apart)})
    n_cls = int(runs[0].get("num_classes", 10))
    gates = [gate_learned("classifier-learned", "mean ID test accuracy", [r["id_acc"] for r in runs], n_cls),
             gate_below("clean-cov-not-separated", "detector-mean AUROC(clean ID > covariate)", clean, AUROC_CEILING,
                        "at the ceiling the covariate set is a second OOD set"),
             gate_below("cov-ood-not-separated", "detector-mean AUROC(covariate > OOD)", apart, AUROC_CEILING,
                        "at the ceiling the OOD sets are so far that any ID-like set scores above them")]
    return paired_result(
        "ood/covariate-between", suite, diffs, gates=gates,
        unit="AUROC above 0.5 (the smaller of the two detector-mean AUROCs), per seed",
        values={"clean_vs_cov": clean, "cov_vs_ood": apart}, seeds=seeds, table=table, runs=paths,
        notes=f"{len(dets)} post-hoc detectors; closed-set accuracy clean {mean([r['id_acc'] for r in runs]):.3f}, "
              f"covariate ({cov_key[:-4]}) {mean([r[cov_key] for r in runs]):.3f}",
    )


def check_osr_better_classifier(suite: str, ctx: Any) -> ClaimResult:
    scale = SCALE[suite]
    weak_rec, strong_rec = ctx.run_many([("ood/osr", {**scale["osr"], **scale["weak"]}),
                                         ("ood/osr", {**scale["osr"], **scale["strong"]})])
    weak, strong = weak_rec.summary(), strong_rec.summary()
    table, values = [], {"weak/acc": [], "strong/acc": [], "weak/msp_auroc": [], "strong/msp_auroc": []}
    for split in strong["per_split"]:
        w, s = weak["per_split"][split], strong["per_split"][split]
        values["weak/acc"].append(w["acc"])
        values["strong/acc"].append(s["acc"])
        values["weak/msp_auroc"].append(w["msp/auroc"])
        values["strong/msp_auroc"].append(s["msp/auroc"])
        table.append({"split": split, "known": s["known"], "weak acc": w["acc"], "strong acc": s["acc"],
                      "weak MSP AUROC": w["msp/auroc"], "strong MSP AUROC": s["msp/auroc"],
                      "weak MLS AUROC": w.get("mls/auroc"), "strong MLS AUROC": s.get("mls/auroc")})
    diffs = [s - w for s, w in zip(values["strong/msp_auroc"], values["weak/msp_auroc"])]
    acc_gaps = [s - w for s, w in zip(values["strong/acc"], values["weak/acc"])]
    known = int(strong.get("known_per_split", len(str(next(iter(strong["per_split"].values()))["known"]).split(","))))
    premise = min(acc_gaps) > 0
    gates = [gate_learned("weak-learned", "weaker classifier's mean closed-set accuracy", values["weak/acc"], known),
             Gate("premise", premise, f"closed-set accuracy gap (strong - weak) per split "
                  f"{', '.join(f'{g:+.3f}' for g in acc_gaps)}: {'> 0 on every split' if premise else '<= 0 on some'}"),
             gate_below("weak-headroom", "weaker classifier's mean MSP open-set AUROC", values["weak/msp_auroc"],
                        1 - EFFECT_OSR, f"1 - effect of interest {EFFECT_OSR}")]
    return paired_result(
        "ood/osr-better-classifier", suite, diffs, gates=gates,
        unit="open-set AUROC (MSP), stronger minus weaker classifier, paired per class split",
        values=values, seeds=list(range(len(diffs))), table=table, runs=[str(weak_rec.path), str(strong_rec.path)],
        notes=f"closed-set accuracy gap per split {', '.join(f'{g:+.3f}' for g in acc_gaps)} (strong - weak; the "
              f"premise holds when all are > 0); OSCR weak {weak['msp_oscr']:.3f} vs strong {strong['msp_oscr']:.3f}"
              + (f"; {POWER_OSR}" if suite == "quick" else ""),
    )


LEARNED = ("the classifier learned its ID classes: mean ID test accuracy >= chance + 0.5 x (1 - chance) (MSP "
           "and the feature detectors read a trained model; an untrained one ranks ID and OOD at random)")
register_claim("ood/feature-beats-msp-far", "A feature-based detector (KNN, ViM or Mahalanobis, chosen on OOD-val) "
               "beats MSP on far-OOD AUROC", check_feature_beats_msp,
               preconditions={"classifier-learned": LEARNED,
                              "msp-headroom": f"MSP's mean far-OOD AUROC <= 1 - {EFFECT_FAR} (the effect of interest): "
                                              "a baseline at the ceiling cannot be beaten, the claim would FAIL by "
                                              "construction"},
               effect=EFFECT_FAR, effect_source="OpenOOD v1.5 far-OOD leaderboards: the feature-space leaders (KNN, "
                                                "ViM) are a few AUROC points above MSP; 2 points taken as the effect")
register_claim("ood/covariate-between", "Post-hoc detectors score covariate-shifted ID below clean ID but above "
               "semantic OOD (mean AUROC over detectors > 0.5 both ways)", check_covariate_between,
               preconditions={"classifier-learned": LEARNED,
                              "clean-cov-not-separated": f"detector-mean AUROC(clean ID > covariate) < {AUROC_CEILING}"
                                                         " (at the ceiling the corruption makes a second OOD set and "
                                                         "'below clean ID' holds by construction)",
                              "cov-ood-not-separated": f"detector-mean AUROC(covariate > OOD) < {AUROC_CEILING} (at "
                                                       "the ceiling the OOD sets are so far that 'above OOD' holds "
                                                       "for any ID-like set)"},
               effect=EFFECT_COV, effect_source="the survey's full-spectrum view (covariate-shifted ID between ID and "
                                                "OOD) gives no number at this scale; 0.05 AUROC above 0.5 each way "
                                                "taken as the smallest ordering of interest")
register_claim("ood/osr-better-classifier", "In OSR, the classifier with better closed-set accuracy has better "
               "open-set AUROC", check_osr_better_classifier, suites=("smoke", "quick", "full"),
               preconditions={"weak-learned": "the weaker classifier learned the known classes: closed-set accuracy "
                                              ">= chance + 0.5 x (1 - chance) (a weaker model at chance makes the "
                                              "comparison a trained-vs-untrained one)",
                              "premise": "the stronger classifier is more accurate than the weaker on every class "
                                         "split (the claim is about the better classifier)",
                              "weak-headroom": f"the weaker classifier's mean MSP open-set AUROC <= 1 - {EFFECT_OSR} "
                                               "(at the ceiling the stronger has no room to be better)"},
               effect=EFFECT_OSR, effect_source="Vaze et al. (ICLR 2022): open-set AUROC rises with closed-set "
                                                "accuracy; no number at this scale, 0.03 AUROC taken as the smallest "
                                                "gain of interest for the weak/strong accuracy gap here")
