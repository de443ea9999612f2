"""One-stage PSGTR: a tiny DETR whose queries are triplets (Yang et al. 2022; OpenPSG ``psgtr_head``).

A CNN backbone (64 -> 16 px; or a timm ResNet, ``method.backbone=timm:resnet50``, the reference's R50, at 1/32)
feeds a transformer encoder (``enc_layers``) and decoder (``dec_layers``)
with ``queries`` learned triplet queries. Each query predicts a subject class and an object class (each
with a no-object class), a predicate (with a background class 0) and two masks, the dot products of
subject/object mask embeddings with a full-resolution pixel-feature map (backbone features upsampled and
concatenated with a full-resolution convolution of the image).

Training (OpenPSG ``HTriMatcher`` and ``PSGTrHead.loss``, ``configs/psgtr/psgtr_r50_psg.py``): per image,
Hungarian matching (``scipy.optimize.linear_sum_assignment``) of queries to the ground-truth triplets on
``cost = 1.2 * (c_s + c_o + rel_weight * c_r) / 3 + mean(mask costs of subject, object)``, class cost c = -probability
of the target class (the reference's ``r_cls_cost`` weight is 2), mask cost = dice + mean pixel BCE. (The
reference matches on class and box L1 + GIoU costs and uses masks only in the loss; boxes are not predicted
here.) Loss: subject and object cross-entropy on the matched queries only (``so_loss="matched"``, the
reference's label weights; ``"all"``: unmatched queries to no-object, weight ``bg_weight``), predicate
cross-entropy on every query (unmatched to background 0, class weight ``bg_weight`` = 0.02, the reference's
``bg_cls_weight``; loss weight ``rel_weight`` = 2), dice on the matched masks (``mask_loss="dice"``, the
reference's ``psgtrDiceLoss``; ``"bce+dice"`` adds pixel BCE); every decoder layer's output is matched and
supervised (DETR's auxiliary losses, as in the reference).

Inference (``decode="openpsg"``, the reference's ``_get_bboxes_single`` + ``sgg_eval``): predicate
probabilities without background, the top ``max_triplets`` (query, predicate) entries over queries x
predicates ranked by their score, lower-ranked entries with the same three labels and both masks IoU > 0.5
with a kept one dropped (the reference's de-duplication), and every kept entry relabelled to its query's best
predicate (the evaluator takes ``argmax`` of the query's predicate distribution), keeping the entry's rank:
a query can fill several of the top K. ``decode="per-query"``: one triplet per query, its best predicate. The
no-graph-constraint list is the de-duplicated entries with their own predicates. Masks are sigmoid >
``mask_thr``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trustlab.methods.psg.config import PSGTRConfig, PSGTRRecipeConfig
from trustlab.metrics.psg import ScenePred


def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.GroupNorm(4, cout), nn.ReLU(inplace=True))


class TimmResNetFeatures(nn.Module):
    """A timm ResNet (``timm:resnet50``, the reference's R50) as PSGTR's backbone: ``(layer1, layer4)`` maps at 1/4
    and 1/32 of the input, e.g. 256 and 2048 channels for ResNet-50. ``weights``: the state_dict of trustlab's
    ``timm:<resnet>`` classifier (what ``bench.paper.timm_init_from_torchvision`` writes from torchvision's ImageNet
    file), loaded strictly; its head is dropped. The classifier's normalisation (mean = std = 0.5) applies."""

    def __init__(self, name: str, weights: str | None = None) -> None:
        super().__init__()
        from trustlab.models import build_model

        net = build_model(name, num_classes=2, input_size=224, weights=weights)
        self.register_buffer("mean", net.mean.clone(), persistent=False)
        self.register_buffer("std", net.std.clone(), persistent=False)
        self.body = net.model
        self.channels = (self.body.layer1[-1].conv1.in_channels, self.body.num_features)
        self.stride = 32

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        b = self.body
        x = (x - self.mean) / self.std
        x = b.maxpool(b.act1(b.bn1(b.conv1(x))))
        low = b.layer1(x)
        return low, b.layer4(b.layer3(b.layer2(low)))


class PSGTR(nn.Module):
    def __init__(self, num_classes: int, num_predicates: int, cfg: PSGTRConfig, image_size: int = 64) -> None:
        super().__init__()
        d = cfg.dim
        self.num_classes, self.num_predicates = num_classes, num_predicates
        if cfg.backbone == "tiny":
            self.stem = nn.Sequential(_block(3, 32), _block(32, 48, 2))  # /2
            self.down = nn.Sequential(_block(48, 64, 2), _block(64, 64))  # /4
            low, high, stride = 48, 64, 4
        else:  # the reference's ResNet (timm's, torchvision's ImageNet weights through the paper suite)
            self.resnet = TimmResNetFeatures(cfg.backbone, cfg.backbone_weights)
            (low, high), stride = self.resnet.channels, self.resnet.stride
        self.proj = nn.Conv2d(high, d, 1)
        self.full = _block(3, 16)  # full-resolution edges for the masks
        self.pix = nn.Sequential(nn.Conv2d(high + low + 16, d, 1, bias=False), nn.GroupNorm(4, d),
                                 nn.ReLU(inplace=True), nn.Conv2d(d, d, 1))  # full-resolution mask features
        n_tok = max(1, -(-image_size // stride)) ** 2
        self.pos = nn.Parameter(torch.randn(1, n_tok, d) * 0.02)
        enc = nn.TransformerEncoderLayer(d, 4, 2 * d, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(enc, cfg.enc_layers)
        self.decoder = nn.ModuleList([nn.TransformerDecoderLayer(d, 4, 2 * d, dropout=0.0, batch_first=True)
                                      for _ in range(cfg.dec_layers)])
        self.dec_norm = nn.LayerNorm(d)
        self.query = nn.Embedding(cfg.queries, d)
        self.sub_cls = nn.Linear(d, num_classes + 1)
        self.obj_cls = nn.Linear(d, num_classes + 1)
        self.rel_cls = nn.Linear(d, num_predicates + 1)
        self.sub_mask = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, d))
        self.obj_mask = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, d))

    def forward(self, x: Tensor, aux: bool = False) -> dict[str, Any]:
        """Predictions of the last decoder layer; with ``aux`` also ``"aux"``: those of the earlier layers
        (DETR's auxiliary losses, as in the reference)."""
        if hasattr(self, "resnet"):
            s, f = self.resnet(x)
        else:
            s = self.stem(x)
            f = self.down(s)
        b = f.shape[0]
        tok = self.proj(f).flatten(2).transpose(1, 2) + self.pos[:, : f.shape[2] * f.shape[3]]
        mem = self.encoder(tok)
        h = self.query.weight[None].expand(b, -1, -1) + 0
        size = x.shape[-2:]
        up = [F.interpolate(t, size=size, mode="bilinear", align_corners=False) for t in (f, s)]
        pix = self.pix(torch.cat([*up, self.full(x)], 1))
        outs = []
        for k, layer in enumerate(self.decoder):
            h = layer(h, mem)
            if aux or k == len(self.decoder) - 1:
                outs.append(self._heads(self.dec_norm(h), pix))
        out = outs[-1]
        if aux:
            out["aux"] = outs[:-1]
        return out

    def _heads(self, h: Tensor, pix: Tensor) -> dict[str, Tensor]:
        return {"sub": self.sub_cls(h), "obj": self.obj_cls(h), "rel": self.rel_cls(h),
                "sub_mask": torch.einsum("bqd,bdhw->bqhw", self.sub_mask(h), pix),
                "obj_mask": torch.einsum("bqd,bdhw->bqhw", self.obj_mask(h), pix)}


