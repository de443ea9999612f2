"""CLI commands of the on-device DG package (thin: they parse, then call the Python API).

    trustlab export RUN_DIR --format onnx [--quantize int8] [--threads N] [--latency-runs N]
    trustlab data dosco --source DATASET --context-encoder stats|MODEL [--encoder-weights PATH]
                        --clusters K --seed S [--test-fraction F] [--val-fraction F] [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from trustlab.registry import COMMANDS, DATA_COMMANDS


def cmd_export(args: argparse.Namespace) -> int:
    from trustlab.export import FP32_TOLERANCE, export_run
    from trustlab.report import render_run

    rows = export_run(args.run_dir, args.format, args.quantize, opset=args.opset,
                      latency_runs=args.latency_runs, threads=args.threads)
    keys = ("file_kb", "params", "macs", "max_abs_diff", "latency_ms_b1", "heldout_acc", "top1_agreement")
    for fmt, row in rows.items():
        print(f"{fmt}: " + "  ".join(f"{k}={_fmt(row[k])}" for k in keys if k in row) + f"  ({row['file']})")
    print(f"report: {render_run(args.run_dir)}")
    fp32 = rows["onnx-fp32"]
    if not fp32["within_tol"]:
        print(f"check failed: fp32 max abs diff {fp32['max_abs_diff']:.3g} > {FP32_TOLERANCE}")
        return 1
    return 0


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def add_export(sub: Any) -> None:
    p = sub.add_parser("export", help="export a run's model for devices (ONNX, optional int8) and check it")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--format", default="onnx", help="onnx (the only format for now)")
    p.add_argument("--quantize", default=None, help="int8: also write a statically quantized model")
    p.add_argument("--opset", type=int, default=18)
    p.add_argument("--threads", type=int, default=1, help="intra-op threads for the latency measurement")
    p.add_argument("--latency-runs", type=int, default=50)
    p.set_defaults(func=cmd_export)


def cmd_dosco(args: argparse.Namespace) -> int:
    from trustlab.methods.okd.dosco import DoscoConfig, build_split, load_source, write_split

    cfg = DoscoConfig(
        source=args.source, encoder=args.context_encoder, encoder_weights=args.encoder_weights,
        encoder_classes=args.encoder_classes, encoder_width=args.encoder_width, encoder_size=args.encoder_size,
        clusters=args.clusters, seed=args.seed, test_fraction=args.test_fraction, val_fraction=args.val_fraction,
        image_size=args.image_size,
    )
    source = load_source(cfg.source, cfg.image_size)
    split, meta = build_split(cfg, source)
    out = Path(args.out) if args.out else Path("reports") / "dosco" / source.name / cfg.encoder
    path = write_split(split, meta, out, source)
    counts = meta["counts"]
    ari = meta["context_ari"]
    print(f"train={counts['train']}  val={counts['val']}  test={counts['test']}  classes={len(split)}  "
          f"clusters/class={cfg.clusters}" + (f"  context ARI={ari:.3f}" if ari is not None else ""))
    print(f"split: {path}")
    print(f"contact sheets: {out / 'contact'}")
    print(f"train on it: trustlab run okd/dosco-digits --set data.name=dosco --set data.root={path}")
    return 0


def add_dosco(sub: Any) -> None:
    p = sub.add_parser("dosco", help="build a DOSCO split (context clusters per class; unseen test contexts)")
    p.add_argument("--source", default="digits-context",
                   help="digits-context | fashion-context | an ImageFolder root/<class>/<image>")
    p.add_argument("--context-encoder", default="stats", help="stats, or a model name with --encoder-weights")
    p.add_argument("--encoder-weights", default=None, help="local checkpoint of the context encoder")
    p.add_argument("--encoder-classes", type=int, default=365, help="outputs of the encoder checkpoint")
    p.add_argument("--encoder-width", type=float, default=1.0)
    p.add_argument("--encoder-size", type=int, default=224, help="input size of the encoder network")
    p.add_argument("--clusters", type=int, default=6, help="k-means clusters per class")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--test-fraction", type=float, default=0.3)
    p.add_argument("--val-fraction", type=float, default=0.2)
    p.add_argument("--image-size", type=int, default=32, help="folder sources are read at this size")
    p.add_argument("--out", default=None, help="output folder (default reports/dosco/<source>/<encoder>)")
    p.set_defaults(func=cmd_dosco)


COMMANDS.add("export", add_export, "export a run's model (ONNX, int8) and check it with onnxruntime")
DATA_COMMANDS.add("dosco", add_dosco, "build a DOSCO split by clustering image contexts")
