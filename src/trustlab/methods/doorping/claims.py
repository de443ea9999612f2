"""Claims of "Backdoor Attacks Against Dataset Distillation" (NDSS 2023) in miniature (issue 6).

1. ``doorping/asr-high``: DOORPING reaches ASR >= 0.9 for DC and DM, with CTA within 3 points of clean
   distillation of the same config (means over seeds).
2. ``doorping/beats-naive``: DOORPING's ASR >= NaiveAttack's ASR at the same poison budget.
3. ``doorping/clean-cta``: a distilled set from clean data gives CTA well above chance (>= chance + 0.3),
   reported next to training on the whole training set.
4. ``doorping/backdoor-in-data`` (a control added here, not a paper claim): DOORPING's ASR exceeds, by
   >= 0.5, the ASR of the same final trigger on models trained on clean real data of the same size. The
   reference's trigger is unbounded; grown large enough it fools any model, with or without poisoning.

Scale per suite (overrides of the ``distill/*`` and ``backdoor/*`` recipes): ``smoke`` (seconds, 1 seed:
the pipeline runs; the attack claims are not expected to hold there), ``quick`` (MNIST-5k, ipc 10, 3 seeds,
a few minutes on 2 CPU cores), ``full`` (paper-like: width 1.0, the reference's loops and 1000 iterations;
GPU). Runs are shared between the claims through the bench context.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from trustlab.bench.claims import Claim, ClaimResult, mean, std
from trustlab.methods.doorping.method import NETS
from trustlab.registry import CLAIMS

ASR_MIN = 0.9
CTA_DROP_MAX = 0.03
CHANCE = 0.1
WELL_ABOVE = 0.3
NAN = float("nan")
LIFT_MIN = 0.5  # not a paper claim: a control this package adds (an unbounded trigger can fool any model)

# The reference's setting (papers/04 and baadd's code): its ConvNet has no normalisation and a 192-unit
# hidden layer, and neither the trigger nor the synthetic images are bounded. Fresh models of that net
# learn slowly with SGD 0.01 at width 0.125 (CTA 0.10 after 40 epochs), so they are trained with Adam.
_NET = [f"net.{key}={value}" for key, value in asdict(NETS["reference"]).items()]
_UNBOUNDED = ["distill.clamp=false", "attack.trigger_clamp=false"]
_ADAM = ["train.optimizer=adam", "train.lr=0.001", "train.weight_decay=0.0"]
_REFERENCE_NET = [*_NET, *_UNBOUNDED, *_ADAM, "eval.augment=false"]
_SMOKE = ["threads=1", "data.max_per_domain=400", "eval.test_limit=200", "model.width=0.125", "eval.num_models=1",
          "train.epochs=4", "train.step_size=2", "distill.iterations=2", "distill.batch_real=8",
          "distill.outer_loop=2", "distill.inner_loop=1", "attack.trigger_steps=3", "distill.checkpoint_every=0",
          *_REFERENCE_NET]
_QUICK = ["threads=1", "model.width=0.125", "eval.num_models=2", "train.epochs=100", "train.step_size=50",
          "distill.checkpoint_every=0", *_REFERENCE_NET]
_FULL = [*_NET, *_UNBOUNDED, "model.width=1.0", "eval.num_models=5", "train.epochs=300", "train.step_size=150",
         "distill.iterations=1000", "distill.batch_real=256", "distill.outer_loop=null", "distill.inner_loop=null"]

SCALE: dict[str, dict[str, Any]] = {
    "smoke": {"seeds": [0], "methods": ["dc", "dm"], "common": _SMOKE, "per_method": {},
              "full_data": ["threads=1", "train.epochs=1", "data.max_per_domain=400", "eval.test_limit=200",
                            "model.width=0.125"]},
    "quick": {"seeds": [0, 1, 2], "methods": ["dc", "dm"], "common": _QUICK,
              "per_method": {
                  "dc": ["distill.iterations=60", "distill.batch_real=32", "distill.outer_loop=2",
                         "distill.inner_loop=1", "distill.init=real", "distill.lr_img=0.1"],
                  "dm": ["distill.iterations=100", "distill.batch_real=48", "distill.lr_img=2.0"],
              },
              "full_data": ["threads=1", "train.epochs=10", "model.width=0.125", *_NET, *_ADAM]},
    "full": {"seeds": [0, 1, 2], "methods": ["dc", "dsa", "dm"], "common": _FULL,
             "per_method": {"dm": ["distill.iterations=5000", "distill.lr_img=1.0"]},
             "full_data": ["train.epochs=20", "model.width=1.0", *_NET]},
}


def _overrides(suite: str, method: str, seed: int) -> list[str]:
    s = SCALE[suite]
    return [*s["common"], *s["per_method"].get(method, []), f"train.seed={seed}"]


def summaries(suite: str, ctx: Any, recipe: str, method: str) -> tuple[dict[int, dict[str, Any]], list[str]]:
    """``{seed: summary}`` of ``recipe`` at the suite's scale, and the run folders."""
    seeds = SCALE[suite]["seeds"]
    recs = ctx.run_many([(recipe, _overrides(suite, method, seed)) for seed in seeds])
    return {seed: rec.summary() for seed, rec in zip(seeds, recs)}, [str(rec.path) for rec in recs]


