"""Claims of "Backdoor Attacks Against Dataset Distillation" (NDSS 2023) in miniature, and their controls.

Every ASR here is the headline ASR of :func:`~trustlab.methods.doorping.evaluate.backdoor_metrics`: non-target
test images stamped with the trigger, clipped to [0, 1] and quantised to 8 bits. The trigger and the
synthetic images are bounded to [0, 1] (the reference leaves both unbounded; README). Each claim is
decided by the bench's paired rule on per-seed margins (the worst method's margin of each seed).

1. ``doorping/asr-high``: DOORPING reaches ASR >= 0.9 with CTA within 3 points of the clean distilled set
   of the same config and seed (the run's ``clean-distilled`` control).
2. ``doorping/backdoor-in-data`` (control): the ASR exceeds, by >= 0.5, the ASR of the same final trigger on
   models trained on the clean distilled set: the backdoor is in the distilled data, not in the trigger.
3. ``doorping/beats-naive``: DOORPING's ASR > NaiveAttack's at the same poison budget.
4. ``doorping/positive-control`` (control): BadNets-style, models trained on the whole training set with the
   same images poisoned by DOORPING's final trigger reach ASR >= 0.5: the trigger and budget can plant a
   backdoor when the data is not distilled, so a low distilled ASR is the distillation's doing.
5. ``doorping/clean-cta``: distilling clean data gives CTA well above chance (>= chance + 0.3), reported
   next to training on the whole (1%-poisoned) training set.

Scales (:data:`SCALE`): ``smoke`` (seconds, 1 seed: the checks run), ``demo`` (DC only, 3 seeds, claims 1-2),
``quick`` (DC and DM, 3 seeds, every claim), ``full`` (paper-like; GPU). The settings of ``demo`` and
``quick`` were fixed before any test ASR of the bounded attack was seen (README, "How the scale was set").
"""

from __future__ import annotations

from typing import Any

from trustlab.bench.claims import ClaimResult, mean, paired_result, register_claim, std

# claim ids (spelled once)
ASR_HIGH = "doorping/asr-high"
IN_DATA = "doorping/backdoor-in-data"
BEATS_NAIVE = "doorping/beats-naive"
POSITIVE = "doorping/positive-control"
CLEAN_CTA = "doorping/clean-cta"

ASR_MIN = 0.9
CTA_DROP_MAX = 0.03
CHANCE = 0.1
WELL_ABOVE = 0.3
LIFT_MIN = 0.5
BADNETS_MIN = 0.5
NAN = float("nan")
CONTROLS = ["clean-real", "clean-distilled", "full-data"]

# Every claim reads backdoor/* runs: they default to the reference's network (no normalisation, a 192-unit
# hidden layer) with Adam for the fresh models.
_BOUNDED = {"attack.trigger_clamp": True, "distill.clamp": True}
_SMOKE = {"threads": 1, "data.max_per_domain": 400, "eval.test_limit": 200, "model.width": 0.125,
          "eval.num_models": 1, "train.epochs": 4, "train.step_size": 2, "distill.iterations": 2,
          "distill.batch_real": 8, "distill.outer_loop": 2, "distill.inner_loop": 1, "attack.trigger_steps": 3,
          "distill.checkpoint_every": 0, "eval.full_data_epochs": 1, "eval.controls": CONTROLS, **_BOUNDED}
_QUICK = {"threads": 1, "model.width": 0.125, "eval.num_models": 2, "train.epochs": 60, "train.step_size": 30,
          "distill.checkpoint_every": 0, "eval.augment": False, "eval.full_data_epochs": 5,
          "eval.controls": CONTROLS, **_BOUNDED}
_DC_QUICK = {"distill.iterations": 20, "distill.batch_real": 32, "distill.outer_loop": 2, "distill.inner_loop": 1,
             "distill.init": "real", "distill.lr_img": 0.1}
_DM_QUICK = {"distill.iterations": 50, "distill.batch_real": 32, "distill.lr_img": 2.0}
_FULL = {"model.width": 1.0, "eval.num_models": 5, "train.epochs": 300, "train.step_size": 150,
         "distill.iterations": 1000, "distill.batch_real": 256, "distill.outer_loop": None,
         "distill.inner_loop": None, "eval.controls": CONTROLS, "eval.full_data_epochs": 20, **_BOUNDED}

SCALE: dict[str, dict[str, Any]] = {
    "smoke": {"seeds": [0], "methods": ["dc", "dm"], "kinds": ["doorping", "naive"], "common": _SMOKE,
              "per_method": {}},
    "demo": {"seeds": [0, 1, 2], "methods": ["dc"], "kinds": ["doorping"],
             "common": {**_QUICK, "eval.controls": ["clean-distilled"], "eval.num_models": 1, "eval.test_limit": 500},
             "per_method": {"dc": {**_DC_QUICK, "distill.iterations": 10, "distill.batch_real": 16}}},
    "quick": {"seeds": [0, 1, 2], "methods": ["dc", "dm"], "kinds": ["doorping", "naive"], "common": _QUICK,
              "per_method": {"dc": _DC_QUICK, "dm": _DM_QUICK}},
    "full": {"seeds": [0, 1, 2], "methods": ["dc", "dsa", "dm"], "kinds": ["doorping", "naive"], "common": _FULL,
             "per_method": {"dm": {"distill.iterations": 5000, "distill.lr_img": 1.0}}},
}


