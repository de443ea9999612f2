"""trustlab.bench.claims pinned down value by value (found by mutation testing, scripts/mutation.py): the
t interval and the paired decision at its edges, every gate helper's verdict and one-line detail, what
paired_result and register_claim store, mean/std of tiny inputs, and the order lodo_runs asks for runs."""

from __future__ import annotations

import math

import pytest

from trustlab.bench import claims as cl
from trustlab.registry import CLAIMS

T95_2 = 2.9199855803537242  # Student t quantile 0.95, 2 degrees of freedom (tables)
T90_2 = 1.8856180831641272  # quantile 0.90, 2 degrees of freedom
ID = "test/mutation-claim"


@pytest.fixture()
def claim():
    c = cl.register_claim(ID, "the statement", lambda s, c: None, suites=("quick", "full"),
                          preconditions={"g1": "first", "g2": "second"}, effect=0.5, effect_source="paper")
    yield c
    CLAIMS.remove(ID)


# --- interval and decide --------------------------------------------------------------------------------


def test_interval_is_the_t_interval_of_the_mean():
    lo, hi = cl.interval([1.0, 2.0, 3.0])  # mean 2, sd 1, n 3
    half = T95_2 / math.sqrt(3)
    assert lo == pytest.approx(2 - half, rel=1e-12) and hi == pytest.approx(2 + half, rel=1e-12)
    lo, hi = cl.interval([1.0, 2.0, 3.0], confidence=0.80)
    assert (lo, hi) == (pytest.approx(2 - T90_2 / math.sqrt(3)), pytest.approx(2 + T90_2 / math.sqrt(3)))
    # NaNs are dropped before counting; below two values there is no interval
    assert cl.interval([1.0, float("nan"), 2.0, 3.0]) == pytest.approx(cl.interval([1.0, 2.0, 3.0]))
    assert all(math.isnan(v) for v in cl.interval([5.0]))
    assert all(math.isnan(v) for v in cl.interval([5.0, float("nan")]))
    assert all(math.isnan(v) for v in cl.interval([]))
    t95_1 = 6.313751514675041  # two seeds: 1 degree of freedom; sd sqrt(2) / sqrt(n=2) = 1
    assert cl.interval([2, 4]) == pytest.approx((3 - t95_1, 3 + t95_1))
    assert cl.interval([0.5, 0.5, 0.5]) == (0.5, 0.5)  # identical seeds: a point


def test_decide_at_its_edges():
    assert cl.decide([1.0, 2.0, 3.0]) == ("PASS", list(cl.interval([1.0, 2.0, 3.0])))
    assert cl.decide([-1.0, -2.0, -3.0])[0] == "FAIL"
    assert cl.decide([-1.0, 0.0, 1.0])[0] == "INCONCLUSIVE"
    # too few seeds: inconclusive even with a clear margin; min_seeds is honoured both ways
    assert cl.decide([1.0, 1.1])[0] == "INCONCLUSIVE"
    assert cl.decide([1.0, 1.1], min_seeds=2)[0] == "PASS"
    assert cl.decide([1.0, 1.1, 1.2], min_seeds=4)[0] == "INCONCLUSIVE"
    assert cl.decide([-1.0, -1.1], min_seeds=2)[0] == "FAIL"
    # enough entries but NaNs leave fewer than two: no interval, inconclusive
    verdict, iv = cl.decide([1.0, float("nan"), float("nan")])
    assert verdict == "INCONCLUSIVE" and all(math.isnan(v) for v in iv)
    # an interval touching zero is not above (or below) it
    assert cl.decide([0.0, 0.0, 0.0]) == ("INCONCLUSIVE", [0.0, 0.0])
    assert cl.decide([0.1, 0.1, 0.1]) == ("PASS", [pytest.approx(0.1), pytest.approx(0.1)])
    assert cl.decide([-0.1, -0.1, -0.1])[0] == "FAIL"
    # the confidence level reaches the interval: 1, 2, 3 pass at 90% but a wide set does not
    assert cl.decide([0.1, 2.0, 4.0])[0] == "INCONCLUSIVE"
    assert cl.decide([0.1, 2.0, 4.0], confidence=0.5)[0] == "PASS"


# --- ClaimResult ----------------------------------------------------------------------------------------


def test_claim_result_verdict_and_passed():
    base = ("x", "s", "quick")
    assert cl.ClaimResult(*base, True, 1.0, "u", {}, []).verdict == "PASS"
    assert cl.ClaimResult(*base, False, 1.0, "u", {}, []).verdict == "FAIL"
    r = cl.ClaimResult(*base, True, 1.0, "u", {}, [], verdict="INCONCLUSIVE")
    assert r.verdict == "INCONCLUSIVE" and r.passed is False  # passed follows the verdict
    r = cl.ClaimResult(*base, False, 1.0, "u", {}, [], verdict="PASS")
    assert r.passed is True
    r = cl.ClaimResult(*base, False, 1.0, "u", {}, [], verdict="INVALID", reason="gate: why")
    assert r.verdict == "INVALID" and r.reason == "gate: why"
    with pytest.raises(ValueError, match=r"^verdict must be one of \('PASS', 'FAIL', 'INCONCLUSIVE', 'INVALID'\), "
                                         r"got 'MAYBE'$"):
        cl.ClaimResult(*base, False, 1.0, "u", {}, [], verdict="MAYBE")
    with pytest.raises(ValueError, match="^an INVALID verdict needs the failed precondition as its reason$"):
        cl.ClaimResult(*base, False, 1.0, "u", {}, [], verdict="INVALID")
    d = cl.ClaimResult(*base, True, 1.0, "u", {"a": [1.0]}, [0]).to_dict()
    assert d["id"] == "x" and d["values"] == {"a": [1.0]} and d["verdict"] == "PASS" and d["gates"] == []


