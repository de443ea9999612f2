"""The PSG recipes' run functions: ``psg/two-stage`` (:func:`run_two_stage`) and ``psg/psgtr`` (:func:`run_psgtr`):
load the splits, train, save the checkpoint, evaluate val and test, write the artifacts, return the summary."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from trustlab.errors import ConfigError
from trustlab.methods.psg.config import PSGTRConfig, PSGTRRecipeConfig, TwoStageRecipeConfig
from trustlab.methods.psg.data import Prepared, load_splits
from trustlab.methods.psg.evaluation import evaluate_preds, panoptic_quality, scalars
from trustlab.methods.psg.figures import draw_examples, two_stage_figures
from trustlab.methods.psg.method import freq_pred, graphs_for, segment, train_relation, train_segmenter
from trustlab.methods.psg.psgtr import PSGTR, decode, train_psgtr
from trustlab.metrics.psg import ScenePred


def run_two_stage(cfg: TwoStageRecipeConfig, ctx: Any) -> dict[str, Any]:
    from types import SimpleNamespace

    from trustlab.engine.runtime import seed_everything
    from trustlab.methods.psg.twostage import freq_counts, freq_log_init

    m = cfg.method
    if m.seg_epochs < 1 or m.rel_epochs < 1:
        raise ConfigError("method.seg_epochs and method.rel_epochs must be >= 1")
    data, sp = load_splits(cfg.data)
    seed = cfg.train.seed
    seed_everything(seed)
    nc, npred, nthings = data.num_classes, data.num_predicates, len(data.thing_classes)
    tr = sp["train"]
    t0 = time.perf_counter()
    seg = train_segmenter(tr, nc, m, cfg.data.batch_size, seed, cfg.train)
    t_seg = time.perf_counter() - t0
    feats, _ = segment(seg, tr.images, nthings, m.min_area)
    g_train = graphs_for(feats, tr.images, tr.masks, tr.labels, tr.rels)
    train_scenes = [SimpleNamespace(labels=lab, relations=r) for lab, r in zip(tr.labels, tr.rels)]
    rel_ct, pair_ct = freq_counts(train_scenes, nc, npred)
    head = train_relation(g_train, nc, npred, m, freq_log_init(rel_ct, pair_ct), cfg.data.batch_size, seed, cfg.train)
    t_train = time.perf_counter() - t0
    ctx.record.save_checkpoint({"segmenter": seg.state_dict(), "relation": head.state_dict(),
                                "classes": data.classes, "predicates": data.predicate_classes}, "model.pt")
    summary: dict[str, Any] = {"n_train": len(tr), "n_val": len(sp["val"]), "n_test": len(sp["test"]),
                               "eval_resolution": cfg.data.eval_resolution, "predicates": data.predicate_classes,
                               "train_predicate_counts": [int(v) for v in rel_ct.sum((0, 1))]}
    t1 = time.perf_counter()
    models = SimpleNamespace(seg=seg, head=head, rel_ct=rel_ct, pair_ct=pair_ct)
    for split in ("val", "test"):
        summary.update(_evaluate_two_stage(models, data, sp[split], split, cfg, ctx))
    summary["train_seconds"] = t_train
    summary["segmenter_seconds"] = t_seg
    summary["eval_seconds"] = time.perf_counter() - t1
    for mode in ("predcls", "sgcls", "sgdet", "predcls_freq", "sgdet_freq", "predcls_debiased", "sgdet_debiased"):
        for k in ("R@20", "mR@20", "R@50", "mR@50"):
            summary[f"{mode}/{k}"] = summary[f"test_{mode}"][k]
    return summary


def _evaluate_two_stage(models: Any, data: Any, ev: Prepared, split: str, cfg: TwoStageRecipeConfig, ctx: Any
                        ) -> dict[str, Any]:
    """``<split>_<mode>[_debiased|_freq]`` scalars, PQ and relation counts (+ per-predicate recall and the figures
    on test): the two-stage model in PredCls / SGCls / SGDet, plain and logit-adjusted, and the prior-only baseline
    on the same masks and classes."""
    m, npred = cfg.method, data.num_predicates
    feats, segs = segment(models.seg, ev.images, len(data.thing_classes), m.min_area)
    gts = [ev.gt(i) for i in range(len(ev))]
    graphs = {"gt": graphs_for(feats, ev.images, ev.masks, ev.labels, ev.rels),
              "det": graphs_for(feats, ev.images, [s[0] for s in segs], [s[1] for s in segs], ev.rels)}
    prior = models.rel_ct.sum((0, 1)) + 1.0
    log_prior = torch.as_tensor(np.log(prior / prior.sum()), dtype=torch.float32)
    res: dict[str, dict[str, Any]] = {}
    preds_for_fig: list[ScenePred] = []
    for mode in ("predcls", "sgcls", "sgdet"):
        for variant, tau in (("", 0.0), ("_debiased", m.tau)):
            gc, ng = _two_stage_preds(models.head, ev, segs, graphs, mode, log_prior, tau)
            res[mode + variant] = evaluate_preds(gts, gc, ng, npred)
            if split == "test" and mode == "sgdet" and not variant:
                preds_for_fig = gc
    for mode in ("predcls", "sgdet"):
        gc, ng = [], []
        for i in range(len(ev)):
            if mode == "sgdet":
                masks, lab, sc_ = segs[i]
            else:
                masks, lab, sc_ = ev.given_masks(i), ev.labels[i], np.ones(len(ev.labels[i]))
            gc.append(freq_pred(masks, lab, sc_, models.rel_ct, models.pair_ct, True))
            ng.append(freq_pred(masks, lab, sc_, models.rel_ct, models.pair_ct, False))
        res[mode + "_freq"] = evaluate_preds(gts, gc, ng, npred)
    pq = panoptic_quality(ev, [s[0] for s in segs], [s[1] for s in segs], data.num_classes)
    out: dict[str, Any] = {f"{split}_{key}": scalars(vals) for key, vals in res.items()}
    out[f"{split}_PQ"] = pq["PQ"]
    out.update({f"{split}_{k}": v for k, v in ev.relation_counts().items()})
    if split == "test":
        out["per_predicate_R@50"] = {
            data.predicate_classes[p]: {k: res[k]["per_predicate@50"][p] for k in
                                        ("predcls", "predcls_debiased", "predcls_freq", "sgdet")}
            for p in range(npred)}
        out["test_PQ_SQ_RQ"] = pq
        if m.figures:
            two_stage_figures(ctx, data, ev, preds_for_fig, res)
    return out


def _two_stage_preds(head: Any, ev: Prepared, segs: list[Any], graphs: dict[str, Any], mode: str,
                     log_prior: torch.Tensor, tau: float) -> tuple[list[ScenePred], list[ScenePred]]:
    """Ranked triplets per image, with and without graph constraint: PredCls / SGCls on the given masks (SGCls
    predicts the classes), SGDet on the segmenter's masks, classes and scores."""
    from trustlab.methods.psg.twostage import make_pred, predict_pairs

    gc, ng = [], []
    for i in range(len(ev)):
        if mode == "sgdet":
            masks, lab_in, sc_in = segs[i]
            gi = graphs["det"]
        else:
            masks, lab_in, sc_in = ev.given_masks(i), ev.labels[i], None
            gi = graphs["gt"]
        if len(masks) < 2:
            empty = ScenePred(masks, np.asarray(lab_in), np.zeros((0, 3), np.int64), np.zeros(0))
            gc.append(empty)
            ng.append(empty)
            continue
        labels_t = None if mode == "sgcls" else gi.labels[i]
        pairs, probs, lab, osc = predict_pairs(head, gi.x[i], gi.geo[i], labels_t, log_prior, tau)
        if mode == "sgdet":
            osc = sc_in
        gc.append(make_pred(masks, lab, pairs, probs, osc, True))
        ng.append(make_pred(masks, lab, pairs, probs, osc, False))
    return gc, ng