def _dice_cost(logits: Tensor, tgt: Tensor) -> Tensor:
    p = logits.sigmoid().flatten(1)
    t = tgt.flatten(1)
    num = 2 * p @ t.T + 1
    den = p.sum(1)[:, None] + t.sum(1)[None] + 1
    return 1 - num / den


def _bce_cost(logits: Tensor, tgt: Tensor) -> Tensor:
    x = logits.flatten(1)
    t = tgt.flatten(1)
    hw = x.shape[1]
    return (F.softplus(x).sum(1)[:, None] - x @ t.T) / hw


def match(out: dict[str, Tensor], b: int, tgt: dict[str, Tensor], rel_weight: float = 2.0
          ) -> tuple[np.ndarray, np.ndarray]:
    """Hungarian matching of image ``b``'s queries to its GT triplets (rows = queries, cols = GT)."""
    from scipy.optimize import linear_sum_assignment

    if len(tgt["rel"]) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    with torch.no_grad():
        ps = out["sub"][b].softmax(-1)[:, tgt["sub"]]
        po = out["obj"][b].softmax(-1)[:, tgt["obj"]]
        pr = out["rel"][b].softmax(-1)[:, tgt["rel"] + 1]
        cls_cost = -(ps + po + rel_weight * pr) / 3
        ms, mo = out["sub_mask"][b], out["obj_mask"][b]
        mask_cost = (_dice_cost(ms, tgt["sub_mask"]) + _bce_cost(ms, tgt["sub_mask"])
                     + _dice_cost(mo, tgt["obj_mask"]) + _bce_cost(mo, tgt["obj_mask"])) / 2
        cost = 1.2 * cls_cost + mask_cost
    r, c = linear_sum_assignment(cost.numpy())
    return r, c


