"""trustlab.metrics.iqa cases that mutation testing (scripts/mutation.py) showed untested: the logistic curves'
values, the fit's start and fallback, the direction flags passed through every metric, tiny and byte inputs,
the [-1, 1] clip and the error messages."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from trustlab.errors import DataError
from trustlab.metrics import iqa
from trustlab.metrics.iqa import (
    average_ranks,
    fit_logistic,
    iqa_correlations,
    krcc,
    logistic4,
    logistic5,
    plcc,
    plcc_logistic,
    srcc,
)

RNG = np.random.default_rng(4)
X = RNG.normal(size=40)
Y = np.tanh(X) + RNG.normal(0, 0.3, 40)


def test_logistic_curves_at_known_points():
    # 4-parameter: (b1 - b2) / (1 + exp(-(x - b3) / |b4|)) + b2
    assert logistic4(np.array([0.5]), 90.0, 10.0, 0.5, 0.7)[0] == pytest.approx(50.0)
    want = 80.0 / (1 + math.exp(-(1.2 - 0.5) / 0.7)) + 10.0
    assert logistic4(np.array([1.2]), 90.0, 10.0, 0.5, -0.7)[0] == pytest.approx(want, rel=1e-12)
    # far from b3 the exponent is clipped at +-50: no overflow, the limit within exp(-50)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert logistic4(np.array([-1e6]), 1.0, 0.0, 0.0, 1e-3)[0] == 1.0 / (1.0 + math.exp(50.0))
        assert logistic4(np.array([1e6]), 1.0, 0.0, 0.0, 1e-3)[0] == 1.0
        assert logistic5(np.array([1e6]), 2.0, 1.0, 0.0, 0.0, 0.0)[0] == pytest.approx(1.0)
        assert logistic5(np.array([-1e6]), 2.0, 1.0, 0.0, 0.0, 0.0)[0] == pytest.approx(-1.0)
    # b4 = 0 is a step at b3 (the 1e-12 keeps the division finite and its sign)
    assert logistic4(np.array([1.0, -1.0]), 1.0, 0.0, 0.0, 0.0).tolist() == pytest.approx([1.0, 0.0], abs=1e-12)
    # 5-parameter (VQEG): b1 (0.5 - 1 / (1 + exp(b2 (x - b3)))) + b4 x + b5
    x = np.array([2.0])
    want = 3.0 * (0.5 - 1.0 / (1.0 + math.exp(0.8 * (2.0 - 0.5)))) + 1.5 * 2.0 + 4.0
    assert logistic5(x, 3.0, 0.8, 0.5, 1.5, 4.0)[0] == pytest.approx(want, rel=1e-12)
    assert logistic5(np.array([0.5]), 3.0, 0.8, 0.5, 0.0, 4.0)[0] == pytest.approx(4.0)


def test_fit_logistic_returns_the_fitted_parameters_and_defaults_to_four():
    x = np.linspace(-3, 3, 200)
    y = logistic4(x, 90.0, 10.0, 0.5, 0.7)
    mapped, p = fit_logistic(x, y)
    assert p.shape == (4,) and np.allclose(p[:3], [90.0, 10.0, 0.5], atol=1e-3) and abs(p[3]) == pytest.approx(0.7)
    # columns (N, 1) are flattened
    mapped_col, _ = fit_logistic(x[:, None], y[:, None])
    assert mapped_col.shape == (200,) and np.allclose(mapped_col, mapped)
    with pytest.raises(DataError, match="^logistic fit has 4 or 5 parameters, got 3$"):
        fit_logistic(x, y, 3)


def test_fit_start_point_and_budget(monkeypatch):
    """The VQEG / pyiqa starting point and 20000 evaluations; a failed fit falls back to the raw predictions
    (as floats) with the start point and a warning that points at the caller."""
    import scipy.optimize

    seen = {}

    def fail(fn, x, y, p0, maxfev):
        seen.update(fn=fn, p0=list(p0), maxfev=maxfev)
        raise RuntimeError("no convergence")

    monkeypatch.setattr(scipy.optimize, "curve_fit", fail)
    x, y = [1, 2, 3, 6], [10, 20, 40, 30]
    sx, my = float(np.std(x)), 25.0
    with pytest.warns(UserWarning, match="^4-parameter logistic fit did not converge; using the raw predictions$") as w:
        mapped, p = fit_logistic(x, y, 4)
    # stacklevel: the caller's line (under mutation testing, mutmut's trampoline is the caller's frame)
    assert w[0].filename == __file__ or w[0].filename.endswith("mutmut/mutation/trampoline.py")
    assert seen["fn"] is logistic4 and seen["maxfev"] == 20000
    assert seen["p0"] == pytest.approx([40.0, 10.0, 3.0, sx / 4 + 1e-6], rel=1e-12)
    assert p.tolist() == pytest.approx(seen["p0"], rel=1e-12)
    assert mapped.dtype == np.float64 and mapped.tolist() == [1.0, 2.0, 3.0, 6.0]
    with pytest.warns(UserWarning, match="^5-parameter"):
        mapped, p = fit_logistic(x, y, 5)
    assert seen["fn"] is logistic5
    assert seen["p0"] == pytest.approx([30.0, 1.0 / (sx + 1e-6), 3.0, 0.0, my], rel=1e-12)
    assert p.tolist() == pytest.approx(seen["p0"], rel=1e-12)


def test_non_finite_fit_falls_back(monkeypatch):
    import scipy.optimize

    monkeypatch.setattr(scipy.optimize, "curve_fit", lambda fn, x, y, p0, maxfev: (np.array([np.nan] * 4), None))
    with pytest.warns(UserWarning, match="did not converge"):
        mapped, p = fit_logistic([1.0, 2.0, 3.0], [1.0, 2.0, 4.0], 4)
    assert mapped.tolist() == [1.0, 2.0, 3.0]


def test_direction_flags_reach_every_metric():
    for f in (srcc, krcc, plcc):
        assert f(X, Y, lower_better=True) == f(X, -Y) != f(X, Y)
        assert f(X, Y, pred_lower_better=True) == f(-X, Y)
    for p in (4, 5):  # the fits differ in the last digits with the labels' sign, so equality is exact
        assert plcc_logistic(X, Y, p, lower_better=True) == plcc_logistic(X, -Y, p) != plcc_logistic(X, Y, p)
        assert plcc_logistic(X, Y, p, pred_lower_better=True) == plcc_logistic(-X, Y, p) != plcc_logistic(X, Y, p)
    assert plcc_logistic(X, Y) == plcc_logistic(X, Y, 4) != plcc_logistic(X, Y, 5)
    for lb, pb in ((True, False), (False, True), (True, True)):
        out = iqa_correlations(X, Y, lower_better=lb, pred_lower_better=pb)
        xs, ys = (-X if pb else X), (-Y if lb else Y)
        assert out == {"srcc": srcc(xs, ys), "krcc": krcc(xs, ys), "plcc": plcc(xs, ys),
                       "plcc_l4": plcc_logistic(xs, ys, 4), "plcc_l5": plcc_logistic(xs, ys, 5)}


def test_two_points_and_one_point():
    assert plcc([1.0, 2.0], [1.0, 3.0]) == 1.0 and srcc([1.0, 2.0], [3.0, 1.0]) == -1.0
    assert krcc([1.0, 2.0], [1.0, 2.0]) == 1.0  # n0 = 1, no ties: denominator exactly 1
    assert plcc([0.0, 1.0], [0.0, 2.0]) == 1.0  # sum of squares 0.5 x 2: denominator exactly 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for f in (plcc, srcc, krcc):
            assert math.isnan(f([1.0], [2.0]))
            assert math.isnan(f(np.ones(5), np.arange(5.0)))  # constant: undefined, no 0/0 warning
    with np.errstate(over="ignore"):
        assert math.isnan(plcc([1e200, -1e200, 0.0], [1.0, 2.0, 3.0]))  # overflowing spread: undefined


def test_rounding_never_leaves_minus_one_to_one():
    x = np.array([1.96, 1.802, 1.315, 0.357, -1.208])  # (xc . yc) / den rounds above 1 for y = 7.3 x
    assert plcc(x, x * 7.3) == 1.0 and plcc(x, -(x * 7.3)) == -1.0


def test_byte_scores_are_numbers():
    # uint8 scores (MOS or predictions stored as bytes): differences and negation must not wrap around
    x = np.array([10, 200, 30, 250, 5], dtype=np.uint8)
    y = np.array([1, 3, 2, 5, 4], dtype=np.uint8)
    xf, yf = x.astype(float), y.astype(float)
    assert krcc(x, y) == krcc(xf, yf) == pytest.approx(0.4)
    assert srcc(x, y, pred_lower_better=True) == srcc(-xf, yf)
    assert plcc(x, y, lower_better=True) == pytest.approx(plcc(xf, -yf), rel=1e-12)
    assert average_ranks(np.array([3, 1, 1], dtype=np.uint8)).tolist() == [3.0, 1.5, 1.5]
    assert average_ranks(np.array([[2.0], [1.0]])).tolist() == [2.0, 1.0]  # a column is flattened
    mapped, _ = fit_logistic(np.arange(8, dtype=np.uint8), np.arange(8, dtype=np.uint8) ** 2, 4)
    assert mapped.shape == (8,)


def test_columns_of_predictions_are_flattened():
    assert plcc(X[:, None], Y) == plcc(X, Y) and krcc(X, Y[:, None]) == krcc(X, Y)


def test_average_ranks_of_ties_are_stable_means():
    assert average_ranks([2.0, 1.0, 2.0, 2.0, 0.0]).tolist() == [4.0, 2.0, 4.0, 4.0, 1.0]
    big = np.r_[np.zeros(20), np.ones(20)][np.random.default_rng(0).permutation(40)]
    assert average_ranks(big).tolist() == [10.5 if v == 0 else 30.5 for v in big]


def test_plcc_logistic_needs_enough_distinct_points():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(plcc_logistic([1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 2.0, 4.0], 4))  # 4 points for 4 params
        assert math.isnan(plcc_logistic(np.ones(10), np.arange(10.0), 4))  # constant predictions
        assert math.isnan(plcc_logistic(np.arange(10.0), np.ones(10), 4))  # constant labels
    five = plcc_logistic([1.0, 2.0, 3.0, 4.0, 5.0], [1.0, 3.0, 2.0, 5.0, 4.0], 4)
    assert 0.8 < five <= 1.0
    pm = np.array([-1.0, 1.0, -1.0, 1.0, -1.0, 1.0])  # std exactly 1 on both sides
    assert plcc_logistic(pm, pm, 4) == pytest.approx(1.0)


def test_pair_errors_are_one_exact_line():
    with pytest.raises(DataError, match="^IQA metrics need as many predictions as labels, got 3 and 2$"):
        srcc([1, 2, 3], [1, 2])
    with pytest.raises(DataError, match="^IQA metrics got a NaN or infinite score; check the model outputs and "
                                        "the MOS column$"):
        iqa._pair([1.0, np.inf], [1.0, 2.0], False, False)
