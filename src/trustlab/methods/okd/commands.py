"""CLI command of the on-device DG package (thin: it parses, then calls the Python API).

    trustlab data dosco --source DATASET --context-encoder stats|MODEL [--encoder-weights PATH]
                        --clusters K --seed S [--clustering spectral|kmeans] [--neighbours K]
                        [--candidates N] [--no-guard] [--test-fraction F] [--val-fraction F] [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from trustlab.registry import DATA_COMMANDS


def cmd_dosco(args: argparse.Namespace) -> int:
    from trustlab.methods.okd.dosco import DoscoConfig, build_split, load_source, write_split

    cfg = DoscoConfig(
        source=args.source, encoder=args.context_encoder, encoder_weights=args.encoder_weights,
        encoder_classes=args.encoder_classes, encoder_width=args.encoder_width, encoder_size=args.encoder_size,
        clusters=args.clusters, clustering=args.clustering, neighbours=args.neighbours, candidates=args.candidates,
        guard=not args.no_guard, seed=args.seed, test_fraction=args.test_fraction, val_fraction=args.val_fraction,
        image_size=args.image_size,
    )
    source = load_source(cfg.source, cfg.image_size)
    split, meta = build_split(cfg, source)
    out = Path(args.out) if args.out else Path("reports") / "dosco" / source.name / cfg.encoder
    path = write_split(split, meta, out, source)
    counts = meta["counts"]
    ari = meta["context_ari"]
    print(f"train={counts['train']}  val={counts['val']}  test={counts['test']}  left out={meta['left_out']}  "
          f"classes={len(split)}  clusters/class={cfg.clusters}"
          + (f"  context ARI={ari:.3f}" if ari is not None else ""))
    if meta["leakage"] is not None:
        per = "  ".join(f"{c}={v:.2f}" for c, v in meta["leakage"].items())
        print(f"split leakage (test images whose true context occurs in train/val): mean={meta['leakage_mean']:.3f}  "
              f"max={meta['leakage_max']:.3f}  per class: {per}")
    else:
        print("split leakage: unknown (the source has no true contexts); boundary share per class: "
              + "  ".join(f"{c}={g['boundary']:.2f}" for c, g in meta["guard"].items()))
    print(f"split: {path}")
    print(f"contact sheets: {out / 'contact'}")
    print(f"train on it: trustlab run okd/dosco --set data.root={path}")
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
    p.add_argument("--clusters", type=int, default=10, help="context clusters per class")
    p.add_argument("--clustering", default="spectral", choices=["spectral", "kmeans"])
    p.add_argument("--neighbours", type=int, default=10, help="k of the nearest-neighbour graph")
    p.add_argument("--candidates", type=int, default=3,
                   help="test-cluster sets drawn among this many with the smallest boundary")
    p.add_argument("--no-guard", action="store_true", help="keep images whose neighbours cross the split")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--test-fraction", type=float, default=0.3)
    p.add_argument("--val-fraction", type=float, default=0.2)
    p.add_argument("--image-size", type=int, default=32, help="folder sources are read at this size")
    p.add_argument("--out", default=None, help="output folder (default reports/dosco/<source>/<encoder>)")
    p.set_defaults(func=cmd_dosco)


DATA_COMMANDS.add("dosco", add_dosco, "build a DOSCO split by clustering image contexts")