# --- gates ----------------------------------------------------------------------------------------------


def test_gate_above_and_below_details():
    g = cl.gate_above("n", "acc", [0.5, 0.7], 0.6)
    assert g == cl.Gate("n", True, "acc 0.6 >= 0.6")
    assert cl.gate_above("n", "acc", 0.59999, 0.6) == cl.Gate("n", False, "acc 0.6 < 0.6")
    assert cl.gate_above("n", "acc", 3, 0.6, "why").detail == "acc 3 >= 0.6 (why)"
    assert cl.gate_above("n", "acc", 0.123456, 0.1).detail == "acc 0.1235 >= 0.1"
    assert cl.gate_below("n", "cv", [0.25, 0.75], 0.5) == cl.Gate("n", True, "cv 0.5 <= 0.5")
    assert cl.gate_below("n", "cv", 0.31, 0.3, "w") == cl.Gate("n", False, "cv 0.31 > 0.3 (w)")
    assert cl.gate_below("n", "cv", 1, 2).ok
    g = cl.gate_above_chance("n", "acc", [0.3], 0.1, 0.1)
    assert g == cl.Gate("n", True, "acc 0.3 >= 0.2 (chance 0.1 + 0.1)")
    assert g.to_dict() == {"name": "n", "ok": True, "detail": "acc 0.3 >= 0.2 (chance 0.1 + 0.1)"}
    assert type(cl.Gate("n", 1, "d").to_dict()["ok"]) is bool


def test_gate_inside_and_differs_details():
    assert cl.gate_inside("n", "c", [0.2, 0.4], 0.0, 1.0) == cl.Gate("n", True, "c 0.3 inside (0, 1)")
    assert cl.gate_inside("n", "c", 0.0, 0.0, 1.0) == cl.Gate("n", False, "c 0 at the floor of (0, 1)")
    assert cl.gate_inside("n", "c", -1.0, 0.0, 1.0).detail == "c -1 at the floor of (0, 1)"
    assert cl.gate_inside("n", "c", 1.0, 0.0, 1.0) == cl.Gate("n", False, "c 1 at the ceiling of (0, 1)")
    assert cl.gate_inside("n", "c", 2, 0.0, 1.0).detail == "c 2 at the ceiling of (0, 1)"
    assert cl.gate_differs("n", "a vs b", [1.0, 2.0], [1.0, 2.0]) == cl.Gate(
        "n", False, "a vs b: identical on every seed (tol 0)")
    assert cl.gate_differs("n", "a vs b", [1.0, 2.0], [1.0, 2.5], tol=0.25) == cl.Gate(
        "n", True, "a vs b: differ on some seed (tol 0.25)")
    assert not cl.gate_differs("n", "a", [1.0, 2.0], [1.0, 2.5], tol=0.5).ok  # within tol: the same
    assert cl.gate_differs("n", "a", [1.0, 2.0], [1.0]).ok  # different lengths differ
    assert cl.gate_differs("n", "a", [-1.0], [1.0], tol=2.0).ok is False  # |difference| 2 <= tol
    assert cl.gate_differs("n", "a", [-1.0], [1.0], tol=1.99).ok is True


def test_invalid_reason_lists_failed_gates_in_order():
    gates = [cl.Gate("a", False, "x"), cl.Gate("b", True, "y"), cl.Gate("c", False, "z")]
    assert cl.invalid_reason(gates) == "a: x; c: z"
    assert cl.invalid_reason(gates[1:2]) == "" and cl.invalid_reason([]) == ""


# --- paired_result and register_claim -------------------------------------------------------------------


