"""The two-stage PSG algorithm: train the panoptic segmenter (stage 1), segment, build the relation graphs on its
frozen features, train the relation head (stage 2), and the prior-only baseline's predictions. The networks are
in :mod:`trustlab.methods.psg.twostage`, the run in :mod:`trustlab.methods.psg.run`."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from trustlab.methods.psg.config import TwoStageConfig
from trustlab.methods.psg.data import Prepared
from trustlab.metrics.psg import ScenePred


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
