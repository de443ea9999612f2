"""CoOp as its reference: Dassl's learning-rate schedule (values computed by hand), the loop through the engine's
fit() equal to a hand-written loop with Dassl's batches and schedule, and lpclip's C search."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from trustlab.methods.coop.clip_model import build_clip
from trustlab.methods.coop.config import CoOpConfig
from trustlab.methods.coop.method import ContextTrainer, CoOp, dassl_lr, fit_coop, search_c

NAMES = ["zero", "one", "two"]


@pytest.fixture(scope="module")
def clip():
    return build_clip("tiny", None)


def test_dassl_schedule_by_hand():
    # configs/trainers/CoOp: LR 0.002, MAX_EPOCH 4 (here), WARMUP_EPOCH 1, WARMUP_TYPE constant, WARMUP_CONS_LR 1e-5;
    # Dassl steps the scheduler after each epoch: epoch 0 at 1e-5, then CosineAnnealingLR(T_max=4) from its start
    # (WARMUP_RECOUNT): 0.002, 0.001 * (1 + cos(pi / 4)) = 0.0017071..., 0.001 * (1 + cos(pi / 2)) = 0.001
    want = [1e-5, 0.002, 0.0017071067811865476, 0.001]
    got = [dassl_lr(e, 0.002, 4, 1, 1e-5) for e in range(4)]
    assert got == pytest.approx(want, rel=1e-12, abs=0)
    # 200 epochs (8-16 shots): the last epoch is cos(pi * 198 / 200), not zero
    assert dassl_lr(199, 0.002, 200, 1, 1e-5) == pytest.approx(0.001 * (1 + math.cos(math.pi * 198 / 200)))


def test_engine_scheduler_holds_each_epochs_lr_for_all_its_steps(clip):
    model = CoOp(clip, NAMES, CoOpConfig(n_ctx=4))
    trainer = ContextTrainer(model, CoOpConfig(), 0.002, 4)
    opt = torch.optim.SGD([model.prompt_learner.ctx], lr=0.002)
    sched = trainer.configure_scheduler(opt, None, steps_per_epoch=3)  # type: ignore[arg-type]
    lrs = []
    for _ in range(12):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    want = [dassl_lr(e, 0.002, 4, 1, 1e-5) for e in range(4)]
    assert lrs == pytest.approx([w for w in want for _ in range(3)], rel=1e-12)


def _hand_written(model: CoOp, feats, y, cfg: CoOpConfig, epochs: int, seed: int) -> list[float]:
    """CoOp's loop written out: Dassl's batches (random order per epoch, last incomplete batch dropped unless
    the data are fewer than one batch) and schedule, SGD on the context; the order drawn as the engine's
    EpochBatchSampler draws it (seed * 1_000_003 + epoch)."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    n, bs, losses = len(y), cfg.batch_size, []
    model.train()
    for epoch in range(epochs):
        for g in opt.param_groups:
            g["lr"] = dassl_lr(epoch, cfg.lr, epochs, cfg.warmup_epochs, cfg.warmup_lr)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
        steps, total = max(n // bs, 1), 0.0
        for k in range(steps):
            idx = perm[k * bs:(k + 1) * bs]
            loss = F.cross_entropy(model.logits_from_features(feats[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach())
        losses.append(total / steps)
    return losses


@pytest.mark.parametrize("n", [10, 70])  # fewer than one batch; two batches and a dropped remainder of 6
def test_fit_through_the_engine_equals_the_hand_written_loop(clip, n):
    torch.manual_seed(0)
    feats = F.normalize(torch.randn(n, 64), dim=-1)
    y = torch.arange(n) % 3
    cfg = CoOpConfig(n_ctx=4, epochs=5, lr=0.5)
    torch.manual_seed(1)
    a = CoOp(clip, NAMES, cfg)
    torch.manual_seed(1)
    b = CoOp(clip, NAMES, cfg)
    want = _hand_written(a, feats, y, cfg, 5, seed=7)
    got = fit_coop(b, feats, y, cfg, 16, 7)
    assert torch.equal(a.prompt_learner.ctx, b.prompt_learner.ctx)  # bit-identical context
    assert got == pytest.approx(want, rel=1e-6)


def test_c_search_ties_go_to_the_smaller_c():
    # separable data: every C from the grid reaches 1.0 on validation, so the grid's first (1e6) is the peak;
    # lpclip then bisects log10(C) in [5, 7], and each tie keeps the left end: C = 1e5 in every round
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-3, 0.3, (8, 4)), rng.normal(3, 0.3, (8, 4))])
    y = np.repeat([0, 1], 8)
    clf, c = search_c((x, y), (x, y))
    assert c == pytest.approx(1e5) and (clf.predict(x) == y).all()
    _, c0 = search_c((x, y), (x, y), steps=0)
    assert c0 == 1e6
