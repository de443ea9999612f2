"""Fabricated DOORPING / NaiveAttack runs (``backdoor/<kind>-<method>`` summaries, as ``run_doorping`` writes them).

A DOORPING run carries its controls (``eval.controls``: clean-real, clean-distilled, full-data); a NaiveAttack run
none. Values vary per seed and method so the claims' pairing and worst-method logic is exercised. The INVALID
fixtures are the regime the 2026-12 runs measured: a 1% budget at MNIST-5k, where even BadNets training on the
whole poisoned set plants nothing (full-data ASR ~0.01).
"""

from __future__ import annotations

from typing import Any

from trustlab.methods.doorping.claims import (
    ASR_HIGH,
    BEATS_NAIVE,
    CLEAN_CTA,
    DEFENSE_NAMES,
    IN_DATA,
    NAIVE_SURVIVES,
    POSITIVE,
    SURVIVES,
)

# a regime where backdoors can be planted and the models learn
GOOD = {"asr": 0.97, "cta": 0.80, "clean_cta": 0.79, "asr_clean_distilled": 0.05, "asr_clean_real": 0.04,
        "asr_full_data": 0.97, "cta_full_data": 0.90, "naive_asr": 0.45, "naive_cta": 0.79,
        # defenses (DM runs and the BadNets control): ASR left after each, and which ones flag the target
        "asr_after": 0.95, "control_asr": 0.98, "control_cta": 0.88, "control_asr_after": 0.2}
# the measured 1%-budget regime (README: demo and quick seed 0-1): no backdoor, not even BadNets on full data
ONE_PERCENT = {**GOOD, "asr": 0.04, "cta": 0.60, "clean_cta": 0.64, "asr_clean_distilled": 0.03,
               "asr_clean_real": 0.03, "asr_full_data": 0.012, "cta_full_data": 0.84, "naive_asr": 0.03,
               "naive_cta": 0.62}


def _defenses(names: list[str], asr_before: float, asr_after: float, flagged: tuple[str, ...]) -> dict[str, Any]:
    """``summary["defenses"]`` as ``run_defenses`` writes it (``detected`` NaN for fine-pruning)."""
    return {d: {"cta_before": 0.8, "asr_before": asr_before, "cta_after": 0.78, "asr_after": asr_after,
                "detected": float("nan") if d == "fine-pruning" else float(d in flagged), "seconds": 3.0}
            for d in names}