def overrides(suite: str, method: str, seed: int) -> dict[str, Any]:
    """The overrides of a ``backdoor/<kind>-<method>`` run of ``suite`` and ``seed``."""
    s = SCALE[suite]
    return {**s["common"], **s["per_method"].get(method, {}), "train.seed": seed}


def attack_runs(suite: str, ctx: Any) -> tuple[dict[str, dict[str, dict[int, dict[str, Any]]]], list[str]]:
    """``{kind: {method: {seed: summary}}}`` of every attack run of the suite (run together), and the folders."""
    s = SCALE[suite]
    keys = [(kind, m, seed) for kind in s["kinds"] for m in s["methods"] for seed in s["seeds"]]
    controls = {"eval.controls": []}  # NaiveAttack needs no controls
    recs = ctx.run_many([(f"backdoor/{kind}-{m}",
                          {**overrides(suite, m, seed), **(controls if kind == "naive" else {})})
                         for kind, m, seed in keys])
    out: dict[str, dict[str, dict[int, dict[str, Any]]]] = {}
    for (kind, m, seed), rec in zip(keys, recs):
        out.setdefault(kind, {}).setdefault(m, {})[seed] = rec.summary()
    return out, [str(rec.path) for rec in recs]


def _per_seed(runs: dict[int, dict[str, Any]], key: str) -> list[float]:
    return [float(runs[seed].get(key, NAN)) for seed in sorted(runs)]


def _worst(per_method: list[list[float]]) -> list[float]:
    """Per seed, the smallest margin over methods (the claim must hold for every method)."""
    return [min(col) for col in zip(*per_method)]


def check_asr_high(suite: str, ctx: Any) -> ClaimResult:
    runs, paths = attack_runs(suite, ctx)
    values: dict[str, list[float]] = {}
    table, margins = [], []
    for m, door in runs["doorping"].items():
        asr, cta, cta0 = _per_seed(door, "asr"), _per_seed(door, "cta"), _per_seed(door, "clean_cta")
        values.update({f"{m}/asr": asr, f"{m}/cta": cta, f"{m}/clean_cta": cta0,
                       f"{m}/asr_reference": _per_seed(door, "asr_reference"),
                       f"{m}/asr_unclipped": _per_seed(door, "asr_unclipped")})
        margins.append([min(a - ASR_MIN, CTA_DROP_MAX - (c0 - c)) for a, c, c0 in zip(asr, cta, cta0)])
        table.append({"method": m, "ASR (non-target, stored image)": mean(asr), "ASR std": std(asr),
                      "ASR, reference metric (all images, raw trigger)": mean(values[f"{m}/asr_reference"]),
                      "ASR, non-target, raw trigger": mean(values[f"{m}/asr_unclipped"]),
                      "DOORPING CTA": mean(cta), "clean distilled CTA": mean(cta0), "CTA drop": mean(cta0) - mean(cta)})
    return paired_result(ASR_HIGH, suite, _worst(margins), values=values, seeds=SCALE[suite]["seeds"],
                         unit=f"min over methods of min(ASR - {ASR_MIN}, {CTA_DROP_MAX} - CTA drop), per seed",
                         table=table, runs=paths)


def check_backdoor_in_data(suite: str, ctx: Any) -> ClaimResult:
    runs, paths = attack_runs(suite, ctx)
    values: dict[str, list[float]] = {}
    table, margins = [], []
    for m, door in runs["doorping"].items():
        asr, control = _per_seed(door, "asr"), _per_seed(door, "asr_clean_distilled")
        values[f"{m}/asr"], values[f"{m}/asr_clean_distilled"] = asr, control
        margins.append([a - c - LIFT_MIN for a, c in zip(asr, control)])
        table.append({"method": m, "DOORPING ASR": mean(asr), "same trigger, clean distilled set": mean(control),
                      "same trigger, ipc clean real images": mean(_per_seed(door, "asr_clean_real")),
                      "lift": mean(asr) - mean(control)})
    return paired_result(IN_DATA, suite, _worst(margins), values=values,
                         seeds=SCALE[suite]["seeds"], table=table, runs=paths,
                         unit=f"ASR minus the clean-distilled-set ASR of the same trigger, minus {LIFT_MIN} "
                         "(worst method, per seed)",
                         notes="control: the clean training set distilled with the same settings and seed "
                         "(eval.controls=clean-distilled), fresh models trained on it, tested with the DOORPING "
                         "run's final trigger")


