"""Fabricated OOD runs: ``ood/ood`` summaries (leaderboard, APS choice, covariate table) and ``ood/osr``
summaries (per class split), with the keys and shapes the recipes write."""

from __future__ import annotations

from typing import Any

DETS = ["msp", "mls", "energy", "gen", "mds", "knn", "vim", "react", "ash", "gradnorm"]


def _ood(id_acc: float, msp_far: float, feat_far: float, clean_cov: float = 0.65, cov_ood: float = 0.90,
         jitter: float = 0.01):
    """``ood/ood``: MSP's and the feature detectors' far-OOD AUROC, and the covariate AUROCs; per seed +-jitter."""
    def make(recipe: str, ov: dict[str, Any]) -> dict[str, Any]:
        assert recipe == "ood/ood"
        seed = ov.get("train.seed", 0)
        j = jitter * (seed % 3 - 1)
        lb, cov, aps = {}, {}, {}
        for i, d in enumerate(DETS):
            far = min(1.0, (feat_far + 0.002 * i if d in ("mds", "knn", "vim") else msp_far) - j)
            lb[d] = {"near/auroc": far - 0.05, "far/auroc": far, "near/fpr95": 0.4, "far/fpr95": 1 - far,
                     "covariate_s3/auroc": clean_cov}
            cov[d] = {"clean_vs_cov_auroc": min(1.0, clean_cov + j), "cov_vs_ood_auroc": min(1.0, cov_ood - j)}
            aps[d] = {"searched": 3, "val_auroc": 0.9 + 0.01 * i}
        return {"id_dataset": "mnist5k", "num_classes": 10, "train_size": 3000, "id_acc": id_acc + j,
                "test_size": 600, "near_sets": "glyphs", "far_sets": "textures, noise", "aps": True,
                "covariate_s3_acc": id_acc - 0.08, "best_far_auroc": max(v["far/auroc"] for v in lb.values()),
                "best_far_detector": "vim", "leaderboard": lb, "covariate": cov, "aps_choice": aps,
                "seconds": 200.0}
    return make


def _osr(weak_acc: float, strong_acc: float, weak_auroc: float, strong_auroc: float, splits: int = 3):
    """``ood/osr``: the weak (1 epoch) or the strong (3 epochs) classifier, per class split (+-0.02 per split)."""
    def make(recipe: str, ov: dict[str, Any]) -> dict[str, Any]:
        assert recipe == "ood/osr"
        strong = ov.get("train.epochs", 1) > 1
        acc, au = (strong_acc, strong_auroc) if strong else (weak_acc, weak_auroc)
        per = {f"split {i}": {"known": "0,1,2,4,6,8", "acc": acc + 0.01 * (i % 2),
                              "msp/auroc": min(1.0, au + (0.02 * (i - 1) if strong else 0.0)),
                              "mls/auroc": au} for i in range(splits)}
        return {"id_dataset": "mnist5k", "splits": splits, "known_per_split": 6, "closed_set_acc": acc,
                "msp_auroc": au, "mls_auroc": au, "msp_oscr": au * acc, "mls_oscr": au * acc,
                "leaderboard": {"msp": {"auroc": au}}, "per_split": per, "seconds": 40.0}
    return make


FIXTURES = {
    "ood/feature-beats-msp-far": {"PASS": _ood(0.96, 0.96, 0.995), "FAIL": _ood(0.96, 0.96, 0.90),
                                  "INVALID": _ood(0.96, 0.999, 1.0)},  # MSP at the ceiling: nothing to beat
    "ood/covariate-between": {"PASS": _ood(0.96, 0.96, 0.99), "FAIL": _ood(0.96, 0.96, 0.99, clean_cov=0.42),
                              "INVALID": _ood(0.15, 0.55, 0.6)},  # an untrained classifier
    "ood/osr-better-classifier": {"PASS": _osr(0.88, 0.96, 0.81, 0.92), "FAIL": _osr(0.88, 0.96, 0.90, 0.80),
                                  "INVALID": _osr(0.96, 0.88, 0.81, 0.92)},  # the "strong" one is less accurate
}
