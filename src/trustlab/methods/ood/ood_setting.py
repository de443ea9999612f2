"""OOD detection (recipe ``ood/ood``) and the same table for a user's folders (``ood/folder``).

``ood/ood``: a classifier is trained on the ID set (Fashion-MNIST when installed, else MNIST-5k; 32x32
grey), then every post-hoc detector is fit on the training features and scored on the ID test set, the
near- and far-OOD sets and the covariate-shifted ID test set (see ``data.py``). Metrics per OOD set,
near/far rows as means over sets (OpenOOD v1.5); the covariate set is reported separately (it should
be classified, not rejected) together with its closed-set accuracy.

``ood/folder``: ID = an ImageFolder ``data.root`` (root/<class>/<image>; split into train/val/test by
``data.val_fraction`` / ``data.test_fraction``), OOD = folders of images ``ood.near`` / ``ood.far`` (any
layout, read recursively), ``model.weights`` = the user's checkpoint (trained here with ERM when empty).
OOD-val for APS: ``ood.val`` folders, or the embedded OOD-val sources resized to the ID image size.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from trustlab.data.base import TensorImageDataset
from trustlab.data.folder import IMAGE_EXTENSIONS, ImageFileDataset, build_folder
from trustlab.engine.runtime import seed_everything
from trustlab.errors import ConfigError, DataError
from trustlab.methods.ood import data as D
from trustlab.methods.ood.common import (
    aps_table,
    check_detectors,
    covariate_table,
    grey_set,
    grids_of,
    id_hashes_of,
    save_scores,
    subset,
    train_classifier,
    write_figures,
)
from trustlab.methods.ood.config import FolderRecipeConfig, OODRecipeConfig
from trustlab.methods.ood.evaluate import EvalSet, evaluate, leaderboard, per_set_table, pool, tunable
from trustlab.metrics.ood import closed_set_accuracy
from trustlab.recipes import RunContext

ID = "id_test"


def _check_val_disjoint(cfg: OODRecipeConfig, near: list[str], far: list[str]) -> None:
    clash = sorted(set(cfg.ood.val) & set(near + far))
    if clash:
        raise ConfigError(f"ood.val source(s) {clash} are also test sets; APS must never see a test set")
    if len(set(near + far)) != len(near + far):
        raise ConfigError(f"an OOD set is listed twice in ood.near/ood.far: {near + far}")


def run_ood(cfg: OODRecipeConfig, ctx: RunContext) -> dict[str, Any]:
    """Train (or load) the classifier, then score every detector on ID / near / far / covariate sets."""
    t_start = time.perf_counter()
    dets = check_detectors(cfg.detectors)
    o, seed = cfg.ood, cfg.train.seed
    seed_everything(seed, cfg.train.deterministic)
    ids = D.load_id(cfg.data.name)
    near_default, far_default = D.default_groups(cfg.data.name)
    near, far = list(o.near) or near_default, list(o.far) or far_default
    _check_val_disjoint(cfg, near, far)

    rng_seed = cfg.data.split_seed
    perm = np.random.default_rng(rng_seed).permutation(len(ids.y_train))
    val_idx, pool_idx = np.sort(perm[: o.id_val]), np.sort(perm[o.id_val :])
    tr_idx = pool_idx[subset(len(pool_idx), cfg.data.max_per_domain, rng_seed, ids.y_train[pool_idx])]
    te_idx = subset(len(ids.y_test), o.max_test, rng_seed, ids.y_test)
    x_tr, y_tr = ids.x_train[tr_idx], ids.y_train[tr_idx]
    x_te, y_te = ids.x_test[te_idx], ids.y_test[te_idx]
    id_hashes = id_hashes_of(ids.x_train, ids.x_test)
    sources: dict[str, np.ndarray] = {}
    for name in near + far:
        sources[name] = D.load_source(name, o.ood_size or None, seed=rng_seed)
        D.check_not_id(name, sources[name], id_hashes)
    val_ood = {name: D.load_source(name, o.val_size or None, seed=rng_seed) for name in o.val}
    cov: dict[str, Dataset] = {}
    if o.covariate:
        x_cov, _ = D.corrupt(x_te, o.covariate_severity, seed=rng_seed)
        cov[f"covariate_s{o.covariate_severity}"] = grey_set(x_cov, y_te)

    train_set, test_set = grey_set(x_tr, y_tr), grey_set(x_te, y_te)
    val_set = grey_set(ids.x_train[val_idx], ids.y_train[val_idx])
    model, info = train_classifier(cfg.model, cfg.train, cfg.data, train_set, val_set, len(ids.classes), 1, ctx)
    summary = score_and_summarise(
        cfg, ctx, model, dets, train_set, val_set, test_set,
        {"near": {n: grey_set(sources[n]) for n in near}, "far": {n: grey_set(sources[n]) for n in far}},
        cov, {n: grey_set(x) for n, x in val_ood.items()},
    )
    return {"id_dataset": ids.name, "num_classes": len(ids.classes), "train_size": len(train_set), **info,
            **summary, "seconds": time.perf_counter() - t_start}


def score_and_summarise(cfg: OODRecipeConfig | FolderRecipeConfig, ctx: RunContext, model: torch.nn.Module,
                        dets: list[str], train_set: Dataset, val_set: Dataset, test_set: Dataset,
                        groups: dict[str, dict[str, Dataset]], cov: dict[str, Dataset],
                        val_ood: dict[str, Dataset]) -> dict[str, Any]:
    """The shared forward pass, every detector, and the summary (leaderboard and per-set tables)."""
    t0 = time.perf_counter()
    fit_out = EvalSet.build("fit", model, train_set).outputs
    id_test = EvalSet.build(ID, model, test_set)
    ood_sets = {g: [EvalSet.build(n, model, d) for n, d in sets.items()] for g, sets in groups.items()}
    cov_sets = [EvalSet.build(n, model, d) for n, d in cov.items()]
    val = None
    grids = grids_of(cfg.detectors)
    if cfg.detectors.aps and val_ood and len(val_set) and tunable(dets, cfg.detectors.params, fit_out, *grids):
        parts = [EvalSet.build(n, model, d) for n, d in val_ood.items()]
        val = (EvalSet.build("id_val", model, val_set), pool("ood_val", parts))
    fit_images = train_set if "deep_svdd" in dets else None
    forward_seconds = time.perf_counter() - t0
    results = evaluate(dets, model, fit_out, id_test, ood_sets, cov_sets, val, cfg.detectors.params, fit_images,
                       *grids)

    y_te = id_test.outputs.labels
    out: dict[str, Any] = {
        "id_acc": closed_set_accuracy(id_test.outputs.logits, y_te),
        "test_size": len(test_set),
        "near_sets": ", ".join(s.name for s in ood_sets.get("near", [])),
        "far_sets": ", ".join(s.name for s in ood_sets.get("far", [])),
        "aps": bool(val is not None),
    }
    for s in cov_sets:
        out[f"{s.name}_acc"] = closed_set_accuracy(s.outputs.logits, s.outputs.labels)
    groups_present = [g for g, sets in ood_sets.items() if sets]
    lb = leaderboard(results, groups_present, [s.name for s in cov_sets])
    for g in groups_present:
        best = max(lb, key=lambda d: lb[d][f"{g}/auroc"])
        out[f"best_{g}_auroc"], out[f"best_{g}_detector"] = lb[best][f"{g}/auroc"], best
    out["leaderboard"] = lb
    for metric in ("auroc", "fpr95", "fpr95_classic", "aupr_in", "aupr_out"):
        out[metric] = per_set_table(results, metric)
    all_ood = [s.name for sets in ood_sets.values() for s in sets]
    if cov_sets:
        out["covariate"] = covariate_table(results, ID, [s.name for s in cov_sets], all_ood)
    if val is not None:
        out["aps_choice"] = aps_table(results)
    out["params"] = {n: {k: str(v) for k, v in r.params.items()} for n, r in results.items() if r.params}
    save_scores(ctx.record, results)
    if cfg.ood.figures:
        names = {g: [s.name for s in sets] for g, sets in ood_sets.items()}
        out["figures"] = write_figures(ctx.record, results, ID, names, [s.name for s in cov_sets])
    out["forward_seconds"] = forward_seconds
    out["eval_seconds"] = time.perf_counter() - t0
    return out


# ---------------------------------------------------------------- folder path


def _folder_images(path: str, image_size: int) -> ImageFileDataset:
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataError(f"OOD folder '{root}' does not exist or is not a folder; check ood.near / ood.far")
    paths = sorted(Path(d) / f for d, _, files in os.walk(root, followlinks=False) for f in files
                   if not f.startswith(".") and os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS)
    if not paths:
        raise DataError(f"OOD folder '{root}' holds no images ({', '.join(sorted(IMAGE_EXTENSIONS))}); it is empty")
    return ImageFileDataset(paths, np.full(len(paths), -1), image_size)


def _file_hashes(paths: list[str]) -> set[str]:
    return {hashlib.sha1(Path(p).read_bytes()).hexdigest() for p in paths}


def _paths(ds: Dataset) -> list[str]:
    if isinstance(ds, Subset):
        return [ds.dataset.paths[i] for i in ds.indices]  # type: ignore[attr-defined]
    return list(getattr(ds, "paths", []))


def _embedded_val(name: str, n: int, size: int, seed: int) -> TensorImageDataset:
    """An embedded OOD-val source as RGB images of the ID size (for APS on a user's folders)."""
    from PIL import Image

    x = D.load_source(name, n or None, seed=seed)
    big = np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.BILINEAR)) for im in x])
    return TensorImageDataset(np.repeat(big[..., None], 3, axis=-1), np.full(len(big), -1))