def _values(runs: dict[int, dict[str, Any]], key: str, missing: float | None = None) -> list[float]:
    """``key`` of every seed's summary; ``missing`` stands in for runs recorded before the key existed."""
    return [float(runs[s][key] if missing is None else runs[s].get(key, missing)) for s in sorted(runs)]


def _result(cid: str, suite: str, margins: list[float], unit: str, values: dict[str, list[float]],
            table: list[dict[str, Any]], paths: list[str], notes: str = "") -> ClaimResult:
    """The claim's result: its margin is the worst method's (the smallest of ``margins``)."""
    margin = min(margins)
    return ClaimResult(cid, CLAIMS.get(cid).statement, suite, passed=bool(margin > 0), margin=margin, unit=unit,
                       values=values, seeds=SCALE[suite]["seeds"], table=table, runs=paths, notes=notes)


def check_asr_high(suite: str, ctx: Any) -> ClaimResult:
    values: dict[str, list[float]] = {}
    table, margins, paths = [], [], []
    for m in SCALE[suite]["methods"]:
        clean, p1 = summaries(suite, ctx, f"distill/{m}", m)
        door, p2 = summaries(suite, ctx, f"backdoor/doorping-{m}", m)
        paths += p1 + p2
        asr, cta, cta0 = _values(door, "asr"), _values(door, "cta"), _values(clean, "cta")
        values[f"{m}/asr"], values[f"{m}/cta"], values[f"{m}/clean_cta"] = asr, cta, cta0
        values[f"{m}/asr_nontarget"] = _values(door, "asr_nontarget")
        clipped, control = _values(door, "asr_clipped", NAN), _values(door, "asr_control", NAN)
        values[f"{m}/asr_clipped"], values[f"{m}/asr_control"] = clipped, control
        drop = mean(cta0) - mean(cta)
        margins.append(min(mean(asr) - ASR_MIN, CTA_DROP_MAX - drop))
        table.append({"method": m, "DOORPING ASR": mean(asr), "ASR std": std(asr),
                      "ASR (non-target)": mean(values[f"{m}/asr_nontarget"]),
                      "ASR, stamped images clipped to [0, 1]": mean(clipped),
                      "ASR of the trigger on clean-data models": mean(control), "DOORPING CTA": mean(cta),
                      "clean CTA": mean(cta0), "CTA drop": drop})
    return _result("doorping/asr-high", suite, margins,
                   f"min over methods of min(ASR - {ASR_MIN}, {CTA_DROP_MAX} - CTA drop)", values, table, paths)