def _runs(flagged: tuple[str, ...] = (), control_flagged: tuple[str, ...] = ("neural-cleanse", "strip"),
          **levels: float):
    lv = {**GOOD, **levels}

    def make(recipe: str, ov: dict[str, Any]) -> dict[str, Any]:
        seed = ov["train.seed"]
        if recipe == "distill/full-data":  # the BadNets control of the defense claims
            assert ov["attack.kind"] == "naive" and ov["defense.names"] == DEFENSE_NAMES
            return {"method": "none", "attack": "naive", "asr": lv["control_asr"], "cta": lv["control_cta"],
                    "asr_val": lv["control_asr"] - 0.01 * seed, "cta_val": lv["control_cta"],
                    "per_model": {"model0": {"asr": lv["control_asr"], "cta": lv["control_cta"]}},
                    "defenses": _defenses(DEFENSE_NAMES, lv["control_asr"], lv["control_asr_after"],
                                          control_flagged)}
        kind, method = recipe.split("/")[1].split("-")

        def v(key: str) -> float:  # jittered per seed, method and key by up to +-0.01, inside [0, 1]
            j = 0.005 * ((seed * 7 + sum(map(ord, method)) // 3 + 3 * len(key)) % 5 - 2)
            return min(1.0, max(0.0, lv[key] + j))

        prefix = "naive_" if kind == "naive" else ""
        asr, cta = v(f"{prefix}asr"), v(f"{prefix}cta")
        out: dict[str, Any] = {
            "method": method, "attack": kind, "dataset": "mnist5k", "ipc": 10, "train_size": 4000,
            "synthetic_size": 100, "trigger_from": None,
            "cta": cta, "cta_std": 0.01, "asr": asr, "asr_std": 0.01, "asr_reference": 0.1 + 0.9 * asr,
            "asr_reference_std": 0.01, "asr_unclipped": asr, "asr_unclipped_std": 0.01,
            "per_model": {"model0": {"cta": cta, "asr": asr, "asr_reference": 0.1 + 0.9 * asr, "asr_unclipped": asr}},
            "trigger_range": [0.2, 0.9], "synthetic_range": [0.0, 1.0], "trigger_unit": 0.3081,
            "attack_info": {"poisoned": 4000 * ov.get("attack.portion", 0.01)},
            "eval_seconds": 30.0, "total_seconds": 60.0, "cpu_seconds": 95.0,
        }
        if ov.get("eval.val_size"):  # the fresh models measured on the held-out validation split too
            out.update(asr_val=asr, cta_val=cta)
            out["per_model"]["model0"].update(asr_val=asr, cta_val=cta)
        if kind == "doorping":
            out["attack_info"].update({"trigger_updates": 20.0, "trigger_steps_total": 40.0, "trigger_seconds": 2.0})
        if ov.get("defense.names"):
            out["defenses"] = _defenses(ov["defense.names"], asr, min(asr, lv["asr_after"] + 0.01 * seed), flagged)
        controls = ov.get("eval.controls", ["clean-real"])
        if "clean-real" in controls:
            out.update(asr_clean_real=v("asr_clean_real"), asr_clean_real_std=0.01)
        if "clean-distilled" in controls:
            out.update(clean_cta=v("clean_cta"), clean_cta_std=0.01, asr_clean_distilled=v("asr_clean_distilled"),
                       asr_clean_distilled_std=0.01, clean_distilled_seconds=20.0)
        if "full-data" in controls:
            out.update(cta_full_data=v("cta_full_data"), asr_full_data=v("asr_full_data"), full_data_seconds=15.0)
            if ov.get("eval.val_size"):  # the positive control on the held-out validation split
                out.update(cta_full_data_val=v("cta_full_data"), asr_full_data_val=v("asr_full_data"))
        return out

    return make


FIXTURES = {
    ASR_HIGH: {"PASS": _runs(), "FAIL": _runs(asr=0.6),
               "INVALID": _runs(**ONE_PERCENT)},
    IN_DATA: {"PASS": _runs(),
              # the trigger fools models that never saw poison: no backdoor in the data
              "FAIL": _runs(asr_clean_distilled=0.9),
              "INVALID": _runs(**ONE_PERCENT)},
    BEATS_NAIVE: {"PASS": _runs(), "FAIL": _runs(asr=0.5, naive_asr=0.8),
                  # NaiveAttack at the ceiling: nothing can beat it
                  "INVALID": _runs(naive_asr=0.99)},
    POSITIVE: {"PASS": _runs(), "FAIL": _runs(**ONE_PERCENT),
               # a trigger that fools clean models would give any full-data model a high ASR
               "INVALID": _runs(asr_clean_distilled=0.85)},
    CLEAN_CTA: {"PASS": _runs(), "FAIL": _runs(clean_cta=0.3),
                # the network does not even learn from the whole training set
                "INVALID": _runs(cta_full_data=0.3, clean_cta=0.2)},
    # the positive control holds in PASS / FAIL: a regime where DOORPING's trigger is planted
    SURVIVES: {"PASS": _runs(),
               # Neural Cleanse flags the target class: the user discards the model (ASR left 0)
               "FAIL": _runs(flagged=("neural-cleanse",)),
               # the measured 10% regime: no backdoor in the distilled set, nothing to survive
               "INVALID": _runs(asr=0.05)},
    NAIVE_SURVIVES: {"PASS": _runs(naive_asr=0.95),
                     # fine-pruning removes the backdoor (ASR 0.1 after it)
                     "FAIL": _runs(naive_asr=0.95, asr_after=0.1),
                     # every defense is blind to the BadNets control: "survives" would be vacuous
                     "INVALID": _runs(naive_asr=0.95, control_flagged=(), control_asr_after=0.9)},
}
