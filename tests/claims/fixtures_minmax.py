"""Fabricated min-max runs: ``attack/ensemble``, ``attack/universal``, ``attack/eot`` and ``attack/minmax-at``
summaries with the keys the recipes write (README quick regime as the base; values move per seed)."""

from __future__ import annotations

from typing import Any

DOMAINS = ["m0:small_cnn", "m1:small_cnn", "m2:mobilenet_v3_small"]
TYPES = ["linf:0.15", "l2:1.0", "l1:5.0"]


def _j(ov: dict[str, Any], size: float) -> float:
    return size * (ov.get("train.seed", 0) % 3 - 1)


def _ensemble(avg_rates: list[float], mm_all: float, avg_all: float, w: list[float], clean: float = 0.89):
    """Per-model success of the average attack, ASR_all of min-max and average, the learned weights."""
    def make(recipe: str, ov: dict[str, Any]) -> dict[str, Any]:
        assert recipe == "attack/ensemble"
        j = _j(ov, 0.01)
        ws = [x + (j if i == 0 else -j / 2) for i, x in enumerate(w)]
        per = {"minmax": {d: min(1.0, r + 0.05) for d, r in zip(DOMAINS, avg_rates)},
               "average": dict(zip(DOMAINS, avg_rates))}
        asr_all = {"minmax": mm_all + j, "average": avg_all}
        return {"setting": "ensemble", "dataset": "mnist5k", "domains": DOMAINS, "n_samples": 200, "norm": "linf",
                "eps": 0.2, "steps": 20, "clean_acc": {d: clean + 0.01 * i for i, d in enumerate(DOMAINS)},
                "asr_all": asr_all, "asr_avg": {k: sum(v.values()) / len(v) for k, v in per.items()},
                "per_domain_asr": per, "weights": dict(zip(DOMAINS, ws)),
                "largest_weight_domain": DOMAINS[max(range(3), key=lambda i: ws[i])],
                "hardest_domain_average": DOMAINS[min(range(3), key=lambda i: avg_rates[i])],
                "adv_acc": {k: {d: 1 - r for d, r in v.items()} for k, v in per.items()},
                "control_random_asr_all": 0.0, "attack_seconds": {"minmax": 9.0, "average": 8.0}, "seconds": 27.0}
    return make


def _universal_eot(uni: tuple[float, float], eot: tuple[float, float], avg_rate: float = 0.6):
    """(min-max, average) worst-domain success of the universal and the EOT runs; mean success ``avg_rate``."""
    def make(recipe: str, ov: dict[str, Any]) -> dict[str, Any]:
        j = _j(ov, 0.025)
        if recipe == "attack/universal":
            doms = [f"input{i}" for i in range(5)]
            return {"setting": "universal", "dataset": "mnist5k", "k": 5, "n_groups": 40, "n_heldout": 100,
                    "asr_all": {"minmax": uni[0] + j, "average": uni[1]},
                    "asr_avg": {"minmax": avg_rate + 0.03, "average": avg_rate},
                    "per_domain_asr": {w: {d: avg_rate for d in doms} for w in ("minmax", "average")},
                    "fooling_rate_heldout": {"minmax": 0.13, "average": 0.14}, "w_on_unfooled": 0.6,
                    "w_max_mean": 0.4, "seconds": 10.0}
        assert recipe == "attack/eot" and ov["model.weights"].endswith("model.pt")
        doms = ["identity", "hflip", "vflip", "bright", "gamma", "crop"]
        return {"setting": "eot", "dataset": "mnist5k", "domains": doms, "n_samples": 100,
                "clean_acc_per_transform": {d: 0.9 for d in doms},
                "asr_all": {"minmax": eot[0] + j, "average": eot[1]},
                "asr_avg": {"minmax": 0.87, "average": 0.83},
                "per_domain_asr": {w: {d: 0.85 for d in doms} for w in ("minmax", "average")},
                "eot": {"minmax": {"avg": 0.87, "worst": eot[0] + j, "worst_transform": 0.8},
                        "average": {"avg": 0.83, "worst": eot[1], "worst_transform": 0.7}}, "seconds": 20.0}
    return make


def _at(union: dict[str, float], clean: dict[str, float]):
    """``attack/minmax-at``: union robust and clean accuracy per mode (standard, minmax, average)."""
    def make(recipe: str, ov: dict[str, Any]) -> dict[str, Any]:
        assert recipe == "attack/minmax-at"
        mode = ov["at.mode"]
        assert mode == "standard" or ov["model.weights"].endswith("model.pt")
        u = max(0.0, union[mode] + (_j(ov, 0.01) if mode == "minmax" else 0.0))
        rob = {"clean": clean[mode], "linf:0.15": u, "l2:1.0": u + 0.1, "l1:5.0": u + 0.2, "union": u}
        s = {"mode": mode, "dataset": "mnist5k", "types": TYPES, "n_eval": 200, "union_acc": u,
             "clean_acc": clean[mode], "robust_acc": rob, "train_seconds": 5.0, "seconds": 12.0}
        if mode != "standard":
            s["type_weights_last_epoch"] = {t: 1 / 3 for t in TYPES}
        return s
    return make


QUICK_RATES = [0.60, 0.77, 0.78]  # m0 is fooled least (README quick)
FIXTURES = {
    "minmax/ensemble-asr-all": {
        "PASS": _ensemble(QUICK_RATES, 0.61, 0.49, [0.43, 0.30, 0.27]),
        "FAIL": _ensemble(QUICK_RATES, 0.40, 0.49, [0.43, 0.30, 0.27]),
        "INVALID": _ensemble([0.05, 0.06, 0.04], 0.03, 0.01, [0.34, 0.33, 0.33]),  # the attack fools nothing
    },
    "minmax/weights-hardest": {
        "PASS": _ensemble(QUICK_RATES, 0.61, 0.49, [0.43, 0.30, 0.27]),
        "FAIL": _ensemble(QUICK_RATES, 0.61, 0.49, [0.25, 0.40, 0.35]),
        # three equally robust victims: 'the hardest' is noise
        "INVALID": _ensemble([0.70, 0.71, 0.72], 0.61, 0.49, [0.43, 0.30, 0.27]),
    },
    "minmax/universal-eot-worst": {
        "PASS": _universal_eot((0.16, 0.10), (0.74, 0.49)),
        "FAIL": _universal_eot((0.05, 0.10), (0.74, 0.49)),
        "INVALID": _universal_eot((0.16, 0.10), (1.0, 0.99)),  # EOT at the ceiling: its gap is <= 0 by construction
    },
    "minmax/at-union": {
        "PASS": _at({"standard": 0.31, "minmax": 0.58, "average": 0.55},
                    {"standard": 0.87, "minmax": 0.85, "average": 0.85}),
        "FAIL": _at({"standard": 0.31, "minmax": 0.50, "average": 0.56},
                    {"standard": 0.87, "minmax": 0.85, "average": 0.85}),
        "INVALID": _at({"standard": 0.05, "minmax": 0.06, "average": 0.05},  # AT collapsed to chance
                       {"standard": 0.87, "minmax": 0.11, "average": 0.10}),
    },
}
