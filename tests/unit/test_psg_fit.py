"""PSGTR trains through ``trustlab.engine.fit`` (issue 24): bit-identical to the loop it replaced, written out here,
on several batches a epoch with a short last one; ``train.grad_clip`` and ``train.grad_accum_steps`` act."""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from trustlab.methods.psg.config import PSGDataConfig, PSGTRConfig, PSGTRRecipeConfig, PSGTRTrainConfig
from trustlab.methods.psg.psgtr import PSGTR, loss_fn, targets_for, train_psgtr

SIZE, N, BS = 16, 11, 4  # 3 batches a epoch, the last one of 3


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread: on a loaded machine idle OpenMP threads spin (10x the CPU time of these tiny steps)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _scenes(seed: int = 0) -> SimpleNamespace:
    rng = np.random.default_rng(seed)
    images = torch.rand(N, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))
    masks, labels, rels = [], [], []
    for _ in range(N):
        k = 3
        seg = rng.integers(0, k, size=(SIZE, SIZE))
        masks.append(np.stack([seg == j for j in range(k)]))
        labels.append(rng.integers(0, 4, size=k))
        rels.append(np.array([[0, 1, rng.integers(0, 3)], [2, 0, rng.integers(0, 3)]]))
    return SimpleNamespace(images=images, masks=masks, labels=labels, rels=rels)


class _Tr(SimpleNamespace):
    def __len__(self) -> int:
        return len(self.images)


