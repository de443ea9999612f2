"""Bench report speed: `render_bench` on a quick-sized reports folder (goal: 30 s or less on 2 cores).

    .venv/bin/python benchmarks/report_render.py [--claims 45] [--runs 270] [--baseline] [--keep DIR]

Builds a fabricated ``reports/quick`` folder in a temp dir: ``--claims`` claims of nine method areas
(``okd/...``, ``gmoe/...``) with every verdict (PASS, FAIL, INCONCLUSIVE, INVALID with gates and a reason,
ERROR, an older-format claim without verdict/interval), over ``--runs`` run folders under ``runs/``
shaped like the bench's own (config.yaml, env.json, done, one metrics.jsonl row per epoch with train
loss/acc, lr, per-domain val accuracies; summary.json with scalars, ``per_domain`` and sometimes a
leaderboard or a second dict of scalars; a few PNG artifacts). Runs are shared between claims the way
the bench shares them (a method's baseline grid is read by several of its claims), so claims list
more run folders than exist. Then it times:

- ``cold``: ``render_bench`` with no run report rendered yet (as at the end of ``make quick``);
- ``warm``: ``render_bench`` again (as ``trustlab report reports/quick``: run reports are up to date);
- with ``--baseline``, the report code of ``--baseline-rev`` (before this change; from git, imports
  rewritten) on a fresh copy of the same folder: about 5 min on a 2-core VM.

Wall and CPU seconds and peak RSS (of this process: run with a fresh interpreter) are printed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import random
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

GOAL_S = 30.0
ROOT = Path(__file__).resolve().parents[1]
METHODS = {  # area: (recipes, domains)
    "okd": (["okd/digits-dg", "kd/digits-dg", "erm/digits-dg"], ["mnist", "usps", "syn", "mnistm"]),
    "gmoe": (["gmoe/digits-dg", "erm/vit-digits-dg", "erm/digits-dg"], ["mnist", "usps", "syn", "mnistm"]),
    "ood": (["ood/msp", "ood/energy"], ["cifar", "svhn"]),
    "minmax": (["minmax/at", "minmax/attack"], ["clean", "linf", "l2"]),
    "coop": (["coop/prompt", "coop/linear-probe"], ["base", "new"]),
    "pmtiqa": (["pmtiqa/pmt", "pmtiqa/ss"], ["blur", "noise", "jpeg"]),
    "psg": (["psg/two-stage", "psg/psgtr"], ["predcls", "sgcls"]),
    "peerpl": (["peerpl/peer-bc", "peerpl/bc"], ["clean", "noisy"]),
    "advsim": (["advsim/adv-train", "advsim/attack"], ["normal", "adversarial"]),
}


def tiny_png(width: int = 96, height: int = 64, shade: int = 0) -> bytes:
    """A valid RGB PNG (a gradient), written without any imaging library."""
    rows = b"".join(
        b"\x00" + bytes(v for x in range(width) for v in ((x * 255 // width + shade) % 256, y * 255 // height, 128))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def make_run(runs: Path, recipe: str, domains: list[str], seed: int, index: int, rng: random.Random) -> Path:
    """One run folder shaped like a quick-suite run."""
    import yaml

    path = runs / recipe / f"cache-{index:04d}{seed}"
    (path / "artifacts").mkdir(parents=True)
    (path / "checkpoints").mkdir()
    epochs = rng.choice([4, 6, 8, 12])
    config = {"recipe": recipe, "data": {"target": domains[index % len(domains)], "max_per_domain": 512},
              "model": {"name": "small_cnn", "width": 0.5}, "train": {"seed": seed, "epochs": epochs, "lr": 0.05}}
    (path / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    env = {"seed": seed, "device": "cpu", "git_sha": "8b87a4c", "torch": "2.14.1", "time": "2026-12-03T10:00:00+0000",
           "argv": ["trustlab", "bench", "--suite", "quick"]}
    (path / "env.json").write_text(json.dumps(env))
    lines = []
    acc = rng.uniform(0.2, 0.5)
    for e in range(1, epochs + 1):
        acc = min(0.99, acc + rng.uniform(0.0, 0.08))
        row = {"epoch": e, "step": 40 * e, "train/loss": 2.3 / e + rng.uniform(0, 0.1), "train/acc": acc,
               "lr": 0.05 * 0.5 * (1 + math.cos(math.pi * e / epochs)), "time/epoch_s": 3.1,
               "val/acc": acc - 0.05, **{f"val/{d}/acc": acc - rng.uniform(0, 0.2) for d in domains}}
        lines.append(json.dumps(row, sort_keys=True))
    (path / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    summary: dict = {"heldout_acc": acc - 0.1, "indomain_acc": acc, "best_epoch": epochs, "seconds": 3.1 * epochs,
                     "per_domain": {d: acc - rng.uniform(0, 0.2) for d in domains}}
    if index % 3 == 0:
        summary["leaderboard"] = {name: {"auroc": rng.uniform(0.6, 0.95), "fpr95": rng.uniform(0.2, 0.6)}
                                  for name in ("msp", "energy", "maxlogit")}
    if index % 4 == 0:
        summary["per_attack"] = {a: rng.uniform(0, 1) for a in ("pgd", "fgsm", "cw")}
    (path / "summary.json").write_text(json.dumps(summary))
    if index % 5 == 0:
        (path / "artifacts" / "samples.png").write_bytes(tiny_png(shade=index))
        (path / "artifacts" / "scores.json").write_text(json.dumps({"a": [1, 2, 3]}))
    (path / "done").write_text("2026-12-03T10:01:00+0000\n")
    return path


def build_suite(suite: Path, n_claims: int = 45, n_runs: int = 270, seed: int = 0) -> tuple[int, int]:
    """Write ``suite/claims.json`` and ``suite/runs/``; return (run folders, run references in claims)."""
    rng = random.Random(seed)
    runs_dir = suite / "runs"
    areas = list(METHODS)
    per_area = {a: [] for a in areas}
    for i in range(n_runs):
        area = areas[i % len(areas)]
        recipes, domains = METHODS[area]
        recipe = recipes[(i // len(areas)) % len(recipes)]
        per_area[area].append(str(make_run(runs_dir, recipe, domains, seed=i % 3, index=i, rng=rng)))
    verdicts = ["PASS", "FAIL", "INCONCLUSIVE", "INVALID", "PASS", "INCONCLUSIVE", "PASS", "FAIL"]
    claims, refs = [], 0
    for k in range(n_claims):
        area = areas[k % len(areas)]
        pool = per_area[area]
        nth = k // len(areas)  # this area's nth claim
        n_area = len(range(k % len(areas), n_claims, len(areas)))  # claims of this area
        own = pool[nth * len(pool) // n_area:(nth + 1) * len(pool) // n_area]
        shared = pool[: 1 + k % 2]  # the area's baseline runs, read by several of its claims
        runs = sorted(set(own) | set(shared))
        refs += len(runs)
        verdict = verdicts[k % len(verdicts)]
        diffs = [rng.gauss(0.02 if verdict == "PASS" else -0.02 if verdict == "FAIL" else 0.0, 0.01) for _ in range(3)]
        m = sum(diffs) / 3
        lo, hi = (m - 0.015, m + 0.015) if verdict != "INCONCLUSIVE" else (m - 0.05, m + 0.05)
        if k % 11 == 7:
            lo, hi = lo - 40, hi + 40  # a very wide interval: clipped in the forest plot
        ok = verdict != "INVALID"
        gates = [{"name": "above-chance", "ok": ok, "detail": f"{area} held-out acc {0.41 if ok else 0.098} "
                  f"{'>=' if ok else '<'} 0.2 (chance 0.1 + 0.1)"}]
        claim = {"id": f"{area}/claim-{nth}", "statement": f"{area} claim {nth} holds", "suite": "quick",
                 "passed": verdict == "PASS", "margin": m, "unit": "acc", "seeds": [0, 1, 2],
                 "values": {"method": [0.7 + d for d in diffs], "baseline": [0.7, 0.7, 0.7]},
                 "table": [{"seed": s, "method": 0.7 + d, "baseline": 0.7} for s, d in enumerate(diffs)],
                 "runs": runs + (["runs/gone/cache-x"] if k == 5 else []), "notes": "", "seconds": 30.0 + k,
                 "verdict": verdict, "interval": [lo, hi], "diffs": diffs, "gates": gates,
                 "reason": "above-chance: held-out acc 0.098 < 0.2 (chance 0.1 + 0.1)" if verdict == "INVALID" else ""}
        if k == n_claims - 1:  # a check that raised
            claim.update(verdict="FAIL", margin=float("nan"), interval=[], diffs=[], values={},
                         notes="error: ValueError: boom")
        if k == n_claims - 2:  # an older claims.json entry: no verdict, interval, gates or reason
            for key in ("verdict", "interval", "diffs", "gates", "reason"):
                claim.pop(key)
        claims.append(claim)
    doc = {"suite": "quick", "created": "2026-12-03T10:30:00+0000", "env": {"machine": "x86_64", "cpu_count": 2},
           "jobs": 2, "threads_per_run": 1, "seconds": 1191.0, "claims": claims}
    (suite / "claims.json").write_text(json.dumps(doc))
    return n_runs, refs


def _old_render_bench(rev: str, tmp: Path):
    """``render_bench`` as it was at git ``rev`` (its report package, imports pointed at the copy)."""
    pkg = tmp / "oldpkg" / "trustlab_old_report"
    pkg.mkdir(parents=True)
    for name in ("__init__", "bench_report", "figures", "html", "run_report"):
        text = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:src/trustlab/report/{name}.py"],
                              check=True, capture_output=True, text=True).stdout
        (pkg / f"{name}.py").write_text(text.replace("trustlab.report", "trustlab_old_report"))
    sys.path.insert(0, str(pkg.parent))
    return importlib.import_module("trustlab_old_report").render_bench


def timed(fn, *args) -> tuple[float, float]:
    t, c = time.perf_counter(), time.process_time()
    fn(*args)
    return time.perf_counter() - t, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--claims", type=int, default=45)
    ap.add_argument("--runs", type=int, default=270)
    ap.add_argument("--baseline", action="store_true", help="also time the old report code (minutes)")
    ap.add_argument("--baseline-rev", default="8b87a4c", help="git revision of the old report code")
    ap.add_argument("--keep", type=Path, default=None, help="build the folder here and keep it")
    args = ap.parse_args()
    from trustlab.report import render_bench

    tmp = Path(tempfile.mkdtemp(prefix="report-bench-"))
    try:
        suite = (args.keep or tmp) / "reports" / "quick"
        n_runs, refs = build_suite(suite, args.claims, args.runs)
        print(f"{args.claims} claims, {n_runs} run folders, {refs} run references in claims.json")
        results = {}
        if args.baseline:
            old = _old_render_bench(args.baseline_rev, tmp)
            copy = tmp / "baseline" / "reports" / "quick"
            shutil.copytree(suite, copy)
            results[f"baseline ({args.baseline_rev})"] = timed(old, copy)
        results["cold (no run reports yet)"] = timed(render_bench, suite)
        results["warm (re-render)"] = timed(render_bench, suite)
        pngs = len(list(suite.rglob("*.png")))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        for name, (wall, cpu) in results.items():
            print(f"{name:<28} {wall:7.1f} s wall  {cpu:7.1f} CPU-s")
        print(f"{pngs} PNG files under the suite folder; peak RSS {peak:.0f} MB")
        cold = results["cold (no run reports yet)"][0]
        print(f"goal {GOAL_S:.0f} s: {'met' if cold <= GOAL_S else 'MISSED'} (cold {cold:.1f} s)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
