"""Export for devices: ONNX fp32 within 1e-4 of PyTorch, int8 written and close, numbers in the summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import trustlab.methods  # noqa: F401  (registers the recipes)
from trustlab.config import to_dict
from trustlab.errors import ConfigError, NotFoundError
from trustlab.export import FP32_TOLERANCE, export_run, load_run_model
from trustlab.models import build_model, count_parameters
from trustlab.registry import RECIPES
from trustlab.runs.store import RunRecord
from trustlab.tasks.classification import accuracy, build_data


def _fake_run(root: Path, checkpoint: bool = True, target: str = "usps") -> RunRecord:
    recipe = "student-erm/digits-dg"
    cfg = to_dict(RECIPES.get(recipe).config(None, [f"data.target={target}", "data.max_per_domain=64"]))
    rec = RunRecord.create(recipe, cfg, root=root)
    if checkpoint:
        torch.manual_seed(0)
        model = build_model("small_cnn", 10, 32, width=0.125)
        rec.save_checkpoint({"model": model.state_dict(), "epoch": 1}, "best.pt")
    rec.write_summary({"heldout_acc": 0.5})
    rec.mark_done()
    return rec


def test_export_onnx_fp32_and_int8(tmp_path: Path) -> None:
    rec = _fake_run(tmp_path)
    rows = export_run(rec.path, quantize="int8", latency_runs=3)
    fp32, int8 = rows["onnx-fp32"], rows["onnx-int8"]
    assert fp32["max_abs_diff"] <= FP32_TOLERANCE and fp32["within_tol"] is True
    assert fp32["params"] == 7754 and fp32["macs"] > 1_000_000
    assert fp32["latency_ms_b1"] > 0 and fp32["file_kb"] > 20
    assert fp32["top1_agreement"] == 1.0
    assert 0.0 <= fp32["heldout_acc"] <= 1.0 and "indomain_acc" in fp32
    assert int8["file_kb"] < fp32["file_kb"]  # int8 weights
    assert int8["max_abs_diff"] < 1.0 and int8["top1_agreement"] > 0.8
    assert (rec.path / "artifacts" / "export" / "model.onnx").is_file()
    assert (rec.path / "artifacts" / "export" / "model.int8.onnx").is_file()
    summary = json.loads((rec.path / "summary.json").read_text())
    assert set(summary["export"]) == {"onnx-fp32", "onnx-int8"}
    # the exported model's held-out accuracy is the PyTorch model's on the held-out (usps) test split
    model, _ = load_run_model(rec)
    cfg = RECIPES.get(rec.recipe).config(None, {"data.target": "usps", "data.max_per_domain": 64})
    test = build_data(cfg.data).get("usps", "test")
    assert fp32["heldout_acc"] == pytest.approx(accuracy(model, test, torch.device("cpu")), abs=1e-9)
    report = json.loads((rec.path / "artifacts" / "export" / "export.json").read_text())
    assert report["check_data"] == "held-out test" and report["model"]["num_classes"] == 10


def test_load_run_model_rebuilds_the_checkpoint(tmp_path: Path) -> None:
    rec = _fake_run(tmp_path)
    model, spec = load_run_model(rec)
    assert spec == {"name": "small_cnn", "width": 0.125, "image_size": 32, "in_chans": 3, "num_classes": 10}
    assert count_parameters(model) == 7754 and not model.training


def test_export_errors(tmp_path: Path) -> None:
    rec = _fake_run(tmp_path, checkpoint=False)
    with pytest.raises(NotFoundError, match="has no checkpoint"):
        export_run(rec.path)
    with pytest.raises(NotFoundError, match="not a run record"):
        export_run(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="--format 'tflite' is not supported"):
        export_run(rec.path, fmt="tflite")
    with pytest.raises(ConfigError, match="--quantize 'int4'"):
        export_run(rec.path, quantize="int4")
