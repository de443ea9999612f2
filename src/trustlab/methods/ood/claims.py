"""Claims of the generalized-OOD survey / OpenOOD, checked on runs of ``ood/ood`` and ``ood/osr``.

1. ``ood/feature-beats-msp-far``: a feature-based detector (KNN, ViM or Mahalanobis) beats MSP on
   far-OOD AUROC (OpenOOD v1.5: feature-space methods lead on far-OOD).
2. ``ood/covariate-between``: post-hoc detectors place covariate-shifted ID between clean ID and semantic
   OOD: averaged over detectors, AUROC(clean ID vs covariate) > 0.5 and AUROC(covariate vs OOD) > 0.5.
3. ``ood/osr-better-classifier``: in OSR, the classifier with the better closed-set accuracy has the better
   open-set AUROC (Vaze et al., ICLR 2022), MSP score, same class splits.

Scale per suite: ``smoke`` seconds, ``quick`` minutes on 2 CPU cores (small_cnn width 0.125 on a subset),
``full`` the whole Fashion-MNIST at width 1.0 (GPU).
"""

from __future__ import annotations

from typing import Any

from trustlab.bench.claims import Claim, ClaimResult, mean, std
from trustlab.methods.ood.method import FEATURE_BASED
from trustlab.registry import CLAIMS

_SMALL = ["model.width=0.125"]
SCALE: dict[str, dict[str, Any]] = {
    "smoke": {
        "seeds": [0],
        "ood": [*_SMALL, "data.max_per_domain=600", "train.epochs=1", "ood.max_test=200", "ood.ood_size=100",
                "ood.val_size=50", "ood.id_val=100", "ood.figures=false",
                "detectors.names=[msp,mls,energy,gen,mds,knn,vim,react,ash,gradnorm]"],
        "osr": [*_SMALL, "data.max_per_domain=600", "split.splits=1", "split.max_test=200", "split.id_val=100",
                "split.val_size=50",
                "split.figures=false", "detectors.names=[msp,mls]"],
        "weak": ["train.epochs=1", "train.max_steps_per_epoch=2"],
        "strong": ["train.epochs=2"],
    },
    "quick": {
        "seeds": [0],
        "ood": [*_SMALL, "data.max_per_domain=4000", "train.epochs=3", "ood.max_test=600", "ood.ood_size=300",
                "ood.val_size=150", "ood.id_val=300"],
        "osr": [*_SMALL, "data.max_per_domain=1200", "split.splits=3", "split.id_val=200",
                "detectors.names=[msp,mls]"],
        "weak": ["train.epochs=1"],
        "strong": ["train.epochs=3"],
    },
    "full": {
        "seeds": [0, 1, 2],
        "ood": ["model.width=1.0", "data.max_per_domain=0", "train.epochs=20", "ood.max_test=0", "ood.ood_size=0",
                "ood.val_size=1000"],
        "osr": ["model.width=1.0", "split.splits=5"],
        "weak": ["model.width=0.125", "train.epochs=1", "train.max_steps_per_epoch=10"],
        "strong": ["train.epochs=20"],
    },
}


def _ood_runs(suite: str, ctx: Any) -> tuple[list[dict[str, Any]], list[str]]:
    scale = SCALE[suite]
    recs = ctx.run_many([("ood/ood", [f"train.seed={s}", *scale["ood"]]) for s in scale["seeds"]])
    return [r.summary() for r in recs], [str(r.path) for r in recs]


def check_feature_beats_msp(suite: str, ctx: Any) -> ClaimResult:
    runs, paths = _ood_runs(suite, ctx)
    seeds = SCALE[suite]["seeds"]
    dets = ["msp", *[d for d in FEATURE_BASED if d in runs[0]["leaderboard"]]]
    values = {d: [r["leaderboard"][d]["far/auroc"] for r in runs] for d in dets}
    best = max(dets[1:], key=lambda d: mean(values[d]))
    margin = mean(values[best]) - mean(values["msp"])
    table = [{"detector": d, "far AUROC": mean(v), "std": std(v),
              "near AUROC": mean([r["leaderboard"][d]["near/auroc"] for r in runs]),
              "far FPR@95": mean([r["leaderboard"][d]["far/fpr95"] for r in runs])} for d, v in values.items()]
    return ClaimResult(
        "ood/feature-beats-msp-far", CLAIMS.get("ood/feature-beats-msp-far").statement, suite,
        passed=margin > 0, margin=margin, unit=f"far-OOD AUROC, best feature detector ({best}) minus MSP",
        values=values, seeds=seeds, table=table, runs=paths,
        notes=f"ID {runs[0]['id_dataset']}, far sets: {runs[0]['far_sets']}; ID accuracy "
              f"{mean([r['id_acc'] for r in runs]):.3f}",
    )


