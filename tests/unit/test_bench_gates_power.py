"""Validity gates (INVALID), the power analysis, and the CPU/ISA fields of env.json."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from trustlab.bench import claims as cl
from trustlab.bench.power import power_markdown, power_rows, seeds_needed, t_power
from trustlab.errors import NotFoundError
from trustlab.registry import CLAIMS

ID = "test/gated"


@pytest.fixture()
def gated_claim():
    cl.register_claim(ID, "a gated test claim", lambda s, c: None, suites=("quick",),
                      preconditions={"above-chance": "acc >= 0.2", "not-at-ceiling": "acc < 1"},
                      effect=0.05, effect_source="test")
    yield CLAIMS.get(ID)
    CLAIMS.remove(ID)


def _result(gates, diffs=(0.1, 0.12, 0.11)):
    return cl.paired_result(ID, "quick", list(diffs), unit="acc", values={"a": [0.5] * 3}, seeds=[0, 1, 2],
                            gates=gates)


def test_gate_helpers_say_what_was_measured() -> None:
    g = cl.gate_above_chance("above-chance", "model acc", [0.09, 0.11], 0.1, 0.1)
    assert not g.ok and g.detail == "model acc 0.1 < 0.2 (chance 0.1 + 0.1)"
    assert cl.gate_above("x", "asr", 0.8, 0.8).ok and not cl.gate_above("x", "asr", 0.79, 0.8).ok
    assert cl.gate_below("x", "cv", [0.5], 0.5).ok and not cl.gate_below("x", "cv", [0.51], 0.5).ok
    assert not cl.gate_inside("x", "collisions", [0.0, 0.0], 0.0, 1.0).ok
    assert "floor" in cl.gate_inside("x", "c", [0.0], 0.0, 1.0).detail
    assert "ceiling" in cl.gate_inside("x", "c", [1.0], 0.0, 1.0).detail
    assert cl.gate_inside("x", "c", [0.3], 0.0, 1.0).ok
    assert not cl.gate_differs("x", "ctl vs base", [0.1, 0.2], [0.1, 0.2]).ok
    assert cl.gate_differs("x", "ctl vs base", [0.1, 0.2], [0.1, 0.25]).ok
    assert not cl.gate_differs("x", "ctl vs base", [0.1, 0.2], [0.1, 0.25], tol=0.1).ok


def test_a_failed_gate_makes_the_verdict_invalid_with_its_reason(gated_claim) -> None:
    ok = [cl.Gate("above-chance", True, "a"), cl.Gate("not-at-ceiling", True, "b")]
    res = _result(ok)
    assert res.verdict == "PASS" and res.reason == "" and [g["ok"] for g in res.gates] == [True, True]
    bad = [cl.Gate("above-chance", False, "acc 0.1 < 0.2"), cl.Gate("not-at-ceiling", True, "b")]
    res = _result(bad)
    assert res.verdict == "INVALID" and not res.passed
    assert res.reason == "above-chance: acc 0.1 < 0.2"
    assert res.interval[0] > 0  # the interval is still reported
    # INVALID beats FAIL too, and both failed gates are named
    both = [cl.Gate("above-chance", False, "x"), cl.Gate("not-at-ceiling", False, "y")]
    res = _result(both, diffs=(-0.1, -0.12, -0.11))
    assert res.verdict == "INVALID" and res.reason == "above-chance: x; not-at-ceiling: y"
    assert json.loads(json.dumps(res.to_dict()))["reason"] == res.reason


def test_an_interval_below_the_effect_of_interest_fails_the_claim(gated_claim) -> None:
    ok = [cl.Gate("above-chance", True, "a"), cl.Gate("not-at-ceiling", True, "b")]
    small = _result(ok, diffs=(-0.01, 0.012, 0.002))  # straddles 0, high end well below the effect 0.05
    assert small.interval[0] < 0 < small.interval[1] < 0.05
    assert small.verdict == "FAIL" and not small.passed
    assert "FAIL by the effect of interest" in small.notes and f"{small.interval[1]:+.4g} < 0.05" in small.notes
    from trustlab.report.bench_report import reason

    assert reason(small.to_dict()).startswith("by the effect of interest: interval high end")  # the report says why
    assert reason(_result(ok, diffs=(-0.1, -0.12, -0.11)).to_dict()) == ""  # a FAIL below zero needs no rule named
    wide = _result(ok, diffs=(-0.2, 0.3, 0.01))  # straddles 0 and reaches past the effect: nothing ruled out
    assert wide.verdict == "INCONCLUSIVE" and wide.interval[1] > 0.05 and "effect of interest" not in wide.notes
    assert "effect of interest" not in _result(ok).notes  # PASS well above the effect: no note
    weak = _result(ok, diffs=(0.010, 0.012, 0.011))  # sign proven, margin far below the paper's: PASS with a note
    assert weak.verdict == "PASS" and "smaller margin than the paper's" in weak.notes
    # a failed gate still wins, and too few seeds decide nothing
    assert _result([cl.Gate("above-chance", False, "x"), cl.Gate("not-at-ceiling", True, "b")],
                   diffs=(-0.01, 0.012, 0.002)).verdict == "INVALID"
    assert cl.decide_with_effect([-0.01, 0.01], 0.05)[0] == "INCONCLUSIVE"
    assert cl.decide_with_effect([-0.01, 0.012, 0.002], None)[0] == "INCONCLUSIVE"


def test_gates_must_match_the_declared_preconditions(gated_claim) -> None:
    with pytest.raises(ValueError, match="missing"):
        _result([cl.Gate("above-chance", True, "a")])
    with pytest.raises(ValueError, match="undeclared"):
        _result([cl.Gate("above-chance", True, "a"), cl.Gate("not-at-ceiling", True, "b"),
                 cl.Gate("other", True, "c")])


def test_invalid_needs_a_reason_and_effect_must_be_positive() -> None:
    with pytest.raises(ValueError, match="reason"):
        cl.ClaimResult("x", "s", "quick", False, 0.0, "u", {}, [], verdict="INVALID")
    with pytest.raises(ValueError, match="effect"):
        cl.register_claim("test/bad-effect", "s", lambda s, c: None, effect=0.0)


@pytest.mark.parametrize("d", [0.3, 0.8, 1.5, 3.0])
@pytest.mark.parametrize("n", [3, 5, 10, 30])
def test_power_equals_statsmodels_ttestpower(d: float, n: int) -> None:
    from statsmodels.stats.power import TTestPower

    ref = TTestPower().power(effect_size=d, nobs=n, alpha=0.05, alternative="larger")
    assert t_power(d, n) == pytest.approx(ref, abs=1e-6)


def test_seeds_needed_is_the_smallest_n_with_80_percent_power() -> None:
    from statsmodels.stats.power import TTestPower

    for sd, effect in [(0.02, 0.01), (0.05, 0.05), (0.01, 0.05), (0.1, 0.02)]:
        n = seeds_needed(sd, effect)
        ref = TTestPower().solve_power(effect_size=effect / sd, alpha=0.05, power=0.8, alternative="larger")
        assert n == max(3, math.ceil(ref - 1e-9)), (sd, effect, n, ref)
        assert t_power(effect / sd, n) >= 0.8 and (n == 3 or t_power(effect / sd, n - 1) < 0.8)
    assert seeds_needed(0.0, 0.01) == 3
    assert seeds_needed(1.0, 0.001) is None  # more than MAX_SEEDS
    with pytest.raises(ValueError):
        seeds_needed(0.1, 0.0)


def test_power_rows_read_a_bench(tmp_path: Path) -> None:
    import trustlab.methods  # noqa: F401

    doc = {"claims": [{"id": "erm/beats-chance", "verdict": "PASS", "unit": "acc", "seeds": [0, 1, 2],
                       "diffs": [0.1, 0.2, 0.15], "seconds": 30.0},
                      {"id": "not/registered", "verdict": "FAIL", "seeds": [0], "diffs": [0.1]}]}
    (tmp_path / "quick").mkdir()
    (tmp_path / "quick" / "claims.json").write_text(json.dumps(doc))
    rows = power_rows(tmp_path / "quick" / "claims.json")
    assert rows[0]["sd per seed"] == pytest.approx(0.05)
    assert rows[0]["seeds needed"] == seeds_needed(0.05, CLAIMS.get("erm/beats-chance").effect)
    assert rows[0]["seconds per seed"] == pytest.approx(10.0)
    assert rows[1]["seeds needed"] == "no effect stated"
    md = power_markdown(rows)
    assert "`erm/beats-chance`" in md and md.count("\n") == 3
    with pytest.raises(NotFoundError, match="trustlab bench --suite smoke"):
        power_rows(tmp_path / "smoke" / "claims.json")


def test_env_records_the_cpu_and_its_kernel_set(monkeypatch) -> None:
    from trustlab.runs.store import environment

    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "SSE41")
    env = environment()
    assert env["cpu_capability"] in ("DEFAULT", "AVX2", "AVX512", "ZVECTOR", "VSX", "NEON", "SVE256")
    assert env["onednn_max_cpu_isa"] == "SSE41" and isinstance(env["cpu_simd"], list)
    assert env["cpu_model"]


def test_bench_report_header_shows_the_cpu_and_kernel_set(tmp_path: Path) -> None:
    from trustlab.report import render_bench

    env = {"cpu_model": "AMD EPYC 7B13", "cpu_capability": "AVX2", "onednn_max_cpu_isa": "SSE41",
           "cpu_simd": ["avx2", "fma"]}
    claim = {"id": "erm/beats-chance", "statement": "s", "suite": "quick", "passed": False, "margin": 0.1,
             "unit": "acc", "values": {"a": [0.1, 0.2, 0.3]}, "seeds": [0, 1, 2], "verdict": "INVALID",
             "interval": [0.0, 0.2], "diffs": [0.1, 0.1, 0.1], "reason": "learned: mean in-domain acc 0.3 < 0.5",
             "gates": [{"name": "learned", "ok": False, "detail": "mean in-domain acc 0.3 < 0.5"}]}
    (tmp_path / "claims.json").write_text(json.dumps({"suite": "quick", "env": env, "claims": [claim]}))
    html = Path(render_bench(tmp_path)).read_text()
    for text in ("AMD EPYC 7B13", "AVX2", "SSE41", ">INVALID<", "mean in-domain acc 0.3 &lt; 0.5"):
        assert text in html, text
