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
    for n in ("-3", "0"):  # -3 was a traceback, 0 silently meant the default
        bad = cli("score", str(tmp_path / "data" / "img" / "0.png"), "--run", str(rd), "--patches", n, runs=runs,
                  timeout=900)
        err = bad.stderr.strip()
        assert bad.returncode == 2 and err.startswith("error: --patches must be a positive number") and n in err
        assert len(err.splitlines()) == 1 and not bad.stdout


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


def test_pyiqa_split_columns_need_a_choice_and_bad_split_keys_are_one_line(tmp_path: Path) -> None:
    meta = make_csv_dataset(tmp_path / "data")
    lines = meta.read_text().strip().splitlines()
    rows = [lines[0] + ",ratio802_seed123_split_01"] + [ln + (",test" if i < 3 else ",train")
                                                        for i, ln in enumerate(lines[1:])]
    (tmp_path / "data" / "r.csv").write_text("\n".join(rows) + "\n")
    cases = [((), "split columns ratio802_seed123_split_01 but none was chosen"),
             (("--set", "data.split_index=4"), "data.split_index=4: no pyiqa split column"),
             (("--set", "data.split_column=nope"), "data.split_column 'nope' is not a column")]
    for extra, match in cases:
        proc = cli(*CSV, f"data.meta={tmp_path / 'data' / 'r.csv'}", *extra, "--quiet", runs=tmp_path / "runs",
                   timeout=900)
        assert proc.returncode == 2 and match in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