def check_covariate_between(suite: str, ctx: Any) -> ClaimResult:
    runs, paths = _ood_runs(suite, ctx)
    seeds = SCALE[suite]["seeds"]
    dets = sorted(runs[0]["covariate"])
    clean = [mean([r["covariate"][d]["clean_vs_cov_auroc"] for r in runs]) for d in dets]
    apart = [mean([r["covariate"][d]["cov_vs_ood_auroc"] for r in runs]) for d in dets]
    m_clean, m_apart = mean(clean), mean(apart)
    margin = min(m_clean - 0.5, m_apart - 0.5)
    cov_key = next(k for k in runs[0] if k.startswith("covariate_s") and k.endswith("_acc"))
    table = [{"detector": d, "AUROC clean>cov": c, "AUROC cov>OOD": a} for d, c, a in zip(dets, clean, apart)]
    table.append({"detector": "mean", "AUROC clean>cov": m_clean, "AUROC cov>OOD": m_apart})
    return ClaimResult(
        "ood/covariate-between", CLAIMS.get("ood/covariate-between").statement, suite,
        passed=margin > 0, margin=margin, unit="AUROC above 0.5 (the smaller of the two mean AUROCs)",
        values={"clean_vs_cov": [mean([r["covariate"][d]["clean_vs_cov_auroc"] for d in dets]) for r in runs],
                "cov_vs_ood": [mean([r["covariate"][d]["cov_vs_ood_auroc"] for d in dets]) for r in runs]},
        seeds=seeds, table=table, runs=paths,
        notes=f"{len(dets)} post-hoc detectors; closed-set accuracy clean {mean([r['id_acc'] for r in runs]):.3f}, "
              f"covariate ({cov_key[:-4]}) {mean([r[cov_key] for r in runs]):.3f}",
    )


def check_osr_better_classifier(suite: str, ctx: Any) -> ClaimResult:
    scale = SCALE[suite]
    weak_rec = ctx.run("ood/osr", [*scale["osr"], *scale["weak"]])
    weak = weak_rec.summary()
    strong_rec = ctx.run("ood/osr", [*scale["osr"], *scale["strong"]])
    strong = strong_rec.summary()
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
    acc_gap = strong["closed_set_acc"] - weak["closed_set_acc"]
    margin = strong["msp_auroc"] - weak["msp_auroc"]
    return ClaimResult(
        "ood/osr-better-classifier", CLAIMS.get("ood/osr-better-classifier").statement, suite,
        passed=acc_gap > 0 and margin > 0, margin=margin,
        unit="open-set AUROC (MSP), stronger minus weaker classifier, mean over splits",
        values=values, seeds=list(range(strong["splits"])), table=table,
        runs=[str(weak_rec.path), str(strong_rec.path)],
        notes=f"closed-set accuracy weak {weak['closed_set_acc']:.3f} vs strong {strong['closed_set_acc']:.3f} "
              f"(gap {acc_gap:+.3f}); OSCR weak {weak['msp_oscr']:.3f} vs strong {strong['msp_oscr']:.3f}",
    )


for cid, statement, check in (
    ("ood/feature-beats-msp-far", "A feature-based detector (KNN, ViM or Mahalanobis) beats MSP on far-OOD AUROC",
     check_feature_beats_msp),
    ("ood/covariate-between", "Post-hoc detectors score covariate-shifted ID below clean ID but above semantic OOD "
     "(mean AUROC over detectors > 0.5 both ways)", check_covariate_between),
    ("ood/osr-better-classifier", "In OSR, the classifier with better closed-set accuracy has better open-set AUROC",
     check_osr_better_classifier),
):
    CLAIMS.add(cid, Claim(cid, statement, check, group="ood"))
