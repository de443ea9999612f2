"""PSG recipes' configs, data preparation, evaluation helpers and the two-stage run.

Data: the embedded ``psg-scenes`` or a PSG root (``data.name=psg``, ``data.root=<folder with psg.json>``),
both read by :func:`trustlab.methods.psg.format.read_psg`. The models see images and panoptic maps resized to
``data.image_size`` squares (bilinear / nearest); a segment that vanishes in that resize is not in the
model's input (training targets and PredCls/SGCls inputs).

Evaluation (:func:`evaluate_preds`): R@K / mR@K with and without graph constraint from
:mod:`trustlab.metrics.psg`; keys ``R@K``, ``mR@K`` (graph constraint) and ``ngR@K``, ``ngmR@K`` (none).
``data.eval_resolution``:

* ``original`` (default, as OpenPSG): the ground truth is every segment and every relation of the image at its
  own height x width; predicted masks are upsampled (nearest) from the square to that size; PredCls/SGCls
  predictions carry the original ground-truth masks of the segments they were given. A relation whose
  segment vanished at the model's resolution can only be a miss.
* ``image_size`` (a speed option): ground truth and predictions on the squares; relations of vanished
  segments are dropped from the ground truth. Each summary reports ``<split>_relations`` (ground truth
  scored), ``<split>_relations_dropped`` (removed from it: 0 in ``original``) and ``<split>_relations_vanished``
  (relations of segments that vanished in the resize).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from trustlab.errors import ConfigError, DataError
from trustlab.experiment import TrainConfig
from trustlab.metrics.psg import KS, SceneGT, ScenePred, masks_to_panoptic, pq_compute, pq_update, triplet_recall


@dataclass
class PSGDataConfig:
    """Which scenes: the embedded ``psg-scenes`` or a PSG root (``name=psg``)."""

    name: str = "psg-scenes"  # psg-scenes | psg
    root: str | None = None  # psg: the folder holding psg.json and the image / panoptic files
    json: str | None = None  # psg: the json file if not <root>/psg.json
    val_fraction: float = 0.1  # psg without val_image_ids: share of the non-test images used as val
    max_images: int | None = None  # psg: first N images of each split (quick looks at the 48k release)
    max_train: int | None = None  # first N training scenes (tiny runs)
    max_test: int | None = None  # first N val/test scenes (tiny runs)
    image_size: int = 64  # images and panoptic maps are resized to this square for the models
    eval_resolution: str = "original"  # original (every relation, each image's size) | image_size (speed option)
    batch_size: int = 16


@dataclass
class TwoStageConfig:
    """Two-stage model options."""

    seg_epochs: int = 12  # stage 1 (panoptic segmenter) epochs
    seg_width: int = 16
    rel_epochs: int = 30  # stage 2 (relation head) epochs
    rel_dim: int = 64
    context: bool = True  # self-attention object context (MOTIFS-style); false = none
    freq_bias: bool = True  # MOTIFS frequency bias initialised from training counts
    tau: float = 1.0  # logit adjustment of the debiased variant: fg logits - tau * log prior
    lr: float = 3e-3
    min_area: int = 6  # smallest predicted segment (pixels)
    figures: bool = True


@dataclass
class TwoStageRecipeConfig:
    data: PSGDataConfig = field(default_factory=PSGDataConfig)
    method: TwoStageConfig = field(default_factory=TwoStageConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


# --- data -----------------------------------------------------------------------------------------------


EVAL_RESOLUTIONS = ("original", "image_size")


class PanopticMasks:
    """Boolean masks (len(ids) x H x W) of panoptic ids, built from the map on each use: full-resolution ground
    truth without holding every image's S x H x W masks in memory. Behaves as an array for ``np.asarray``."""

    def __init__(self, pan: np.ndarray, ids: np.ndarray) -> None:
        self.pan, self.ids = pan, np.asarray(ids, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.ids), *self.pan.shape)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        m = self.pan[None] == self.ids[:, None, None]
        return m if dtype is None else m.astype(dtype)

    def __getitem__(self, idx: Any) -> np.ndarray:
        return np.asarray(self)[idx]


def upsample_masks(masks: Any, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of boolean masks N x h x w to N x H x W (pixel centres, as PIL's NEAREST)."""
    m = np.asarray(masks, dtype=bool)
    h, w = m.shape[1:]
    if (h, w) == tuple(shape):
        return m
    rows = np.minimum(((np.arange(shape[0]) + 0.5) * h / shape[0]).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(shape[1]) + 0.5) * w / shape[1]).astype(np.int64), w - 1)
    return m[:, rows][:, :, cols]


