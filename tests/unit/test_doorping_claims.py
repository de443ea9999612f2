"""The doorping claims: per-seed paired margins from run summaries (a fake bench context, no training)."""

from __future__ import annotations

from typing import Any

import pytest

import trustlab.methods  # noqa: F401  (registers the claims)
from trustlab.methods.doorping import claims
from trustlab.registry import CLAIMS


class _Rec:
    def __init__(self, summary: dict[str, Any], path: str) -> None:
        self._summary, self.path = summary, path

    def summary(self) -> dict[str, Any]:
        return self._summary


class _FakeContext:
    """Answers run_many with summaries made by ``make(recipe, overrides)``; records what was asked."""

    def __init__(self, make: Any) -> None:
        self.make, self.asked = make, []

    def run_many(self, items: list[tuple[str, dict[str, Any]]]) -> list[_Rec]:
        self.asked += items
        return [_Rec(self.make(recipe, ov), f"runs/{recipe}/{i}") for i, (recipe, ov) in enumerate(items)]


def _summary(recipe: str, ov: dict[str, Any], asr: float, control: float) -> dict[str, Any]:
    seed = ov.get("train.seed", 0)
    if recipe.startswith("backdoor/naive"):
        return {"asr": 0.1, "cta": 0.7}
    return {"asr": asr + 0.01 * seed, "cta": 0.70, "clean_cta": 0.71, "asr_clean_distilled": control,
            "asr_reference": 1.0, "asr_unclipped": 1.0, "asr_clean_real": control, "asr_full_data": 0.9,
            "cta_full_data": 0.9, "asr_full_data_val": 0.9, "cta_full_data_val": 0.9,
            "train_size": 4000, "synthetic_size": 100, "attack_info": {"poisoned": 40.0}}


def test_asr_high_and_backdoor_in_data_use_the_paired_rule_per_seed() -> None:
    ctx = _FakeContext(lambda r, ov: _summary(r, ov, asr=0.97, control=0.2))
    res = claims.check_asr_high("quick", ctx)
    assert res.verdict == "PASS" and len(res.diffs) == 3
    assert res.diffs[0] == pytest.approx(min(0.97 - 0.9, 0.03 - 0.01))
    ctl = claims.check_backdoor_in_data("quick", ctx)
    assert ctl.verdict == "PASS" and ctl.diffs[0] == pytest.approx(0.97 - 0.2 - 0.5)
    # every DOORPING run asks for the controls; NaiveAttack runs ask for none
    for recipe, ov in ctx.asked:
        assert ov["eval.controls"] == ([] if "naive" in recipe else claims.CONTROLS)
        assert ov["attack.trigger_clamp"] is True and ov["distill.clamp"] is True


def test_a_trigger_that_fools_clean_models_fails_the_control() -> None:
    ctx = _FakeContext(lambda r, ov: _summary(r, ov, asr=0.97, control=0.95))
    assert claims.check_backdoor_in_data("quick", ctx).verdict == "FAIL"
    low = _FakeContext(lambda r, ov: _summary(r, ov, asr=0.1, control=0.1))
    res = claims.check_asr_high("quick", low)
    assert res.verdict == "FAIL" and res.margin < 0


def test_other_claims_and_the_demo_slice() -> None:
    ctx = _FakeContext(lambda r, ov: _summary(r, ov, asr=0.5, control=0.1))
    assert claims.check_beats_naive("quick", ctx).diffs[0] == pytest.approx(0.5 - 0.1)
    assert claims.check_positive_control("quick", ctx).verdict == "PASS"
    assert claims.check_clean_cta("quick", ctx).diffs[0] == pytest.approx(0.71 - 0.4)
    demo = [cid for cid, c in CLAIMS.items() if cid.startswith("doorping/") and "demo" in c.suites]
    assert sorted(demo) == ["doorping/asr-high", "doorping/backdoor-in-data"]
    assert len(claims.SCALE["demo"]["seeds"]) >= 3 and len(claims.SCALE["quick"]["seeds"]) >= 3
    ctx = _FakeContext(lambda r, ov: _summary(r, ov, asr=0.5, control=0.1))
    claims.check_asr_high("demo", ctx)
    assert {r for r, _ in ctx.asked} == {"backdoor/doorping-dc"}  # the demo trains only what its claims read


def test_a_budget_where_badnets_plants_nothing_is_invalid_not_fail() -> None:
    # the 1%-budget regime measured on MNIST-5k: even full-data BadNets training gives ASR ~0
    def make(recipe: str, ov: dict[str, Any]) -> dict[str, Any]:
        return {**_summary(recipe, ov, asr=0.04, control=0.03), "asr_full_data": 0.01, "asr_full_data_val": 0.01}

    for check in (claims.check_asr_high, claims.check_backdoor_in_data, claims.check_beats_naive):
        res = check("quick", _FakeContext(make))
        assert res.verdict == "INVALID" and res.reason.startswith("positive-control:")
        assert res.margin < 0 and len(res.diffs) == 3  # the margin and its interval are still reported
    # the positive-control claim itself is decided on it: FAIL, not INVALID
    assert claims.check_positive_control("quick", _FakeContext(make)).verdict == "FAIL"


def test_the_demo_measures_the_positive_control_and_a_missing_one_is_invalid() -> None:
    ctx = _FakeContext(lambda r, ov: _summary(r, ov, asr=0.97, control=0.05))
    assert claims.check_asr_high("demo", ctx).verdict == "PASS"
    assert all("full-data" in ov["eval.controls"] for _, ov in ctx.asked)

    def without_control(recipe: str, ov: dict[str, Any]) -> dict[str, Any]:
        s = _summary(recipe, ov, asr=0.97, control=0.05)
        del s["asr_full_data"], s["cta_full_data"], s["asr_full_data_val"], s["cta_full_data_val"]
        return s

    res = claims.check_asr_high("demo", _FakeContext(without_control))
    assert res.verdict == "INVALID" and "not measured" in res.reason


def test_a_trigger_that_fools_clean_models_makes_asr_high_invalid() -> None:
    res = claims.check_asr_high("quick", _FakeContext(lambda r, ov: _summary(r, ov, asr=0.97, control=0.6)))
    assert res.verdict == "INVALID" and res.reason.startswith("trigger-inert-on-clean:")


def test_the_positive_control_gate_reads_validation_images_never_the_test_set() -> None:
    # a budget chosen on the test set would pass here (test ASR 0.9); the gate reads the held-out split
    def make(recipe: str, ov: dict[str, Any]) -> dict[str, Any]:
        return {**_summary(recipe, ov, asr=0.97, control=0.05), "asr_full_data_val": 0.5}

    res = claims.check_asr_high("quick", _FakeContext(make))
    assert res.verdict == "INVALID" and "validation" in res.reason
    ctx = _FakeContext(lambda r, ov: _summary(r, ov, asr=0.97, control=0.05))
    claims.check_asr_high("quick", ctx)
    assert all(ov["eval.val_size"] == claims.VAL_SIZE for _, ov in ctx.asked)