def _dice_loss(logits: Tensor, tgt: Tensor) -> Tensor:
    p = logits.sigmoid().flatten(1)
    t = tgt.flatten(1)
    return (1 - (2 * (p * t).sum(1) + 1) / (p.sum(1) + t.sum(1) + 1)).mean()


def targets_for(masks: np.ndarray, labels: np.ndarray, rels: np.ndarray, size: int) -> dict[str, Tensor]:
    m = torch.from_numpy(np.asarray(masks, dtype=np.float32))
    if len(m):
        m = F.adaptive_avg_pool2d(m[:, None], size)[:, 0]
    rels = np.asarray(rels, dtype=np.int64).reshape(-1, 3)
    lab = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    s, o = torch.as_tensor(rels[:, 0]), torch.as_tensor(rels[:, 1])
    return {"sub": lab[s], "obj": lab[o], "rel": torch.as_tensor(rels[:, 2]),
            "sub_mask": m[s] if len(m) else torch.zeros(0, size, size),
            "obj_mask": m[o] if len(m) else torch.zeros(0, size, size)}


def loss_fn(out: dict[str, Tensor], tgts: list[dict[str, Tensor]], nc: int, npred: int, cfg: PSGTRConfig) -> Tensor:
    b, q = out["sub"].shape[:2]
    sub_t = torch.full((b, q), nc, dtype=torch.long)
    obj_t = torch.full((b, q), nc, dtype=torch.long)
    rel_t = torch.zeros((b, q), dtype=torch.long)
    pos = torch.zeros((b, q), dtype=torch.bool)
    ms, mo, ts, to = [], [], [], []
    for i, t in enumerate(tgts):
        r, c = match(out, i, t, cfg.rel_weight)
        if len(r) == 0:
            continue
        r_t, c_t = torch.as_tensor(r), torch.as_tensor(c)
        sub_t[i, r_t], obj_t[i, r_t], rel_t[i, r_t] = t["sub"][c_t], t["obj"][c_t], t["rel"][c_t] + 1
        pos[i, r_t] = True
        ms.append(out["sub_mask"][i, r_t])
        mo.append(out["obj_mask"][i, r_t])
        ts.append(t["sub_mask"][c_t])
        to.append(t["obj_mask"][c_t])
    w_rel = torch.ones(npred + 1)
    w_rel[0] = cfg.bg_weight
    loss = cfg.rel_weight * F.cross_entropy(out["rel"].flatten(0, 1), rel_t.flatten(), weight=w_rel)
    loss = loss + _so_loss(out, sub_t, obj_t, pos, nc, cfg)
    if ms:
        pm, tm = torch.cat(ms + mo), torch.cat(ts + to)
        m_loss = 2 * _dice_loss(pm, tm)  # subject + object, each the mean over matches (the reference's two terms)
        if cfg.mask_loss == "bce+dice":
            m_loss = m_loss + 2 * F.binary_cross_entropy_with_logits(pm, tm)
        loss = loss + cfg.mask_weight * m_loss
    return loss


