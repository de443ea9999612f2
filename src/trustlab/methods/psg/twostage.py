"""Two-stage PSG: a tiny bottom-up panoptic segmenter, then a MOTIFS-style relation head on mask-pooled features.

Stage 1, :class:`TinyPanoptic`: an encoder-decoder CNN (64 -> 32 -> 16 -> 32 -> 64 px) with a per-pixel
class head (things + stuff) and an instance-boundary head. Panoptic inference (:func:`panoptic_segments`):
one segment per stuff class present; thing instances are the connected components of each thing class
after removing predicted boundary pixels, which then go to the nearest component. (The paper uses Panoptic
FPN; a box-free bottom-up segmenter trains here in seconds.)

Stage 2, :class:`RelationHead` (frozen stage-1 features): node features = the stage-1 feature map and the
RGB image average-pooled under each mask, the mask shape at 8x8 and its box; an object classifier on them
(SGCls/SGDet); a class embedding (ground truth in PredCls and training, predicted otherwise); object context
from a self-attention layer over the nodes (MOTIFS uses a BiLSTM); each ordered pair gets
``MLP([ctx_s, ctx_o, geometry]) + frequency bias[class_s, class_o]`` over background + predicates, the
frequency bias initialised with the log training frequencies (MOTIFS). Pair geometry: both boxes, their
offsets, log size ratios, base difference and three contact counts (s directly above o, o above s, side by
side).

Modes: ``predcls`` (ground-truth masks and classes), ``sgcls`` (ground-truth masks, predicted classes),
``sgdet`` (segmenter masks and classes). Debiasing by logit adjustment (Menon et al. 2021): at inference the
foreground predicate logits get ``- tau * log prior(predicate)`` (training frequencies).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trustlab.metrics.psg import SceneGT, ScenePred, triplets_from_pairs

GEO_DIM = 17


def _block(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False),
                         nn.GroupNorm(4, cout), nn.ReLU(inplace=True))


class TinyPanoptic(nn.Module):
    """Per-pixel classes + instance boundaries; ``forward(x) -> (features C x H x W, class logits, boundary logit)``."""

    def __init__(self, num_classes: int, width: int = 24) -> None:
        super().__init__()
        w = width
        self.enc1 = _block(3, w)
        self.enc2 = nn.Sequential(_block(w, 2 * w, 2), _block(2 * w, 2 * w))
        self.enc3 = nn.Sequential(_block(2 * w, 3 * w, 2), _block(3 * w, 3 * w, dilation=2))
        self.dec2 = _block(5 * w, 2 * w)
        self.dec1 = _block(3 * w, w + 8)
        self.feat_dim = w + 8
        self.cls = nn.Conv2d(self.feat_dim, num_classes, 1)
        self.bnd = nn.Conv2d(self.feat_dim, 1, 1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        d2 = self.dec2(torch.cat([F.interpolate(e3, size=e2.shape[-2:], mode="bilinear", align_corners=False), e2], 1))
        d1 = self.dec1(torch.cat([F.interpolate(d2, size=e1.shape[-2:], mode="bilinear", align_corners=False), e1], 1))
        return d1, self.cls(d1), self.bnd(d1).squeeze(1)


def boundary_target(pan: np.ndarray) -> np.ndarray:
    """Pixels whose 4-neighbour belongs to another *thing* segment (instance borders), as float."""
    b = np.zeros(pan.shape, dtype=bool)
    b[:-1] |= pan[:-1] != pan[1:]
    b[1:] |= pan[:-1] != pan[1:]
    b[:, :-1] |= pan[:, :-1] != pan[:, 1:]
    b[:, 1:] |= pan[:, :-1] != pan[:, 1:]
    return b.astype(np.float32)


def panoptic_segments(probs: np.ndarray, bnd: np.ndarray, num_things: int, min_area: int = 6
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(masks N x H x W, labels, scores) from class probabilities K x H x W and boundary probabilities."""
    from scipy import ndimage

    cls = probs.argmax(0)
    conf = probs.max(0)
    masks, labels, scores = [], [], []
    for c in np.unique(cls):
        region = cls == c
        if c >= num_things:
            comps = [region]
        else:
            core = region & (bnd < 0.5)
            lab, n = ndimage.label(core)
            if n == 0:
                lab, n = ndimage.label(region)
            # boundary pixels of the class go to the nearest component
            _, (iy, ix) = ndimage.distance_transform_edt(lab == 0, return_indices=True)
            full = np.where(region, lab[iy, ix], 0)
            comps = [full == k for k in range(1, n + 1)]
        for m in comps:
            if m.sum() >= min_area:
                masks.append(m)
                labels.append(int(c))
                scores.append(float(conf[m].mean()))
    h, w = cls.shape
    if not masks:
        return np.zeros((0, h, w), bool), np.zeros(0, np.int64), np.zeros(0)
    return np.stack(masks), np.asarray(labels, np.int64), np.asarray(scores)


