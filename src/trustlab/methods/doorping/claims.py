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
   same images poisoned by DOORPING's final trigger reach ASR >= 0.8: the trigger and budget can plant a
   backdoor when the data is not distilled, so a low distilled ASR is the distillation's doing.
5. ``doorping/clean-cta``: distilling clean data gives CTA well above chance (>= chance + 0.3), reported
   next to training on the whole training set (poisoned at the suite's budget: the full-data control).
6. ``doorping/survives-defenses`` and 7. ``doorping/naive-survives-defenses`` (issue 26): the backdoor of a
   model trained on the DM-distilled set survives Neural Cleanse, fine-pruning, STRIP, spectral signatures and
   activation clustering (target not flagged, ASR >= :data:`SURVIVE_ASR` after the defense's mitigation). Gates:
   the model carries a backdoor before any defense (validation ASR), the attack's positive control, and a
   BadNets-style control (``distill/full-data`` with the white patch on the same budget) that at least one
   defense catches on at least one seed; only the defenses that catch it count, so "survives" is not vacuous.

Validity gates (``register_claim(preconditions=...)``; any failed gate is the verdict INVALID, "this regime
cannot test the claim"). Claims 1-3 read DOORPING's ASR, so each needs the positive control to plant a
backdoor at the claim's own poison budget (the DOORPING runs' ``full-data`` control, ASR >=
:data:`POSITIVE_ASR`; at MNIST-5k with a 1% budget even BadNets training on the whole poisoned set plants
nothing, ASR 0.003, so no attack could be tested there) and the models it compares to have learned the
classes (CTA >= :data:`LEARNED_CTA`: a model that sends everything to the target has ASR 1 by construction).
Claim 1 also needs a trigger that is inert on clean distilled sets (one that fools clean models meets the
ASR bar by construction), claim 3 a NaiveAttack arm below the ASR ceiling, claim 4 a clean-inert trigger
and a full-data model that learned, claim 5 a network that learns the task from the whole training set.

Scales (:data:`SCALE`): ``smoke`` (seconds, 1 seed: the checks run), ``demo`` (DC only, 3 seeds, claims 1-2),
``quick`` (DC and DM, 3 seeds, every claim), ``full`` (paper-like; GPU). The settings of ``demo`` and
``quick`` were fixed before any test ASR of the bounded attack was seen (README, "How the scale was set"); their
poison budget (:data:`BUDGET`, 10%) was chosen on a validation split held out from the training data
(:data:`VAL_SIZE`) by ``benchmarks/doorping_budget_sweep.py`` (README, "Poison-budget sweep").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from trustlab.bench.claims import ClaimResult, Gate, mean, paired_result, register_claim, std

# claim ids (spelled once)
ASR_HIGH = "doorping/asr-high"
IN_DATA = "doorping/backdoor-in-data"
BEATS_NAIVE = "doorping/beats-naive"
POSITIVE = "doorping/positive-control"
CLEAN_CTA = "doorping/clean-cta"
SURVIVES = "doorping/survives-defenses"
NAIVE_SURVIVES = "doorping/naive-survives-defenses"

ASR_MIN = 0.9
CTA_DROP_MAX = 0.03
CHANCE = 0.1
WELL_ABOVE = 0.3
LIFT_MIN = 0.5
# The positive control (BadNets-style training on the whole poisoned training set: the same poisoned images,
# stamped with the run's final trigger) must plant a backdoor at the claim's budget. A budget that suffices
# gives ASR near 1 (0.972 at 10% on MNIST-5k), one that does not about 0 (0.003 at 1%): 0.8 tells them apart
# with room on both sides. The positive-control claim uses the same bar.
POSITIVE_ASR = 0.8
BADNETS_MIN = POSITIVE_ASR
# Fresh models "learned the classes": half the test digits right (5x chance; the ERM bench's learned bar).
LEARNED_CTA = 0.5
# The trigger alone, on models that never saw poison, may reach at most a claim's ASR bar minus LIFT_MIN: then
# at least LIFT_MIN of an ASR at the bar must come from the poisoned data (the backdoor-in-data claim's lift).
CLEAN_TRIGGER_MAX = ASR_MIN - LIFT_MIN
CLEAN_TRIGGER_MAX_FULL = BADNETS_MIN - LIFT_MIN
NAN = float("nan")
CONTROLS = ["clean-real", "clean-distilled", "full-data"]

# Effects of interest (the claim's own unit; power analysis) and where they come from.
EFFECTS: dict[str, tuple[float, str]] = {
    ASR_HIGH: (0.02, "the paper's DOORPING: ASR ~1.0 with CTA within ~1 point of clean distillation, i.e. "
                     "min(1.0 - 0.9, 0.03 - 0.01) = 0.02 on this margin; the miniature keeps the same bars"),
    IN_DATA: (0.2, "the paper's ASR ~1.0 against a trigger that fools clean models ~0.1 is a lift of ~0.9 "
                   "(margin 0.4 over the 0.5 bar); half of it, 0.2, is the smallest margin of interest at CPU scale"),
    BEATS_NAIVE: (0.1, "the paper's DOORPING ASR (~1.0) is tens of points above NaiveAttack's in most settings; "
                       "10 ASR points is the smallest gap of interest"),
    POSITIVE: (0.1, "BadNets with a sufficient budget plants a near-perfect backdoor (ASR ~1.0, 0.972 measured "
                    "here at 10%): 0.1 above the 0.8 bar"),
    CLEAN_CTA: (0.1, "DC on MNIST at ipc 10 reaches ~0.9 CTA in the DC paper (margin ~0.5 over chance + 0.3); "
                     "the CPU miniature reached 0.6-0.78, so 0.1 above the bar is the effect of interest"),
    SURVIVES: (0.2, "the paper reports that both attacks survive the defenses (ASR ~1.0 kept, no number per defense "
                    "in papers/04): 0.2 above the 0.5 bar on the ASR left after the defense"),
    NAIVE_SURVIVES: (0.2, "as for DOORPING: the paper says both attacks survive; 0.2 above the 0.5 bar"),
}

# Power analysis (README "Seeds from the power analysis"): per-seed sd of each claim's margin from the last
# measured runs; every DOORPING run costs 90-100 CPU-s in quick (over a minute), so seeds stay at 3.
POWER_NOTES: dict[str, str] = {
    ASR_HIGH: "power: 10 seeds needed for effect 0.02 at sd 0.022 (quick 2026-12-07 at the 10% budget, a regime "
              "where the positive-control gate fails: ASR at its floor); quick runs 3 (30-45 CPU-s per DOORPING "
              "run); recompute in a regime the gates accept",
    IN_DATA: "power: 3 seeds needed for effect 0.2 at sd 0.0072 (demo 2026-12-03, ASR at its floor); quick runs 3 "
             "(90-100 CPU-s per DOORPING run)",
    BEATS_NAIVE: "power: not estimable (no NaiveAttack run measured at this scale); quick runs 3 (90-100 CPU-s per "
                 "DOORPING run, over a minute)",
    POSITIVE: "power: 5 seeds needed for effect 0.1 at sd 0.061 (quick 2026-12-07 at the 10% budget, margins "
              "-0.777, -0.664, -0.679; 90% interval [-0.81, -0.60]); quick runs 3 (not re-run by the deadline; the "
              "interval is 0.6 below 0)",
    CLEAN_CTA: "power: 3 seeds needed for effect 0.1 at sd 0.029 (demo clean distilled CTA, DC); quick runs 3 "
               "(90-100 CPU-s per DOORPING run)",
    SURVIVES: "power: not estimable (no defended model with a backdoor at this scale: validation ASR before the "
              "defenses 0.058, quick 2026-12-07, INVALID); quick runs 3",
    NAIVE_SURVIVES: "power: not estimable (no defended model with a backdoor at this scale: validation ASR before "
                    "the defenses 0.051, quick 2026-12-07, INVALID); quick runs 3",
}

# Every claim reads backdoor/* runs: they default to the reference's network (no normalisation, a 192-unit
# hidden layer) with Adam for the fresh models.
_BOUNDED = {"attack.trigger_clamp": True, "distill.clamp": True}
_SMOKE = {"threads": 1, "data.max_per_domain": 400, "eval.test_limit": 200, "model.width": 0.125,
          "eval.num_models": 1, "train.epochs": 4, "train.step_size": 2, "distill.iterations": 2,
          "distill.batch_real": 8, "distill.outer_loop": 2, "distill.inner_loop": 1, "attack.trigger_steps": 3,
          "distill.checkpoint_every": 0, "eval.full_data_epochs": 1, "eval.controls": CONTROLS, "eval.val_size": 40,
          **_BOUNDED}
# quick and demo hold out VAL_SIZE of MNIST-5k's 4000 training images (class-stratified, data.split_seed 0) as
# the validation split the poison budget is chosen on (positive-control gate: asr_full_data_val)
VAL_SIZE = 500
# Poison budget of demo and quick, chosen on the validation split by benchmarks/doorping_budget_sweep.py (DM, quick
# scale, budgets 1-20%, seed 0, 2026-12-07; README "Poison-budget sweep"): the smallest budget at which a
# BadNets-style full-data control plants a backdoor on validation images (ASR >= 0.8 with CTA >= 0.5) is 10%
# (NaiveAttack's white patch: ASR 0.891, CTA 0.788; 5%: 0.551). DOORPING's own final trigger is planted at no
# swept budget (validation ASR 0.087 at 10%, 0.213 at 20%), so the positive-control gate, which reads DOORPING's
# trigger, fails there and the DOORPING claims stay INVALID; 10% is where a backdoor attack can be planted at all.
BUDGET = 0.1
# The five defenses (defenses/), run on the defended method's runs (DM in quick: the cheapest distiller) and on a
# BadNets-style control (distill/full-data: one model on the whole training set with NaiveAttack's white patch on
# the same budget; the defender's data is that training set). A defense "catches" a model when it flags the
# target class (the user discards the model) or leaves an ASR below SURVIVE_ASR after its mitigation.
DEFENSE_NAMES = ["neural-cleanse", "fine-pruning", "strip", "spectral-signatures", "activation-clustering"]
SURVIVE_ASR = 0.5
_DEFENDED = {"defense.names": DEFENSE_NAMES}
_BADNETS = {"attack.kind": "naive", "net.norm": "none", "net.hidden": 192, "model.width": 0.125,
            "train.optimizer": "adam", "train.lr": 0.001, "train.weight_decay": 0.0, "train.schedule": "constant",
            **_DEFENDED}
_SMOKE_DEFENSES = {"defense.neural_cleanse.steps": 3, "defense.neural_cleanse.unlearn_epochs": 1,
                   "defense.fine_pruning.finetune_epochs": 1, "defense.strip.test_images": 40}
_QUICK = {"threads": 1, "model.width": 0.125, "eval.num_models": 2, "train.epochs": 60, "train.step_size": 30,
          "distill.checkpoint_every": 0, "eval.augment": False, "eval.full_data_epochs": 5,
          "eval.controls": CONTROLS, "eval.val_size": VAL_SIZE, "attack.portion": BUDGET, **_BOUNDED}
_DC_QUICK = {"distill.iterations": 20, "distill.batch_real": 32, "distill.outer_loop": 2, "distill.inner_loop": 1,
             "distill.init": "real", "distill.lr_img": 0.1}
_DM_QUICK = {"distill.iterations": 50, "distill.batch_real": 32, "distill.lr_img": 2.0, **_DEFENDED}
# the BadNets-style control of the defense claims, at the full-data control's settings (5 epochs, constant lr)
# Its fine-tuning defenses (fine-pruning, Neural Cleanse's unlearning) run one epoch over the 3500 real images (55
# steps at batch 64), at least the steps the distilled runs' 20 epochs over 100 images take (20 at batch 256).
_BADNETS_QUICK = {**_BADNETS, "threads": 1, "train.epochs": 5, "attack.portion": BUDGET, "eval.val_size": VAL_SIZE,
                  "defense.fine_pruning.finetune_epochs": 1, "defense.neural_cleanse.unlearn_epochs": 1}
_FULL = {"model.width": 1.0, "eval.num_models": 5, "train.epochs": 300, "train.step_size": 150,
         "distill.iterations": 1000, "distill.batch_real": 256, "distill.outer_loop": None,
         "distill.inner_loop": None, "eval.controls": CONTROLS, "eval.full_data_epochs": 20, "eval.val_size": VAL_SIZE,
         **_BOUNDED}  # the validation split of the validation-read gates (positive-control, backdoor-before)

SCALE: dict[str, dict[str, Any]] = {
    "smoke": {"seeds": [0], "methods": ["dc", "dm"], "kinds": ["doorping", "naive"], "common": _SMOKE,
              "per_method": {"dm": {**_DEFENDED, **_SMOKE_DEFENSES}}, "defended": "dm",
              "control": {**_BADNETS, **_SMOKE_DEFENSES, "threads": 1, "data.max_per_domain": 400,
                          "eval.test_limit": 200, "train.epochs": 1, "attack.portion": 0.1, "eval.val_size": 40}},
    # the demo's claims are gated on the positive control, so its runs train the full-data control too
    "demo": {"seeds": [0, 1, 2], "methods": ["dc"], "kinds": ["doorping"],
             "common": {**_QUICK, "eval.controls": ["clean-distilled", "full-data"], "eval.num_models": 1,
                        "eval.test_limit": 500},
             "per_method": {"dc": {**_DC_QUICK, "distill.iterations": 10, "distill.batch_real": 16}}},
    "quick": {"seeds": [0, 1, 2], "methods": ["dc", "dm"], "kinds": ["doorping", "naive"], "common": _QUICK,
              "per_method": {"dc": _DC_QUICK, "dm": _DM_QUICK}, "defended": "dm", "control": _BADNETS_QUICK},
    "full": {"seeds": [0, 1, 2], "methods": ["dc", "dsa", "dm"], "kinds": ["doorping", "naive"], "common": _FULL,
             "per_method": {"dm": {"distill.iterations": 5000, "distill.lr_img": 1.0, **_DEFENDED}}, "defended": "dm",
             "control": {**_BADNETS, "model.width": 1.0, "train.epochs": 20, "attack.portion": 0.01,
                         "eval.val_size": VAL_SIZE}},
}

Runs = dict[int, dict[str, Any]]  # {seed: summary} of one attack and method


def overrides(suite: str, method: str, seed: int) -> dict[str, Any]:
    """The overrides of a ``backdoor/<kind>-<method>`` run of ``suite`` and ``seed``."""
    s = SCALE[suite]
    return {**s["common"], **s["per_method"].get(method, {}), "train.seed": seed}


def attack_runs(suite: str, ctx: Any, kinds: Sequence[str] | None = None,
                methods: Sequence[str] | None = None) -> tuple[dict[str, dict[str, Runs]], list[str]]:
    """``{kind: {method: {seed: summary}}}`` of the suite's attack runs (default: every kind and method; run
    together), and the folders. A subset has the same overrides, so the bench's cache shares its runs."""
    s = SCALE[suite]
    keys = [(kind, m, seed) for kind in (kinds or s["kinds"]) for m in (methods or s["methods"])
            for seed in s["seeds"]]
    controls = {"eval.controls": []}  # NaiveAttack needs no controls
    recs = ctx.run_many([(f"backdoor/{kind}-{m}",
                          {**overrides(suite, m, seed), **(controls if kind == "naive" else {})})
                         for kind, m, seed in keys])
    out: dict[str, dict[str, Runs]] = {}
    for (kind, m, seed), rec in zip(keys, recs):
        out.setdefault(kind, {}).setdefault(m, {})[seed] = rec.summary()
    return out, [str(rec.path) for rec in recs]


def _per_seed(runs: Runs, key: str) -> list[float]:
    return [float(runs[seed].get(key, NAN)) for seed in sorted(runs)]


def _worst(per_method: list[list[float]]) -> list[float]:
    """Per seed, the smallest margin over methods (the claim must hold for every method)."""
    return [min(col) for col in zip(*per_method)]


# ------------------------------------------------------------------------------------------ validity gates

def _gate_each(name: str, label: str, per_arm: dict[str, Sequence[float]], *, floor: float | None = None,
               ceiling: float | None = None, why: str = "") -> Gate:
    """A gate that must hold for every arm (method, or attack and method): each arm's mean over seeds is
    at least ``floor`` / at most ``ceiling``. A value that was not measured (NaN: the run lacked the
    control) fails the gate."""
    means = {arm: mean([float(v) for v in vs]) for arm, vs in per_arm.items()}

    def holds(x: float) -> bool:
        return not math.isnan(x) and (floor is None or x >= floor) and (ceiling is None or x <= ceiling)

    bad = [arm for arm, x in means.items() if not holds(x)]
    shown = ", ".join(f"{arm} {'not measured' if math.isnan(x) else format(x, '.3f')}" for arm, x in means.items())
    need = " and ".join(([f">= {floor:g}"] if floor is not None else [])
                        + ([f"<= {ceiling:g}"] if ceiling is not None else []))
    verdict = f"fails for {', '.join(bad)}" if bad else "holds for every arm"
    return Gate(name, bool(means) and not bad,
                f"{label} (mean over seeds): {shown}; need {need}: {verdict}{f' ({why})' if why else ''}")


def _positive_gate(door: dict[str, Runs]) -> Gate:
    # read on the validation split (eval.val_size: training images held out before poisoning), the images the
    # budget was chosen on, never the test set. A control that sends every input to the target (the sweep's
    # NaiveAttack at 10%: validation ASR 0.90 at CTA 0.15) has ASR near 1 without a backdoor, so it must also
    # have learned the classes.
    asr = _gate_each("positive-control", "BadNets-style full-data ASR on validation images at this budget",
                     {m: _per_seed(r, "asr_full_data_val") for m, r in door.items()}, floor=POSITIVE_ASR,
                     why="the DOORPING runs' full-data control: same poisoned images, same final trigger; "
                         "validation split eval.val_size")
    cta = _gate_each("positive-control", "its validation CTA",
                     {m: _per_seed(r, "cta_full_data_val") for m, r in door.items()}, floor=LEARNED_CTA,
                     why="a control at chance has ASR near 1 by construction")
    return Gate("positive-control", asr.ok and cta.ok, f"{asr.detail}; {cta.detail}")


def _learned_gate(name: str, arms: dict[str, tuple[dict[str, Runs], str]]) -> Gate:
    """Every arm ``{label: ({method: runs}, cta key)}`` has learned the classes: CTA >= LEARNED_CTA."""
    per = {f"{label} {m}": _per_seed(r, key) for label, (runs, key) in arms.items() for m, r in runs.items()}
    return _gate_each(name, "CTA", per, floor=LEARNED_CTA, why=f"chance {CHANCE:g} + {LEARNED_CTA - CHANCE:g}")


def _clean_trigger_gate(door: dict[str, Runs], ceiling: float) -> Gate:
    return _gate_each("trigger-inert-on-clean", "same trigger on models trained on the clean distilled set, ASR",
                      {m: _per_seed(r, "asr_clean_distilled") for m, r in door.items()}, ceiling=ceiling,
                      why=f"at least {LIFT_MIN:g} of an ASR at the bar must come from the poisoned data")


def _notes(claim_id: str, *parts: str) -> str:
    return "; ".join([p for p in parts if p] + [POWER_NOTES[claim_id]])


# ------------------------------------------------------------------------------------------------- checks

def check_asr_high(suite: str, ctx: Any) -> ClaimResult:
    runs, paths = attack_runs(suite, ctx)
    door = runs["doorping"]
    values: dict[str, list[float]] = {}
    table, margins = [], []
    for m, r in door.items():
        asr, cta, cta0 = _per_seed(r, "asr"), _per_seed(r, "cta"), _per_seed(r, "clean_cta")
        values.update({f"{m}/asr": asr, f"{m}/cta": cta, f"{m}/clean_cta": cta0,
                       f"{m}/asr_reference": _per_seed(r, "asr_reference"),
                       f"{m}/asr_unclipped": _per_seed(r, "asr_unclipped"),
                       f"{m}/asr_full_data": _per_seed(r, "asr_full_data"),
                       f"{m}/asr_full_data_val": _per_seed(r, "asr_full_data_val"),
                       f"{m}/asr_clean_distilled": _per_seed(r, "asr_clean_distilled")})
        margins.append([min(a - ASR_MIN, CTA_DROP_MAX - (c0 - c)) for a, c, c0 in zip(asr, cta, cta0)])
        table.append({"method": m, "ASR (non-target, stored image)": mean(asr), "ASR std": std(asr),
                      "ASR, reference metric (all images, raw trigger)": mean(values[f"{m}/asr_reference"]),
                      "ASR, non-target, raw trigger": mean(values[f"{m}/asr_unclipped"]),
                      "DOORPING CTA": mean(cta), "clean distilled CTA": mean(cta0), "CTA drop": mean(cta0) - mean(cta),
                      "positive control: full-data ASR": mean(values[f"{m}/asr_full_data"])})
    # the CTA drop is part of the claim, so only the clean arm is gated on having learned
    gates = [_positive_gate(door), _learned_gate("clean-distilled-learned", {"clean distilled": (door, "clean_cta")}),
             _clean_trigger_gate(door, CLEAN_TRIGGER_MAX)]
    return paired_result(ASR_HIGH, suite, _worst(margins), values=values, seeds=SCALE[suite]["seeds"],
                         unit=f"min over methods of min(ASR - {ASR_MIN}, {CTA_DROP_MAX} - CTA drop), per seed",
                         table=table, runs=paths, gates=gates, notes=_notes(ASR_HIGH))


def check_backdoor_in_data(suite: str, ctx: Any) -> ClaimResult:
    runs, paths = attack_runs(suite, ctx)
    door = runs["doorping"]
    values: dict[str, list[float]] = {}
    table, margins = [], []
    for m, r in door.items():
        asr, control = _per_seed(r, "asr"), _per_seed(r, "asr_clean_distilled")
        values[f"{m}/asr"], values[f"{m}/asr_clean_distilled"] = asr, control
        values[f"{m}/asr_full_data"] = _per_seed(r, "asr_full_data")
        margins.append([a - c - LIFT_MIN for a, c in zip(asr, control)])
        table.append({"method": m, "DOORPING ASR": mean(asr), "same trigger, clean distilled set": mean(control),
                      "same trigger, ipc clean real images": mean(_per_seed(r, "asr_clean_real")),
                      "lift": mean(asr) - mean(control),
                      "positive control: full-data ASR": mean(values[f"{m}/asr_full_data"])})
    gates = [_positive_gate(door),
             _learned_gate("distilled-learned", {"DOORPING": (door, "cta"), "clean distilled": (door, "clean_cta")})]
    return paired_result(IN_DATA, suite, _worst(margins), values=values,
                         seeds=SCALE[suite]["seeds"], table=table, runs=paths, gates=gates,
                         unit=f"ASR minus the clean-distilled-set ASR of the same trigger, minus {LIFT_MIN} "
                         "(worst method, per seed)",
                         notes=_notes(IN_DATA, "control: the clean training set distilled with the same settings "
                                      "and seed (eval.controls=clean-distilled), fresh models trained on it, tested "
                                      "with the DOORPING run's final trigger"))


def check_beats_naive(suite: str, ctx: Any) -> ClaimResult:
    runs, paths = attack_runs(suite, ctx)
    door, naive = runs["doorping"], runs["naive"]
    values: dict[str, list[float]] = {}
    table, margins = [], []
    for m, r in door.items():
        a_d, a_n = _per_seed(r, "asr"), _per_seed(naive[m], "asr")
        values[f"{m}/doorping_asr"], values[f"{m}/naive_asr"] = a_d, a_n
        margins.append([d - n for d, n in zip(a_d, a_n)])
        first = r[min(r)]
        table.append({"method": m, "DOORPING ASR": mean(a_d), "NaiveAttack ASR": mean(a_n),
                      "DOORPING CTA": mean(_per_seed(r, "cta")), "NaiveAttack CTA": mean(_per_seed(naive[m], "cta")),
                      "poisoned images": first.get("attack_info", {}).get("poisoned", NAN),
                      "positive control: full-data ASR": mean(_per_seed(r, "asr_full_data"))})
    ceiling = 1.0 - EFFECTS[BEATS_NAIVE][0]
    gates = [_positive_gate(door),
             _learned_gate("attacked-learned", {"DOORPING": (door, "cta"), "NaiveAttack": (naive, "cta")}),
             _gate_each("naive-below-ceiling", "NaiveAttack ASR", {m: _per_seed(r, "asr") for m, r in naive.items()},
                        ceiling=ceiling, why="DOORPING needs room above it for the effect of interest")]
    return paired_result(BEATS_NAIVE, suite, _worst(margins), values=values, seeds=SCALE[suite]["seeds"],
                         unit="ASR, DOORPING minus NaiveAttack (worst method, per seed)", table=table, runs=paths,
                         gates=gates,
                         notes=_notes(BEATS_NAIVE, "both attacks poison the same portion with a trigger of the same "
                                      "size, position and target; both bounded to [0, 1]"))


def check_positive_control(suite: str, ctx: Any) -> ClaimResult:
    runs, paths = attack_runs(suite, ctx)
    door = runs["doorping"]
    values: dict[str, list[float]] = {}
    table, margins = [], []
    for m, r in door.items():
        asr_full, cta_full = _per_seed(r, "asr_full_data"), _per_seed(r, "cta_full_data")
        values[f"{m}/asr_full_data"], values[f"{m}/cta_full_data"] = asr_full, cta_full
        margins.append([a - BADNETS_MIN for a in asr_full])
        table.append({"method": m, "full poisoned data: ASR": mean(asr_full), "full poisoned data: CTA": mean(cta_full),
                      "same trigger, clean distilled set": mean(_per_seed(r, "asr_clean_distilled")),
                      "distilled (DOORPING) ASR": mean(_per_seed(r, "asr"))})
    gates = [_learned_gate("full-data-learned", {"full poisoned data": (door, "cta_full_data")}),
             _clean_trigger_gate(door, CLEAN_TRIGGER_MAX_FULL)]
    return paired_result(POSITIVE, suite, _worst(margins), values=values,
                         seeds=SCALE[suite]["seeds"], table=table, runs=paths, gates=gates,
                         unit=f"BadNets-style ASR minus {BADNETS_MIN} (worst method, per seed)",
                         notes=_notes(POSITIVE, "models trained on the whole training set with the DOORPING run's "
                                      "poisoned images stamped with its final trigger (eval.controls=full-data, "
                                      "eval.full_data_epochs)"))


def check_clean_cta(suite: str, ctx: Any) -> ClaimResult:
    seeds = SCALE[suite]["seeds"]
    runs, paths = attack_runs(suite, ctx)
    door = runs["doorping"]
    values: dict[str, list[float]] = {}
    table, margins = [], []
    portion = f"{SCALE[suite]['common'].get('attack.portion', 0.01):.0%} poisoned"
    for m, r in door.items():
        cta, full = _per_seed(r, "clean_cta"), _per_seed(r, "cta_full_data")
        values[f"{m}/clean_cta"], values[f"{m}/cta_full_data"] = cta, full
        margins.append([c - (CHANCE + WELL_ABOVE) for c in cta])
        table.append({"method": m, "distilled CTA": mean(cta), "CTA std": std(cta),
                      f"full-data CTA ({portion}, the full-data control)": mean(full), "chance": CHANCE,
                      "images": r[seeds[0]].get("synthetic_size"), "full images": r[seeds[0]].get("train_size")})
    gates = [_learned_gate("full-data-learned", {"full training set": (door, "cta_full_data")})]
    return paired_result(CLEAN_CTA, suite, _worst(margins), values=values, seeds=seeds, table=table, gates=gates,
                         runs=paths, unit=f"clean distilled CTA above chance + {WELL_ABOVE} (worst method, per seed)",
                         notes=_notes(CLEAN_CTA, "the clean distilled sets are the clean-distilled controls of the "
                                      f"DOORPING runs; the full-data reference is their full-data control (whole "
                                      f"training set, {portion} with the run's final trigger)"))


def control_runs(suite: str, ctx: Any) -> tuple[Runs, list[str]]:
    """The BadNets-style control of the defense claims, one ``distill/full-data`` run per seed."""
    s = SCALE[suite]
    recs = ctx.run_many([("distill/full-data", {**s["control"], "train.seed": seed}) for seed in s["seeds"]])
    return {seed: rec.summary() for seed, rec in zip(s["seeds"], recs)}, [str(rec.path) for rec in recs]


def effective_asr(row: dict[str, Any]) -> float:
    """The ASR a defended user is left with: 0 when the defense flagged the attack's target class (the model is
    discarded), else the ASR after the defense's mitigation (NaN: the defense was not run)."""
    if row.get("detected") == 1.0:
        return 0.0
    return float(row.get("asr_after", NAN))


def _eff(runs: Runs, seed: int, defense: str) -> float:
    return effective_asr(runs[seed].get("defenses", {}).get(defense, {}))


def _survival_table(attacked: Runs, control: Runs, seeds: list[int], caught: dict[str, int]) -> list[dict[str, Any]]:
    rows = []
    for d in DEFENSE_NAMES:
        def col(runs: Runs, key: str, d: str = d) -> float:
            return mean([float(runs[s].get("defenses", {}).get(d, {}).get(key, NAN)) for s in seeds])

        def before_after(runs: Runs) -> str:
            return f"{col(runs, 'asr_before'):.3f} / {col(runs, 'asr_after'):.3f}"
        rows.append({"defense": d, "attack: flagged": col(attacked, "detected"),
                     "attack: ASR before / after": before_after(attacked),
                     "attack: ASR left": mean([_eff(attacked, s, d) for s in seeds]),
                     "BadNets control: flagged": col(control, "detected"),
                     "control: ASR before / after": before_after(control),
                     "control: ASR left": mean([_eff(control, s, d) for s in seeds]),
                     "control caught (seeds)": caught[d]})
    return rows


def _check_survives(claim_id: str, kind: str, suite: str, ctx: Any) -> ClaimResult:
    seeds, m = SCALE[suite]["seeds"], SCALE[suite]["defended"]
    runs, paths = attack_runs(suite, ctx, [kind], [m])  # only the defended method's runs carry defenses
    attacked = runs[kind][m]
    control, cpaths = control_runs(suite, ctx)
    caught = {d: sum(_eff(control, s, d) < SURVIVE_ASR for s in seeds) for d in DEFENSE_NAMES}
    # only defenses that catch the BadNets control at least once can test "survives"; none: all (INVALID anyway)
    tested = [d for d in DEFENSE_NAMES if caught[d]] or DEFENSE_NAMES
    margins = [min(_eff(attacked, s, d) for d in tested) - SURVIVE_ASR for s in seeds]
    values = {f"{d}/asr_left": [_eff(attacked, s, d) for s in seeds] for d in DEFENSE_NAMES}
    values.update({f"control/{d}/asr_left": [_eff(control, s, d) for s in seeds] for d in DEFENSE_NAMES})
    # the defended model (model0) before any defense, on validation images (gates never read the test set)
    values["asr_before"] = [float(attacked[s]["per_model"]["model0"].get("asr_val", NAN)) for s in seeds]
    values["control/asr_val"] = _per_seed(control, "asr_val")
    planted = _gate_each("control-caught", "BadNets control: validation ASR / CTA",
                         {"ASR": values["control/asr_val"]}, floor=POSITIVE_ASR)
    learned = _gate_each("control-caught", "its validation CTA", {"CTA": _per_seed(control, "cta_val")},
                         floor=LEARNED_CTA)
    hit = [d for d in DEFENSE_NAMES if caught[d]]
    caught_gate = Gate("control-caught", planted.ok and learned.ok and bool(hit),
                       f"{planted.detail}; {learned.detail}; defenses that catch it on >= 1 of {len(seeds)} seeds: "
                       f"{', '.join(f'{d} ({caught[d]})' for d in hit) or 'none'}")
    if kind == "doorping":
        positive = _positive_gate({m: attacked})
    else:  # NaiveAttack's trigger on the whole poisoned set is the BadNets control itself
        positive = Gate("positive-control", planted.ok and learned.ok, f"{planted.detail}; {learned.detail}")
    before = _gate_each("backdoor-before", "validation ASR of the defended model before any defense",
                        {m: values["asr_before"]}, floor=POSITIVE_ASR, why="no backdoor, nothing to survive")
    return paired_result(claim_id, suite, margins, values=values, seeds=seeds, runs=paths + cpaths,
                         table=_survival_table(attacked, control, seeds, caught), gates=[positive, before, caught_gate],
                         unit=f"min over the defenses that catch the BadNets control of the ASR left after the defense "
                              f"(0 if it flags the target), minus {SURVIVE_ASR} ({m}, per seed)",
                         notes=_notes(claim_id, f"defenses counted: {', '.join(tested)}"))


def check_survives(suite: str, ctx: Any) -> ClaimResult:
    return _check_survives(SURVIVES, "doorping", suite, ctx)


def check_naive_survives(suite: str, ctx: Any) -> ClaimResult:
    return _check_survives(NAIVE_SURVIVES, "naive", suite, ctx)


# ------------------------------------------------------------------------------------------- registration

_POSITIVE_TEXT = (f"the positive control plants a backdoor at the claim's poison budget: BadNets-style training on "
                  f"the whole training set, with the same poisoned images stamped with the run's final trigger "
                  f"(the DOORPING runs' full-data control), reaches ASR >= {POSITIVE_ASR} for every method on the "
                  f"validation split (eval.val_size training images held out before poisoning; never the test "
                  f"set). At a budget where not even that plants a backdoor (MNIST-5k at 1%: ASR 0.003), no "
                  f"backdoor attack "
                  f"on distilled data can be tested; {POSITIVE_ASR} separates a planted backdoor (~1.0) from none "
                  f"(~0)")
_LEARNED_TEXT = (f"CTA >= {LEARNED_CTA} (chance {CHANCE} + {LEARNED_CTA - CHANCE:g}: half the test digits right, "
                 f"the ERM bench's learned bar)")
_INERT_TEXT = ("the same final trigger on models trained on the clean distilled set gives ASR <= {:g} (the bar "
               f"minus {LIFT_MIN}): a trigger that fools models that never saw poison meets the bar by construction")
_NOT_DEMO = ("smoke", "quick", "full")


def _register(claim_id: str, statement: str, check: Any, preconditions: dict[str, str],
              suites: Sequence[str] | None = None) -> None:
    effect, source = EFFECTS[claim_id]
    register_claim(claim_id, statement, check, **({"suites": suites} if suites else {}), preconditions=preconditions,
                   effect=effect, effect_source=source)


_register(ASR_HIGH, f"DOORPING reaches ASR >= {ASR_MIN} (non-target, trigger in the valid pixel range) with CTA "
          f"within {int(CTA_DROP_MAX * 100)} points of the clean distilled set", check_asr_high,
          {"positive-control": _POSITIVE_TEXT,
           "clean-distilled-learned": f"models trained on the clean distilled set (the CTA reference) reach "
                                      f"{_LEARNED_TEXT}; DOORPING's own CTA is the claim's CTA-drop term, not a gate",
           "trigger-inert-on-clean": _INERT_TEXT.format(CLEAN_TRIGGER_MAX)})
_register(IN_DATA, f"DOORPING's ASR comes from the distilled data: it exceeds by >= {LIFT_MIN} "
          "the ASR of the same trigger on models trained on a clean distilled set", check_backdoor_in_data,
          {"positive-control": _POSITIVE_TEXT,
           "distilled-learned": f"models trained on the DOORPING and on the clean distilled sets reach "
                                f"{_LEARNED_TEXT}: a model that sends every input to the target has ASR 1 by "
                                "construction, one at chance has an ASR that says nothing about a backdoor"})
_register(BEATS_NAIVE, "DOORPING's ASR > NaiveAttack's ASR at the same poison budget", check_beats_naive,
          {"positive-control": _POSITIVE_TEXT,
           "attacked-learned": f"models trained on the DOORPING and on the NaiveAttack distilled sets reach "
                               f"{_LEARNED_TEXT}: a model that sends every input to the target has ASR 1 by "
                               "construction",
           "naive-below-ceiling": f"NaiveAttack's ASR <= {1.0 - EFFECTS[BEATS_NAIVE][0]:g} (1 minus the effect of "
                                  "interest): an arm at the ceiling cannot be beaten"},
          suites=_NOT_DEMO)
_register(POSITIVE, f"BadNets-style control: the same trigger and poison budget on the whole "
          f"training set give ASR >= {BADNETS_MIN}", check_positive_control,
          {"full-data-learned": f"the model trained on the whole poisoned training set reaches {_LEARNED_TEXT}",
           "trigger-inert-on-clean": _INERT_TEXT.format(CLEAN_TRIGGER_MAX_FULL)},
          suites=_NOT_DEMO)
_register(CLEAN_CTA, f"Distilling clean data gives CTA well above chance (>= chance + {WELL_ABOVE}); "
          "reported against full-data training", check_clean_cta,
          {"full-data-learned": f"the network learns the task from the whole training set: the full-data model "
                                f"reaches {_LEARNED_TEXT}, above the claim's bar chance + {WELL_ABOVE}; otherwise a "
                                "low distilled CTA says nothing about distillation"},
          suites=_NOT_DEMO)
_CAUGHT_TEXT = (f"the defenses are not blind: a BadNets-style control (one model on the whole training set with "
                f"NaiveAttack's white patch on the same budget; validation ASR >= {POSITIVE_ASR}, CTA >= "
                f"{LEARNED_CTA}) is caught (target flagged, or ASR < {SURVIVE_ASR} after the defense) by at least one "
                "defense on at least one seed; only the defenses that catch it count in the margin, so 'survives' "
                "is not vacuous")
_BEFORE_TEXT = (f"the defended distilled model carries a backdoor before any defense (ASR >= {POSITIVE_ASR}): "
                "without one there is nothing to survive")
_register(SURVIVES, f"DOORPING's backdoor survives Neural Cleanse, fine-pruning, STRIP, spectral signatures and "
          f"activation clustering (not flagged, ASR >= {SURVIVE_ASR} after each)", check_survives,
          {"positive-control": _POSITIVE_TEXT, "backdoor-before": _BEFORE_TEXT, "control-caught": _CAUGHT_TEXT},
          suites=_NOT_DEMO)
_register(NAIVE_SURVIVES, f"NaiveAttack's backdoor survives the same five defenses (not flagged, ASR >= "
          f"{SURVIVE_ASR} after each)", check_naive_survives,
          {"positive-control": f"NaiveAttack's white patch is planted by training on the whole poisoned training "
                               f"set at the claim's budget (the BadNets control: validation ASR >= {POSITIVE_ASR}, "
                               f"CTA >= {LEARNED_CTA})",
           "backdoor-before": _BEFORE_TEXT, "control-caught": _CAUGHT_TEXT},
          suites=_NOT_DEMO)
