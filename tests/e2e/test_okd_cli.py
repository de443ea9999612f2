"""The on-device DG CLI as typed: every DG method on a user's DomainBed folder (the KD/OKD teacher on the
same folder), the DOSCO builder and dataset, and bad input as one line with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from tests.e2e.helpers import cli, run_dir

TINY = ["--set", "data.max_per_domain=24", "--set", "train.epochs=1", "--set", "train.max_steps_per_epoch=2",
        "--quiet"]
TINY_TEACHER = ["--set", "teacher.model.name=small_cnn", "--set", "teacher.model.width=0.125",
                "--set", "teacher.epochs=1"]


def _domainbed_folder(root: Path, per_class: int = 10) -> Path:
    """root/<domain>/<class>/<image>.jpg: three domains (brightness and tint), three classes (bar position)."""
    rng = np.random.default_rng(0)
    tints = np.array([[90, 90, 90], [160, 80, 60], [60, 120, 170]], dtype=float)
    for d, name in enumerate(("art", "photo", "sketch")):
        for c in range(3):
            (root / name / f"class{c}").mkdir(parents=True)
            for i in range(per_class):
                img = tints[d] + rng.normal(0, 15, (40, 40, 3))
                img[8:32, 6 + 12 * c : 12 + 12 * c] = 250
                Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(root / name / f"class{c}" / f"{i}.jpg")
    return root


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


@pytest.mark.parametrize("method", ["okd", "kd", "mixstyle", "efdmix", "rsc"])
def test_every_dg_method_runs_on_a_domainbed_folder(method: str, tmp_path: Path) -> None:
    root = _domainbed_folder(tmp_path / "pacs-like")
    runs = tmp_path / "runs"
    teacher = TINY_TEACHER if method in ("kd", "okd") else []
    proc = cli("run", f"{method}/folder", "--set", f"data.root={root}", "--set", "data.target=sketch", *TINY, *teacher,
               runs=runs, check=True)
    rd = run_dir(proc.stdout)
    assert rd.parent == runs / method / "folder"  # recorded under the folder recipe's name
    summary = json.loads((rd / "summary.json").read_text())
    assert summary["targets"] == ["sketch"] and summary["sources"] == ["art", "photo"]
    assert 0.0 <= summary["heldout_acc"] <= 1.0 and summary["model"] == "small_cnn"
    if teacher:  # the teacher trained on the same folder, with the same held-out domain
        tdata = yaml.safe_load((Path(summary["teacher"]["run"]) / "config.yaml").read_text())["data"]
        assert tdata["name"] == "folder" and Path(tdata["root"]) == root and tdata["target"] == "sketch"


def test_dosco_cli_split_file_recipe_and_dataset_commands(tmp_path: Path) -> None:
    src = _object_folder(tmp_path / "objects")
    proc = cli("data", "dosco", "--source", str(src), "--context-encoder", "stats", "--clusters", "3", "--seed", "1",
               "--out", str(tmp_path / "split"), check=True)
    split = tmp_path / "split" / "split_v1_k3.json"
    assert f"split: {split}" in proc.stdout and "split leakage: unknown" in proc.stdout
    assert set(json.loads(split.read_text())) == {"class0", "class1"}
    assert len(list((tmp_path / "split" / "contact").rglob("*.png"))) == 6
    runs = tmp_path / "runs"
    proc = cli("run", "okd/dosco", "--set", f"data.root={split}", *TINY, *TINY_TEACHER, runs=runs, check=True)
    rd = run_dir(proc.stdout)
    assert rd.parent == runs / "okd" / "dosco"
    assert json.loads((rd / "summary.json").read_text())["targets"] == ["unseen"]
    # the registered dataset: the embedded split without a root (leakage printed by the builder's meta)
    out = cli("data", "build", "dosco", runs=runs, check=True).stdout
    assert "seen" in out and "unseen" in out and "test=" in out
    shown = cli("data", "show", "dosco", "--out", str(tmp_path / "show"), runs=runs, check=True).stdout
    assert shown.strip() and all(Path(p).is_file() for p in shown.split())


@pytest.mark.parametrize("case", ["folder-without-root", "few-images", "bad-clustering"])
def test_bad_input_is_one_line_exit_2(tmp_path: Path, case: str) -> None:
    runs = tmp_path / "runs"
    if case == "folder-without-root":
        args, words = ["run", "okd/folder", *TINY], "this recipe needs data.root"
    elif case == "few-images":
        src = _object_folder(tmp_path / "objects", per_class=4)
        args = ["data", "dosco", "--source", str(src), "--clusters", "6"]
        words = "has 4 images, fewer than --clusters 6"
    else:
        src = _object_folder(tmp_path / "objects")
        args, words = ["data", "dosco", "--source", str(src), "--clusters", "3", "--neighbours", "0"], "must be >= 1"
    proc = cli(*args, runs=runs)
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln and not ln.startswith("trustlab: ")]
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], proc.stderr
    assert not (runs / "okd").exists() or not any((runs / "okd").rglob("done"))  # nothing half-written