def _check_config(m: PSGTRConfig) -> None:
    if m.epochs < 1 or m.queries < 1:
        raise ConfigError("method.epochs and method.queries must be >= 1")
    for key, val, ok in (("mask_loss", m.mask_loss, ("dice", "bce+dice")), ("so_loss", m.so_loss, ("matched", "all")),
                         ("decode", m.decode, ("openpsg", "per-query"))):
        if val not in ok:
            raise ConfigError(f"method.{key}={val!r}: use one of {', '.join(ok)}")


def _evaluate(net: PSGTR, data: Any, ev: Any, split: str, cfg: PSGTRRecipeConfig, ctx: Any) -> dict[str, Any]:
    """``<split>_sgdet`` (the configured decoding, with ngR@K), the other decoding, resolved overlaps, counts."""

    m, size, npred = cfg.method, cfg.data.image_size, net.num_predicates
    gc, ng, alt = [], [], []
    other = "per-query" if m.decode == "openpsg" else "openpsg"
    with torch.no_grad():
        for s in range(0, len(ev), 64):
            out = net(ev.images[s : s + 64])
            for b in range(out["sub"].shape[0]):
                gc.append(decode(out, b, size, m, True))
                ng.append(decode(out, b, size, m, False))
                alt.append(decode(out, b, size, m, True, mode=other))
    gts = [ev.gt(i) for i in range(len(ev))]
    res = evaluate_preds(gts, gc, ng, npred)
    summary: dict[str, Any] = {
        f"{split}_sgdet": scalars(res),
        f"{split}_sgdet_{other.replace('-', '_')}": scalars(evaluate_preds(gts, alt, None, npred)),
        f"{split}_sgdet_resolved": scalars(evaluate_preds(gts, gc, ng, npred, overlaps="resolve")),
        **{f"{split}_{k}": v for k, v in ev.relation_counts().items()}}
    if split == "test":
        summary["per_predicate_R@50"] = {data.predicate_classes[p]: res["per_predicate@50"][p] for p in range(npred)}
        if m.figures:
            draw_examples(ctx.record.artifact("sgdet_examples.png"), data, ev, gc, "PSGTR SGDet")
    return summary


