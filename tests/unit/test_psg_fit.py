"""PSGTR trains through ``trustlab.engine.fit`` (issue 24): bit-identical to the loop it replaced, written out here,
on several batches a epoch with a short last one; ``train.grad_clip`` and ``train.grad_accum_steps`` act."""

from __future__ import annotations

import copy
from types import SimpleNamespace

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
