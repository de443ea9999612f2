"""DOORPING on torchvision-stored sets: ``load_source`` reads them, and the paper protocol runs end to end on fixtures
written in the release layouts (wiring, not a verdict)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import trustlab.methods  # noqa: F401  (registers the recipes and protocols)
from trustlab.bench.paper import PAPERS, plan_runs, run_paper
from trustlab.errors import DataError
from trustlab.experiment import DataConfig
from trustlab.methods.doorping.data import load_source

from . import paper_fixtures as F


def test_load_source_reads_the_torchvision_layouts(tmp_path: Path) -> None:
    cifar = load_source(DataConfig(name="tv-cifar10", root=str(F.write_cifar10(tmp_path / "c", per_batch=20)),
                                   image_size=32, max_per_domain=50))
    assert cifar.x_train.shape == (50, 3, 32, 32) and cifar.x_test.shape == (20, 3, 32, 32)
    assert cifar.classes[0] == "c0" and 0.0 <= float(cifar.x_train.min()) and float(cifar.x_train.max()) <= 1.0
    stl = load_source(DataConfig(name="tv-stl10", root=str(F.write_stl10(tmp_path / "s")), image_size=32))
    assert stl.x_train.shape == (10, 3, 32, 32) and int(stl.y_train.min()) == 0  # 1-based labels mapped to 0..9
    fm = load_source(DataConfig(name="tv-fashion-mnist", root=str(F.write_mnist(tmp_path / "f", "FashionMNIST")),
                                image_size=32))
    assert fm.x_train.shape == (20, 1, 32, 32) and fm.x_train[:, :, :2].abs().sum() == 0  # 28 px padded by 2
    with pytest.raises(DataError, match="needs data.root"):
        load_source(DataConfig(name="tv-svhn"))
    with pytest.raises(DataError, match="tv-svhn.*not a folder"):
        load_source(DataConfig(name="tv-svhn", root=str(tmp_path / "nowhere")))
    with pytest.raises(DataError, match="not a distillation source; use one of mnist5k, fashion-mnist, tv-cifar10"):
        load_source(DataConfig(name="cifar"))


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
def test_paper_protocol_runs_tiny_on_a_cifar10_fixture(tmp_path: Path) -> None:
    data = {"CIFAR-10": F.write_cifar10(tmp_path / "tv", per_batch=30)}
    full, _ = plan_runs([PAPERS.get("doorping")], data)
    assert len(full) == 3 * 2 * 4 and all(r.where["data.name"] == "tv-cifar10" for _, r in full)
    out = run_paper(data, out_root=tmp_path / "rep", only=["doorping"], tiny=True, quiet=True)
    rows = [r for r in json.loads((Path(out).parent / "paper.json").read_text())["runs"]]
    assert len(rows) == 8 and all("error" not in r for r in rows), [r.get("error") for r in rows]
    run = Path(next(r["run"] for r in rows if r["recipe"] == "backdoor/doorping-dc"))
    summary = json.loads((run / "summary.json").read_text())
    assert summary["dataset"] == "tv-cifar10" and 0.0 <= summary["asr"] <= 1.0
    state = torch.load(run / "artifacts" / "distilled.pt", weights_only=True)
    assert state["images"].shape[1:] == (3, 16, 16) and state["source_root"] == str(data["CIFAR-10"])
