"""CoOp recipes from the CLI: embedded tasks, a user's ImageFolder / DomainBed folder, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.e2e.helpers import cli

FAST = ["--set", "clip.pretrained=false", "--set", "coop.epochs=2", "--quiet"]


def _folder(root: Path, domains: list[str] | None, per_class: int = 6) -> Path:
    rng = np.random.default_rng(0)
    colours = {"red_thing": (220, 30, 30), "blue_thing": (30, 30, 220), "green_thing": (30, 200, 30)}
    for d in domains or [""]:
        for name, rgb in colours.items():
            folder = root / d / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                img = np.clip(np.array(rgb) + rng.normal(0, 20, (20, 20, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(img).save(folder / f"{i}.png")
    return root


def _summary(proc, runs: Path, recipe: str) -> dict:
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run,) = list((runs / recipe).iterdir())
    assert (run / "done").is_file()
    return json.loads((run / "summary.json").read_text())


def test_fewshot_embedded_tiny(tmp_path):
    runs = tmp_path / "runs"
    proc = cli("run", "coop/fewshot", "--set", "fewshot.tasks=[colour]", "--set", "fewshot.shots=[1,2]", *FAST,
               runs=runs)
    s = _summary(proc, runs, "coop/fewshot")
    row = s["accuracy"]["colour"]
    assert {"coop@1", "coop@2", "linear-probe@2", "prompt ensemble", "zero-shot (first prompt)"} <= set(row)
    assert len(s["zero_shot_prompts"]["colour"]) == 6  # five prompts + the ensemble
    assert len(s["nearest_words"]["colour"]) == 16
    assert list((runs / "coop/fewshot").iterdir())[0].joinpath("artifacts", "accuracy_vs_shots.png").is_file()


def test_fewshot_on_user_imagefolder_with_class_names(tmp_path):
    root = _folder(tmp_path / "data", None, per_class=10)
    runs = tmp_path / "runs"
    proc = cli("run", "coop/fewshot", "--set", "data.name=folder", "--set", f"data.root={root}",
               "--set", "fewshot.shots=[2]", "--set", "fewshot.classnames=[blue,green,red]",
               "--set", "coop.csc=true", "--set", "coop.position=middle", *FAST, runs=runs)
    s = _summary(proc, runs, "coop/fewshot")
    assert s["classes"]["folder"] == ["blue", "green", "red"]
    acc = s["accuracy"]["folder"]
    # three solid colours are told apart by any image features (the random-init CLIP's too), so the linear probe
    # fitted on the 2 shots per class classifies every test image only if the folder's images reach the learners
    # with their own class labels (CoOp on a random CLIP is at chance, 1/3, so its number cannot show that)
    assert acc["linear-probe@2"] == 1.0
    # CoOp is scored on the folder's test split: 20% of the 30 images, so a whole number of 6
    assert acc["coop@2"] * 6 == pytest.approx(round(acc["coop@2"] * 6), abs=1e-5)


def test_dg_on_user_domain_folder(tmp_path):
    root = _folder(tmp_path / "data", ["photo", "sketch"], per_class=10)
    runs = tmp_path / "runs"
    proc = cli("run", "coop/dg", "--set", "data.name=folder", "--set", f"data.root={root}",
               "--set", "data.target=sketch", "--set", "fewshot.shots=[2]", "--set", "coop.init=a photo of a",
               *FAST, runs=runs)
    s = _summary(proc, runs, "coop/dg")
    assert s["sources"] == ["photo"] and s["targets"] == ["sketch"]
    assert set(s["per_domain"]) == {"photo", "sketch"}
    assert "coop/retention" in s["metrics"]


def test_bad_input_is_one_error_line(tmp_path):
    """Each case raises a one-line trustlab error naming the fix (in process: a CLI start costs ~5 CPU-s); one
    of them also through the CLI, where every trustlab error becomes one ``error:`` line and exit status 2."""
    import pytest

    from trustlab.errors import TrustlabError
    from trustlab.recipes import run_recipe

    root = _folder(tmp_path / "data", None, per_class=4)
    runs = tmp_path / "runs"
    fast = ["clip.pretrained=false", "coop.epochs=2"]
    cases = [
        (["data.name=folder", f"data.root={root}", "fewshot.shots=[16]"], "shots were asked for"),
        (["data.name=folder", f"data.root={root}", "fewshot.classnames=[a,b]"], "fewshot.classnames has 2 names"),
        (["fewshot.tasks=[colour]", "fewshot.classnames=[x]", "coop.n_ctx=30"], "context length is 24"),
        (["clip.weights=/nonexistent/ckpt.pt"], "is not a file"),
        (["fewshot.tasks=[color]"], "did you mean 'colour'"),
    ]
    for extra, msg in cases:
        with pytest.raises(TrustlabError, match=msg) as info:
            run_recipe("coop/fewshot", overrides=[*extra, *fast], runs_root=runs, quiet=True)
        assert "\n" not in str(info.value), (extra, str(info.value))
    assert not any(p.name == "done" for p in runs.rglob("done")), "a failed run was marked done"
    proc = cli("run", "coop/fewshot", "--set", "fewshot.tasks=[color]", *FAST, runs=runs)
    assert proc.returncode == 2, proc.stderr[-1500:]
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "did you mean 'colour'" in lines[0], proc.stderr[-1500:]
