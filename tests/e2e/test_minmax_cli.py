"""The attack recipes from the CLI as a user types them, and their bad-input paths (exit 2, one line)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.helpers import cli, run_dir

TINY = ["--set", "data.max_per_domain=200", "--set", "train.epochs=1", "--quiet"]


def test_run_ensemble_then_report(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    proc = cli("run", "attack/ensemble", *TINY, "--set", "eval.samples=12", "--set", "attack.steps=3",
               "--set", "ensemble.models=[small_cnn:width=0.0625:depth=1:norm=none, small_cnn:width=0.0625:depth=2]",
               runs=runs, check=True)
    rd = run_dir(proc.stdout)
    s = json.loads((rd / "summary.json").read_text())
    assert set(s["asr_all"]) == {"minmax", "average", "max"} and len(s["weights"]) == 2
    assert abs(sum(s["weights"].values()) - 1) < 1e-5 and s["n_samples"] == 12
    for name in ("artifacts/weights.png", "artifacts/examples.png", "checkpoints/model0.pt", "done"):
        assert (rd / name).is_file(), name
    html = Path(cli("report", str(rd), check=True).stdout.strip())
    assert "asr_all" in html.read_text() and "weights.png" in html.read_text()


def test_run_minmax_at(tmp_path: Path) -> None:
    proc = cli("run", "attack/minmax-at", *TINY, "--set", "at.steps=1", "--set", "eval.samples=16",
               "--set", "eval.steps=2", runs=tmp_path / "runs", check=True)
    s = json.loads((run_dir(proc.stdout) / "summary.json").read_text())
    assert set(s["robust_acc"]) == {"clean", "linf", "l2", "l1", "union"}
    assert s["union_acc"] <= min(s["robust_acc"][t] for t in ("linf", "l2", "l1"))


@pytest.mark.parametrize(
    "args, words",
    [
        (["attack/ensemble", "--set", "attack.eps=0"], "attack eps must be > 0"),
        (["attack/ensemble", "--set", "ensemble.models=[]"], "K=0"),
    ],
)
def test_bad_input_exit_2(tmp_path: Path, args: list[str], words: str) -> None:
    proc = cli("run", *args, runs=tmp_path / "runs")
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln and not ln.startswith("trustlab: ")]
    assert proc.returncode == 2 and len(lines) == 1 and words in lines[0], proc.stderr


def _folder(root: Path, domains: int = 2, classes: int = 3, per_class: int = 12) -> Path:
    """A DomainBed layout root/d<i>/c<j>/<k>.png: each class a colour, each domain a brightness."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for d in range(domains):
        for c in range(classes):
            folder = root / f"d{d}" / f"c{c}"
            folder.mkdir(parents=True, exist_ok=True)
            for k in range(per_class):
                img = np.zeros((16, 16, 3))
                img[..., c % 3] = 0.5 + 0.2 * d
                img += rng.normal(0, 0.05, img.shape)
                Image.fromarray((img.clip(0, 1) * 255).astype(np.uint8)).save(folder / f"{k}.png")
    return root


def test_ensemble_on_own_folder(tmp_path: Path) -> None:
    """Own images in the DomainBed folder layout: data.name=folder, data.root, data.target = domains to pool."""
    root = _folder(tmp_path / "data")
    proc = cli("run", "attack/ensemble", "--set", "data.name=folder", "--set", f"data.root={root}",
               "--set", "data.target=d0,d1", "--set", "data.image_size=16", "--set", "train.epochs=3",
               "--set", "eval.samples=6", "--set", "attack.steps=2", "--set", "eval.compare=[minmax, average]",
               "--set", "ensemble.models=[small_cnn:width=0.0625:depth=1:norm=none, small_cnn:width=0.0625:depth=2]",
               "--quiet", runs=tmp_path / "runs", check=True)
    s = json.loads((run_dir(proc.stdout) / "summary.json").read_text())
    assert s["dataset"] == "folder:d0,d1" and set(s["asr_all"]) == {"minmax", "average"}
    assert 0 < s["n_samples"] <= 6 and 0.0 <= s["control_random_asr_all"] <= 1.0


def test_unknown_dataset_names_the_options(tmp_path: Path) -> None:
    proc = cli("run", "attack/eot", "--set", "data.name=cifar10", runs=tmp_path / "runs")
    assert proc.returncode == 2 and "not supported by the attack recipes" in proc.stderr and "folder" in proc.stderr
