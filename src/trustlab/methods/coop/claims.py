"""CoOp's headline findings as claims on the embedded tiny CLIP (paired rule over seeds).

1. ``coop/beats-best-prompt``: at 16 shots CoOp beats the *best* hand-crafted prompt (picked on the test
   set, an oracle and so a conservative baseline), averaged over the downstream tasks.
2. ``coop/few-shots-beat-prompt``: at 1-2 shots CoOp (mean of its 1- and 2-shot accuracy) beats the
   hand-crafted prompt "a photo of a {}." on most tasks (margin: share of tasks won minus one half).
3. ``coop/linear-probe-needs-more-shots``: at 1 shot the linear probe on the same features is below
   CoOp (the gap at 16 shots is in the table: the probe catches up with more shots).
4. ``coop/dg-retention``: the context learned for the background task on scenes with handwritten digits
   keeps, on scenes with printed and outlined digits, at least the share of its source accuracy that
   zero-shot keeps, minus 0.05 (non-inferiority). (Background, not digit: the tiny CLIP is at chance on
   digits, which made the digit version vacuous.)

All five embedded tasks are used, with no selection: colour and position are near 1.0 zero-shot (no
headroom), digit and style near chance (the image features do not carry them); the README reports each.

Controls: the zero-shot prompts and ensemble are the same-budget, no-training baselines on the same
images; the linear probe is the same-shots trained baseline; the tables list each prompt.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trustlab.bench.claims import ClaimResult, mean, paired_result, register_claim, std

TASKS = ["digit", "colour", "background", "style", "position"]
NONINFERIORITY = 0.05

SCALE: dict[str, dict[str, Any]] = {
    "smoke": {"seeds": [0], "tasks": ["colour"], "shots": [1, 2, 16],
              "overrides": {"clip.pretrained": False, "coop.epochs": 2}},
    "demo": {"seeds": [0, 1, 2], "tasks": TASKS, "shots": [16],
             "overrides": {"coop.epoch_scale": 0.25, "fewshot.linear_probe": False}},
    "quick": {"seeds": [0, 1, 2], "tasks": TASKS, "shots": [1, 2, 4, 8, 16],
              "overrides": {"coop.epoch_scale": 0.25}},
    "full": {"seeds": [0, 1, 2, 3, 4], "tasks": [*TASKS, "background"], "shots": [1, 2, 4, 8, 16], "overrides": {}},
}


def fewshot_runs(suite: str, ctx: Any) -> tuple[dict[str, dict[int, dict]], list[str]]:
    """One ``coop/fewshot`` run per (task, seed): ``{task: {seed: summary["accuracy"][task]}}``."""
    sc = SCALE[suite]
    keys = [(t, s) for s in sc["seeds"] for t in sc["tasks"]]
    recs = ctx.run_many([("coop/fewshot", {"fewshot.tasks": [t], "fewshot.shots": sc["shots"], "train.seed": s,
                                           **sc["overrides"]}) for t, s in keys])
    out: dict[str, dict[int, dict]] = {}
    for (t, s), rec in zip(keys, recs):
        summ = rec.summary()
        out.setdefault(t, {})[s] = {**summ["accuracy"][t], "words": summ.get("nearest_words", {}).get(t, [])}
    return out, [str(r.path) for r in recs]


def check_beats_best_prompt(suite: str, ctx: Any) -> ClaimResult:
    runs, paths = fewshot_runs(suite, ctx)
    sc = SCALE[suite]
    top = max(sc["shots"])
    diffs = [mean([runs[t][s][f"coop@{top}"] - runs[t][s]["zero-shot (best prompt on test)"] for t in sc["tasks"]])
             for s in sc["seeds"]]
    table = []
    for t in sc["tasks"]:
        row = {"task": t}
        for k in ("zero-shot (first prompt)", "zero-shot (best prompt on test)", "prompt ensemble", f"coop@{top}"):
            vals = [runs[t][s][k] for s in sc["seeds"]]
            row[k], row[f"{k} std"] = mean(vals), std(vals)
        row["context words (seed 0)"] = " | ".join(runs[t][sc["seeds"][0]]["words"])
        table.append(row)
    values = {f"{t}/coop@{top}": [runs[t][s][f"coop@{top}"] for s in sc["seeds"]] for t in sc["tasks"]}
    values |= {f"{t}/best prompt": [runs[t][s]["zero-shot (best prompt on test)"] for s in sc["seeds"]]
               for t in sc["tasks"]}
    return paired_result("coop/beats-best-prompt", suite, diffs, unit=f"accuracy, CoOp@{top} minus best prompt "
                         "(mean over tasks)", values=values, seeds=sc["seeds"], table=table, runs=paths,
                         notes="best prompt = the hand-crafted prompt with the highest *test* accuracy per task "
                               "(oracle choice); context words = nearest vocabulary tokens of each context vector")


def check_few_shots_beat_prompt(suite: str, ctx: Any) -> ClaimResult:
    runs, paths = fewshot_runs(suite, ctx)
    sc = SCALE[suite]
    low = [s for s in sc["shots"] if s <= 2] or [min(sc["shots"])]
    won = {s: [mean([runs[t][s][f"coop@{k}"] for k in low]) > runs[t][s]["zero-shot (first prompt)"]
               for t in sc["tasks"]] for s in sc["seeds"]}
    diffs = [sum(w) / len(w) - 0.5 for w in won.values()]
    table = [{"task": t, "zero-shot 'a photo of a {}.'": mean([runs[t][s]["zero-shot (first prompt)"]
                                                                 for s in sc["seeds"]]),
              **{f"coop@{k}": mean([runs[t][s][f"coop@{k}"] for s in sc["seeds"]]) for k in low},
              "seeds won": sum(won[s][i] for s in sc["seeds"])} for i, t in enumerate(sc["tasks"])]
    _curves(suite, ctx, runs)
    return paired_result("coop/few-shots-beat-prompt", suite, diffs,
                         unit="share of tasks where CoOp@1-2 beats the hand-crafted prompt, minus 0.5",
                         values={"tasks won": [float(sum(w)) for w in won.values()]}, seeds=sc["seeds"],
                         table=table, runs=paths, notes=f"CoOp@1-2 = mean of CoOp at {low} shots")


def check_linear_probe(suite: str, ctx: Any) -> ClaimResult:
    runs, paths = fewshot_runs(suite, ctx)
    sc = SCALE[suite]
    lo, hi = min(sc["shots"]), max(sc["shots"])
    diffs = [mean([runs[t][s][f"coop@{lo}"] - runs[t][s].get(f"linear-probe@{lo}", float("nan")) for t in sc["tasks"]])
             for s in sc["seeds"]]
    table = []
    for t in sc["tasks"]:
        row = {"task": t}
        for k in sc["shots"]:
            row[f"coop@{k}"] = mean([runs[t][s][f"coop@{k}"] for s in sc["seeds"]])
            row[f"linear-probe@{k}"] = mean([runs[t][s].get(f"linear-probe@{k}", float("nan")) for s in sc["seeds"]])
        row[f"gap@{lo}"] = row[f"coop@{lo}"] - row[f"linear-probe@{lo}"]
        row[f"gap@{hi}"] = row[f"coop@{hi}"] - row[f"linear-probe@{hi}"]
        table.append(row)
    return paired_result("coop/linear-probe-needs-more-shots", suite, diffs,
                         unit=f"accuracy, CoOp@{lo} minus linear probe@{lo} (mean over tasks)",
                         values={f"gap@{hi}": [mean([runs[t][s][f"coop@{hi}"] - runs[t][s].get(f"linear-probe@{hi}", 0)
                                                     for t in sc["tasks"]]) for s in sc["seeds"]]},
                         seeds=sc["seeds"], table=table, runs=paths)


def check_dg_retention(suite: str, ctx: Any) -> ClaimResult:
    sc = SCALE[suite]
    recs = ctx.run_many([("coop/dg", {"fewshot.shots": [max(sc["shots"])], "train.seed": s, **sc["overrides"]})
                         for s in sc["seeds"]])
    m = [r.summary()["metrics"] for r in recs]
    diffs = [x["coop/retention"] - x["zero-shot/retention"] + NONINFERIORITY for x in m]
    keys = [f"{a}/{b}" for a in ("zero-shot", "prompt ensemble", "coop") for b in ("source", "target", "retention")]
    values = {k: [x[k] for x in m] for k in keys}
    table = [{"method": a, **{b: mean(values[f"{a}/{b}"]) for b in ("source", "target", "retention")}}
             for a in ("zero-shot", "prompt ensemble", "coop")]
    return paired_result("coop/dg-retention", suite, diffs,
                         unit=f"retention (target/source accuracy), CoOp minus zero-shot, + {NONINFERIORITY}",
                         values=values, seeds=sc["seeds"], table=table, runs=[str(r.path) for r in recs],
                         notes=f"task = {recs[0].summary().get('task', 'background')}; source = scenes with "
                               "handwritten digits; targets = scenes with printed and outlined digits (held-out fonts)")


def _curves(suite: str, ctx: Any, runs: dict[str, dict[int, dict]]) -> Path | None:
    """Accuracy vs shots per task with a band of +- one std over seeds (written next to the bench report)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    sc = SCALE[suite]
    shots = sc["shots"]
    if len(shots) < 2:
        return None
    fig, axes = plt.subplots(1, len(sc["tasks"]), figsize=(3.2 * len(sc["tasks"]), 2.8), squeeze=False)
    for ax, t in zip(axes[0], sc["tasks"]):
        for key, style in (("coop", "o-"), ("linear-probe", "s--")):
            ys = np.array([[runs[t][s].get(f"{key}@{k}", np.nan) for k in shots] for s in sc["seeds"]])
            mu, sd = ys.mean(0), ys.std(0)
            ax.plot(shots, mu, style, label=key)
            ax.fill_between(shots, mu - sd, mu + sd, alpha=0.2)
        zs = mean([runs[t][s]["zero-shot (first prompt)"] for s in sc["seeds"]])
        ax.axhline(zs, color="grey", ls=":", label="zero-shot")
        ax.set_xscale("log", base=2)
        ax.set_title(t)
        ax.set_xlabel("shots per class")
    axes[0][0].set_ylabel("test accuracy")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    out = Path(ctx.out_dir) / "coop_accuracy_vs_shots.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


register_claim("coop/beats-best-prompt", "CoOp at 16 shots beats the best hand-crafted prompt on average over the "
               "downstream tasks", check_beats_best_prompt, group="coop")
register_claim("coop/few-shots-beat-prompt", "CoOp at 1-2 shots beats the hand-crafted prompt on most tasks",
               check_few_shots_beat_prompt, group="coop", suites=("smoke", "quick", "full"))
register_claim("coop/linear-probe-needs-more-shots", "At 1 shot a linear probe on the same features is below CoOp "
               "(it needs more shots to catch up)", check_linear_probe, group="coop", suites=("smoke", "quick", "full"))
register_claim("coop/dg-retention", f"Context learned on one style keeps, on the other styles, a share of its source "
               f"accuracy no worse than zero-shot's (non-inferiority margin {NONINFERIORITY})", check_dg_retention,
               group="coop", suites=("smoke", "quick", "full"))