def check_beats_naive(suite: str, ctx: Any) -> ClaimResult:
    seeds = SCALE[suite]["seeds"]
    values: dict[str, list[float]] = {}
    table, margins, paths = [], [], []
    for m in SCALE[suite]["methods"]:
        naive, p1 = summaries(suite, ctx, f"backdoor/naive-{m}", m)
        door, p2 = summaries(suite, ctx, f"backdoor/doorping-{m}", m)
        paths += p1 + p2
        a_n, a_d = _values(naive, "asr"), _values(door, "asr")
        values[f"{m}/naive_asr"], values[f"{m}/doorping_asr"] = a_n, a_d
        margins.append(mean(a_d) - mean(a_n))
        table.append({"method": m, "DOORPING ASR": mean(a_d), "NaiveAttack ASR": mean(a_n),
                      "DOORPING CTA": mean(_values(door, "cta")), "NaiveAttack CTA": mean(_values(naive, "cta")),
                      "poisoned images": door[seeds[0]].get("attack_info", {}).get("poisoned", NAN)})
    return _result("doorping/beats-naive", suite, margins, "ASR (DOORPING minus NaiveAttack, worst method)", values,
                   table, paths, notes="an exact tie counts as not shown (the bench's margin > 0 rule); both attacks "
                   "use the same portion, trigger size, position and target")


def check_backdoor_in_data(suite: str, ctx: Any) -> ClaimResult:
    values: dict[str, list[float]] = {}
    table, margins, paths = [], [], []
    for m in SCALE[suite]["methods"]:
        door, p = summaries(suite, ctx, f"backdoor/doorping-{m}", m)
        paths += p
        asr = _values(door, "asr")
        control = _values(door, "asr_control", NAN)
        values[f"{m}/asr"], values[f"{m}/asr_control"] = asr, control
        margins.append(mean(asr) - mean(control) - LIFT_MIN)
        table.append({"method": m, "DOORPING ASR": mean(asr), "same trigger, models trained on clean data":
                      mean(control), "lift": mean(asr) - mean(control)})
    return _result("doorping/backdoor-in-data", suite, margins,
                   f"ASR lift over the clean-data control minus {LIFT_MIN} (worst method)", values, table, paths,
                   notes="control: fresh models of the same net and training trained on ipc clean real images per "
                   "class, tested with the DOORPING run's final trigger (summary key asr_control)")


def check_clean_cta(suite: str, ctx: Any) -> ClaimResult:
    seeds = SCALE[suite]["seeds"]
    values: dict[str, list[float]] = {}
    table, margins, paths = [], [], []
    recs = ctx.run_many([("distill/full-data", [*SCALE[suite]["full_data"], f"train.seed={seed}"]) for seed in seeds])
    full: dict[int, dict[str, Any]] = {seed: rec.summary() for seed, rec in zip(seeds, recs)}
    paths += [str(rec.path) for rec in recs]
    values["full_data/cta"] = _values(full, "cta")
    for m in SCALE[suite]["methods"]:
        clean, p = summaries(suite, ctx, f"distill/{m}", m)
        paths += p
        cta = _values(clean, "cta")
        values[f"{m}/cta"] = cta
        margins.append(mean(cta) - (CHANCE + WELL_ABOVE))
        table.append({"method": m, "distilled CTA": mean(cta), "CTA std": std(cta),
                      "full-data CTA": mean(values["full_data/cta"]), "chance": CHANCE,
                      "distilled / full": mean(cta) / max(mean(values["full_data/cta"]), 1e-9),
                      "images": clean[seeds[0]].get("synthetic_size"), "full images": full[seeds[0]].get("train_size")})
    return _result("doorping/clean-cta", suite, margins, f"CTA above chance + {WELL_ABOVE} (worst method)", values,
                   table, paths)


for _id, _statement, _check in (
    ("doorping/asr-high", f"DOORPING reaches ASR >= {ASR_MIN} for DC and DM with CTA within "
     f"{int(CTA_DROP_MAX * 100)} points of clean distillation", check_asr_high),
    ("doorping/beats-naive", "DOORPING's ASR >= NaiveAttack's ASR at the same poison budget", check_beats_naive),
    ("doorping/backdoor-in-data", f"DOORPING's ASR comes from the distilled data: it exceeds by >= {LIFT_MIN} the "
     "ASR of the same trigger on models trained on clean real data of the same size", check_backdoor_in_data),
    ("doorping/clean-cta", f"Distilling clean data gives CTA well above chance (>= chance + {WELL_ABOVE}); "
     "reported against full-data training", check_clean_cta),
):
    CLAIMS.add(_id, Claim(_id, _statement, _check, group="doorping"))