def _old_loop(net: PSGTR, tr: _Tr, cfg: PSGTRRecipeConfig) -> None:
    """The loop before engine.fit (commit f96aea1), written out."""
    m, size, bs = cfg.method, cfg.data.image_size, cfg.data.batch_size
    nc, npred = net.num_classes, net.num_predicates
    tgts = [targets_for(tr.masks[i], tr.labels[i], tr.rels[i], size) for i in range(len(tr))]
    opt = torch.optim.AdamW(net.parameters(), lr=m.lr, weight_decay=1e-4)
    steps = m.epochs * max(1, -(-len(tr) // bs))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=m.lr, total_steps=steps, pct_start=0.1)
    g = torch.Generator().manual_seed(cfg.train.seed)
    net.train()
    for _ in range(m.epochs):
        perm = torch.randperm(len(tr), generator=g)
        for s in range(0, len(tr), bs):
            idx = perm[s : s + bs].tolist()
            out = net(tr.images[idx], aux=True)
            batch_t = [tgts[i] for i in idx]
            loss = loss_fn(out, batch_t, nc, npred, m)
            for o in out["aux"]:
                loss = loss + loss_fn(o, batch_t, nc, npred, m)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            sched.step()
    net.eval()


def _setup(**train: object) -> tuple[PSGTR, _Tr, PSGTRRecipeConfig]:
    sc = _scenes()
    tr = _Tr(images=sc.images, masks=sc.masks, labels=sc.labels, rels=sc.rels)
    cfg = PSGTRRecipeConfig(data=PSGDataConfig(image_size=SIZE, batch_size=BS),
                            method=PSGTRConfig(queries=4, dim=16, epochs=2, figures=False),
                            train=PSGTRTrainConfig(**{"seed": 3, **train}))  # type: ignore[arg-type]
    torch.manual_seed(0)
    return PSGTR(4, 3, cfg.method, SIZE), tr, cfg


def _trained(net: PSGTR, tr: _Tr, cfg: PSGTRRecipeConfig) -> dict[str, torch.Tensor]:
    torch.manual_seed(1)  # dropout
    ctx = SimpleNamespace(record=SimpleNamespace(log=lambda row: None))
    train_psgtr(net, tr, cfg, ctx)
    return net.state_dict()


def test_psgtr_fit_is_bit_identical_to_the_old_loop() -> None:
    net, tr, cfg = _setup()
    old = copy.deepcopy(net)
    new_w = _trained(net, tr, cfg)
    torch.manual_seed(1)
    _old_loop(old, tr, cfg)
    old_w = old.state_dict()
    assert new_w.keys() == old_w.keys()
    assert all(torch.equal(new_w[k], old_w[k]) for k in new_w)
    start = _setup()[0].state_dict()
    assert not all(torch.equal(new_w[k], start[k]) for k in new_w)  # it trained


def test_psgtr_train_keys_act() -> None:
    base = _trained(*_setup())
    for train in ({"grad_clip": None}, {"grad_accum_steps": 2}, {"seed": 4}):
        other = _trained(*_setup(**train))
        assert not all(torch.equal(base[k], other[k]) for k in base), train


def _old_segmenter(tr: Any, num_classes: int, cfg: Any, batch_size: int, seed: int) -> Any:
    """Stage 1's loop before engine.fit (commit f96aea1), written out."""
    import torch.nn.functional as F

    from trustlab.methods.psg.twostage import TinyPanoptic, boundary_target

    torch.manual_seed(seed)
    net = TinyPanoptic(num_classes, cfg.seg_width)
    cats = []
    for i in range(len(tr)):
        cat = np.full(tr.pans[i].shape, -100, dtype=np.int64)
        for m, c in zip(tr.masks[i], tr.labels[i]):
            cat[m] = c
        cats.append(cat)
    target = torch.from_numpy(np.stack(cats))
    bnd = torch.from_numpy(np.stack([boundary_target(p) for p in tr.pans]))
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


def _old_relation(g: Any, num_classes: int, num_predicates: int, cfg: Any, freq_log: Any, batch_size: int,
                  seed: int) -> Any:
    """Stage 2's loop before engine.fit (commit f96aea1), written out."""
    import torch.nn.functional as F

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


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_two_stage_fit_is_bit_identical_to_the_old_loops() -> None:
    """Both stages on 19 scenes, batches of 8 (segmenter: 3 a epoch, short last) and 16 (relation head: 2)."""
    from trustlab.methods.psg.config import TwoStageConfig, TwoStageTrainConfig
    from trustlab.methods.psg.data import load_splits
    from trustlab.methods.psg.method import graphs_for, segment, train_relation, train_segmenter
    from trustlab.methods.psg.twostage import freq_counts, freq_log_init

    data, sp = load_splits(PSGDataConfig(max_train=19, max_test=2))
    tr, nc, npred = sp["train"], data.num_classes, data.num_predicates
    cfg = TwoStageConfig(seg_epochs=2, rel_epochs=2, seg_width=8, rel_dim=16, figures=False)
    seg = train_segmenter(tr, nc, cfg, 8, 5, TwoStageTrainConfig(seed=5))
    assert _same(seg, _old_segmenter(tr, nc, cfg, 8, 5))
    feats, _ = segment(seg, tr.images, len(data.thing_classes), cfg.min_area)
    g = graphs_for(feats, tr.images, tr.masks, tr.labels, tr.rels)
    rel_ct, pair_ct = freq_counts([SimpleNamespace(labels=lab, relations=r) for lab, r in zip(tr.labels, tr.rels)],
                                  nc, npred)
    fl = freq_log_init(rel_ct, pair_ct)
    head = train_relation(g, nc, npred, cfg, fl, 8, 5, TwoStageTrainConfig(seed=5))
    assert _same(head, _old_relation(g, nc, npred, cfg, fl, 8, 5))
    clipped = train_relation(g, nc, npred, cfg, fl, 8, 5, TwoStageTrainConfig(seed=5, grad_clip=1e-3))
    assert not _same(head, clipped)  # train.grad_clip acts
    # the Trainable's predict: the head's relation logits of the graphs an index batch names
    from trustlab.methods.psg.method import _Relation
    from trustlab.methods.psg.twostage import pad_batch

    trainable = _Relation(head, g, nc, np.random.default_rng(0), cfg)
    with torch.no_grad():
        out = trainable.predict(torch.tensor([0, 3]))
        x, geo, lab, pad = pad_batch(g, [0, 3])
        assert torch.equal(out, head(x, geo, lab, pad)[2])
