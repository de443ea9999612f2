"""TrainConfig's training options in fit(): onecycle, constant warm-up, amp_dtype, gradient accumulation,
host syncs only at log steps (NaN guard there and at the epoch's end), and the batch samplers."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

import trustlab.engine.fit as fit_mod
from trustlab.config import build_config
from trustlab.engine.fit import RandomBatchSampler, TensorRows, autocast_dtype, fit
from trustlab.engine.optim import build_optimizer, build_scheduler, lr_factor
from trustlab.errors import ConfigError, TrainingDivergedError
from trustlab.experiment import TrainConfig
from trustlab.runs.store import RunRecord


class Lin(nn.Module):
    """Deterministic (no dropout) regression + classification toy."""

    def __init__(self, nan_at: int | None = None) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(6, 12), nn.Tanh(), nn.Linear(12, 3))
        self.calls, self.nan_at = 0, nan_at

    def training_step(self, batch):
        x, y = batch
        loss = F.cross_entropy(self.net(x), y)
        if self.calls == self.nan_at:
            loss = loss * float("nan")
        self.calls += 1
        return {"loss": loss, "n": torch.tensor(float(len(y)))}

    def predict(self, x):
        return self.net(x)

    def configure_optimizers(self, cfg):
        return build_optimizer(self.parameters(), cfg)


def data(n: int = 120) -> TensorDataset:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, 6, generator=g)
    return TensorDataset(x, (x[:, 0] + x[:, 1] > 0).long() + (x[:, 2] > 1).long())


SGD = TrainConfig(epochs=2, lr=0.2, momentum=0.9, weight_decay=1e-3, schedule="cosine", device="cpu", seed=3)


def params(m: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in m.parameters()])


@pytest.mark.parametrize("batch,k", [(40, 4), (30, 4), (24, 3)])
def test_accumulating_k_micro_batches_is_one_big_batch_step(batch, k):
    """Micro-batches weighted by their share of the batch (even when it does not split evenly) give the big
    batch's mean-loss gradient: the same SGD trajectory and the same logged loss."""
    one, acc = Lin(), Lin()
    r1 = fit(one, data(), SGD, batch_size=batch, quiet=True)
    rk = fit(acc, data(), replace(SGD, grad_accum_steps=k), batch_size=batch, quiet=True)
    torch.testing.assert_close(params(acc), params(one), rtol=0, atol=1e-5)
    assert rk.steps == r1.steps and acc.calls == k * one.calls
    assert rk.history[-1]["train/loss"] == pytest.approx(r1.history[-1]["train/loss"], abs=1e-5)
    assert rk.history[-1]["train/n"] == pytest.approx(batch / k, rel=0.1)  # scalars: the micro-batches' mean


def test_accumulation_that_would_leave_empty_micro_batches_is_refused():
    with pytest.raises(ConfigError, match="grad_accum_steps=8 splits a batch of 4"):
        fit(Lin(), data(), replace(SGD, grad_accum_steps=8), batch_size=4, quiet=True)
    with pytest.raises(ConfigError, match="grad_accum_steps must be >= 1"):
        TrainConfig(grad_accum_steps=0)


def test_onecycle_is_torchs_onecycle():
    cfg = TrainConfig(epochs=4, optimizer="adam", lr=3e-3, weight_decay=0.0, schedule="onecycle", pct_start=0.25)
    a, b = nn.Linear(2, 2), nn.Linear(2, 2)
    oa, ob = build_optimizer(a.parameters(), cfg), torch.optim.Adam(b.parameters(), lr=3e-3)
    sa = build_scheduler(oa, cfg, steps_per_epoch=5)
    sb = torch.optim.lr_scheduler.OneCycleLR(ob, max_lr=3e-3, total_steps=20, pct_start=0.25)
    seen = []
    for _ in range(20):
        assert oa.param_groups[0]["lr"] == ob.param_groups[0]["lr"]
        assert oa.param_groups[0]["betas"] == ob.param_groups[0]["betas"]  # beta1 cycles too
        seen.append(oa.param_groups[0]["lr"])
        oa.step(), ob.step(), sa.step(), sb.step()
    assert max(seen) == pytest.approx(3e-3) and seen.index(max(seen)) == 4  # peak after pct_start of the steps
    assert seen[-1] < 3e-3 / 1e3
    with pytest.raises(ConfigError, match="onecycle warms up by itself"):
        TrainConfig(schedule="onecycle", warmup_epochs=1)


