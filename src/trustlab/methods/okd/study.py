"""Run the OKD claims at the quick scale with extra overrides (a study, not a suite).

A suite's settings (``okd.claims.SCALE[--scale]``, default quick) are copied into a named study, the given
overrides are appended, and the chosen claim checks run on ``--out/runs`` (finished runs are reused, so a
study can be resumed or extended with more seeds). Prints per claim the margin and per-seed values, plus
the mean source-domain validation accuracy of every student and teacher, which is what settings may be
chosen by (held-out numbers are the claim, never a selection criterion).

    OMP_NUM_THREADS=1 python -m trustlab.methods.okd.study --out /tmp/okd-strong \\
        --teacher teacher.epochs=5 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import trustlab.methods  # noqa: F401  (registers recipes and claims)
from trustlab.bench.claims import mean
from trustlab.bench.runner import BenchContext
from trustlab.methods.okd import claims as okd_claims
from trustlab.runs.store import RunRecord

CHECKS = {
    "kd-beats-erm": okd_claims.check_kd_beats_erm,
    "okd-beats-kd": okd_claims.check_okd_beats_kd,
    "okd-beats-kd-dosco": okd_claims.check_okd_beats_kd_dosco,
    "gap-larger-ood": okd_claims.check_gap_larger_ood,
    "dosco-drop": okd_claims.check_dosco_drop,
    "kd-beats-dg-baselines": okd_claims.check_kd_beats_baselines,
}


def source_val(ctx: BenchContext) -> dict[str, float]:
    """Mean source validation accuracy per (recipe, role), over every run the study made."""
    out: dict[str, list[float]] = {}
    for rec in ctx.records():  # the runs this study made or reused
        summ = rec.summary()
        boards = summ.get("leaderboard")
        rows = boards.items() if boards else [(rec.recipe, summ)]
        for name, row in rows:
            if "val_acc" not in row and row.get("run"):  # a leaderboard row: its linked run has the numbers
                row = RunRecord.open(row["run"], writer=False).summary()
            if "val_acc" in row:
                out.setdefault(f"{name} student", []).append(row["val_acc"])
            t = row.get("teacher") or {}
            if "val_acc" in t:
                out.setdefault(f"{name} teacher", []).append(t["val_acc"])
    return {k: round(mean(v), 4) for k, v in sorted(out.items())}


def _parse(items: list[str]) -> dict[str, object]:
    """``["train.epochs=5"]`` -> ``{"train.epochs": 5}`` (values parsed as YAML)."""
    import yaml

    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"error: override '{item}' is not KEY=VALUE")
        out[key] = yaml.safe_load(value)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="study folder (runs go to OUT/runs)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--targets", nargs="+", default=list(okd_claims.DOMAINS))
    ap.add_argument("--student", nargs="*", default=[], help="extra KEY=VALUE overrides of the Digits-DG students")
    ap.add_argument("--teacher", nargs="*", default=[], help="extra KEY=VALUE overrides of every teacher (teacher.*)")
    ap.add_argument("--dosco", nargs="*", default=[], help="extra KEY=VALUE overrides of the DOSCO runs")
    ap.add_argument("--claims", nargs="+", default=["okd-beats-kd"], choices=sorted(CHECKS))
    ap.add_argument("--scale", default="quick", choices=sorted(okd_claims.SCALE), help="suite settings to start from")
    ap.add_argument("--jobs", type=int, default=1, help="runs trained at once (worker processes)")
    args = ap.parse_args(argv)

    study = f"study-{args.out.name}"
    scale = copy.deepcopy(okd_claims.SCALE[args.scale])
    scale.update(seeds=args.seeds, targets=args.targets)
    for key in ("student", "teacher", "dosco"):
        scale[key].update(_parse(getattr(args, key)))
    okd_claims.SCALE[study] = scale
    ctx = BenchContext(study, args.out, quiet=False, reuse=True, jobs=args.jobs)
    t0 = time.time()
    report: dict = {"scale": scale, "claims": {}}
    try:
        for name in args.claims:
            res = CHECKS[name](study, ctx)
            report["claims"][name] = {"verdict": res.verdict, "margin": round(res.margin, 4),
                                      "interval": [round(v, 4) for v in res.interval], "notes": res.notes,
                                      "values": {k: [round(v, 4) for v in vs] for k, vs in res.values.items()}}
            print(f"{name}: {res.verdict} {res.margin:+.4f} {res.interval} {res.notes}", file=sys.stderr)
    finally:
        ctx.close()
        okd_claims.SCALE.pop(study, None)
    report["source_val"] = source_val(ctx)
    report["wall_s"] = round(time.time() - t0, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "study.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
