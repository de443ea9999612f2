"""SRCC / KRCC / PLCC of trustlab.metrics.iqa against scipy.stats (tolerance 1e-10), logistic fits, direction."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from trustlab.errors import DataError
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

TOL = 1e-10


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("ties", [False, True])
def test_correlations_match_scipy(seed: int, ties: bool) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=300)
    y = 0.6 * x + rng.normal(size=300)
    if ties:  # heavy ties on both sides, as with quantised MOS
        x, y = np.round(x * 2) / 2, np.round(y)
    assert srcc(x, y) == pytest.approx(stats.spearmanr(x, y)[0], abs=TOL)
    assert krcc(x, y, chunk=64) == pytest.approx(stats.kendalltau(x, y)[0], abs=TOL)  # tau-b
    assert plcc(x, y) == pytest.approx(stats.pearsonr(x, y)[0], abs=TOL)
    assert np.allclose(average_ranks(x), stats.rankdata(x))


def test_lower_better_flips_sign_like_pyiqa() -> None:
    rng = np.random.default_rng(3)
    q = rng.uniform(size=50)
    dmos = 100 * (1 - q) + rng.normal(0, 2, 50)  # DMOS: lower is better
    assert srcc(q, dmos) < 0
    assert srcc(q, dmos, lower_better=True) == pytest.approx(-srcc(q, dmos), abs=TOL)
    assert plcc(q, dmos, lower_better=True) == pytest.approx(abs(stats.pearsonr(q, dmos)[0]), abs=TOL)
    # a lower-is-better predictor of lower-is-better labels correlates positively as is
    assert srcc(-q, dmos, lower_better=True, pred_lower_better=True) == pytest.approx(srcc(q, -dmos), abs=TOL)


def test_logistic_fits_recover_a_monotone_map() -> None:
    x = np.linspace(-3, 3, 200)
    y4 = logistic4(x, 90.0, 10.0, 0.5, 0.7)
    mapped, p = fit_logistic(x, y4, 4)
    assert np.allclose(mapped, y4, atol=1e-4)
    assert plcc_logistic(x, y4, 4) == pytest.approx(1.0, abs=1e-8)
    assert plcc(x, y4) < 0.99  # the plain PLCC is hurt by the non-linearity the fit removes
    y5 = logistic5(x, 50.0, 2.0, 0.3, 1.5, 40.0)
    assert plcc_logistic(x, y5, 5) == pytest.approx(1.0, abs=1e-6)
    # the fitted map is Pearson-compared to the labels: identical to scipy on the mapped scores
    assert plcc_logistic(x, y5, 5) == pytest.approx(stats.pearsonr(fit_logistic(x, y5, 5)[0], y5)[0], abs=TOL)


def test_iqa_correlations_keys_and_degenerate_inputs() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=40)
    out = iqa_correlations(x, x + rng.normal(0, 0.1, 40))
    assert set(out) == {"srcc", "krcc", "plcc", "plcc_l4", "plcc_l5"} and all(v > 0.9 for v in out.values())
    assert np.isnan(srcc(np.ones(10), np.arange(10)))  # constant predictor: undefined, as scipy
    with pytest.raises(DataError, match="as many predictions"):
        srcc([1, 2, 3], [1, 2])
    with pytest.raises(DataError, match="NaN"):
        plcc([1, np.nan, 3], [1, 2, 3])
