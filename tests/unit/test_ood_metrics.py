"""metrics/ood.py on hand-computed cases: ties, constant scores, both FPR@95 conventions, OSCR, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trustlab.errors import ConfigError, DataError
from trustlab.metrics import ood


def test_perfect_and_reversed_separation():
    s_id, s_ood = [5.0, 4.0, 3.0], [1.0, 0.0]
    m = ood.ood_metrics(s_id, s_ood)
    assert m == {"auroc": 1.0, "aupr_in": 1.0, "aupr_out": 1.0, "fpr95": 0.0, "fpr95_classic": 0.0}
    r = ood.ood_metrics(s_ood, s_id)  # the detector ranks backwards
    assert r["auroc"] == 0.0 and r["fpr95"] == 1.0 and r["fpr95_classic"] == 1.0


def test_auroc_counts_ties_as_half():
    # pairs (id > ood): (3,2) (3,1) (2,1) (2,1) = 4, ties (2,2) (2,2) = 2 x 0.5 -> 5 / 6
    assert ood.auroc([3, 2, 2], [2, 1]) == pytest.approx(5 / 6)


def test_constant_scores():
    s_id, s_ood = np.ones(30), np.ones(10)
    m = ood.ood_metrics(s_id, s_ood)
    assert m["auroc"] == 0.5
    assert m["fpr95"] == 1.0 and m["fpr95_classic"] == 1.0  # one threshold: everything flagged or nothing
    assert m["aupr_in"] == pytest.approx((30 / 40 + 1) / 2)  # points (recall 1, precision 0.75) and (0, 1)
    assert m["aupr_out"] == pytest.approx((10 / 40 + 1) / 2)


def test_fpr95_conventions_differ_and_are_named():
    # 19 ID at 1.0, one ID at -1.0 (ranked below every OOD sample), 20 OOD at 0.0
    s_id = np.r_[np.ones(19), -1.0]
    s_ood = np.zeros(20)
    # OpenOOD: catching >= 95% of OOD (all 20 at once) also flags the low ID sample: 1 / 20 ID flagged
    assert ood.fpr_at_95(s_id, s_ood) == pytest.approx(0.05)
    # classic: keeping 95% of ID (the 19 at 1.0) accepts no OOD sample
    assert ood.fpr_at_95(s_id, s_ood, "classic") == 0.0
    with pytest.raises(ConfigError, match="convention 'odin' is not one of openood, classic"):
        ood.fpr_at_95(s_id, s_ood, "odin")


def test_fpr_at_first_point_reaching_the_level():
    # most OOD-like first: one OOD (-10), one ID (-5), then 19 OOD (-1): tpr reaches 95% after the ID sample
    s_id = np.array([-5.0, 5, 5, 5])
    s_ood = np.r_[-10.0, np.full(19, -1.0)]
    assert ood.fpr_at_95(s_id, s_ood) == pytest.approx(0.25)


def test_aupr_is_trapezoidal_not_average_precision():
    from sklearn.metrics import average_precision_score

    s_id, s_ood = [3.0, 1.0], [2.0, 0.0]
    # ID positive: points (recall, precision) = (0, 1), (0.5, 1), (0.5, 0.5), (1, 2/3) -> trapezoid
    expected = 0.5 * 1.0 + 0.5 * (0.5 + 2 / 3) / 2
    assert ood.aupr_in(s_id, s_ood) == pytest.approx(expected)
    assert ood.aupr_in(s_id, s_ood) != pytest.approx(average_precision_score([1, 1, 0, 0], [3, 1, 2, 0]))


def test_oscr_hand_case_and_accuracy_bound():
    # known: 3 (correct), 1 (misclassified); unknown: 2 -> CCR stays at 1/2 -> area 0.5
    assert ood.oscr([3.0, 1.0], [2.0], [True, False]) == pytest.approx(0.5)
    rng = np.random.default_rng(0)
    s_id, s_ood = rng.normal(1, 1, 50), rng.normal(0, 1, 40)
    assert ood.oscr(s_id, s_ood, np.ones(50, bool)) == pytest.approx(ood.auroc(s_id, s_ood))
    correct = rng.random(50) < 0.7
    assert ood.oscr(s_id, s_ood, correct) <= correct.mean() + 1e-12


def test_closed_set_accuracy_from_logits_or_labels():
    logits = np.array([[2.0, 1.0], [0.0, 3.0], [5.0, 1.0]])
    assert ood.closed_set_accuracy(logits, [0, 1, 1]) == pytest.approx(2 / 3)
    assert ood.closed_set_accuracy([1, 1], [1, 0]) == 0.5
    with pytest.raises(DataError, match="empty"):
        ood.closed_set_accuracy(np.zeros(0), np.zeros(0))


def test_group_mean_is_mean_of_per_dataset_metrics():
    per = {"a": {"auroc": 0.9, "fpr95": 0.2}, "b": {"auroc": 0.7, "fpr95": 0.6}, "c": {"auroc": 0.1}}
    assert ood.group_mean(per, ["a", "b"]) == {"auroc": pytest.approx(0.8), "fpr95": pytest.approx(0.4)}
    assert ood.group_mean(per, []) == {}


def test_precision_at_n():
    assert ood.precision_at_n([5, 4, 3, 2], [1, 0]) == 1.0
    assert ood.precision_at_n([5, 4, 3, 0], [1, 2]) == 0.5
    assert ood.precision_at_n(np.ones(8), np.ones(2)) == pytest.approx(0.2)  # ties: the outlier rate


@pytest.mark.parametrize("bad", [[], [1.0, math.nan], [math.inf, 0.0], [-math.inf]])
def test_empty_and_non_finite_scores_are_one_line_errors(bad):
    with pytest.raises(DataError) as err:
        ood.ood_metrics([0.1, 0.2], bad, "knn on textures")
    msg = str(err.value)
    assert "\n" not in msg and "knn on textures" in msg
    assert ("empty" in msg) if not bad else ("NaN/inf" in msg)
