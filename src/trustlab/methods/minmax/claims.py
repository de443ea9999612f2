"""Claims of the min-max attack paper (papers/03), checked in miniature on MNIST-5k.

1. ``minmax/ensemble-asr-all``: ensemble attack, min-max ASR_all >= average ASR_all (same eps/steps).
2. ``minmax/universal-eot-worst``: universal and EOT, min-max beats average on the worst domain
   (share of inputs / groups fooled in every domain); the margin is the smaller of the two.
3. ``minmax/at-union``: min-max AT has higher union robust accuracy than AVG AT.
4. ``minmax/weights-hardest``: in the ensemble attack the largest learned weight sits on the model
   that the average attack fools least (checked per seed; EOT shown in the table for information).

Scale per suite: ``smoke`` seconds (1 seed, a few inputs and steps), ``quick`` minutes on 2 CPU cores,
``full`` paper-like (more seeds, inputs, iterations; the paper's AT eps).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trustlab.bench.claims import Claim, ClaimResult, mean, std
from trustlab.registry import CLAIMS

SCALE: dict[str, dict[str, Any]] = {
    "smoke": {
        "seeds": [0],
        "ensemble": ["train.epochs=1", "data.max_per_domain=600", "eval.samples=32", "eval.batch_size=32",
                     "attack.steps=5", "eval.compare=[minmax, average]"],
        "universal": ["train.epochs=1", "data.max_per_domain=600", "eval.samples=20", "eval.heldout=20",
                      "attack.steps=5", "eval.compare=[minmax, average]"],
        "eot": ["eval.samples=16", "eval.batch_size=16", "attack.steps=5", "eval.compare=[minmax, average]"],
        "at": ["train.epochs=1", "data.max_per_domain=128", "at.steps=2", "eval.samples=32", "eval.steps=2"],
        "at_pretrain": [],
        "at_modes": ["minmax", "average"],
    },
    "quick": {
        "seeds": [0, 1],
        "ensemble": ["data.max_per_domain=2000", "eval.samples=200", "eval.batch_size=200"],
        "universal": ["data.max_per_domain=2000", "eval.samples=200", "eval.heldout=200"],
        "eot": ["eval.samples=100", "eval.batch_size=100", "eval.compare=[minmax, average]"],  # victim: universal's
        "at": ["data.max_per_domain=1000", "train.epochs=2", "at.steps=3", "eval.samples=200", "eval.steps=10"],
        "at_pretrain": ["train.epochs=4"],  # the standard model every AT run fine-tunes
        "at_modes": ["minmax", "average"],
    },
    "full": {
        "seeds": [0, 1, 2],
        "ensemble": ["train.epochs=5", "eval.samples=1000", "eval.batch_size=500", "attack.steps=50",
                     "ensemble.models=[small_cnn:width=0.25, resnet18:width=0.25, "
                     "small_cnn:width=0.25:depth=1:norm=none]"],
        "universal": ["train.epochs=5", "eval.samples=1000", "eval.heldout=1000", "attack.steps=50"],
        "eot": ["eval.samples=500", "eval.batch_size=250", "attack.steps=50"],
        "at": ["train.epochs=20", "at.steps=10", "at.types=[linf:0.3, l2:2.0, l1:10.0]", "model.width=0.25",
               "eval.samples=1000", "eval.steps=50"],
        "at_pretrain": ["train.epochs=10"],
        "at_modes": ["minmax", "average", "max"],
    },
}


def _runs(
    suite: str, ctx: Any, recipe: str, key: str, extra: dict[int, list[str]] | None = None
) -> tuple[dict[int, dict], list[str]]:
    """One run of ``recipe`` per seed (cached by the bench): ``{seed: summary}`` and the run folders."""
    seeds = SCALE[suite]["seeds"]
    recs = ctx.run_many([(recipe, [f"train.seed={seed}", *SCALE[suite][key], *(extra or {}).get(seed, [])])
                         for seed in seeds])
    return {seed: rec.summary() for seed, rec in zip(seeds, recs)}, [str(rec.path) for rec in recs]


def _universal_and_eot(suite: str, ctx: Any) -> tuple[dict[int, dict], dict[int, dict], list[str]]:
    """Universal runs, then EOT runs that attack the same victim (the universal run's checkpoint)."""
    uni, p1 = _runs(suite, ctx, "attack/universal", "universal")
    weights = {s: [f"model.weights={(Path(p) / 'checkpoints' / 'model.pt').resolve()}"]
               for s, p in zip(SCALE[suite]["seeds"], p1)}
    eot, p2 = _runs(suite, ctx, "attack/eot", "eot", weights)
    return uni, eot, p1 + p2


def _result(cid: str, suite: str, margin: float, unit: str, values: dict, table: list, paths: list[str],
            passed: bool | None = None, notes: str = "") -> ClaimResult:
    return ClaimResult(cid, CLAIMS.get(cid).statement, suite, passed=margin > 0 if passed is None else passed,
                       margin=margin, unit=unit, values=values, seeds=list(SCALE[suite]["seeds"]), table=table,
                       runs=paths, notes=notes)


def check_ensemble(suite: str, ctx: Any) -> ClaimResult:
    runs, paths = _runs(suite, ctx, "attack/ensemble", "ensemble")
    values = {w: [runs[s]["asr_all"][w] for s in runs] for w in runs[next(iter(runs))]["asr_all"]}
    table = [{"weighting": w, "ASR_all": mean(v), "ASR_all std": std(v),
              "ASR_avg": mean([runs[s]["asr_avg"][w] for s in runs])} for w, v in values.items()]
    margin = mean(values["minmax"]) - mean(values["average"])
    return _result("minmax/ensemble-asr-all", suite, margin, "ASR_all (min-max minus average, mean over seeds)",
                   values, table, paths, passed=margin >= 0)


def check_universal_eot(suite: str, ctx: Any) -> ClaimResult:
    uni, eot, paths = _universal_and_eot(suite, ctx)
    values = {
        "universal/minmax": [uni[s]["asr_all"]["minmax"] for s in uni],
        "universal/average": [uni[s]["asr_all"]["average"] for s in uni],
        "eot/minmax": [eot[s]["eot"]["minmax"]["worst"] for s in eot],
        "eot/average": [eot[s]["eot"]["average"]["worst"] for s in eot],
    }
    gaps = {
        "universal": mean(values["universal/minmax"]) - mean(values["universal/average"]),
        "eot": mean(values["eot/minmax"]) - mean(values["eot/average"]),
    }
    held = {w: mean([uni[s]["fooling_rate_heldout"][w] for s in uni]) for w in ("minmax", "average")}
    eot_avg = {w: mean([eot[s]["eot"][w]["avg"] for s in eot]) for w in ("minmax", "average")}
    table = [
        {"setting": "universal", "metric": "groups with all K inputs fooled",
         "min-max": mean(values["universal/minmax"]), "average": mean(values["universal/average"]),
         "gap": gaps["universal"], "held-out fooling (min-max / avg)": f"{held['minmax']:.3f} / {held['average']:.3f}"},
        {"setting": "eot", "metric": "inputs fooled under every transform", "min-max": mean(values["eot/minmax"]),
         "average": mean(values["eot/average"]), "gap": gaps["eot"],
         "mean over transforms (min-max / avg)": f"{eot_avg['minmax']:.3f} / {eot_avg['average']:.3f}"},
    ]
    return _result("minmax/universal-eot-worst", suite, min(gaps.values()),
                   "worst-domain success (min-max minus average; smaller of universal, EOT)", values, table, paths)


def check_at(suite: str, ctx: Any) -> ClaimResult:
    """Standard training first; every AT mode then fine-tunes that checkpoint (same start per seed)."""
    scale = SCALE[suite]
    per_mode: dict[str, dict[int, dict]] = {m: {} for m in ("standard", *scale["at_modes"])}
    paths = []
    for seed in scale["seeds"]:
        base = ctx.run("attack/minmax-at", [f"train.seed={seed}", *scale["at"], *scale["at_pretrain"],
                                            "at.mode=standard"])
        per_mode["standard"][seed] = base.summary()
        paths.append(str(base.path))
        start = (base.path / "checkpoints" / "model.pt").resolve()
        for mode in scale["at_modes"]:
            rec = ctx.run("attack/minmax-at", [f"train.seed={seed}", *scale["at"], f"at.mode={mode}",
                                               f"model.weights={start}"])
            per_mode[mode][seed] = rec.summary()
            paths.append(str(rec.path))
    values = {m: [r[s]["union_acc"] for s in r] for m, r in per_mode.items()}
    table = []
    for m, r in per_mode.items():
        row: dict[str, Any] = {"training": m}
        for key in r[next(iter(r))]["robust_acc"]:
            row[key] = mean([r[s]["robust_acc"][key] for s in r])
        row["union std"] = std(values[m])
        table.append(row)
    margin = mean(values["minmax"]) - mean(values["average"])
    return _result("minmax/at-union", suite, margin, "union robust accuracy (min-max AT minus AVG AT)",
                   values, table, paths)


def _weight_gap(summary: dict) -> tuple[float, list[str], str]:
    rates = summary["per_domain_asr"]["average"]
    low = min(rates.values())
    hardest = [d for d, r in rates.items() if r == low]
    w = summary["weights"]
    others = [w[d] for d in w if d not in hardest]
    return (max(w[d] for d in hardest) - max(others) if others else 0.0), hardest, summary["largest_weight_domain"]


def check_weights(suite: str, ctx: Any) -> ClaimResult:
    ens, p1 = _runs(suite, ctx, "attack/ensemble", "ensemble")
    _, eot, p2 = _universal_and_eot(suite, ctx)
    gaps, table = [], []
    for name, runs in (("ensemble", ens), ("eot (information)", eot)):
        for s, summ in runs.items():
            if "weights" not in summ or "average" not in summ["per_domain_asr"]:
                continue
            gap, hardest, top = _weight_gap(summ)
            if name == "ensemble":
                gaps.append(gap)
            table.append({"setting": name, "seed": s, "hardest (avg attack)": ", ".join(hardest),
                          "largest weight": top, "weight gap": gap,
                          "weights": ", ".join(f"{d}={v:.3f}" for d, v in summ["weights"].items())})
    margin = min(gaps) if gaps else float("nan")
    return _result("minmax/weights-hardest", suite, margin,
                   "w on the hardest model minus the largest other w (worst seed)", {"ensemble/gap": gaps},
                   table, p1 + p2, notes="the EOT rows are shown for information and do not decide the claim")


for _cid, _statement, _check in (
    ("minmax/ensemble-asr-all", "Ensemble attack: min-max ASR_all >= average ASR_all at equal eps and iterations "
     "(mean over seeds)", check_ensemble),
    ("minmax/universal-eot-worst", "Universal perturbation and EOT: min-max beats average on the worst domain "
     "(share of groups / inputs fooled in every domain)", check_universal_eot),
    ("minmax/at-union", "Min-max adversarial training has higher union (worst-type) robust accuracy than AVG "
     "adversarial training", check_at),
    ("minmax/weights-hardest", "Ensemble attack: the largest learned weight sits on the model the average "
     "attack fools least", check_weights),
):
    CLAIMS.add(_cid, Claim(_cid, _statement, _check, group="minmax"))
