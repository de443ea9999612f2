"""Folder datasets through the CLI (layout errors, corrupt images) and a killed run resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from tests.e2e.helpers import ROOT, TINY, cli, run_dir


def make_tree(root: Path, domains=("art", "photo", "sketch"), classes=("cat", "dog"), n: int = 6) -> Path:
    rng = np.random.default_rng(0)
    for di, d in enumerate(domains):
        for ci, c in enumerate(classes):
            folder = root / d / c
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                img = np.full((20, 20, 3), 40 + 80 * ci, np.uint8) + rng.integers(
                    0, 30 + 20 * di, (20, 20, 3), dtype=np.uint8
                )
                Image.fromarray(img).save(folder / f"{i}.png")
    return root


def test_folder_recipe_runs(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "PACSmini")
    proc = cli(
        "run",
        "erm/folder",
        "--set",
        f"data.root={root}",
        "--set",
        "data.target=sketch",
        "--set",
        "data.image_size=16",
        "--set",
        "model.name=small_cnn",
        "--set",
        "model.width=0.125",
        "--set",
        "data.batch_size=8",
        *TINY,
        runs=tmp_path / "runs",
        check=True,
    )
    summary = json.loads((run_dir(proc.stdout) / "summary.json").read_text())
    assert summary["targets"] == ["sketch"] and set(summary["per_domain"]) == {"art", "photo", "sketch"}


def test_folder_errors_and_skip_corrupt(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    flat = tmp_path / "flat"
    flat.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(flat / "a.png")
    proc = cli("run", "erm/folder", "--set", f"data.root={flat}", "--set", "data.target=x", runs=runs)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ")

    root = make_tree(tmp_path / "data")
    (root / "photo" / "cat" / "broken.png").write_bytes(b"not an image")
    args = [
        "run",
        "erm/folder",
        "--set",
        f"data.root={root}",
        "--set",
        "data.target=sketch",
        "--set",
        "data.image_size=16",
        "--set",
        "model.name=small_cnn",
        "--set",
        "model.width=0.125",
        "--set",
        "data.batch_size=8",
        *TINY,
    ]
    proc = cli(*args, runs=runs)
    assert proc.returncode == 2 and "broken.png" in proc.stderr and "skip_corrupt" in proc.stderr
    proc = cli(*args, "--skip-corrupt", runs=runs, check=True)
    assert json.loads((run_dir(proc.stdout) / "summary.json").read_text())["skipped_corrupt"] == 1

    missing = make_tree(tmp_path / "missing")
    for f in (missing / "art" / "dog").iterdir():
        f.unlink()
    (missing / "art" / "dog").rmdir()
    proc = cli("run", "erm/folder", "--set", f"data.root={missing}", "--set", "data.target=sketch", runs=runs)
    assert proc.returncode == 2 and "dog" in proc.stderr and "art" in proc.stderr


def test_killed_run_resumes_to_same_result(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    common = [
        "--set",
        "data.target=syn",
        "--set",
        "data.max_per_domain=256",
        "--set",
        "train.epochs=4",
        "--set",
        "train.device=cpu",
        "--quiet",
    ]
    full = cli("run", "erm/digits-dg", *common, "--run-id", "full", runs=runs, check=True)
    expected = json.loads((run_dir(full.stdout) / "summary.json").read_text())

    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), TRUSTLAB_RUNS=str(runs))
    proc = subprocess.Popen(
        [sys.executable, "-m", "trustlab.cli", "run", "erm/digits-dg", *common, "--run-id", "killed"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    rd = runs / "erm/digits-dg" / "killed"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if (rd / "checkpoints" / "last.pt").is_file():
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (rd / "done").exists(), "the run finished before it could be killed; raise train.epochs"

    cli("run", "--resume", str(rd), runs=runs, check=True)
    got = json.loads((rd / "summary.json").read_text())
    assert (rd / "done").exists()
    for key in ("heldout_acc", "indomain_acc", "val_acc", "selected_epoch"):
        assert abs(got[key] - expected[key]) < 1e-9, key
    assert got["per_domain"] == expected["per_domain"]
