"""PSG bad input in process: wrong data names and options, too few queries; one clear line each, nothing done."""

from __future__ import annotations

import pytest

import trustlab.methods  # noqa: F401  (registers recipes)
from trustlab.errors import ConfigError, DataError, TrustlabError
from trustlab.recipes import run_recipe


@pytest.mark.parametrize("recipe,over,err,needle", [
    ("psg/two-stage", {"data.name": "psg"}, ConfigError, "needs data.root"),
    ("psg/two-stage", {"data.name": "psg-scene"}, ConfigError, "did you mean 'psg-scenes'"),
    ("psg/two-stage", {"data.root": "/tmp"}, ConfigError, "data.root is for data.name=psg"),
    ("psg/two-stage", {"data.name": "psg", "data.root": "/nonexistent/psg"}, DataError, "is not a folder"),
    ("psg/two-stage", {"data.image_size": 8}, ConfigError, "too small"),
    ("psg/two-stage", {"method.seg_epochs": 0}, ConfigError, "must be >= 1"),
    ("psg/psgtr", {"method.queries": 2}, ConfigError, "raise method.queries"),
])
def test_bad_config_one_line(recipe, over, err, needle, tmp_path):
    with pytest.raises(err) as e:
        run_recipe(recipe, overrides=over, runs_root=tmp_path, quiet=True)
    assert needle in str(e.value) and "\n" not in str(e.value)
    assert isinstance(e.value, TrustlabError) and not list(tmp_path.rglob("done"))


def test_data_build_lines():
    from trustlab.experiment import DataConfig
    from trustlab.registry import DATASETS

    lines = DATASETS.get("psg-scenes").build(DataConfig(name="psg-scenes"))
    assert lines[0].startswith("psg-scenes: 13 classes") and any("long tail" in ln for ln in lines)