@dataclass
class Prepared:
    """A split as tensors: images N x 3 x S x S in [0, 1], panoptic ids, and per-scene labels/masks/relations
    of the segments that survive the resize (the models' view); ``scenes`` are the originals (evaluation)."""

    images: torch.Tensor
    pans: np.ndarray
    labels: list[np.ndarray]
    masks: list[np.ndarray]
    rels: list[np.ndarray]
    scenes: list[Any] = field(default_factory=list)
    kept: list[np.ndarray] = field(default_factory=list)  # per scene: bool per original segment, survives
    eval_resolution: str = "original"

    def __len__(self) -> int:
        return len(self.labels)

    def gt(self, i: int) -> SceneGT:
        """The ground truth scored: every segment and relation at the image's size (``original``), or the
        resized segments and their relations (``image_size``)."""
        if self.eval_resolution == "image_size" or self._unchanged(i):
            return SceneGT(self.masks[i], self.labels[i], self.rels[i])
        sc = self.scenes[i]
        ids = np.asarray([s["id"] for s in sc.segments], dtype=np.int64)
        return SceneGT(PanopticMasks(sc.pan, ids), sc.labels, sc.relations)  # type: ignore[arg-type]

    def given_masks(self, i: int) -> Any:
        """The ground-truth masks given to PredCls/SGCls (the surviving segments, aligned with ``labels[i]``),
        at the evaluation resolution."""
        if self.eval_resolution == "image_size" or self._unchanged(i):
            return self.masks[i]
        sc = self.scenes[i]
        ids = np.asarray([s["id"] for s in sc.segments], dtype=np.int64)
        return PanopticMasks(sc.pan, ids[self.kept[i]])

    def _unchanged(self, i: int) -> bool:
        """The scene was already a square of the models' size (the embedded data): both views are the same."""
        return not self.scenes or (self.scenes[i].pan.shape == self.pans[i].shape and bool(self.kept[i].all()))

    def relation_counts(self) -> dict[str, int]:
        """Unique ground-truth relations scored, dropped from the ground truth, and vanished in the resize."""
        total = sum(len(np.unique(np.asarray(sc.relations).reshape(-1, 3), axis=0)) for sc in self.scenes)
        kept = sum(len(r) for r in self.rels)
        vanished = total - kept
        if self.eval_resolution == "image_size":
            return {"relations": kept, "relations_dropped": vanished, "relations_vanished": vanished}
        return {"relations": total, "relations_dropped": 0, "relations_vanished": vanished}