def _so_loss(out: dict[str, Tensor], sub_t: Tensor, obj_t: Tensor, pos: Tensor, nc: int, cfg: PSGTRConfig) -> Tensor:
    """Subject + object cross-entropy: on the matched queries only (``so_loss="matched"``, the reference), or on
    every query with unmatched ones to no-object at class weight ``bg_weight`` (``"all"``)."""
    if cfg.so_loss == "matched":
        if not pos.any():
            return out["sub"].sum() * 0.0
        return (F.cross_entropy(out["sub"][pos], sub_t[pos]) + F.cross_entropy(out["obj"][pos], obj_t[pos]))
    w_cls = torch.ones(nc + 1)
    w_cls[nc] = cfg.bg_weight
    return (F.cross_entropy(out["sub"].flatten(0, 1), sub_t.flatten(), weight=w_cls)
            + F.cross_entropy(out["obj"].flatten(0, 1), obj_t.flatten(), weight=w_cls))


def decode(out: dict[str, Tensor], b: int, size: int, cfg: PSGTRConfig, graph_constraint: bool,
           max_triplets: int = 100, mode: str | None = None) -> ScenePred:
    """Ranked triplets of image ``b`` (masks: Q subject masks then Q object masks). ``mode`` (default
    ``cfg.decode``): ``"openpsg"``, the top entries over queries x predicates, de-duplicated, and (under the graph
    constraint) each relabelled to its query's best predicate; ``"per-query"``, each query's best predicate under
    the graph constraint. Without the graph constraint both give the de-duplicated top entries."""
    mode = mode or cfg.decode
    with torch.no_grad():
        s_l = out["sub"][b].softmax(-1)[:, :-1].argmax(-1).numpy()
        o_l = out["obj"][b].softmax(-1)[:, :-1].argmax(-1).numpy()
        r = out["rel"][b].softmax(-1)[:, 1:]
        q, p = r.shape
        best = r.argmax(-1).numpy()
        if graph_constraint and mode == "per-query":
            sc, pred = r.max(-1)
            qi = torch.arange(q)
        else:
            sc, flat = r.flatten().topk(min(max_triplets, q * p))
            qi, pred = flat // p, flat % p
        order = torch.argsort(sc, descending=True, stable=True)
        qi, pred, sc = qi[order].numpy(), pred[order].numpy(), sc[order].numpy()
        sm = (out["sub_mask"][b].sigmoid() > cfg.mask_thr).numpy()
        om = (out["obj_mask"][b].sigmoid() > cfg.mask_thr).numpy()
    keep = _dedup(qi, pred, s_l, o_l, sm, om)
    if graph_constraint and mode == "openpsg":
        pred = best[qi]  # the evaluator's argmax over the query's predicate distribution; the entry's rank kept
    trip = np.column_stack([qi, qi + q, pred])[keep][:max_triplets]
    return ScenePred(np.concatenate([sm, om]), np.concatenate([s_l, o_l]), trip, sc[keep][:max_triplets])


def _dedup(qi: np.ndarray, pred: np.ndarray, sl: np.ndarray, ol: np.ndarray, sm: np.ndarray, om: np.ndarray
           ) -> np.ndarray:
    keep = np.ones(len(qi), bool)
    flat_s, flat_o = sm.reshape(len(sm), -1), om.reshape(len(om), -1)

    def iou(a: np.ndarray, b: np.ndarray) -> float:
        u = np.logical_or(a, b).sum()
        return float(np.logical_and(a, b).sum() / u) if u else 0.0

    kept: dict[tuple[int, int, int], list[int]] = {}
    for t, (q, p) in enumerate(zip(qi, pred)):
        key = (int(sl[q]), int(ol[q]), int(p))
        for k in kept.get(key, []):
            if iou(flat_s[q], flat_s[k]) > 0.5 and iou(flat_o[q], flat_o[k]) > 0.5:
                keep[t] = False
                break
        if keep[t]:
            kept.setdefault(key, []).append(int(q))
    return keep


