"""``trustlab run ood/ood`` as a user types it: leaderboard, figures, report; bad input exits 2 with one line."""

from __future__ import annotations

import json

from tests.e2e.helpers import cli, run_dir
from trustlab.data.mnist import has_fashion_mnist
from trustlab.report import render_run

TINY = ["--set", "data.max_per_domain=200", "--set", "train.epochs=1", "--set", "model.width=0.1",
        "--set", "ood.max_test=60", "--set", "ood.ood_size=40", "--set", "ood.val_size=20", "--set", "ood.id_val=40",
        "--set", "detectors.names=[msp,odin,knn,vim]", "--quiet"]


def test_run_ood_writes_leaderboard_figures_and_report(tmp_path):
    runs = tmp_path / "runs"
    proc = cli("run", "ood/ood", *TINY, runs=runs, check=True)
    run = run_dir(proc.stdout)
    summary = json.loads((run / "summary.json").read_text())
    board = summary["leaderboard"]
    assert set(board) == {"msp", "odin", "knn", "vim"}
    columns = {"near/auroc", "far/auroc", "near/fpr95", "far/aupr_in", "far/aupr_out", "covariate/auroc"}
    assert columns <= set(board["knn"])
    assert set(summary["auroc"]["knn"]) == {"mnist", "glyphs", "textures", "noise", "covariate_s2"} or \
        set(summary["auroc"]["knn"]) == {"glyphs", "textures", "noise", "covariate_s2"}
    assert summary["aps"] and summary["aps_choice"]["odin"]["searched"] == 8
    for det in board:
        assert (run / "artifacts" / "hist" / f"{det}.png").is_file()
        assert (run / "artifacts" / "roc" / f"{det}.png").is_file()
    html = render_run(run).read_text()  # the report (its CLI is tested in test_cli.py)
    assert "leaderboard" in html and "hist/knn.png" in html and "roc/vim.png" in html


def test_ood_set_identical_to_id_is_one_line_exit_2(tmp_path):
    source = "fashion" if has_fashion_mnist() else "mnist"  # the ID test images themselves
    proc = cli("run", "ood/ood", "--set", f"ood.near=[{source}]", *TINY, runs=tmp_path / "runs")
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("trustlab: ")]
    assert len(lines) == 1 and f"error: OOD set '{source}' is identical to the ID data" in lines[0]
