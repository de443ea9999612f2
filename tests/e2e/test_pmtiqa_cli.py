"""`trustlab run pmtiqa/distort` on a CSV, `trustlab score`, `trustlab data show iqa-distort`; bad-input lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.contract.test_pmtiqa_contract import make_csv_dataset
from tests.e2e.helpers import cli, run_dir

CSV = ("run", "pmtiqa/distort", "--set", "data.name=csv", "--set")


def test_run_then_score_a_folder(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    meta = make_csv_dataset(tmp_path / "data")
    proc = cli(*CSV, f"data.meta={meta}", "--set", "data.image_size=40", "--set",
               "train.epochs=1", "--set", "method.test_patches=1", "--quiet", runs=runs, check=True, timeout=900)
    rd = run_dir(proc.stdout)
    out = cli("score", str(tmp_path / "data" / "img"), str(tmp_path / "data" / "img" / "0.png"), "--run", str(rd),
              runs=runs, check=True, timeout=900)
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 13 and all(len(ln.split("\t")) == 2 for ln in lines)
    float(lines[0].split("\t")[0])
    bad = cli("score", str(tmp_path / "nope.png"), "--run", str(rd), runs=runs, timeout=900)
    assert bad.returncode == 2 and bad.stderr.strip().startswith("error:") and len(bad.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(("row", "match"), [
    ("../escape.png,50", "outside the image root"),
    ("img/missing.png,50", "not found"),
    ("img/0.png,great", "not a number"),
])
def test_bad_csv_rows_are_one_error_line(tmp_path: Path, row: str, match: str) -> None:
    meta = make_csv_dataset(tmp_path / "data")
    meta.write_text(meta.read_text() + row + "\n")
    proc = cli(*CSV, f"data.meta={meta}", "--quiet", runs=tmp_path / "runs", timeout=900)
    assert proc.returncode == 2 and match in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not list((tmp_path / "runs").rglob("done"))  # nothing finished


def test_small_image_and_empty_split_errors(tmp_path: Path) -> None:
    meta = make_csv_dataset(tmp_path / "data")
    proc = cli(*CSV, f"data.meta={meta}", "--set", "data.image_size=20", "--quiet",
               runs=tmp_path / "runs", timeout=900)
    assert proc.returncode == 2 and "smaller than method.patch_size" in proc.stderr
    lines = meta.read_text().strip().splitlines()
    (tmp_path / "data" / "s.csv").write_text("\n".join([lines[0] + ",split"] + [ln + ",train" for ln in lines[1:]]))
    proc = cli(*CSV, f"data.meta={tmp_path / 'data' / 's.csv'}", "--quiet",
               runs=tmp_path / "runs", timeout=900)
    assert proc.returncode == 2 and "test split" in proc.stderr and "empty" in proc.stderr


def test_data_show_iqa_distort(tmp_path: Path) -> None:
    proc = cli("data", "show", "iqa-distort", "--out", str(tmp_path / "show"), check=True, timeout=600)
    pngs = [Path(p) for p in proc.stdout.split()]
    assert pngs and all(p.is_file() and p.suffix == ".png" for p in pngs)
    build = cli("data", "build", "iqa-distort", check=True, timeout=600)
    assert "proxy MOS" in build.stdout and "NOT human opinion" in build.stdout