def test_constant_warmup_holds_the_factor_then_hands_over():
    total, spe = 100, 10
    const = TrainConfig(epochs=10, schedule="cosine", warmup="constant", warmup_epochs=1, warmup_steps=5,
                        warmup_factor=0.1)
    assert [lr_factor(s, total, spe, const) for s in (0, 7, 14)] == [0.1, 0.1, 0.1]
    assert lr_factor(15, total, spe, const) == pytest.approx(1.0)  # cosine starts after the 15 warm-up steps
    assert lr_factor(15 + 85 // 2, total, spe, const) == pytest.approx(0.5, abs=0.02)
    linear = replace(const, warmup="linear")
    assert lr_factor(0, total, spe, linear) == pytest.approx(1 / 15) and lr_factor(14, total, spe, linear) == 1.0
    step = replace(const, schedule="step", step_size=3, gamma=0.5)
    assert lr_factor(10, total, spe, step) == 0.1 and lr_factor(30, total, spe, step) == 0.5
    # in fit: the first epoch (6 steps) lies inside a 10-step constant warm-up
    res = fit(Lin(), data(), TrainConfig(epochs=2, lr=0.2, schedule="constant", warmup="constant", warmup_steps=10,
                                          warmup_factor=0.25, device="cpu"), batch_size=20, quiet=True)
    assert [r["lr"] for r in res.history] == [pytest.approx(0.05), pytest.approx(0.2)]


def test_closed_choices_are_validated():
    with pytest.raises(ConfigError, match="amp_dtype"):
        build_config(TrainConfig, {}, None, {"amp_dtype": "fp8"})
    with pytest.raises(ConfigError, match="warmup"):
        build_config(TrainConfig, {}, None, {"warmup": "cosine"})
    assert build_config(TrainConfig, {}, None, {"schedule": "onecycle"}).schedule == "onecycle"


def test_amp_dtype():
    cuda = torch.device("cuda", 0)
    assert TrainConfig().amp_dtype == "bf16"
    assert autocast_dtype(TrainConfig(amp=True), cuda) == torch.bfloat16
    assert autocast_dtype(TrainConfig(amp=True, amp_dtype="fp16"), cuda) == torch.float16
    assert autocast_dtype(TrainConfig(amp=False, amp_dtype="fp16"), cuda) is None
    assert autocast_dtype(TrainConfig(amp=True), torch.device("cpu")) is None  # AMP is CUDA only


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype,scaled", [("bf16", False), ("fp16", True)])
def test_amp_on_cuda_uses_the_configured_dtype(dtype, scaled, tmp_path):
    seen = []

    class Probe(Lin):
        def training_step(self, batch):
            seen.append(self.net[0](batch[0]).dtype)
            return super().training_step(batch)

    rec = RunRecord.create("toy", {}, root=tmp_path)
    fit(Probe(), data(), replace(SGD, device="cuda", amp=True, amp_dtype=dtype), batch_size=20, record=rec,
        quiet=True)
    assert set(seen) == {torch.bfloat16 if dtype == "bf16" else torch.float16}
    state = torch.load(rec.checkpoint_path(), weights_only=True)
    assert bool(state["scaler"]) == scaled  # a GradScaler only for fp16


def test_host_syncs_only_at_log_steps_and_epoch_end(monkeypatch):
    checks = []
    real = fit_mod._check_finite
    monkeypatch.setattr(fit_mod, "_check_finite", lambda *a: (checks.append(a[1:3]), real(*a)))
    fit(Lin(), data(), replace(SGD, epochs=1, log_every=4), batch_size=10, quiet=True)  # 12 steps
    assert checks == [(0, 0), (0, 4), (0, 8), (0, 11)]  # (epoch, step): steps 1, 5, 9 and the epoch's sum


def test_nan_between_log_steps_is_caught_at_the_epoch_end(tmp_path):
    rec = RunRecord.create("toy", {}, root=tmp_path)
    with pytest.raises(TrainingDivergedError, match=r"loss became nan at epoch 1, step 12 \(summed over the epoch\)"):
        fit(Lin(nan_at=2), data(), replace(SGD, log_every=50), batch_size=10, record=rec, quiet=True)
    assert not rec.checkpoint_path().exists()  # the diverged epoch is never checkpointed


def test_random_batch_sampler_and_tensor_rows():
    s = RandomBatchSampler(50, 4, steps=3, seed=7)
    g = torch.Generator().manual_seed(7)
    assert list(s) == [torch.randint(0, 50, (4,), generator=g).tolist() for _ in range(3)] and len(s) == 3
    s.set_epoch(1)
    assert list(s) != list(RandomBatchSampler(50, 4, steps=3, seed=7))
    x, y = torch.arange(10.0), torch.arange(10) * 2
    rows = TensorRows(x, y)
    xb, yb = TensorRows.collate(rows.__getitems__([3, 1, 3]))
    assert xb.tolist() == [3.0, 1.0, 3.0] and yb.tolist() == [6, 2, 6] and len(rows) == 10
    res = fit(Lin(), TensorRows(torch.randn(40, 6), torch.randint(0, 3, (40,))), replace(SGD, epochs=1),
              batch_sampler=RandomBatchSampler(40, 8, steps=5, seed=0), collate_fn=TensorRows.collate, quiet=True)
    assert res.steps == 5
    with pytest.raises(ConfigError, match="exactly one of batch_size and batch_sampler"):
        fit(Lin(), data(), SGD, quiet=True)
