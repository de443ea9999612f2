"""The two-stage PSG algorithm: train the panoptic segmenter (stage 1), segment, build the relation graphs on its
frozen features, train the relation head (stage 2), and the prior-only baseline's predictions. The networks are
in :mod:`trustlab.methods.psg.twostage`, the run in :mod:`trustlab.methods.psg.run`."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from trustlab.methods.psg.config import TwoStageConfig, TwoStageTrainConfig
from trustlab.methods.psg.data import Prepared
from trustlab.metrics.psg import ScenePred


class _Segmenter(torch.nn.Module):
    """Stage 1 as the engine's Trainable: class-weighted per-pixel cross-entropy + boundary BCE (pos weight 3),
    Adam and a one-cycle schedule (15% rising) over ``method.seg_epochs``; a batch is the scenes' indices."""

    def __init__(self, net: Any, images: torch.Tensor, target: torch.Tensor, bnd: torch.Tensor, weight: torch.Tensor,
                 cfg: TwoStageConfig) -> None:
        super().__init__()
        self.net, self.images, self.target, self.bnd, self.weight, self.cfg = net, images, target, bnd, weight, cfg

    def training_step(self, batch: tuple[torch.Tensor]) -> dict[str, torch.Tensor]:
        idx = batch[0]
        _, logits, b = self.net(self.images[idx])
        loss = F.cross_entropy(logits, self.target[idx], weight=self.weight, ignore_index=-100)
        loss = loss + F.binary_cross_entropy_with_logits(b, self.bnd[idx], pos_weight=torch.tensor(3.0))
        return {"loss": loss}

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[1]

    def configure_optimizers(self, cfg: Any) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.net.parameters(), lr=self.cfg.lr)

    def configure_scheduler(self, optimizer: torch.optim.Optimizer, cfg: Any, steps_per_epoch: int) -> Any:
        steps = max(cfg.epochs * steps_per_epoch, 1)
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=self.cfg.lr, total_steps=steps, pct_start=0.15)


class _NumpyOrder(torch.utils.data.Sampler):
    """As :class:`~trustlab.engine.fit.StreamBatchSampler` with a numpy ``permutation`` from ``rng`` (the relation
    head's stream, which its steps also draw from for the background pairs)."""

    def __init__(self, n: int, batch_size: int, rng: np.random.Generator) -> None:
        self.n, self.batch_size, self.rng = n, batch_size, rng

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def __iter__(self) -> Any:
        perm = self.rng.permutation(self.n)
        for s in range(0, self.n, self.batch_size):
            yield [int(i) for i in perm[s : s + self.batch_size]]


def _engine_config(epochs: int, lr: float, train: TwoStageTrainConfig) -> Any:
    from trustlab.experiment import TrainConfig

    return TrainConfig(epochs=epochs, lr=lr, grad_clip=train.grad_clip, grad_accum_steps=train.grad_accum_steps,
                       device="cpu", seed=train.seed, eval_every=epochs)


def train_segmenter(tr: Prepared, num_classes: int, cfg: TwoStageConfig, batch_size: int, seed: int,
                    train: TwoStageTrainConfig | None = None) -> Any:
    """Stage 1 through :func:`trustlab.engine.fit.fit` (``train.grad_clip`` / ``grad_accum_steps`` act)."""
    from trustlab.engine.fit import StreamBatchSampler, TensorRows, fit
    from trustlab.methods.psg.twostage import TinyPanoptic, boundary_target

    train = train or TwoStageTrainConfig(seed=seed)
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
    order = StreamBatchSampler(len(tr), batch_size, torch.Generator().manual_seed(seed))
    fit(_Segmenter(net, tr.images, target, bnd, weight, cfg), TensorRows(torch.arange(len(tr))),
        _engine_config(cfg.seg_epochs, cfg.lr, train), batch_sampler=order, collate_fn=TensorRows.collate, quiet=True,
        generator=torch.Generator())
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


class _Relation(torch.nn.Module):
    """Stage 2 as the engine's Trainable: predicate cross-entropy over the sampled pairs (background included) +
    object classification, Adam and a one-cycle schedule (15% rising) over ``method.rel_epochs``."""

    def __init__(self, head: Any, g: Any, num_classes: int, rng: np.random.Generator, cfg: TwoStageConfig) -> None:
        super().__init__()
        self.head, self.g, self.num_classes, self.rng, self.cfg = head, g, num_classes, rng, cfg

    def training_step(self, batch: tuple[torch.Tensor]) -> dict[str, torch.Tensor]:
        from trustlab.methods.psg.twostage import pad_batch, rel_targets

        idx = batch[0].tolist()
        x, geo, lab, pad = pad_batch(self.g, idx)
        tgt = rel_targets(self.g, idx, x.shape[1], self.rng)
        obj_logits, _, rel = self.head(x, geo, lab, pad)
        loss = F.cross_entropy(rel.reshape(-1, rel.shape[-1]), tgt.reshape(-1), ignore_index=-100)
        loss = loss + F.cross_entropy(obj_logits.reshape(-1, self.num_classes), lab.reshape(-1), ignore_index=-1)
        return {"loss": loss}

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Relation logits (graph, subject, object, predicate) of the graphs whose indices ``x`` holds (the inputs
        fit's batches carry); decoding to triplets is ``twostage.predict_pairs``."""
        from trustlab.methods.psg.twostage import pad_batch

        feats, geo, lab, pad = pad_batch(self.g, x.tolist())
        return self.head(feats, geo, lab, pad)[2]

    def configure_optimizers(self, cfg: Any) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.head.parameters(), lr=self.cfg.lr)

    def configure_scheduler(self, optimizer: torch.optim.Optimizer, cfg: Any, steps_per_epoch: int) -> Any:
        steps = max(cfg.epochs * steps_per_epoch, 1)
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=self.cfg.lr, total_steps=steps, pct_start=0.15)


def train_relation(g: Any, num_classes: int, num_predicates: int, cfg: TwoStageConfig, freq_log: np.ndarray | None,
                   batch_size: int, seed: int, train: TwoStageTrainConfig | None = None) -> Any:
    """Stage 2 through :func:`trustlab.engine.fit.fit` (batches of at least 16 graphs)."""
    from trustlab.engine.fit import TensorRows, fit
    from trustlab.methods.psg.twostage import RelationHead

    train = train or TwoStageTrainConfig(seed=seed)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    head = RelationHead(g.x[0].shape[1], num_classes, num_predicates, cfg.rel_dim, cfg.context,
                        freq_log if cfg.freq_bias else None)
    n = len(g.labels)
    order = _NumpyOrder(n, max(batch_size, 16), rng)
    fit(_Relation(head, g, num_classes, rng, cfg), TensorRows(torch.arange(n)),
        _engine_config(cfg.rel_epochs, cfg.lr, train), batch_sampler=order, collate_fn=TensorRows.collate, quiet=True,
        generator=torch.Generator())
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
