"""PSG from the CLI: data show, your own PSG root (a generated copy of the format), bad input exits 2."""

from __future__ import annotations

import json

import pytest

from tests.e2e.helpers import cli, run_dir

TINY = ["--set", "method.seg_epochs=1", "--set", "method.rel_epochs=1", "--set", "method.figures=false", "--quiet"]


@pytest.fixture(scope="module")
def own_root(tmp_path_factory):
    """A small PSG root laid out as the OpenPSG release (string image ids, train2017/ + panoptic_train2017/,
    no val_image_ids), written independently of the package's writer, with scenes of another seed."""
    from tests.unit.openpsg_fixture import write_openpsg
    from trustlab.methods.psg.scenes import generate

    root = tmp_path_factory.mktemp("own") / "mypsg"
    data = generate(seed=11, sizes={"train": 12, "val": 0, "test": 6})
    write_openpsg(root, data)
    assert isinstance(json.loads((root / "psg.json").read_text())["test_image_ids"][0], str)
    return root


def test_data_show_your_own_root(tmp_path, own_root):
    cli("data", "show", "psg-scenes", "--root", str(own_root), "--out", str(tmp_path / "show"), check=True)
    pngs = sorted((tmp_path / "show").glob("*.png"))
    assert len(pngs) == 6 and all(p.stat().st_size > 0 for p in pngs)


def test_data_show_psg_reads_your_root_and_asks_for_one(tmp_path, own_root):
    """``psg`` is the recipes' ``data.name`` for a PSG root: registered for ``data show``/``build``, --root required."""
    cli("data", "show", "psg", "--root", str(own_root), "--out", str(tmp_path / "show"), check=True)
    assert len(sorted((tmp_path / "show").glob("*.png"))) == 6
    proc = cli("data", "show", "psg", "--out", str(tmp_path / "none"))
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and "pass --root" in lines[0], proc.stderr
    assert not (tmp_path / "none").exists() or not list((tmp_path / "none").iterdir())


def test_run_on_your_own_psg_root(tmp_path, own_root):
    proc = cli("run", "psg/two-stage", "--set", "data.name=psg", "--set", f"data.root={own_root}",
               "--set", "data.val_fraction=0.25", *TINY, runs=tmp_path / "runs", check=True)
    s = json.loads((run_dir(proc.stdout) / "summary.json").read_text())
    assert s["n_train"] == 9 and s["n_val"] == 3 and s["n_test"] == 6
    assert 0 <= s["test_predcls"]["R@20"] <= 1
    assert s["eval_resolution"] == "original" and s["test_relations_dropped"] == 0 and s["test_relations"] > 0


def test_bad_psg_root_is_one_error_line_exit_2(tmp_path, own_root):
    """The other bad-input cases run in process: tests/unit/test_psg_errors.py."""
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(own_root, bad)
    top = json.loads((bad / "psg.json").read_text())
    top["data"][0]["relations"].append([0, 50, 1])
    (bad / "psg.json").write_text(json.dumps(top))
    proc = cli("run", "psg/two-stage", "--set", "data.name=psg", "--set", f"data.root={bad}", *TINY,
               runs=tmp_path / "runs")
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    assert "points to segment 50" in lines[0]
    assert not list((tmp_path / "runs").rglob("done"))