def _resize_scene(sc: Any, size: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from PIL import Image

    img, pan = sc.image, sc.pan
    if img.shape[:2] != (size, size):
        img = np.asarray(Image.fromarray(img).resize((size, size), Image.BILINEAR))
        pan_img = Image.fromarray(pan.astype(np.int32), mode="I").resize((size, size), Image.NEAREST)
        pan = np.asarray(pan_img).astype(np.int64)
    ids = np.asarray([s["id"] for s in sc.segments], dtype=np.int64)
    masks = pan[None] == ids[:, None, None] if len(ids) else np.zeros((0, size, size), bool)
    keep = masks.reshape(len(ids), -1).any(1) if len(ids) else np.zeros(0, bool)
    new_index = np.cumsum(keep) - 1
    rels = np.asarray([(new_index[a], new_index[b], p) for a, b, p in sc.relations if keep[a] and keep[b]],
                      dtype=np.int64).reshape(-1, 3)
    pan = np.where(np.isin(pan, ids[keep]), pan, 0)
    return img, pan, sc.labels[keep], masks[keep], np.unique(rels, axis=0) if len(rels) else rels, keep


def prepare(scenes: list[Any], size: int, eval_resolution: str = "original") -> Prepared:
    imgs, pans, labels, masks, rels, kept = [], [], [], [], [], []
    for sc in scenes:
        img, pan, lab, m, r, keep = _resize_scene(sc, size)
        imgs.append(img)
        pans.append(pan)
        labels.append(lab)
        masks.append(m)
        rels.append(r)
        kept.append(keep)
    images = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float().div(255.0) if imgs else torch.zeros(0)
    return Prepared(images, np.stack(pans) if pans else np.zeros((0, size, size), np.int64), labels, masks, rels,
                    list(scenes), kept, eval_resolution)


def load_splits(d: PSGDataConfig) -> tuple[Any, dict[str, Prepared]]:
    """(PSGData, {"train", "val", "test": Prepared})."""
    from trustlab.methods.psg.scenes import load_psg_data

    if d.name == "psg-scenes":
        if d.root is not None:
            raise ConfigError("data.root is for data.name=psg (a PSG root); drop it or set data.name=psg")
        data = load_psg_data(None)
    elif d.name == "psg":
        if d.root is None:
            raise ConfigError("data.name=psg needs data.root=<folder holding psg.json and the image/panoptic files>")
        data = load_psg_data(d.root, d.json, d.val_fraction, d.max_images)
    else:
        from trustlab.errors import did_you_mean

        raise ConfigError(f"data.name '{d.name}' is not a PSG dataset{did_you_mean(d.name, ['psg-scenes', 'psg'])}; "
                          "use psg-scenes (embedded) or psg (data.root)")
    if d.image_size < 16:
        raise ConfigError(f"data.image_size={d.image_size} is too small; use >= 16")
    if d.eval_resolution not in EVAL_RESOLUTIONS:
        raise ConfigError(f"data.eval_resolution '{d.eval_resolution}' is not one of {', '.join(EVAL_RESOLUTIONS)}; "
                          "original scores every relation at each image's size, image_size on the squares")
    out = {}
    for split in ("train", "val", "test"):
        scenes = data.splits.get(split, [])
        cap = d.max_train if split == "train" else d.max_test
        scenes = scenes[:cap] if cap is not None else scenes
        out[split] = prepare(scenes, d.image_size, d.eval_resolution)
    if len(out["train"]) == 0 or sum(len(r) for r in out["train"].rels) == 0:
        raise DataError(f"the train split of '{data.name}' has no relations; a PSG root needs non-test images "
                        "with relations (image ids outside test_image_ids)")
    if len(out["test"]) == 0:
        raise DataError(f"the test split of '{data.name}' is empty; list test images in test_image_ids")
    if len(out["val"]) == 0:
        out["val"] = out["test"]  # reported as val only for tiny runs; README says so
    return data, out


# --- evaluation -----------------------------------------------------------------------------------------


class _Fitted:
    """``preds[i]`` with its masks upsampled to ``gts[i]``'s size, one image at a time (lazy)."""

    def __init__(self, gts: list[SceneGT], preds: list[ScenePred]) -> None:
        self.gts, self.preds = gts, preds

    def __len__(self) -> int:
        return len(self.preds)

    def __getitem__(self, i: int) -> ScenePred:
        p, shape = self.preds[i], tuple(np.shape(self.gts[i].masks)[1:])
        if len(shape) != 2 or tuple(np.shape(p.masks)[1:]) == shape:
            return p
        return ScenePred(upsample_masks(p.masks, shape), p.labels, p.triplets, p.scores)  # type: ignore[arg-type]

    def __iter__(self) -> Any:
        return (self[i] for i in range(len(self)))


def evaluate_preds(gts: list[SceneGT], preds_gc: list[ScenePred], preds_ng: list[ScenePred] | None,
                   num_predicates: int, overlaps: str = "keep") -> dict[str, Any]:
    """Flat dict of R@K, mR@K (graph constraint) and ngR@K, ngmR@K (no constraint) + per-predicate @50.

    Predicted masks smaller than the ground truth's (the model's squares vs the original size) are upsampled
    (nearest) to each image's size first."""
    if len(gts) and len(preds_gc) == len(gts):
        preds_gc = _Fitted(gts, preds_gc)  # type: ignore[assignment]
        if preds_ng is not None and len(preds_ng) == len(gts):
            preds_ng = _Fitted(gts, preds_ng)  # type: ignore[assignment]
    r = triplet_recall(gts, preds_gc, num_predicates, overlaps=overlaps)
    out: dict[str, Any] = {f"{m}@{k}": r[f"{m}@{k}"] for k in KS for m in ("R", "mR")}
    out["per_predicate@50"] = r["per_predicate@50"]
    if preds_ng is not None:
        n = triplet_recall(gts, preds_ng, num_predicates, overlaps=overlaps)
        out.update({f"ng{m}@{k}": n[f"{m}@{k}"] for k in KS for m in ("R", "mR")})
    return out


def scalars(d: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in d.items() if isinstance(v, float)}


def panoptic_quality(gt: Prepared, pred_masks: list[np.ndarray], pred_labels: list[np.ndarray], num_classes: int
                     ) -> dict[str, float]:
    """PQ against the evaluation ground truth (:meth:`Prepared.gt`), predicted masks upsampled to its size."""
    stats = None
    for i in range(len(gt)):
        g = gt.gt(i)
        shape = tuple(np.shape(g.masks)[1:]) if len(g.masks) else tuple(gt.scenes[i].pan.shape
                                                                        if gt.scenes else gt.pans[i].shape)
        gc, gi = masks_to_panoptic(np.asarray(g.masks, dtype=bool), g.labels, shape)  # type: ignore[arg-type]
        pm = upsample_masks(pred_masks[i], shape) if len(pred_masks[i]) else np.zeros((0, *shape), bool)
        pc, pi = masks_to_panoptic(pm, pred_labels[i], shape)  # type: ignore[arg-type]
        stats = pq_update(pc, pi, gc, gi, num_classes, stats)
    return pq_compute(stats) if stats is not None else {"PQ": float("nan")}


# --- two-stage run ----------------------------------------------------------------------------------------


def train_segmenter(tr: Prepared, num_classes: int, cfg: TwoStageConfig, batch_size: int, seed: int) -> Any:
    from trustlab.methods.psg.twostage import TinyPanoptic, boundary_target

    torch.manual_seed(seed)
    net = TinyPanoptic(num_classes, cfg.seg_width)
    ids_to_cat = []
    for i in range(len(tr)):
        cat = np.full(tr.pans[i].shape, -100, dtype=np.int64)
        for m, c in zip(tr.masks[i], tr.labels[i]):
            cat[m] = c
        ids_to_cat.append(cat)
    target = torch.from_numpy(np.stack(ids_to_cat))
    bnd = torch.from_numpy(np.stack([boundary_target(p) for p in tr.pans]))
    # class weights (pixel frequency)^-1/2, mean 1: small things (birds, kites, balls) are a few pixels each
    freq = torch.bincount(target[target >= 0].flatten(), minlength=num_classes).double() + 1.0
    weight = freq.pow(-0.5)
    weight = (weight / weight.mean()).float()
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    g = torch.Generator().manual_seed(seed)
    steps = cfg.seg_epochs * max(1, -(-len(tr) // batch_size))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=max(steps, 1), pct_start=0.15)
    net.train()
    for _ in range(cfg.seg_epochs):
        perm = torch.randperm(len(tr), generator=g)
        for s in range(0, len(tr), batch_size):
            idx = perm[s : s + batch_size]
            _, logits, b = net(tr.images[idx])
            loss = F.cross_entropy(logits, target[idx], weight=weight, ignore_index=-100)
            loss = loss + F.binary_cross_entropy_with_logits(b, bnd[idx], pos_weight=torch.tensor(3.0))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    net.eval()
    return net


def segment(net: Any, images: torch.Tensor, num_things: int, min_area: int, chunk: int = 64
            ) -> tuple[torch.Tensor, list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """Stage-1 features (N x C x H x W) and panoptic segments (masks, labels, scores) per image."""
    from trustlab.methods.psg.twostage import panoptic_segments

    feats, segs = [], []
    with torch.no_grad():
        for s in range(0, len(images), chunk):
            f, logits, b = net(images[s : s + chunk])
            feats.append(f)
            probs = logits.softmax(1).numpy()
            bp = torch.sigmoid(b).numpy()
            for k in range(len(probs)):
                segs.append(panoptic_segments(probs[k], bp[k], num_things, min_area))
    return torch.cat(feats) if feats else torch.zeros(0), segs


def graphs_for(feats: torch.Tensor, images: torch.Tensor, masks: list[np.ndarray], labels: list[np.ndarray],
               rels: list[np.ndarray]) -> Any:
    from trustlab.methods.psg.twostage import Graphs, node_features, pair_geometry

    xs, geos, labs = [], [], []
    for i, m in enumerate(masks):
        mt = torch.from_numpy(np.asarray(m, dtype=bool))
        xs.append(node_features(feats[i], images[i], mt))
        geos.append(pair_geometry(mt))
        labs.append(torch.as_tensor(np.asarray(labels[i]), dtype=torch.long))
    return Graphs(xs, geos, labs, rels)


def train_relation(g: Any, num_classes: int, num_predicates: int, cfg: TwoStageConfig, freq_log: np.ndarray | None,
                   batch_size: int, seed: int) -> Any:
    from trustlab.methods.psg.twostage import RelationHead, pad_batch, rel_targets

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    head = RelationHead(g.x[0].shape[1], num_classes, num_predicates, cfg.rel_dim, cfg.context,
                        freq_log if cfg.freq_bias else None)
    opt = torch.optim.Adam(head.parameters(), lr=cfg.lr)
    n = len(g.labels)
    bs = max(batch_size, 16)
    steps = cfg.rel_epochs * max(1, -(-n // bs))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=max(steps, 1), pct_start=0.15)
    head.train()
    for _ in range(cfg.rel_epochs):
        perm = rng.permutation(n)
        for s in range(0, n, bs):
            idx = [int(i) for i in perm[s : s + bs]]
            x, geo, lab, pad = pad_batch(g, idx)
            tgt = rel_targets(g, idx, x.shape[1], rng)
            obj_logits, _, rel = head(x, geo, lab, pad)
            loss = F.cross_entropy(rel.reshape(-1, rel.shape[-1]), tgt.reshape(-1), ignore_index=-100)
            loss = loss + F.cross_entropy(obj_logits.reshape(-1, num_classes), lab.reshape(-1), ignore_index=-1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    head.eval()
    return head


def freq_pred(masks: np.ndarray, labels: np.ndarray, scores: np.ndarray, rel: np.ndarray, pairs_ct: np.ndarray,
              graph_constraint: bool) -> ScenePred:
    """Prior-only baseline: p(predicate | subject class, object class) from training counts, per ordered pair."""
    from trustlab.methods.psg.twostage import make_pred

    n = len(labels)
    ii, jj = np.nonzero(~np.eye(n, dtype=bool))
    prob = rel[labels[ii], labels[jj]] / np.maximum(pairs_ct[labels[ii], labels[jj]], 1)[:, None]
    return make_pred(masks, labels, np.column_stack([ii, jj]), prob, scores, graph_constraint)


def run_two_stage(cfg: TwoStageRecipeConfig, ctx: Any) -> dict[str, Any]:
    from trustlab.engine.runtime import seed_everything
    from trustlab.methods.psg.twostage import freq_counts, freq_log_init, make_pred, predict_pairs

    m = cfg.method
    if m.seg_epochs < 1 or m.rel_epochs < 1:
        raise ConfigError("method.seg_epochs and method.rel_epochs must be >= 1")
    data, sp = load_splits(cfg.data)
    seed = cfg.train.seed
    seed_everything(seed)
    nc, npred, nthings = data.num_classes, data.num_predicates, len(data.thing_classes)
    tr = sp["train"]
    t0 = time.perf_counter()
    seg = train_segmenter(tr, nc, m, cfg.data.batch_size, seed)
    t_seg = time.perf_counter() - t0
    feats, _ = segment(seg, tr.images, nthings, m.min_area)
    g_train = graphs_for(feats, tr.images, tr.masks, tr.labels, tr.rels)
    from types import SimpleNamespace

    train_scenes = [SimpleNamespace(labels=lab, relations=r) for lab, r in zip(tr.labels, tr.rels)]
    rel_ct, pair_ct = freq_counts(train_scenes, nc, npred)
    head = train_relation(g_train, nc, npred, m, freq_log_init(rel_ct, pair_ct), cfg.data.batch_size, seed)
    t_train = time.perf_counter() - t0
    prior = rel_ct.sum((0, 1)) + 1.0
    log_prior = torch.as_tensor(np.log(prior / prior.sum()), dtype=torch.float32)
    ctx.record.save_checkpoint({"segmenter": seg.state_dict(), "relation": head.state_dict(),
                                "classes": data.classes, "predicates": data.predicate_classes}, "model.pt")
    summary: dict[str, Any] = {"n_train": len(tr), "n_val": len(sp["val"]), "n_test": len(sp["test"]),
                               "eval_resolution": cfg.data.eval_resolution, "predicates": data.predicate_classes,
                               "train_predicate_counts": [int(v) for v in rel_ct.sum((0, 1))]}
    t1 = time.perf_counter()
    for split in ("val", "test"):
        ev = sp[split]
        feats, segs = segment(seg, ev.images, nthings, m.min_area)
        gts = [ev.gt(i) for i in range(len(ev))]
        g_gt = graphs_for(feats, ev.images, ev.masks, ev.labels, ev.rels)
        g_det = graphs_for(feats, ev.images, [s[0] for s in segs], [s[1] for s in segs], ev.rels)
        res: dict[str, dict[str, Any]] = {}
        preds_for_fig = []
        for mode in ("predcls", "sgcls", "sgdet"):
            for variant, tau in (("", 0.0), ("_debiased", m.tau)):
                gc, ng = [], []
                for i in range(len(ev)):
                    if mode == "sgdet":
                        masks, lab_in, sc_in = segs[i]
                        gi = g_det
                    else:
                        masks, lab_in, sc_in = ev.given_masks(i), ev.labels[i], None
                        gi = g_gt
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
                gc.append(freq_pred(masks, lab, sc_, rel_ct, pair_ct, True))
                ng.append(freq_pred(masks, lab, sc_, rel_ct, pair_ct, False))
            res[mode + "_freq"] = evaluate_preds(gts, gc, ng, npred)
        pq = panoptic_quality(ev, [s[0] for s in segs], [s[1] for s in segs], nc)
        for key, vals in res.items():
            summary[f"{split}_{key}"] = scalars(vals)
        summary[f"{split}_PQ"] = pq["PQ"]
        summary.update({f"{split}_{k}": v for k, v in ev.relation_counts().items()})
        if split == "test":
            summary["per_predicate_R@50"] = {
                data.predicate_classes[p]: {k: res[k]["per_predicate@50"][p] for k in
                                            ("predcls", "predcls_debiased", "predcls_freq", "sgdet")}
                for p in range(npred)}
            summary["test_PQ_SQ_RQ"] = pq
            if m.figures:
                _figures(ctx, data, ev, preds_for_fig, res)
    summary["train_seconds"] = t_train
    summary["segmenter_seconds"] = t_seg
    summary["eval_seconds"] = time.perf_counter() - t1
    for mode in ("predcls", "sgcls", "sgdet", "predcls_freq", "sgdet_freq", "predcls_debiased", "sgdet_debiased"):
        for k in ("R@20", "mR@20", "R@50", "mR@50"):
            summary[f"{mode}/{k}"] = summary[f"test_{mode}"][k]
    return summary


def _figures(ctx: Any, data: Any, ev: Prepared, preds: list[ScenePred], res: dict[str, dict[str, Any]]) -> None:
    """artifacts: sgdet_examples.png (predicted masks + top triplets), per_predicate_recall.png."""
    from trustlab.report.figures import grouped_bar_chart

    draw_examples(ctx.record.artifact("sgdet_examples.png"), data, ev, preds, "two-stage SGDet")
    groups = {data.predicate_classes[p]: {k: res[k]["per_predicate@50"][p] for k in
                                          ("predcls", "predcls_debiased", "predcls_freq")}
              for p in range(data.num_predicates)}
    grouped_bar_chart({g: {k: (v if v == v else 0.0) for k, v in s.items()} for g, s in groups.items()},
                      ctx.record.artifact("per_predicate_recall.png"),
                      "test R@50 per predicate (PredCls), predicates in class order", ylabel="recall")


def draw_examples(path: Any, data: Any, ev: Prepared, preds: list[ScenePred], title: str, n: int = 4,
                  top: int = 5) -> None:
    """Scenes with their predicted masks (numbered) and top triplets; ground truth listed below."""
    import os

    from PIL import Image

    from trustlab.methods.psg.format import PSGScene
    from trustlab.methods.psg.scenes import draw_graph_panel

    panels = []
    for i in range(min(n, len(preds))):
        p = preds[i]
        img = (ev.images[i].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        sc = PSGScene(i, "", img, ev.pans[i], [], np.zeros((0, 3), np.int64))
        used = sorted({int(v) for t in p.triplets[:top] for v in t[:2]})
        remap = {u: k for k, u in enumerate(used)}
        masks = np.asarray(p.masks)[used] if used else np.zeros((0, *img.shape[:2]), bool)
        labels = [data.classes[int(p.labels[u])] for u in used]
        trip = [(remap[int(a)], remap[int(b)], data.predicate_classes[int(r)]) for a, b, r in p.triplets[:top]]
        gt = [f"{data.classes[ev.labels[i][a]]} {data.predicate_classes[r]} {data.classes[ev.labels[i][b]]}"
              for a, b, r in ev.rels[i]]
        panel = draw_graph_panel(sc, masks, labels, trip, f"{title}: top-{top} triplets | GT: " + "; ".join(gt)[:90])
        panels.append(panel)
    if not panels:
        return
    w = max(p.width for p in panels)
    canvas = Image.new("RGB", (w, sum(p.height for p in panels)), (255, 255, 255))
    y = 0
    for p in panels:
        canvas.paste(p, (0, y))
        y += p.height
    tmp = str(path) + ".tmp"
    canvas.save(tmp, format="PNG")
    os.replace(tmp, path)