# --- node and pair features ----------------------------------------------------------------------------


def node_features(feat: Tensor, image: Tensor, masks: Tensor) -> Tensor:
    """Per-mask inputs: pooled features (C), pooled RGB (3), mask at 8x8 (64), box (7). masks: N x H x W."""
    n, h, w = masks.shape
    m = masks.float()
    area = m.flatten(1).sum(1).clamp_min(1.0)
    pooled = m.flatten(1) @ feat.flatten(1).T / area[:, None]
    rgb = m.flatten(1) @ image.flatten(1).T / area[:, None]
    shape = F.adaptive_avg_pool2d(m[:, None], 8).flatten(1)
    return torch.cat([pooled, rgb, shape, boxes_of(masks)], 1)


def boxes_of(masks: Tensor) -> Tensor:
    """x1, y1, x2, y2 (normalised), area, cx, cy per mask."""
    n, h, w = masks.shape
    ys = masks.any(2).float()
    xs = masks.any(1).float()
    ar_y = torch.arange(h, dtype=torch.float32)
    ar_x = torch.arange(w, dtype=torch.float32)
    big = 1e4
    y1 = torch.where(ys > 0, ar_y, big).min(1).values
    y2 = torch.where(ys > 0, ar_y, -big).max(1).values + 1
    x1 = torch.where(xs > 0, ar_x, big).min(1).values
    x2 = torch.where(xs > 0, ar_x, -big).max(1).values + 1
    empty = masks.flatten(1).sum(1) == 0
    box = torch.stack([x1 / w, y1 / h, x2 / w, y2 / h], 1)
    box[empty] = 0
    area = masks.flatten(1).float().mean(1)
    return torch.cat([box, area[:, None], (box[:, 0:1] + box[:, 2:3]) / 2, (box[:, 1:2] + box[:, 3:4]) / 2], 1)


def pair_geometry(masks: Tensor) -> Tensor:
    """N x N x 17 pair features (subject i, object j)."""
    n, h, w = masks.shape
    b = boxes_of(masks)
    bi, bj = b[:, None, :4].expand(n, n, 4), b[None, :, :4].expand(n, n, 4)
    wi = (b[:, 2] - b[:, 0]).clamp_min(1e-3)
    hi = (b[:, 3] - b[:, 1]).clamp_min(1e-3)
    d = torch.stack([b[:, None, 5] - b[None, :, 5], b[:, None, 6] - b[None, :, 6],
                     torch.log(wi[:, None] / wi[None, :]), torch.log(hi[:, None] / hi[None, :])], -1)
    base = torch.stack([b[:, None, 3] - b[None, :, 3], b[:, None, 3] - b[None, :, 1]], -1)
    m = masks.float()
    up = torch.zeros_like(m)
    up[:, :-1] = m[:, 1:]  # up[j](y, x) = m_j(y + 1, x)
    left = torch.zeros_like(m)
    left[:, :, :-1] = m[:, :, 1:]
    v = m.flatten(1) @ up.flatten(1).T  # i directly above j
    hz = m.flatten(1) @ left.flatten(1).T
    hz = hz + hz.T
    contact = torch.stack([torch.log1p(v), torch.log1p(v.T), torch.log1p(hz)], -1)
    return torch.cat([bi, bj, d, base, contact], -1)


# --- relation head -------------------------------------------------------------------------------------


