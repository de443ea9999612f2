"""The run function of ``pmtiqa/distort`` (:func:`run_pmtiqa`), on the embedded proxy-MOS data or (``data.name=csv``)
a pyiqa-style CSV + image root.

One run: load the scored images, split by reference content (``data.split_seed``; with ``data.folds`` = k,
fold ``data.fold`` of a k-fold partition is test and the next fold val), train the PMT-IQA
network with the engine's ``fit`` (loss weights from ``method.schedule``), predict every val/test image as
the mean over random patches, and report SRCC / KRCC / PLCC (plain and logistic) on val and test. On the
embedded data it also reports SRCC and within-reference level SRCC per distortion type (``per_type`` on test,
``val_per_type`` on val, for choosing a regime without the test split), and, for types in
``data.exclude_types`` (kept out of training), the within-reference SRCC over the 5 levels, next to the same
for the untrained network.

Usage::

    trustlab run pmtiqa/distort --set train.seed=1 --set data.split_seed=1
    trustlab run pmtiqa/distort --set data.folds=7 --set data.fold=3        # the claims' k-fold
    trustlab run pmtiqa/distort --set data.name=csv --set data.meta=koniq.csv --set data.root=images \
        --set data.layout=koniq
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trustlab.methods.pmtiqa.config import PMTRecipeConfig
from trustlab.methods.pmtiqa.method import PMTIQA, PatchDataset, build_net, predict_images, to_label_scale
from trustlab.recipes import RunContext


def load_data(cfg: PMTRecipeConfig) -> tuple[Any, dict[str, np.ndarray]]:
    """(IQAData, {"train", "val", "test": indices}) for the config; excluded types leave train only."""
    from trustlab.errors import ConfigError, DataError
    from trustlab.methods.pmtiqa.data import kfold_by_group, load_distortion_data, split_by_group

    d = cfg.data
    if d.name == "iqa-distort":
        data = load_distortion_data()
        names = data.info["type_names"]
        for key in ("exclude_types", "types", "score_types"):
            for t in getattr(d, key):
                if t not in names:  # type: ignore[operator]
                    from trustlab.errors import did_you_mean

                    raise ConfigError(f"data.{key}: unknown type '{t}'{did_you_mean(t, names)}")  # type: ignore[arg-type]
        if d.types:  # keep only these types, in every split (type ids and names stay those of the full set)
            data = load_distortion_data(exclude_types=tuple(t for t in names if t not in d.types))  # type: ignore[union-attr]
    elif d.name == "csv":
        from trustlab.methods.pmtiqa.csvdata import load_csv

        if d.exclude_types or d.types or d.score_types:
            raise ConfigError("data.exclude_types / data.types / data.score_types need the embedded iqa-distort data "
                              "(distortion types)")
        data = load_csv(d.meta, d.root, layout=d.layout, mos_range=d.mos_range, lower_better=d.lower_better,
                        image_size=d.image_size, patch_size=cfg.method.patch_size, split_column=d.split_column,
                        split_index=d.split_index, split_file=d.split_file, strict_range=d.strict_range)
    else:
        raise ConfigError(f"data.name '{d.name}' is not an IQA dataset; use iqa-distort or csv")
    if d.folds and data.splits is not None:
        raise ConfigError(f"data.folds={d.folds} needs data without a given split; the CSV's split column is in "
                          "use: set data.split_column=random or data.folds=0")
    if data.splits is not None:
        parts = data.splits
    elif d.folds:
        parts = kfold_by_group(data.groups, d.folds, d.fold, d.split_seed)
    else:
        parts = split_by_group(data.groups, d.split_seed, d.val_fraction, d.test_fraction)
    if d.exclude_types:
        ex = [data.info["type_names"].index(t) for t in d.exclude_types]  # type: ignore[union-attr]
        parts["train"] = parts["train"][~np.isin(data.info["dtype"][parts["train"]], ex)]  # type: ignore[index]
    if d.max_train is not None:
        rng = np.random.default_rng(d.split_seed)
        parts["train"] = np.sort(rng.permutation(parts["train"])[: d.max_train])
    for split in ("train", "test"):
        if len(parts[split]) == 0:
            raise DataError(f"the {split} split of '{data.name}' is empty; add images, a '{split}' value in the "
                            "split column, or change data.val_fraction / data.test_fraction")
    return data, parts


def evaluate(net: Any, data: Any, idx: np.ndarray, cfg: PMTRecipeConfig, device: Any) -> tuple[np.ndarray, dict]:
    """Predictions on the label scale for ``idx`` and their correlations with the labels (with
    ``data.score_types``: over the images of those types only; the predictions are for every image)."""
    from trustlab.metrics.iqa import iqa_correlations

    if len(idx) == 0:
        return np.zeros(0), {}
    q = predict_images(net, [data.images[i] for i in idx], cfg.method.patch_size, cfg.method.test_patches,
                       seed=cfg.data.split_seed, device=device, target_scale=cfg.method.target_scale)
    pred = to_label_scale(q, data.mos_range, data.lower_better)
    keep = scored(data, idx, cfg.data.score_types)
    if keep.sum() < 3:
        return pred, {}
    lb = data.lower_better  # predictions are on the label scale, so they share its direction
    return pred, iqa_correlations(pred[keep], data.mos[idx][keep], lower_better=lb, pred_lower_better=lb)


def scored(data: Any, idx: np.ndarray, score_types: list[str]) -> np.ndarray:
    """Mask over ``idx`` of the images the correlations are computed on: every image, or those of ``score_types``."""
    if not score_types:
        return np.ones(len(idx), bool)
    ids = [data.info["type_names"].index(t) for t in score_types]
    return np.isin(data.info["dtype"][idx], ids)


def per_type(data: Any, idx: np.ndarray, pred: np.ndarray) -> dict[str, dict[str, float]]:
    """SRCC over all test images of each type, and the mean within-reference SRCC over its 5 levels."""
    from trustlab.metrics.iqa import srcc

    out = {}
    names = data.info["type_names"]
    for t, name in enumerate(names):
        m = data.info["dtype"][idx] == t
        if m.sum() < 3:
            continue
        refs = data.info["ref"][idx][m]
        level_srcc = [srcc(pred[m][refs == r], data.mos[idx][m][refs == r]) for r in np.unique(refs)]
        level_srcc = [v for v in level_srcc if v == v]
        out[name] = {"srcc": srcc(pred[m], data.mos[idx][m]),
                     "level_srcc": float(np.mean(level_srcc)) if level_srcc else float("nan")}
    return out


class ValCorrelations:
    """``fit``'s evaluator: the val correlations (``val/srcc``, ``val/plcc``, ... in metrics.jsonl) every
    ``train.eval_every`` epochs and after the last one. They do not touch training (eval mode, no gradients, the
    patches drawn from their own seeded generator); the last epoch's are the summary's val numbers."""

    def __init__(self, data: Any, idx: np.ndarray, cfg: PMTRecipeConfig, device: Any) -> None:
        self.data, self.idx, self.cfg, self.device = data, idx, cfg, device
        self.epoch, self.last = 0, (np.zeros(0), {})

    def evaluate(self, method: Any, epoch: int) -> dict[str, float]:
        self.epoch, self.last = epoch, evaluate(method.net, self.data, self.idx, self.cfg, self.device)
        return {f"val/{k}": float(v) for k, v in self.last[1].items()}

    def state_dict(self) -> dict[str, Any]:
        """Nothing to keep: the correlations are recomputed from the model (a resumed run whose last epoch was
        evaluated by an earlier process re-evaluates val after ``fit``, see :func:`run_pmtiqa`)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Nothing to restore (see :meth:`state_dict`)."""


def run_pmtiqa(cfg: PMTRecipeConfig, ctx: RunContext) -> dict[str, Any]:
    from trustlab.engine.fit import fit
    from trustlab.engine.runtime import resolve_device, seed_everything

    data, parts = load_data(cfg)
    seed_everything(cfg.train.seed, cfg.train.deterministic)
    device = resolve_device(cfg.train.device)
    net = build_net(cfg.model, cfg.method)
    q_train = data.quality01()[parts["train"]]
    # start the regression head at the mean training quality (from scratch, Adam would take many steps)
    net.fc_mos.bias.data.fill_(float(q_train.mean()) * cfg.method.target_scale)
    method = PMTIQA(net, cfg.method.schedule, cfg.train.epochs, cfg.method.target_scale)
    train_set = PatchDataset([data.images[i] for i in parts["train"]], q_train, cfg.method.num_levels,
                             cfg.method.patch_size, cfg.method.train_patches)
    summary: dict[str, Any] = {"n_train": int(len(parts["train"])), "n_val": int(len(parts["val"])),
                               "n_test": int(len(parts["test"]))}
    if "split" in data.info:  # csv: where the split came from, and the reader's warnings
        summary["data_split"] = data.info["split"]
        summary["data_warnings"] = list(data.info.get("warnings", []))  # type: ignore[call-overload]
    held = list(cfg.data.exclude_types)
    if held:  # the untrained network on the held-out types: a control for "ranks unseen types"
        pred0, _ = evaluate(net.to(device), data, parts["test"], cfg, device)
        summary["heldout_untrained"] = {t: v for t, v in per_type(data, parts["test"], pred0).items() if t in held}
    val_eval = ValCorrelations(data, parts["val"], cfg, device)
    result = fit(method, train_set, cfg.train, batch_size=cfg.data.batch_size, evaluator=val_eval,
                 record=ctx.record, resume=ctx.resume, quiet=ctx.quiet)
    ctx.record.save_checkpoint({"model": net.state_dict(), "mos_range": [float(v) for v in data.mos_range],
                                "lower_better": bool(data.lower_better)}, "model.pt")
    pred_val, val = val_eval.last if val_eval.epoch == cfg.train.epochs else evaluate(net, data, parts["val"],
                                                                                        cfg, device)
    pred, test = evaluate(net, data, parts["test"], cfg, device)
    summary.update({f"test_{k}": v for k, v in test.items()})
    summary.update({f"val_{k}": v for k, v in val.items()})
    summary["test"] = test
    summary["train_seconds"] = result.seconds
    if cfg.data.score_types:
        summary["score_types"] = list(cfg.data.score_types)
        summary["n_test_scored"] = int(scored(data, parts["test"], cfg.data.score_types).sum())
    if "dtype" in data.info:
        types = per_type(data, parts["test"], pred)
        summary["per_type"] = types
        summary["val_per_type"] = per_type(data, parts["val"], pred_val)
        if held:
            summary["heldout"] = {t: types[t] for t in held if t in types}
        _scatter(ctx, data, parts["test"], pred)
    return summary


def _scatter(ctx: RunContext, data: Any, idx: np.ndarray, pred: np.ndarray) -> None:
    """artifacts/scatter_by_type.png: predicted vs proxy MOS, one panel per distortion type."""
    from trustlab.report.figures import new_figure, save_png

    names = data.info["type_names"]
    cols = 4
    rows = -(-len(names) // cols)
    fig = new_figure(3.0 * cols, 2.6 * rows)
    for t, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, t + 1)
        m = data.info["dtype"][idx] == t
        ax.scatter(data.mos[idx][m], pred[m], s=6, c=data.info["level"][idx][m], cmap="viridis", vmin=1, vmax=5)
        ax.plot([0, 100], [0, 100], color="grey", linewidth=0.6)
        ax.set_title(name, fontsize=9)
        ax.set_xlim(0, 100)
        ax.set_ylim(0, 100)
        ax.tick_params(labelsize=7)
    fig.suptitle("test: predicted vs proxy MOS (colour = level 1..5; proxy, not human opinion)", fontsize=10)
    save_png(fig, ctx.record.artifact("scatter_by_type.png"))