def run_psgtr(cfg: PSGTRRecipeConfig, ctx: Any) -> dict[str, Any]:
    from trustlab.engine.runtime import seed_everything

    m = cfg.method
    _check_config(m)
    data, sp = load_splits(cfg.data)
    seed_everything(cfg.train.seed)
    tr = sp["train"]
    max_rels = max(len(r) for r in tr.rels)
    if m.queries < max_rels:
        raise ConfigError(f"method.queries={m.queries} is below the most relations in a training image "
                          f"({max_rels}); raise method.queries")
    net = PSGTR(data.num_classes, data.num_predicates, m, cfg.data.image_size)
    t0 = time.perf_counter()
    train_psgtr(net, tr, cfg, ctx)
    t_train = time.perf_counter() - t0
    ctx.record.save_checkpoint({"model": net.state_dict(), "classes": data.classes,
                                "predicates": data.predicate_classes}, "model.pt")
    summary: dict[str, Any] = {"n_train": len(tr), "n_val": len(sp["val"]), "n_test": len(sp["test"]),
                               "eval_resolution": cfg.data.eval_resolution, "decode": m.decode}
    t1 = time.perf_counter()
    for split in ("val", "test"):
        summary.update(_evaluate(net, data, sp[split], split, cfg, ctx))
    summary["train_seconds"] = t_train
    summary["eval_seconds"] = time.perf_counter() - t1
    for k in ("R@20", "mR@20", "R@50", "mR@50", "ngR@50"):
        summary[f"sgdet/{k}"] = summary["test_sgdet"][k]
    return summary