class RelationHead(nn.Module):
    """Object classifier + self-attention context + pair classifier with a frequency bias (background = 0)."""

    def __init__(self, in_dim: int, num_classes: int, num_predicates: int, dim: int = 64, context: bool = True,
                 freq_log: np.ndarray | None = None) -> None:
        super().__init__()
        self.num_classes, self.num_predicates = num_classes, num_predicates
        self.node = nn.Sequential(nn.Linear(in_dim, dim), nn.ReLU(), nn.Linear(dim, dim))
        self.obj = nn.Linear(dim, num_classes)
        self.emb = nn.Embedding(num_classes, dim)
        self.context = nn.TransformerEncoderLayer(dim, 4, 2 * dim, dropout=0.0, batch_first=True) if context else None
        self.pair = nn.Sequential(nn.Linear(2 * dim + GEO_DIM, 2 * dim), nn.ReLU(), nn.Linear(2 * dim, 2 * dim),
                                  nn.ReLU(), nn.Linear(2 * dim, num_predicates + 1))
        self.freq = nn.Embedding(num_classes * num_classes, num_predicates + 1)
        with torch.no_grad():
            self.freq.weight.zero_()
            if freq_log is not None:
                self.freq.weight.copy_(torch.as_tensor(freq_log, dtype=torch.float32).reshape(-1, num_predicates + 1))

    def forward(self, x: Tensor, geo: Tensor, labels: Tensor | None, pad: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x: B x N x D, geo: B x N x N x G, pad: B x N (True = padding). Returns object logits,
        the labels used (given, or predicted), and pair logits B x N x N x (P + 1)."""
        h = self.node(x)
        obj_logits = self.obj(h)
        lab = obj_logits.argmax(-1) if labels is None else labels
        z = h + self.emb(lab.clamp_min(0))
        if self.context is not None:
            z = self.context(z, src_key_padding_mask=pad)
        n = z.shape[1]
        zi, zj = z[:, :, None].expand(-1, n, n, -1), z[:, None, :].expand(-1, n, n, -1)
        rel = self.pair(torch.cat([zi, zj, geo], -1))
        rel = rel + self.freq(lab.clamp_min(0)[:, :, None] * self.num_classes + lab.clamp_min(0)[:, None, :])
        return obj_logits, lab, rel


@dataclass
class Graphs:
    """Per-image inputs of the relation head (unpadded): node inputs, geometry, masks, labels, relations."""

    x: list[Tensor]
    geo: list[Tensor]
    labels: list[Tensor]
    rels: list[np.ndarray]


def pad_batch(g: Graphs, idx: list[int]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    n = max(1, max(len(g.labels[i]) for i in idx))
    b, d = len(idx), g.x[idx[0]].shape[1]
    x = torch.zeros(b, n, d)
    geo = torch.zeros(b, n, n, GEO_DIM)
    lab = torch.full((b, n), -1, dtype=torch.long)
    pad = torch.ones(b, n, dtype=torch.bool)
    for k, i in enumerate(idx):
        s = len(g.labels[i])
        x[k, :s], geo[k, :s, :s], lab[k, :s], pad[k, :s] = g.x[i], g.geo[i], g.labels[i], False
    return x, geo, lab, pad


def rel_targets(g: Graphs, idx: list[int], n: int, rng: np.random.Generator) -> Tensor:
    """B x N x N: predicate + 1 on related pairs (one of several at random), 0 unrelated, -100 ignored."""
    t = torch.full((len(idx), n, n), -100, dtype=torch.long)
    for k, i in enumerate(idx):
        s = len(g.labels[i])
        t[k, :s, :s] = 0
        rels = g.rels[i]
        for r in rng.permutation(len(rels)):
            a, b_, p = rels[r]
            t[k, a, b_] = int(p) + 1
        t[k, torch.arange(s), torch.arange(s)] = -100
    return t


def freq_counts(scenes: list[Any], num_classes: int, num_predicates: int) -> tuple[np.ndarray, np.ndarray]:
    """(relation counts C x C x P, ordered-pair counts C x C) over training scenes."""
    rel = np.zeros((num_classes, num_classes, num_predicates))
    pairs = np.zeros((num_classes, num_classes))
    for sc in scenes:
        lab = sc.labels
        np.add.at(pairs, (lab[:, None].repeat(len(lab), 1), lab[None, :].repeat(len(lab), 0)), 1)
        np.subtract.at(pairs, (lab, lab), 1)
        for a, b, p in np.unique(sc.relations, axis=0):
            rel[lab[a], lab[b], p] += 1
    return rel, pairs


def freq_log_init(rel: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """log p(background or predicate | class pair) with add-one smoothing: C x C x (P + 1)."""
    bg = np.maximum(pairs - rel.sum(-1), 0)
    full = np.concatenate([bg[..., None], rel], -1) + 1.0
    return np.log(full / full.sum(-1, keepdims=True))


def to_gt(sc: Any) -> SceneGT:
    return SceneGT(sc.masks(), sc.labels, sc.relations)


def predict_pairs(head: RelationHead, x: Tensor, geo: Tensor, labels: Tensor | None, log_prior: Tensor | None,
                  tau: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(pairs E x 2, fg predicate probs E x P, object labels, object scores) for one image."""
    n = x.shape[0]
    with torch.no_grad():
        pad = torch.zeros(1, n, dtype=torch.bool)
        obj_logits, lab, rel = head(x[None], geo[None], None if labels is None else labels[None], pad)
        rel = rel[0]
        if log_prior is not None and tau:
            rel = rel.clone()
            rel[..., 1:] = rel[..., 1:] - tau * log_prior
        probs = rel.softmax(-1)[..., 1:]
        obj_p = obj_logits[0].softmax(-1)
    ii, jj = np.nonzero(~np.eye(n, dtype=bool))
    pairs = np.column_stack([ii, jj])
    lab_np = lab[0].numpy()
    scores = np.ones(n) if labels is not None else obj_p.max(-1).values.numpy()
    return pairs, probs[ii, jj].numpy(), lab_np, scores


def make_pred(masks: np.ndarray, labels: np.ndarray, pairs: np.ndarray, probs: np.ndarray, obj_scores: np.ndarray,
              graph_constraint: bool) -> ScenePred:
    trip, sc = triplets_from_pairs(pairs, probs, obj_scores, graph_constraint)
    return ScenePred(masks, labels, trip, sc)
