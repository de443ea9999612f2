"""DOORPING poisoning-budget sweep: ASR, CTA and the positive control's ASR against the poison budget.

    nice -n 10 .venv/bin/python benchmarks/doorping_budget_sweep.py --out /tmp/dpsweep            # 1 seed
    .venv/bin/python benchmarks/doorping_budget_sweep.py --out /tmp/dpsweep --plot-only            # redraw
    .venv/bin/python benchmarks/doorping_budget_sweep.py --out /tmp/dpin --kinds doorping --portions 0.1 0.2 \
        --set attack.trigger_input=poisoned                                                    # a regime probe

Runs ``backdoor/{naive,doorping}-<method>`` (default DM, the cheapest distiller) at the quick scale of
``doorping/claims.py`` (``claims.overrides("quick", method, seed)``) for each ``--portions`` budget, with the
BadNets-style positive control (``eval.controls=[full-data]``: one model on the whole poisoned training set,
stamped with the run's final trigger) and a validation split of ``--val-size`` training images held out
before poisoning (``eval.val_size``). The budget of the claims is chosen on the validation images only: the
smallest budget at which the DOORPING runs' positive control reaches ASR >= ``claims.POSITIVE_ASR`` with
CTA >= ``claims.LEARNED_CTA`` on them (the ``positive-control`` validity gate) in every seed. The test-set
ASR and CTA are recorded for the figure, not used for the choice.

Writes ``<out>/sweep.json`` (one row per run: budget, attack, seed, test ASR / CTA, validation ASR / CTA,
positive control's test and validation ASR and CTA, CPU seconds), ``<out>/budget_sweep.png`` and prints the
table and the chosen budget. Runs go to ``<out>/runs``; runs already in ``sweep.json`` are not re-run.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from trustlab.config import override_strings
from trustlab.methods.doorping import claims

KEYS = ("asr", "cta", "asr_val", "cta_val", "asr_full_data", "cta_full_data", "asr_full_data_val",
        "cta_full_data_val", "cpu_seconds")


def _one(job: tuple[str, str, float, int, int, str, tuple[str, ...]]) -> dict[str, Any]:
    from trustlab.recipes import run_recipe

    kind, method, portion, seed, val_size, root, extra = job
    ov = {**claims.overrides("quick", method, seed), "attack.portion": portion, "eval.val_size": val_size,
          "eval.controls": ["full-data"], "defense.names": []}  # the quick DM runs' defenses are not swept
    ov = override_strings(ov) + list(extra)  # --set last: it wins
    rec = run_recipe(f"backdoor/{kind}-{method}", overrides=ov, runs_root=root, quiet=True)
    s = rec.summary()
    row = {"kind": kind, "method": method, "portion": portion, "seed": seed, "run": str(rec.path),
           "poisoned": s.get("attack_info", {}).get("poisoned")}
    row.update({k: s.get(k, math.nan) for k in KEYS})
    print(json.dumps(row), flush=True)
    return row


def choose(rows: list[dict[str, Any]], kind: str = "doorping") -> float | None:
    """Smallest budget whose ``kind`` runs' positive control reaches the gate's bar on validation images."""
    by: dict[float, list[tuple[float, float]]] = {}
    for r in rows:
        if r["kind"] == kind:
            by.setdefault(r["portion"], []).append((r["asr_full_data_val"], r["cta_full_data_val"]))
    # the gate's two conditions: ASR >= the bar, and a control that learned the classes (one at chance sends
    # every input to the target: ASR near 1 without a backdoor)
    ok = [p for p, v in sorted(by.items())
          if v and all(a >= claims.POSITIVE_ASR and c >= claims.LEARNED_CTA for a, c in v)]
    return ok[0] if ok else None


def plot(rows: list[dict[str, Any]], out: Path, chosen: float | None) -> Path:
    from trustlab.report.figures import new_figure, save_png, style

    fig = new_figure(9.0, 3.4)
    axes = fig.subplots(1, 2)
    colours = {"naive": "tab:blue", "doorping": "tab:red"}
    names = {"naive": "NaiveAttack", "doorping": "DOORPING"}
    panels = [(axes[0], [("asr", "-", "o", "distilled, test ASR"),
                         ("asr_full_data_val", "--", "s", "positive control (full data), validation ASR")],
               "ASR (non-target, stored image)"),
              (axes[1], [("cta", "-", "o", "distilled, test CTA"),
                         ("cta_full_data_val", "--", "s", "positive control (full data), validation CTA")], "CTA")]
    for ax, series, ylabel in panels:
        for kind in ("naive", "doorping"):
            mine = [r for r in rows if r["kind"] == kind]
            ps = sorted({r["portion"] for r in mine})
            for key, ls, marker, what in series:
                ys = [sum(r[key] for r in mine if r["portion"] == p) / sum(1 for r in mine if r["portion"] == p)
                      for p in ps]
                ax.plot([100 * p for p in ps], ys, ls=ls, marker=marker, color=colours[kind],
                        label=f"{names[kind]}: {what}", ms=4)
        ax.set_xscale("log")
        ax.set_xticks([1, 2, 5, 10, 20], labels=["1", "2", "5", "10", "20"])
        ax.set_xlabel("poison budget (% of the training set)")
        ax.set_ylabel(ylabel)
        ax.set_ylim(-0.02, 1.02)
        style(ax)
    axes[0].axhline(claims.POSITIVE_ASR, color="grey", lw=0.8, ls=":")
    if chosen is not None:
        for ax in axes:
            ax.axvline(100 * chosen, color="grey", lw=0.8)
    axes[0].legend(fontsize=6, loc="upper left")
    axes[1].legend(fontsize=6, loc="lower left")
    seeds = sorted({r["seed"] for r in rows})
    fig.suptitle(f"DOORPING / NaiveAttack on {rows[0]['method'].upper()}, MNIST-5k, quick scale, seeds {seeds}"
                 + (f"; budget used {100 * chosen:g}% (grey line)" if chosen is not None else ""), fontsize=8)
    return save_png(fig, out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--method", default="dm")
    ap.add_argument("--kinds", nargs="+", default=["naive", "doorping"])
    ap.add_argument("--portions", nargs="+", type=float, default=[0.01, 0.02, 0.05, 0.1, 0.2])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--val-size", type=int, default=500)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--plot-only", action="store_true")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="extra override of every run (a regime probe, e.g. attack.trigger_input=poisoned)")
    args = ap.parse_args()
    path = args.out / "sweep.json"
    rows: list[dict[str, Any]] = json.loads(path.read_text()) if path.is_file() else []
    if not args.plot_only:
        done = {(r["kind"], r["method"], r["portion"], r["seed"]) for r in rows}
        jobs = [(k, args.method, p, s, args.val_size, str(args.out / "runs"), tuple(args.set)) for p in args.portions
                for k in args.kinds for s in args.seeds if (k, args.method, p, s) not in done]
        args.out.mkdir(parents=True, exist_ok=True)
        with ProcessPoolExecutor(args.jobs) as pool:
            for row in pool.map(_one, jobs):
                rows.append(row)
                path.write_text(json.dumps(rows, indent=1))  # after each run: a partial sweep is kept
    if not rows:
        sys.exit("no runs")
    chosen = choose(rows)
    badnets = choose(rows, "naive")  # NaiveAttack's white patch: the classic BadNets control
    print(f"{'attack':9} {'budget':>6} {'seed':>4} {'ASR':>6} {'CTA':>6} {'ASR val':>7} {'PC ASR val':>10} "
          f"{'PC ASR test':>11} {'PC CTA':>6} {'CPU s':>6}")
    for r in sorted(rows, key=lambda r: (r["kind"], r["portion"], r["seed"])):
        print(f"{r['kind']:9} {100 * r['portion']:5g}% {r['seed']:4d} {r['asr']:6.3f} {r['cta']:6.3f} "
              f"{r['asr_val']:7.3f} {r['asr_full_data_val']:10.3f} {r['asr_full_data']:11.3f} "
              f"{r['cta_full_data']:6.3f} {r['cpu_seconds']:6.1f}")
    def pct(p: float | None) -> str:
        return "none" if p is None else f"{100 * p:g}%"

    gate = f"ASR >= {claims.POSITIVE_ASR}, CTA >= {claims.LEARNED_CTA} on validation"
    print(f"smallest budget where DOORPING's trigger is planted by the full-data control ({gate}): {pct(chosen)}")
    print(f"smallest budget where NaiveAttack's white patch is planted by the full-data control: {pct(badnets)}")
    print(plot(rows, args.out / "budget_sweep.png", chosen if chosen is not None else badnets))


if __name__ == "__main__":
    main()
