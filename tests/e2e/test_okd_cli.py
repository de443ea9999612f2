"""The on-device DG CLI as typed: KD with a cached teacher, export, DOSCO split + study, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.e2e.helpers import cli, run_dir

TINY = ["--set", "data.max_per_domain=32", "--set", "train.epochs=1", "--set", "train.max_steps_per_epoch=2",
        "--set", "teacher.model.name=small_cnn", "--set", "teacher.model.width=0.125", "--set", "teacher.epochs=1",
        "--quiet"]


def _object_folder(root: Path, per_class: int = 14) -> Path:
    """Two classes of bars over four colour contexts, as root/<class>/<image>.png."""
    rng = np.random.default_rng(0)
    colours = np.array([[220, 40, 40], [40, 200, 60], [40, 60, 220], [230, 220, 40]], dtype=float)
    for c in range(2):
        (root / f"class{c}").mkdir(parents=True)
        for i in range(per_class):
            img = colours[i % 4] + rng.normal(0, 10, (32, 32, 3))
            img[8:24, 10 + 8 * c : 14 + 8 * c] = 255
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(root / f"class{c}" / f"{i:02d}.png")
    return root


def test_kd_run_links_a_cached_teacher_and_exports(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    first = run_dir(cli("run", "kd/digits-dg", "--set", "data.target=usps", *TINY, runs=runs, check=True).stdout)
    summary = json.loads((first / "summary.json").read_text())
    teacher = Path(summary["teacher"]["run"])
    assert teacher.parent == runs / "kd" / "teacher" and (teacher / "done").is_file()
    assert json.loads((first / "env.json").read_text())["teacher_run"] == str(teacher)
    # (reuse of the cached teacher by later runs: tests/unit/test_okd_teacher.py)

    out = cli("export", str(first), "--format", "onnx", "--quantize", "int8", "--latency-runs", "3", check=True).stdout
    assert "onnx-fp32:" in out and "onnx-int8:" in out and "max_abs_diff=" in out
    html = (first / "report" / "index.html").read_text()
    assert "onnx-fp32" in html and "latency_ms_b1" in html and "heldout_acc" in html


def test_dosco_cli_and_study_with_linked_runs(tmp_path: Path) -> None:
    src = _object_folder(tmp_path / "objects")
    proc = cli("data", "dosco", "--source", str(src), "--context-encoder", "stats", "--clusters", "3", "--seed", "1",
               "--out", str(tmp_path / "split"), check=True)
    split = tmp_path / "split" / "split_v1_k3.json"
    assert f"split: {split}" in proc.stdout
    assert set(json.loads(split.read_text())) == {"class0", "class1"}
    assert len(list((tmp_path / "split" / "contact").rglob("*.png"))) == 6
    runs = tmp_path / "runs"
    proc = cli("run", "okd/dosco-digits", "--set", "data.name=dosco", "--set", f"data.root={split}", *TINY,
               runs=runs, check=True)
    board = json.loads((run_dir(proc.stdout) / "summary.json").read_text())["leaderboard"]
    assert set(board) == {"teacher", "erm", "kd", "okd"}
    for row in board.values():
        assert 0.0 <= row["heldout_acc"] <= 1.0 and Path(row["run"]).is_dir()


# (a missing teacher checkpoint and a teacher with another class count: tests/unit/test_okd_teacher.py)
@pytest.mark.parametrize("case", ["no-checkpoint", "few-images"])
def test_bad_input_is_one_line_exit_2(tmp_path: Path, case: str) -> None:
    runs = tmp_path / "runs"
    if case == "no-checkpoint":
        rd = runs / "student-erm" / "digits-dg" / "r1"
        rd.mkdir(parents=True)
        (rd / "config.yaml").write_text("recipe: student-erm/digits-dg\nmodel: {name: small_cnn, width: 0.125}\n")
        args, words = ["export", str(rd), "--format", "onnx"], "has no checkpoint (checkpoints/best.pt)"
    elif case == "few-images":
        src = _object_folder(tmp_path / "objects", per_class=4)
        args = ["data", "dosco", "--source", str(src), "--clusters", "6"]
        words = "has 4 images, fewer than --clusters 6"
    proc = cli(*args, runs=runs)
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln and not ln.startswith("trustlab: ")]
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], proc.stderr
