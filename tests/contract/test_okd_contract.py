"""Every method of the on-device DG package trains a couple of steps with fit(), saves and loads."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import trustlab.methods  # noqa: F401  (registers methods and recipes)
from trustlab.data.base import TensorImageDataset
from trustlab.engine.fit import fit, load_checkpoint
from trustlab.engine.protocols import Trainable
from trustlab.experiment import TrainConfig
from trustlab.methods.okd.baselines import RSC, EFDMix, MixStyle
from trustlab.methods.okd.generators import GENERATORS
from trustlab.methods.okd.method import KD, OKD, OKDConfig
from trustlab.models import build_model
from trustlab.registry import METHODS
from trustlab.runs.store import RunRecord

OURS = ["kd", "okd", "mixstyle", "efdmix", "rsc"]


def _make(name: str, generator: str = "fusion") -> nn.Module:
    torch.manual_seed(0)
    student = build_model("mobilenet_v3_small" if name == "mixstyle" else "small_cnn", 4, 16, width=0.125)
    teacher = build_model("small_cnn", 4, 16, width=0.25)
    if name == "kd":
        return KD(student, teacher)
    if name == "okd":
        return OKD(student, teacher, OKDConfig(generator=generator))
    return {"mixstyle": MixStyle, "efdmix": EFDMix, "rsc": RSC}[name](student)


def _data() -> TensorImageDataset:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (32, 16, 16, 3), generator=g, dtype=torch.uint8).numpy()
    return TensorImageDataset(images, torch.arange(32) % 4)


def test_all_registered() -> None:
    assert set(OURS) <= set(METHODS.names())
    assert {"fusion", "mixup", "cutmix", "jigsaw", "noise", "adv"} <= set(GENERATORS.names())


@pytest.mark.parametrize(
    "name, generator",
    # every generator's output is tested in tests/unit/test_okd_generators.py; here the three code paths
    # of OKD's step (a batch mix, a patch shuffle, FGSM with the networks)
    [("kd", ""), ("okd", "fusion"), ("okd", "jigsaw"), ("okd", "adv"), ("mixstyle", ""), ("efdmix", ""), ("rsc", "")],
)
def test_method_trains_saves_and_loads(name: str, generator: str, tmp_path: Path) -> None:
    method = _make(name, generator or "fusion")
    assert isinstance(method, Trainable)
    record = RunRecord.create(f"contract/{name}", {"train": {"seed": 0}}, root=tmp_path)
    before = {k: v.clone() for k, v in method.model.state_dict().items()}
    cfg = TrainConfig(epochs=1, max_steps_per_epoch=2, device="cpu", lr=0.05)
    result = fit(method, _data(), cfg, batch_size=8, record=record, quiet=True)
    assert result.steps == 2 and all(torch.isfinite(torch.tensor(v)) for v in result.history[0].values())
    after = method.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before if after[k].is_floating_point())
    if hasattr(method, "teacher"):
        t_before = _make(name, generator or "fusion").teacher.state_dict()
        assert all(torch.equal(t_before[k], v) for k, v in method.teacher.state_dict().items())
    state = load_checkpoint(str(record.checkpoint_path()))
    fresh = _make(name, generator or "fusion")
    fresh.load_state_dict(state["method"])
    fresh.eval()
    method.eval()
    x = torch.rand(4, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(fresh.predict(x), method.predict(x))