def run_folder(cfg: FolderRecipeConfig, ctx: RunContext) -> dict[str, Any]:
    """The OOD leaderboard for an ImageFolder ID set, OOD folders and (optionally) a local checkpoint."""
    t_start = time.perf_counter()
    dets = check_detectors(cfg.detectors)
    o = cfg.ood
    if not cfg.data.root:
        raise ConfigError("ood/folder needs data.root: --set data.root=/path/to/id (root/<class>/<image>)")
    if not o.near and not o.far:
        raise ConfigError("ood/folder needs at least one OOD folder: --set 'ood.far=[/path/ood1,/path/ood2]'")
    seed_everything(cfg.train.seed, cfg.train.deterministic)
    data = build_folder(cfg.data)  # type: ignore[arg-type]  (FolderDataConfig: the DataConfig keys it reads)
    domain = cfg.data.target or (data.domains[0] if len(data.domains) == 1 else "")
    if not domain:
        raise ConfigError(f"data.root has several domains {data.domains}; pick the ID one with data.target")
    size = cfg.data.image_size
    train_set, val_set, test_set = (data.get(domain, s) for s in ("train", "val", "test"))
    if len(test_set) == 0:
        raise DataError(f"the ID test split of '{cfg.data.root}' is empty; raise data.test_fraction or add images")
    id_hashes = _file_hashes(_paths(train_set) + _paths(val_set) + _paths(test_set))
    groups: dict[str, dict[str, Dataset]] = {"near": {}, "far": {}}
    for g, folders in (("near", o.near), ("far", o.far)):
        for f in folders:
            ds = _folder_images(f, size)
            name = Path(f).expanduser().name or f
            dup = sum(h in id_hashes for h in _file_hashes(ds.paths))
            if dup >= 0.5 * len(ds):
                raise DataError(f"OOD folder '{f}' is identical to the ID data ({dup} of {len(ds)} images are ID "
                                "images); point ood.near / ood.far at other images")
            if name in groups["near"] or name in groups["far"]:
                raise ConfigError(f"two OOD folders are named '{name}'; rename one")
            groups[g][name] = ds
    val_ood: dict[str, Dataset] = {}
    for v in o.val:
        if v in D.SOURCES:
            val_ood[v] = _embedded_val(v, o.val_size, size, cfg.data.split_seed)
        else:
            val_ood[v] = _folder_images(v, size)
    cov: dict[str, Dataset] = {}
    if o.covariate:
        x, y = test_set.tensors()
        imgs = (x.mul(255).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy())
        x_cov, _ = D.corrupt(imgs, o.covariate_severity, seed=cfg.data.split_seed)
        cov[f"covariate_s{o.covariate_severity}"] = TensorImageDataset(x_cov, y.numpy())
    model, info = train_classifier(cfg.model, cfg.train, cfg.data, train_set, val_set, data.num_classes, 3, ctx)
    summary = score_and_summarise(cfg, ctx, model, dets, train_set, val_set, test_set, groups, cov, val_ood)
    return {"id_dataset": f"{data.name}/{domain}", "num_classes": data.num_classes, "train_size": len(train_set),
            **info, **summary, "seconds": time.perf_counter() - t_start}