class PSGTRTrainable(nn.Module):
    """PSGTR as the engine's :class:`~trustlab.engine.protocols.Trainable`: a batch is the training scenes' indices;
    the loss is every decoder layer matched and supervised on its own (DETR's auxiliary losses); AdamW (weight decay
    1e-4) and a one-cycle schedule over ``method.epochs`` x the batches of an epoch (10% rising)."""

    def __init__(self, net: PSGTR, images: Tensor, tgts: list[dict[str, Tensor]], m: PSGTRConfig) -> None:
        super().__init__()
        self.net, self.images, self.tgts, self.m = net, images, tgts, m

    def training_step(self, batch: tuple[Tensor]) -> dict[str, Tensor]:
        idx = batch[0].tolist()
        out = self.net(self.images[idx], aux=True)
        batch_t = [self.tgts[i] for i in idx]
        nc, npred = self.net.num_classes, self.net.num_predicates
        loss = loss_fn(out, batch_t, nc, npred, self.m)
        for o in out["aux"]:
            loss = loss + loss_fn(o, batch_t, nc, npred, self.m)
        return {"loss": loss}

    def predict(self, x: Tensor) -> Tensor:
        return self.net(x)["rel"]

    def configure_optimizers(self, cfg: Any) -> torch.optim.Optimizer:
        if not hasattr(self.net, "resnet"):
            return torch.optim.AdamW(self.net.parameters(), lr=self.m.lr, weight_decay=1e-4)
        # the reference's pretrained backbone learns at a tenth of the rest (lr 1e-4, backbone lr_mult 0.1)
        body = set(map(id, self.net.resnet.parameters()))
        rest = [p for p in self.net.parameters() if id(p) not in body]
        groups = [{"params": rest}, {"params": list(self.net.resnet.parameters()), "lr": self.m.lr * 0.1}]
        return torch.optim.AdamW(groups, lr=self.m.lr, weight_decay=1e-4)

    def configure_scheduler(self, optimizer: torch.optim.Optimizer, cfg: Any, steps_per_epoch: int) -> Any:
        steps = cfg.epochs * steps_per_epoch
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=self.m.lr, total_steps=steps, pct_start=0.1)


def train_psgtr(net: PSGTR, tr: Any, cfg: PSGTRRecipeConfig, ctx: Any) -> None:
    """``method.epochs`` epochs through :func:`trustlab.engine.fit.fit` (``train.seed`` orders the batches,
    ``train.grad_clip`` and ``train.grad_accum_steps`` act); one ``metrics.jsonl`` row per epoch (mean step loss)."""
    from trustlab.engine.fit import StreamBatchSampler, TensorRows, fit
    from trustlab.experiment import TrainConfig

    m, size, t = cfg.method, cfg.data.image_size, cfg.train
    tgts = [targets_for(tr.masks[i], tr.labels[i], tr.rels[i], size) for i in range(len(tr))]
    tcfg = TrainConfig(epochs=m.epochs, lr=m.lr, grad_clip=t.grad_clip, grad_accum_steps=t.grad_accum_steps,
                       device="cpu", seed=t.seed, eval_every=m.epochs)
    order = StreamBatchSampler(len(tr), cfg.data.batch_size, torch.Generator().manual_seed(t.seed))
    result = fit(PSGTRTrainable(net, tr.images, tgts, m), TensorRows(torch.arange(len(tr))), tcfg,
                 batch_sampler=order, collate_fn=TensorRows.collate, quiet=True, generator=torch.Generator())
    for epoch, row in enumerate(result.history):
        ctx.record.log({"epoch": epoch, "loss": row["train/loss"]})
    net.eval()
