"""PMT-IQA claim code on fabricated summaries: the seeds from the power analysis, and that a model with no
rank order on the held-out type cannot pass the unseen-type claim."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import trustlab.methods  # noqa: F401  (registers the claims)
from tests.claims.fixtures_pmtiqa import FIXTURES
from trustlab.bench.testing import FakeContext
from trustlab.methods.pmtiqa import claims


def test_claims_run_the_seeds_the_power_analysis_asks_for(tmp_path: Path) -> None:
    ctx = FakeContext(FIXTURES[claims.PMT]["PASS"], tmp_path)
    res = claims._component(claims.PMT, "+PMT")("quick", ctx)
    assert res.seeds == list(range(7)) and len(res.diffs) == 7
    assert {(ov["method.multi_scale"], ov["method.schedule"]) for _, ov in ctx.asked} == {
        (False, "regression"), (False, "progressive")}  # only the two compared variants
    assert claims.seeds_for("quick", claims.MS_PMT) == [0, 1, 2] and claims.seeds_for("demo", claims.PMT) == [0, 1, 2]
    assert "power:" in res.notes


def test_a_model_constant_within_every_reference_is_the_mean_predictor(tmp_path: Path) -> None:
    make = FIXTURES[claims.UNSEEN]["PASS"]

    def collapsed(recipe: str, ov: dict[str, Any]) -> dict[str, Any]:
        s = make(recipe, ov)
        s["heldout"] = {claims.HELD_OUT: {"srcc": math.nan, "level_srcc": math.nan}}
        return s

    res = claims.check_unseen_type("quick", FakeContext(collapsed, tmp_path))
    assert res.diffs == [0.0] * 5 and res.verdict == "INCONCLUSIVE"  # never a PASS
