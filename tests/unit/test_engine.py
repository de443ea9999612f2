"""The fit() loop: training, schedules, checkpoint/resume equality, NaN guard, run records."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from trustlab.engine.fit import EpochBatchSampler, fit
from trustlab.engine.optim import build_optimizer, lr_factor
from trustlab.engine.runtime import DistContext, resolve_device, seed_everything
from trustlab.errors import ConfigError, NotFoundError, TrainingDivergedError
from trustlab.experiment import TrainConfig
from trustlab.runs.store import RunRecord


class Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 3))
        self.scale = 1.0

    def training_step(self, batch):
        x, y = batch
        logits = self.model(x) * self.scale
        return {"loss": F.cross_entropy(logits, y), "acc": (logits.argmax(1) == y).float().mean()}

    def predict(self, x):
        return self.model(x)

    def configure_optimizers(self, cfg):
        return build_optimizer(self.parameters(), cfg)


def toy_data(n: int = 96) -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 8, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 1).long()
    return TensorDataset(x, y)


CFG = TrainConfig(epochs=4, lr=0.1, device="cpu", schedule="cosine", warmup_epochs=1)


class AccEval:
    def __init__(self, data):
        self.data = data
        self.calls = 0

    def evaluate(self, method, epoch):
        self.calls += 1
        x, y = self.data.tensors
        return {"val/acc": float((method.predict(x).argmax(1) == y).float().mean())}

    def state_dict(self):
        return {"calls": self.calls}

    def load_state_dict(self, s):
        self.calls = s["calls"]


def test_fit_learns_and_logs(tmp_path) -> None:
    seed_everything(0)
    method, data = Toy(), toy_data()
    rec = RunRecord.create("toy", {"train": {"seed": 0}}, root=tmp_path)
    res = fit(method, data, replace(CFG, epochs=12), batch_size=16, evaluator=AccEval(data), record=rec, quiet=True)
    assert res.history[-1]["val/acc"] > 0.8
    assert res.history[-1]["train/loss"] < res.history[0]["train/loss"]
    rows = rec.metrics()
    assert [r["epoch"] for r in rows] == list(range(1, 13))
    assert {"train/loss", "train/acc", "lr", "val/acc"} <= set(rows[0])
    assert rec.checkpoint_path().is_file()


def test_resume_matches_uninterrupted(tmp_path) -> None:
    data = toy_data()
    seed_everything(1)
    full = Toy()
    res_full = fit(full, data, replace(CFG, seed=1), batch_size=16, evaluator=AccEval(data), quiet=True)

    # a run "killed" after 2 epochs (same seed), then resumed to 4 epochs
    seed_everything(1)
    part = Toy()
    rec = RunRecord.create("toy", {"train": {"seed": 1}}, root=tmp_path)
    short = replace(CFG, seed=1)
    _fit_epochs(part, data, short, rec, stop_after=2)
    seed_everything(123)  # a different process state: resume must restore it
    resumed = Toy()
    res = fit(resumed, data, short, batch_size=16, evaluator=AccEval(data), record=rec, resume=True, quiet=True)
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    assert res.history[-1]["train/loss"] == pytest.approx(res_full.history[-1]["train/loss"], abs=1e-6)
    assert [r["epoch"] for r in rec.metrics()] == [1, 2, 3, 4]


def _fit_epochs(method, data, cfg, rec, stop_after: int) -> None:
    """Simulate a kill: make the evaluator raise after ``stop_after`` checkpoints."""

    class Killer(AccEval):
        def evaluate(self, m, epoch):
            if epoch > stop_after:
                raise KeyboardInterrupt
            return super().evaluate(m, epoch)

    with pytest.raises(KeyboardInterrupt):
        fit(method, data, cfg, batch_size=16, evaluator=Killer(data), record=rec, quiet=True)


def test_resume_without_checkpoint_is_clear(tmp_path) -> None:
    rec = RunRecord.create("toy", {"train": {"seed": 0}}, root=tmp_path)
    with pytest.raises(NotFoundError, match="does not exist; start a fresh run without --resume"):
        fit(Toy(), toy_data(), CFG, batch_size=16, record=rec, resume=True, quiet=True)


def test_nan_guard() -> None:
    method = Toy()
    method.scale = float("nan")
    with pytest.raises(TrainingDivergedError, match="loss became nan at epoch 1, step 1"):
        fit(method, toy_data(), CFG, batch_size=16, quiet=True)


def test_grad_clip_and_schedules() -> None:
    total, spe = 100, 10
    cos = TrainConfig(epochs=10, schedule="cosine", warmup_epochs=1)
    assert lr_factor(0, total, spe, cos) == pytest.approx(0.1)
    assert lr_factor(9, total, spe, cos) == pytest.approx(1.0)
    assert lr_factor(55, total, spe, cos) == pytest.approx(0.5, abs=0.02)
    assert lr_factor(100, total, spe, cos) == pytest.approx(0.0, abs=1e-9)
    step = TrainConfig(epochs=10, schedule="step", step_size=3, gamma=0.1)
    assert lr_factor(29, total, spe, step) == pytest.approx(1.0)
    assert lr_factor(30, total, spe, step) == pytest.approx(0.1)
    assert lr_factor(60, total, spe, step) == pytest.approx(0.01)



@pytest.mark.parametrize("clip", [None, 0.01])
def test_grad_clip_bounds_the_step(clip: float | None) -> None:
    """One plain SGD step moves the parameters by lr * ||g||: at most lr * clip when clipping."""
    cfg = TrainConfig(epochs=1, lr=0.5, momentum=0.0, weight_decay=0.0, schedule="constant", warmup_epochs=0,
                      device="cpu", max_steps_per_epoch=1, grad_clip=clip, eval_every=0)
    torch.manual_seed(0)
    method = Toy()
    method.model[2].p = 0.0  # no dropout: the step is deterministic
    before = torch.cat([q.detach().flatten().clone() for q in method.parameters()])
    fit(method, toy_data(), cfg, batch_size=96, quiet=True)
    step = float((torch.cat([q.detach().flatten() for q in method.parameters()]) - before).norm())
    if clip is None:
        assert step > 0.5 * 0.05  # the unclipped gradient is far above the clip
    else:
        assert step == pytest.approx(0.5 * clip, rel=1e-3)


def test_sampler_global_batches_split_over_ranks() -> None:
    one = list(EpochBatchSampler(40, 8, seed=3, dist_ctx=DistContext(0, 1)))
    r0 = list(EpochBatchSampler(40, 8, seed=3, dist_ctx=DistContext(0, 2)))
    r1 = list(EpochBatchSampler(40, 8, seed=3, dist_ctx=DistContext(1, 2)))
    assert [a + b for a, b in zip(r0, r1)] == one
    with pytest.raises(ConfigError, match="not divisible"):
        EpochBatchSampler(40, 7, seed=0, dist_ctx=DistContext(0, 2))


def test_device_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_device("cpu").type == "cpu"
    with monkeypatch.context() as m:  # auto prefers CUDA, then MPS, then the CPU
        m.setattr(torch.cuda, "is_available", lambda: True)
        assert resolve_device("auto") == torch.device("cuda", 0)
        m.setattr(torch.cuda, "is_available", lambda: False)
        m.setattr(torch.backends.mps, "is_available", lambda: True)
        assert resolve_device("auto").type == "mps"
        m.setattr(torch.backends.mps, "is_available", lambda: False)
        assert resolve_device("auto").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            resolve_device("cuda")
    with pytest.raises(ConfigError):
        resolve_device("tpu")