def check_beats_naive(suite: str, ctx: Any) -> ClaimResult:
    runs, paths = attack_runs(suite, ctx)
    values: dict[str, list[float]] = {}
    table, margins = [], []
    for m, door in runs["doorping"].items():
        naive = runs["naive"][m]
        a_d, a_n = _per_seed(door, "asr"), _per_seed(naive, "asr")
        values[f"{m}/doorping_asr"], values[f"{m}/naive_asr"] = a_d, a_n
        margins.append([d - n for d, n in zip(a_d, a_n)])
        first = door[min(door)]
        table.append({"method": m, "DOORPING ASR": mean(a_d), "NaiveAttack ASR": mean(a_n),
                      "DOORPING CTA": mean(_per_seed(door, "cta")), "NaiveAttack CTA": mean(_per_seed(naive, "cta")),
                      "poisoned images": first.get("attack_info", {}).get("poisoned", NAN)})
    return paired_result(BEATS_NAIVE, suite, _worst(margins), values=values, seeds=SCALE[suite]["seeds"],
                         unit="ASR, DOORPING minus NaiveAttack (worst method, per seed)", table=table, runs=paths,
                         notes="both attacks poison the same portion with a trigger of the same size, position "
                         "and target; both bounded to [0, 1]")


def check_positive_control(suite: str, ctx: Any) -> ClaimResult:
    runs, paths = attack_runs(suite, ctx)
    values: dict[str, list[float]] = {}
    table, margins = [], []
    for m, door in runs["doorping"].items():
        asr_full, cta_full = _per_seed(door, "asr_full_data"), _per_seed(door, "cta_full_data")
        values[f"{m}/asr_full_data"], values[f"{m}/cta_full_data"] = asr_full, cta_full
        margins.append([a - BADNETS_MIN for a in asr_full])
        table.append({"method": m, "full poisoned data: ASR": mean(asr_full), "full poisoned data: CTA": mean(cta_full),
                      "distilled (DOORPING) ASR": mean(_per_seed(door, "asr"))})
    return paired_result(POSITIVE, suite, _worst(margins), values=values,
                         seeds=SCALE[suite]["seeds"], table=table, runs=paths,
                         unit=f"BadNets-style ASR minus {BADNETS_MIN} (worst method, per seed)",
                         notes="models trained on the whole training set with the DOORPING run's poisoned images "
                         "stamped with its final trigger (eval.controls=full-data, eval.full_data_epochs)")


def check_clean_cta(suite: str, ctx: Any) -> ClaimResult:
    seeds = SCALE[suite]["seeds"]
    runs, paths = attack_runs(suite, ctx)
    values: dict[str, list[float]] = {}
    table, margins = [], []
    for m, door in runs["doorping"].items():
        cta, full = _per_seed(door, "clean_cta"), _per_seed(door, "cta_full_data")
        values[f"{m}/clean_cta"], values[f"{m}/cta_full_data"] = cta, full
        margins.append([c - (CHANCE + WELL_ABOVE) for c in cta])
        table.append({"method": m, "distilled CTA": mean(cta), "CTA std": std(cta),
                      "full-data CTA (1% poisoned, the BadNets control)": mean(full), "chance": CHANCE,
                      "images": door[seeds[0]].get("synthetic_size"), "full images": door[seeds[0]].get("train_size")})
    return paired_result(CLEAN_CTA, suite, _worst(margins), values=values, seeds=seeds, table=table,
                         runs=paths, unit=f"clean distilled CTA above chance + {WELL_ABOVE} (worst method, per seed)",
                         notes="the clean distilled sets are the clean-distilled controls of the DOORPING runs; the "
                         "full-data reference is the BadNets control's model (whole training set, 1% poisoned)")


_NOT_DEMO = ("smoke", "quick", "full")
register_claim(ASR_HIGH, f"DOORPING reaches ASR >= {ASR_MIN} (non-target, trigger in the valid pixel "
               f"range) with CTA within {int(CTA_DROP_MAX * 100)} points of the clean distilled set", check_asr_high)
register_claim(IN_DATA, f"DOORPING's ASR comes from the distilled data: it exceeds by >= {LIFT_MIN} "
               "the ASR of the same trigger on models trained on a clean distilled set", check_backdoor_in_data)
register_claim(BEATS_NAIVE, "DOORPING's ASR > NaiveAttack's ASR at the same poison budget",
               check_beats_naive, suites=_NOT_DEMO)
register_claim(POSITIVE, f"BadNets-style control: the same trigger and poison budget on the whole "
               f"training set give ASR >= {BADNETS_MIN}", check_positive_control, suites=_NOT_DEMO)
register_claim(CLEAN_CTA, f"Distilling clean data gives CTA well above chance (>= chance + {WELL_ABOVE}); "
               "reported against full-data training", check_clean_cta, suites=_NOT_DEMO)
