"""The advsim recipes run end to end with their tiny overrides and write a run record with the expected
summary, artifacts (results, BEV figures) and rates in [0, 1]; the dataset entry builds and shows."""

from __future__ import annotations

import json

import pytest

import trustlab.methods  # noqa: F401  (registers recipes)
from trustlab.recipes import run_recipe
from trustlab.registry import CLAIMS, DATASETS, RECIPES

ADVSIM = sorted(n for n in RECIPES.names() if n.startswith("advsim/"))


def test_registered():
    assert ADVSIM == ["advsim/adv-train", "advsim/attack", "advsim/highway"]
    assert {c for c in CLAIMS.names() if c.startswith("advsim/")} == {
        "advsim/adversary-beats-random", "advsim/cma-beats-random", "advsim/lidar-finds-perception-failures",
        "advsim/adv-train-helps", "advsim/adv-train-keeps-normal"}
    assert "advsim-scenarios" in DATASETS.names()


@pytest.mark.parametrize("name", ADVSIM)
def test_recipe_runs_tiny(name, tmp_path):
    if name == "advsim/highway":
        pytest.importorskip("highway_env")  # the advsim-sim extra (in dev)
    rec = run_recipe(name, overrides=dict(RECIPES.get(name).tiny), runs_root=tmp_path, quiet=True)
    assert rec.done
    s = rec.summary()
    if name == "advsim/attack":
        assert s["n_scenarios"] == 2 and 0 <= s["found_rate"] <= 1 and s["budget"] == 3
        rows = json.loads((rec.path / "artifacts" / "results.json").read_text())
        assert all(len(r["values"]) == 3 for r in rows)
        if any(r["failure_delta"] is not None and not r["base_failure"] for r in rows):
            assert list((rec.path / "artifacts").glob("bev_attack_*.png"))
    elif name == "advsim/highway":
        assert s["n_scenarios"] == 2 and s["budget"] == 3 and s["env"] == "highway-v0"
        for key in ("found_rate", "collision_rate", "clean_collision_rate", "base_failure_rate"):
            assert 0 <= s[key] <= 1, key
        assert isinstance(s["random"], dict) and (rec.path / "artifacts" / "results.json").is_file()
    else:
        assert set(s["held_out"]) == {"original", "adv-trained", "control (orig-only tuning)"}
        for row in s["held_out"].values():
            assert 0 <= row["adv_collision"] <= 1 and row["orig_progress"] > 0


def test_gt_attack_with_replay(tmp_path):
    over = {**RECIPES.get("advsim/attack").tiny, "stack.perception": "gt", "adversary.optimizer": "random",
            "figures": 0}
    s = run_recipe("advsim/attack", overrides=over, runs_root=tmp_path, quiet=True).summary()
    assert s["perception"] == "gt" and s["perception_only_rate"] is not None


def test_dataset_entry_builds_and_shows(tmp_path):
    from trustlab.experiment import DataConfig

    entry = DATASETS.get("advsim-scenarios")
    lines = entry.build(DataConfig(name="advsim-scenarios", root=None))
    assert "48 scenarios" in lines[0] and "following=8" in lines[1]
    paths = entry.show(DataConfig(name="advsim-scenarios", root=None), tmp_path)
    assert paths and all(p.stat().st_size > 10_000 for p in paths)
