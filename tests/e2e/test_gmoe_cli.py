"""GMoE from the CLI: a DomainBed-layout folder dataset end to end, and bad settings as one `error:` line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.helpers import cli, run_dir
from tests.e2e.test_folder_and_resume import make_tree

FAST = ["--set", "train.epochs=1", "--set", "train.max_steps_per_epoch=2", "--set", "vit.depth=2",
        "--set", "data.batch_size=8", "--quiet"]


def test_gmoe_on_a_folder_dataset(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "PACSmini", n=8)
    proc = cli("run", "gmoe/folder", "--set", f"data.root={root}", "--set", "data.target=sketch",
               "--set", "data.image_size=16", "--set", "vit.patch_size=4", *FAST, runs=tmp_path / "runs",
               check=True, timeout=900)
    out = run_dir(proc.stdout)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["targets"] == ["sketch"] and set(summary["per_domain"]) == {"art", "photo", "sketch"}
    assert summary["model"] == "vit_moe" and summary["experts"] == 6 and summary["tokens"] == 17
    assert {"cv_max", "drop_max"} <= set(summary["balance"])
    assert set(summary["specialisation"]) >= {"ink", "class", "domain"}
    assert (out / "artifacts" / "routing.png").stat().st_size > 1000


@pytest.mark.parametrize(
    "settings, message",
    [
        (["moe.top_k=7"], "error: moe.top_k=7 must be between 1 and moe.num_experts=6"),
        (["moe.capacity_factor=0"], "error: moe.capacity_factor must be > 0"),
        (["vit.moe_blocks=[0,9]"],  # FAST has vit.depth=2; the hint's example must itself be valid
         "error: model moe_blocks [0, 9] must be distinct block indices in 0..1 (depth=2); e.g. [0, 1]"),
        (["moe.router=topk"], "error: unknown router 'topk'"),
    ],
)
def test_bad_gmoe_settings_exit_2_with_one_line(tmp_path: Path, settings: list[str], message: str) -> None:
    args = [a for s in settings for a in ("--set", s)]
    proc = cli("run", "gmoe/digits-dg", *args, *FAST, runs=tmp_path / "runs", timeout=900)
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(message), proc.stderr
    assert not any((tmp_path / "runs").glob("**/done")), "a failed run must leave no finished record"