def test_paired_result_stores_what_it_was_given(claim):
    gates = [cl.Gate("g1", True, "d1"), cl.Gate("g2", True, "d2")]
    r = cl.paired_result(ID, "quick", [1, 2, 3], unit="pp", values={"a": [1, 2], "b": (3,)}, seeds=(0, 1, 2),
                         table=[{"row": 1}], runs=["r0"], notes="note", gates=gates)
    assert r.id == ID and r.statement == "the statement" and r.suite == "quick" and r.unit == "pp"
    assert r.verdict == "PASS" and r.passed and r.margin == 2.0 and r.notes == "note"
    assert r.values == {"a": [1.0, 2.0], "b": [3.0]} and all(type(v) is float for v in r.values["a"])
    assert r.seeds == [0, 1, 2] and r.table == [{"row": 1}] and r.runs == ["r0"]
    assert r.diffs == [1.0, 2.0, 3.0] and all(type(v) is float for v in r.diffs)
    assert r.interval == list(cl.interval([1.0, 2.0, 3.0])) and r.reason == ""
    assert r.gates == [g.to_dict() for g in gates]
    bare = cl.paired_result(ID, "full", [-1.0, -2.0, -3.0], unit="pp", values={}, seeds=[0, 1, 2], gates=gates)
    assert bare.verdict == "FAIL" and bare.table == [] and bare.runs == [] and bare.notes == ""
    # min_seeds reaches the decision
    two = cl.paired_result(ID, "quick", [1.0, 1.1], unit="pp", values={}, seeds=[0, 1], gates=gates, min_seeds=2)
    assert two.verdict == "PASS"
    assert cl.paired_result(ID, "quick", [1.0, 1.1], unit="pp", values={}, seeds=[0, 1],
                            gates=gates).verdict == "INCONCLUSIVE"


def test_paired_result_gate_names_must_match(claim):
    with pytest.raises(ValueError, match=r"^claim test/mutation-claim: gates checked \['g1', 'x'\] do not match "
                                         r"its declared preconditions \['g1', 'g2'\] \(missing \['g2'\], "
                                         r"undeclared \['x'\]\)$"):
        cl.paired_result(ID, "quick", [1.0] * 3, unit="u", values={}, seeds=[0, 1, 2],
                         gates=[cl.Gate("g1", True, ""), cl.Gate("x", True, "")])
    # the same names in another order are fine
    r = cl.paired_result(ID, "quick", [1.0] * 3, unit="u", values={}, seeds=[0, 1, 2],
                         gates=[cl.Gate("g2", True, ""), cl.Gate("g1", False, "low")])
    assert r.verdict == "INVALID" and r.reason == "g1: low"


def test_register_claim_stores_its_fields(claim):
    assert CLAIMS.get(ID) is claim
    assert claim.id == ID and claim.statement == "the statement" and claim.suites == ("quick", "full")
    assert claim.group == "test" and claim.preconditions == {"g1": "first", "g2": "second"}
    assert claim.effect == 0.5 and claim.effect_source == "paper" and claim.__doc__ == "the statement"
    def check(suite, ctx):
        return None

    other = cl.register_claim("test/plain", "s2", check, group="mine")
    try:
        assert other.check is check and CLAIMS.get("test/plain").check is check
        assert other.group == "mine" and other.preconditions == {} and other.effect is None
        assert other.suites == cl.SUITES and other.effect_source == ""
    finally:
        CLAIMS.remove("test/plain")
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match=r"^claim test/x: effect of interest must be > 0 in the claim's unit, "
                                             f"got {bad}$"):
            cl.register_claim("test/x", "s", lambda s, c: None, effect=bad)
    assert "test/x" not in CLAIMS
    tiny = cl.register_claim("test/tiny-effect", "s", lambda s, c: None, effect=1e-9)
    CLAIMS.remove("test/tiny-effect")
    assert tiny.effect == 1e-9


# --- helpers --------------------------------------------------------------------------------------------


def test_mean_and_std():
    assert cl.mean([1, 2, 6]) == 3.0 and type(cl.mean([1, 2])) is float
    assert math.isnan(cl.mean([]))
    assert cl.std([5.0]) == 0.0 and cl.std([]) == 0.0
    assert cl.std([1.0, 3.0]) == pytest.approx(math.sqrt(2))


class _Ctx:
    def __init__(self) -> None:
        self.asked = []

    def run_many(self, jobs):
        self.asked = jobs

        class _Rec:
            def __init__(self, i: int) -> None:
                self.path, self.i = f"/runs/{i}", i

            def summary(self):
                return {"i": self.i}

        return [_Rec(i) for i in range(len(jobs))]


def test_lodo_runs_asks_seed_major_and_keys_the_summaries():
    ctx = _Ctx()
    out, paths = cl.lodo_runs(ctx, "erm/digits-dg", ["mnist", "usps"], [0, 1], {"train.epochs": 2})
    assert ctx.asked == [
        ("erm/digits-dg", {"data.target": "mnist", "train.seed": 0, "train.epochs": 2}),
        ("erm/digits-dg", {"data.target": "usps", "train.seed": 0, "train.epochs": 2}),
        ("erm/digits-dg", {"data.target": "mnist", "train.seed": 1, "train.epochs": 2}),
        ("erm/digits-dg", {"data.target": "usps", "train.seed": 1, "train.epochs": 2}),
    ]
    assert out == {("mnist", 0): {"i": 0}, ("usps", 0): {"i": 1}, ("mnist", 1): {"i": 2}, ("usps", 1): {"i": 3}}
    assert paths == ["/runs/0", "/runs/1", "/runs/2", "/runs/3"]
    cl.lodo_runs(ctx, "r", ["a"], [3])
    assert ctx.asked == [("r", {"data.target": "a", "train.seed": 3})]
