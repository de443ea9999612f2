"""Ablation of OKD's generator changes of issue 11 (and the reference's in-place cutmix): OKD minus KD on
Digits-DG *source-domain validation*, paired per seed.

Each arm restores one change through its config option (``method.<generator>_variant=previous``, or the
reference's ``method.id_branch=in_place``) at the quick suite's scale (``okd.claims.SCALE["quick"]``), trained
beside KD on the same held-out domains and seeds, and is scored by the mean over the held-out domains of the
*source-domain validation* accuracy (``summary["val_acc"]``, what model selection uses) minus KD's, per seed.
Held-out accuracy is printed beside it for the record and chooses nothing. Runs go to ``OUT/quick/runs`` with the
quick suite's overrides, so ``trustlab bench --suite quick --only okd/okd-beats-kd --out OUT --reuse`` reuses
the KD and OKD runs of this ablation.

    OMP_NUM_THREADS=1 python benchmarks/okd_generator_ablation.py --out /tmp/okd-ablation --seeds 0 1 2 3 \\
        --arms okd okd-cutmix-previous okd-in-place --jobs 1

Writes ``OUT/ablation.json`` and ``OUT/ablation.md`` (one row per arm: mean margin, 90% interval, per-seed sd,
seeds needed for the 0.02 effect of interest by ``trustlab.bench.power.seeds_needed``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import trustlab.methods  # noqa: F401  (registers recipes and claims)
from trustlab.bench.claims import decide, lodo_runs, mean
from trustlab.bench.power import seeds_needed
from trustlab.bench.runner import BenchContext
from trustlab.methods.okd import claims as okd_claims

# arm -> (recipe, extra overrides); "okd" is the current code (the reference's generators, a clean ID branch)
ARMS: dict[str, tuple[str, dict[str, Any]]] = {
    "okd": ("okd/digits-dg", {}),
    "okd-cutmix-previous": ("okd/digits-dg", {"method.cutmix_variant": "previous"}),
    "okd-in-place": ("okd/digits-dg", {"method.id_branch": "in_place"}),
    "okd-noise": ("okd/digits-dg", {"method.generator": "noise"}),
    "okd-noise-previous": ("okd/digits-dg", {"method.generator": "noise", "method.noise_variant": "previous"}),
    "okd-adv": ("okd/digits-dg", {"method.generator": "adv"}),
    "okd-adv-previous": ("okd/digits-dg", {"method.generator": "adv", "method.adv_variant": "previous",
                                           "method.adv_eps": 4 / 255}),
}
SCALE = "quick"


def arm_runs(ctx: BenchContext, arm: str, targets: list[str], seeds: list[int]) -> dict[tuple[str, int], dict]:
    """``{(target, seed): summary}`` of an arm (or of ``kd``) at the quick scale."""
    s = okd_claims.SCALE[SCALE]
    if arm == "kd":
        recipe, extra = "kd/digits-dg", {}
    else:
        recipe, extra = ARMS[arm]
    runs, _ = lodo_runs(ctx, recipe, targets, seeds, {**s["student"], **s["teacher"], **extra})
    return runs


def per_seed(runs: dict[tuple[str, int], dict], key: str, targets: list[str], seeds: list[int]) -> list[float]:
    return [mean([runs[(t, s)][key] for t in targets]) for s in seeds]


def row(arm: str, diffs: list[float], heldout: list[float], vs_okd: list[float] | None = None,
        one_run_sd: float | None = None) -> dict[str, Any]:
    """One arm: its source-val margin over KD (decided by the bench's paired rule), power, and, beside the
    current code (``okd``), the paired per-seed difference of source val (what moved OKD against KD) and the
    sd of a single run's held-out difference (one domain, one seed: how far one run moves by noise alone)."""
    sd = statistics.stdev(diffs) if len(diffs) > 1 else float("nan")
    verdict, iv = decide(diffs)
    out = {"arm": arm, "val margin": mean(diffs), "interval": iv, "verdict": verdict, "sd per seed": sd,
           "seeds needed (0.02)": seeds_needed(sd, okd_claims.OKD_EFFECT) if sd == sd else None,
           "val diffs": diffs, "held-out margin": mean(heldout), "held-out diffs": heldout}
    if vs_okd is not None:
        out.update({"val minus okd": mean(vs_okd), "val minus okd interval": decide(vs_okd)[1],
                    "val minus okd diffs": vs_okd, "one-run held-out sd vs okd": one_run_sd})
    return out


def _fmt_vs(r: dict[str, Any]) -> str:
    if "val minus okd" not in r:
        return "(reference) | |"
    lo, hi = r["val minus okd interval"]
    return f"{r['val minus okd']:+.4f} [{lo:+.4f}, {hi:+.4f}] | {r['one-run held-out sd vs okd']:.4f} |"


def markdown(rows: list[dict[str, Any]], seeds: list[int], targets: list[str]) -> str:
    out = [f"Seeds {seeds}, held-out domains {targets} (source-domain validation accuracy, mean of the domains' "
           "runs, minus KD's, per seed)", "",
           "| arm | OKD - KD, source val [90% interval] | sd per seed | seeds needed (0.02) | "
           "arm - okd, source val [90% interval] | one run's held-out sd, arm - okd | "
           "held-out margin (not used) |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lo, hi = r["interval"]
        out.append(f"| {r['arm']} | {r['val margin']:+.4f} [{lo:+.4f}, {hi:+.4f}] | {r['sd per seed']:.4f} | "
                   f"{r['seeds needed (0.02)']} | {_fmt_vs(r)} {r['held-out margin']:+.4f} |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="folder for runs (OUT/quick/runs) and the tables")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--targets", nargs="+", default=list(okd_claims.DOMAINS), choices=okd_claims.DOMAINS)
    ap.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args(argv)

    # runs under OUT/quick/runs, where `trustlab bench --suite quick --out OUT --reuse` looks for them
    ctx = BenchContext(SCALE, args.out / SCALE, quiet=True, reuse=True, jobs=args.jobs)
    t0 = time.time()
    try:
        kd = arm_runs(ctx, "kd", args.targets, args.seeds)
        kd_val = per_seed(kd, "val_acc", args.targets, args.seeds)
        kd_held = per_seed(kd, "heldout_acc", args.targets, args.seeds)
        rows = []
        ref = arm_runs(ctx, "okd", args.targets, args.seeds)  # the current code, what every arm is paired with
        ref_val = per_seed(ref, "val_acc", args.targets, args.seeds)
        for arm in args.arms:
            runs = arm_runs(ctx, arm, args.targets, args.seeds)
            val = per_seed(runs, "val_acc", args.targets, args.seeds)
            held = per_seed(runs, "heldout_acc", args.targets, args.seeds)
            vs, one = None, None
            if arm != "okd":
                vs = [a - b for a, b in zip(val, ref_val)]
                one = statistics.stdev([runs[k]["heldout_acc"] - ref[k]["heldout_acc"] for k in runs])
            rows.append(row(arm, [a - b for a, b in zip(val, kd_val)], [a - b for a, b in zip(held, kd_held)],
                            vs, one))
            print(markdown(rows[-1:], args.seeds, args.targets).splitlines()[-1], file=sys.stderr, flush=True)
    finally:
        ctx.close()
    report = {"seeds": args.seeds, "targets": args.targets, "scale": okd_claims.SCALE[SCALE],
              "kd source val": kd_val, "rows": rows, "wall_s": round(time.time() - t0, 1)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ablation.json").write_text(json.dumps(report, indent=1))
    (args.out / "ablation.md").write_text(markdown(rows, args.seeds, args.targets))
    print(markdown(rows, args.seeds, args.targets))
    return 0


if __name__ == "__main__":
    sys.exit(main())
