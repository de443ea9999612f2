"""``trustlab score IMAGE... | FOLDER --run RUN_DIR``: quality scores from a trained PMT-IQA run.

Each image is read as RGB, resized like the run's training images (shorter side ``data.image_size``),
scored as the mean over ``--patches`` random patches (seeded), and printed as ``score<TAB>path`` on the
run's label scale (the embedded data: proxy MOS 0..100, higher = better; a lower-is-better dataset such
as LIVE prints DMOS-like values, lower = better, as its labels were).

Usage::

    trustlab run pmtiqa/distort
    trustlab score photo.jpg more_photos/ --run runs/pmtiqa/distort/<id>
"""

from __future__ import annotations

import argparse
from pathlib import Path

from trustlab.registry import COMMANDS

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif"}


def collect_images(paths: list[str]) -> list[Path]:
    """Files as given, folders expanded to their image files (sorted, recursive)."""
    from trustlab.errors import DataError, NotFoundError

    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise DataError(f"folder '{p}' holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise NotFoundError(f"'{p}' is neither an image file nor a folder")
    return out


def score_images(run_dir: str | Path, paths: list[str], patches: int | None = None) -> list[tuple[Path, float]]:
    """(path, score) for every image, with the model of a finished pmtiqa run (``patches`` None: the run's
    ``method.test_patches``; otherwise a positive count)."""
    import torch

    from trustlab.config import from_dict
    from trustlab.errors import ConfigError, NotFoundError

    if patches is not None and (isinstance(patches, bool) or not isinstance(patches, int) or patches <= 0):
        raise ConfigError(f"--patches must be a positive number of random patches per image, got {patches}; "
                          "leave it out to use the run's method.test_patches")
    from trustlab.methods.pmtiqa.config import PMTRecipeConfig
    from trustlab.methods.pmtiqa.csvdata import load_image
    from trustlab.methods.pmtiqa.method import build_net, predict_images, to_label_scale
    from trustlab.runs.store import RunRecord

    record = RunRecord.open(run_dir, writer=False)
    if not str(record.recipe).startswith("pmtiqa/"):
        raise NotFoundError(f"run '{run_dir}' is a '{record.recipe}' run, not a pmtiqa/* run")
    ckpt = record.checkpoint_path("model.pt")
    if not ckpt.is_file():
        raise NotFoundError(f"run '{run_dir}' has no checkpoints/model.pt (unfinished?); rerun it")
    saved = record.config()
    saved.pop("recipe", None)
    cfg = from_dict(PMTRecipeConfig, saved)
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    net = build_net(cfg.model, cfg.method)
    net.load_state_dict(state["model"])
    files = collect_images(paths)
    images = [load_image(f, cfg.data.image_size) for f in files]
    from trustlab.methods.pmtiqa.method import check_patchable

    check_patchable(images, cfg.method.patch_size, [str(f) for f in files])
    q = predict_images(net, images, cfg.method.patch_size, cfg.method.test_patches if patches is None else patches,
                       target_scale=cfg.method.target_scale)
    scores = to_label_scale(q, tuple(state["mos_range"]), bool(state["lower_better"]))
    return list(zip(files, [float(s) for s in scores]))


def cmd_score(args: argparse.Namespace) -> int:
    for path, s in score_images(args.run, args.paths, args.patches):
        print(f"{s:.3f}\t{path}")
    return 0


def add(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("score", help="print image quality scores from a trained pmtiqa run")
    p.add_argument("paths", nargs="+", metavar="IMAGE|FOLDER")
    p.add_argument("--run", required=True, metavar="RUN_DIR", help="a finished pmtiqa/* run record")
    p.add_argument("--patches", type=int, default=None, help="random patches averaged per image (default: the run's)")
    p.set_defaults(func=cmd_score)


COMMANDS.add("score", add, "print image quality scores from a trained pmtiqa run")
