"""Every registered claim's check on fabricated run summaries whose verdict is known.

Generated from ``CLAIMS`` like the contract tests: registering a claim without a PASS, a FAIL and an
INVALID fixture (in a ``fixtures_<group>.py`` module beside this file) fails here. Each fixture is a
``make(recipe, overrides) -> summary`` (see :mod:`trustlab.bench.testing`); the claim runs on its ``suite``
(quick by default: >= 3 seeds) with no training, so these tests check the claim code itself: the seeds it
pairs, the keys it reads, the gates it evaluates and the verdict it gives.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
from pathlib import Path

import pytest

import trustlab.methods  # noqa: F401  (registers the claims)
from trustlab.bench.testing import FakeContext
from trustlab.registry import CLAIMS

from . import __name__ as _pkg

KINDS = ("PASS", "FAIL", "INVALID")


def _fixtures() -> dict:
    out: dict = {}
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if info.name.startswith("fixtures_"):
            mod = importlib.import_module(f"{_pkg}.{info.name}")
            dup = set(out) & set(mod.FIXTURES)
            assert not dup, f"claims with fixtures in two modules: {sorted(dup)}"
            out.update(mod.FIXTURES)
    return out


FIXTURES = _fixtures()


@pytest.mark.parametrize("claim_id", CLAIMS.names())
def test_every_claim_declares_gates_and_effect(claim_id: str) -> None:
    claim = CLAIMS.get(claim_id)
    assert claim.preconditions, f"{claim_id} declares no validity gate (register_claim(preconditions=...))"
    assert all(isinstance(v, str) and v for v in claim.preconditions.values())
    assert claim.effect is not None and claim.effect > 0, f"{claim_id} states no effect of interest"
    assert claim.effect_source, f"{claim_id}: say where the effect of interest comes from"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("claim_id", CLAIMS.names())
def test_claim_gives_the_fixtures_verdict(claim_id: str, kind: str, tmp_path: Path) -> None:
    assert claim_id in FIXTURES, f"{claim_id} has no fixtures: add PASS/FAIL/INVALID makers to tests/claims"
    fx = FIXTURES[claim_id]
    assert kind in fx, f"{claim_id} has no {kind} fixture"
    claim = CLAIMS.get(claim_id)
    suite = fx.get("suite", "quick")
    assert suite in claim.suites, f"{claim_id} is not in suite {suite}"
    ctx = FakeContext(fx[kind], tmp_path, suite=suite, files=fx.get("files"))
    res = claim.check(suite, ctx)
    assert res.id == claim_id and res.suite == suite
    assert res.verdict == kind, (f"{claim_id}: expected {kind}, got {res.verdict} margin {res.margin:+.4f} "
                                 f"{res.interval} reason {res.reason!r}")
    assert sorted(g["name"] for g in res.gates) == sorted(claim.preconditions)
    assert ctx.asked, f"{claim_id} read no runs"
    if kind == "INVALID":
        assert res.reason and any(not g["ok"] for g in res.gates)
    else:
        assert not res.reason and all(g["ok"] for g in res.gates)
        assert len(res.diffs) >= 3 and math.isfinite(res.margin)
