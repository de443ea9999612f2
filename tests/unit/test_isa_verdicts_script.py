"""scripts/isa_verdicts.py: the side-by-side table and its exit code (no bench is run here)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "isa_verdicts.py"


def _module():
    spec = importlib.util.spec_from_file_location("isa_verdicts", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _claims(verdicts: dict[str, str], capability: str) -> dict:
    return {"env": {"cpu_model": "cpu", "cpu_capability": capability, "onednn_max_cpu_isa": "x"},
            "claims": [{"id": k, "verdict": v, "margin": 0.01, "interval": [-0.01, 0.03]}
                       for k, v in verdicts.items()]}


def test_compare_counts_flips_and_missing_claims(tmp_path: Path) -> None:
    mod = _module()
    table, flips = mod.compare(_claims({"a/x": "PASS", "b/y": "FAIL", "c/z": "INVALID"}, "AVX2"),
                               _claims({"a/x": "PASS", "b/y": "INCONCLUSIVE"}, "DEFAULT"))
    assert flips == 2
    assert "| `a/x` | PASS +0.0100 [-0.0100, +0.0300] | PASS +0.0100 [-0.0100, +0.0300] | yes |" in table
    assert "| `b/y` |" in table and "**no**" in table and "not run" in table
    assert "ATen AVX2" in table and "ATen DEFAULT" in table


def test_compare_only_writes_the_table_and_exits_by_flips(tmp_path: Path) -> None:
    mod = _module()
    for name, v in (("native", "PASS"), ("forced", "PASS")):
        (tmp_path / name / "demo").mkdir(parents=True)
        (tmp_path / name / "demo" / "claims.json").write_text(json.dumps(_claims({"a/x": v}, "AVX2")))
    assert mod.main(["--compare-only", "--out", str(tmp_path)]) == 0
    assert "0 claim(s) changed verdict" in (tmp_path / "isa-verdicts.md").read_text()
    (tmp_path / "forced" / "demo" / "claims.json").write_text(json.dumps(_claims({"a/x": "FAIL"}, "DEFAULT")))
    assert mod.main(["--compare-only", "--out", str(tmp_path)]) == 1
    with pytest.raises(SystemExit, match="missing"):
        mod.main(["--compare-only", "--out", str(tmp_path / "nothing")])


def test_compare_only_takes_explicit_claims_files(tmp_path: Path) -> None:
    mod = _module()
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(_claims({"a/x": "PASS"}, "AVX2")))
    b.write_text(json.dumps(_claims({"a/x": "INVALID"}, "DEFAULT")))
    assert mod.main(["--compare-only", "--out", str(tmp_path / "o"), "--native", str(a), "--forced", str(b)]) == 1
