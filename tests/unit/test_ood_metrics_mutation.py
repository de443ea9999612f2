"""trustlab.metrics.ood cases that mutation testing (scripts/mutation.py) showed untested: the curves point by
point, recall levels at their bounds, tensors and columns, every error line exactly, group means over the
metrics all rows share, and OSCR / precision@n edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from trustlab.errors import ConfigError, DataError
from trustlab.metrics import ood

Y = np.array([1, 0, 1, 1, 0])
S = np.array([0.9, 0.8, 0.8, 0.1, 0.05])


def test_binary_curve_roc_and_pr_point_by_point():
    fps, tps, thr = ood.binary_curve(Y, S)  # ties (0.8) enter together
    assert fps.tolist() == [0, 1, 1, 2] and tps.tolist() == [1, 2, 3, 3] and thr.tolist() == [0.9, 0.8, 0.1, 0.05]
    fpr, tpr, thr = ood.roc(Y, S)
    assert fpr.tolist() == [0.0, 0.0, 0.5, 0.5, 1.0]
    assert tpr.tolist() == pytest.approx([0.0, 1 / 3, 2 / 3, 1.0, 1.0])
    assert thr[0] == np.inf and thr[1:].tolist() == [0.9, 0.8, 0.1, 0.05]
    # precision-recall: recall decreasing, stops at the first threshold with full recall, then (0, 1)
    precision, recall = ood.pr_curve(Y, S)
    assert precision.tolist() == pytest.approx([0.75, 2 / 3, 1.0, 1.0])
    assert recall.tolist() == pytest.approx([1.0, 2 / 3, 1 / 3, 0.0])
    # AUPR-In with these as ID (positive, score s) is the trapezoid over those points
    s_id, s_ood = S[Y == 1], S[Y == 0]
    want = (1 / 3) * (1 + 1) / 2 + (1 / 3) * (1 + 2 / 3) / 2 + (1 / 3) * (2 / 3 + 0.75) / 2
    assert ood.aupr_in(s_id, s_ood) == pytest.approx(want)
    # AUPR-Out: OOD positive with -s
    p, r = ood.pr_curve(1 - Y, -S)
    assert ood.aupr_out(s_id, s_ood) == pytest.approx(float(-np.trapezoid(p, r)))
    assert ood.aupr_out(s_id, s_ood) != pytest.approx(ood.aupr_in(s_id, s_ood))


def test_curves_need_both_classes():
    with pytest.raises(DataError, match=r"^ROC needs both classes, got 2 positive and 0 negative samples$"):
        ood.roc(np.ones(2), np.array([1.0, 2.0]))
    with pytest.raises(DataError, match=r"^ROC needs both classes, got 0 positive and 3 negative samples$"):
        ood.roc(np.zeros(3), np.array([1.0, 2.0, 3.0]))
    with pytest.raises(DataError, match="^precision-recall needs at least one positive sample$"):
        ood.pr_curve(np.zeros(3), np.array([1.0, 2.0, 3.0]))
    p, r = ood.pr_curve(np.ones(2), np.array([1.0, 2.0]))  # only positives: precision 1 throughout
    assert p.tolist() == [1.0, 1.0, 1.0] and r.tolist() == [1.0, 0.5, 0.0]


def test_recall_level_bounds_and_levels():
    labels = np.r_[np.zeros(4), np.ones(4)]
    scores = np.array([0.1, 0.2, 0.3, 0.9, 0.4, 0.5, 0.6, 0.7])
    assert ood.fpr_at_tpr(labels, scores, 1.0) == 0.25  # all positives need the threshold 0.4: one negative above
    assert ood.fpr_at_tpr(labels, scores, 0.25) == 0.25  # the top score is a negative
    assert ood.fpr_at_tpr(labels, scores) == 0.25
    for bad in (0.0, -0.5, 1.01):
        with pytest.raises(ConfigError, match=rf"^recall level must be in \(0, 1\], got {bad}$"):
            ood.fpr_at_tpr(labels, scores, bad)
    # fpr_at_95's recall argument reaches the curve
    s_id, s_ood = np.array([5.0, 4.0, 2.5, -2.0]), np.array([0.0, 1.0, 2.0, 3.0])
    assert ood.fpr_at_95(s_id, s_ood, recall=0.25) == 0.25  # the ID sample at -2 ranks first
    assert ood.fpr_at_95(s_id, s_ood, recall=1.0) == 0.5  # catching the OOD at 3 flags the ID at 2.5 too
    assert ood.fpr_at_95(s_id, s_ood, "classic", recall=0.5) == 0.0
    assert ood.fpr_at_95(s_id, s_ood, "classic", recall=1.0) == 1.0


def test_scores_from_tensors_and_columns():
    t = torch.tensor([[3.0], [2.0]], requires_grad=True)
    assert ood.check_scores(t).tolist() == [3.0, 2.0]
    assert ood.check_scores(np.array([[1.0, 2.0]])).dtype == np.float64
    assert ood.auroc(t, torch.tensor([1.0])) == 1.0
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0]], requires_grad=True)
    assert ood.closed_set_accuracy(logits, torch.tensor([[0], [1]])) == 1.0  # a column of labels
    labels = torch.tensor([0.0, 0.0], requires_grad=True)  # labels still in a graph are detached too
    assert ood.closed_set_accuracy(logits, labels) == 0.5
    # byte scores are numbers: negating them must not wrap around
    b_id, b_ood = np.array([200, 150], dtype=np.uint8), np.array([100, 0], dtype=np.uint8)
    assert ood.ood_metrics(b_id, b_ood) == ood.ood_metrics(b_id.astype(float), b_ood.astype(float))
    assert ood.fpr_at_95(b_id, b_ood) == 0.0


def test_non_zero_labels_and_flags_count_as_true():
    assert [a.tolist() for a in ood.pr_curve(np.array([2, 0, 2, 0]), S[:4])] == \
        [a.tolist() for a in ood.pr_curve(np.array([1, 0, 1, 0]), S[:4])]
    assert ood.oscr([3.0, 1.0], [2.0], [5, 0]) == pytest.approx(0.5)


def test_ood_metrics_names_each_fpr_convention():
    s_id, s_ood = np.r_[np.ones(19), -1.0], np.zeros(20)
    m = ood.ood_metrics(s_id, s_ood)
    assert m["fpr95"] == ood.fpr_at_95(s_id, s_ood, "openood") == pytest.approx(0.05)
    assert m["fpr95_classic"] == ood.fpr_at_95(s_id, s_ood, "classic") == 0.0


def test_error_lines_are_exact():
    with pytest.raises(DataError, match="^scores are empty: the set has no samples; give it at least one image$"):
        ood.check_scores([])
    with pytest.raises(DataError, match=r"^OOD scores of knn contain 2 NaN/inf value\(s\) of 3; the detector or "
                                        r"model produced non-finite outputs \(check its hyperparameters, e\.g\. a "
                                        r"temperature of 0, and the inputs\)$"):
        ood.ood_metrics([1.0], [np.nan, 1.0, np.inf], "knn")
    with pytest.raises(DataError, match="^ID scores of knn are empty"):
        ood.ood_metrics([], [1.0], "knn")
    with pytest.raises(DataError, match="^ID scores are empty"):
        ood.ood_metrics([], [1.0])
    with pytest.raises(DataError, match="^OOD scores are empty"):
        ood.auroc([1.0], [])
    with pytest.raises(DataError, match="^ID scores are empty: the set has no samples"):
        ood.auroc([], [1.0])
    with pytest.raises(DataError, match="^3 predictions but 2 labels$"):
        ood.closed_set_accuracy([1, 2, 3], [1, 2])
    with pytest.raises(DataError, match="^closed-set accuracy of an empty set; the known-class test set has no "
                                        "samples$"):
        ood.closed_set_accuracy([], [])
    with pytest.raises(DataError, match="^1 correctness flags but 2 ID scores$"):
        ood.oscr([1.0, 2.0], [0.0], [True])
    with pytest.raises(ConfigError, match="^FPR@95 convention 'odin' is not one of openood, classic$"):
        ood.fpr_at_95([1.0], [0.0], "odin")


def test_oscr_points_and_ties():
    # known 3 (correct), 2 (correct), unknown 2 (tied with a correct known), 0: trapezoid with the tie as one step
    assert ood.oscr([3.0, 2.0], [2.0, 0.0], [True, True]) == pytest.approx(0.5 * 0.5 * (0.5 + 1.0) + 0.5 * 1.0)
    assert ood.oscr([3.0, 2.0], [2.0, 0.0], [True, True]) == pytest.approx(ood.auroc([3.0, 2.0], [2.0, 0.0]))
    assert ood.oscr([3.0, 2.0], [1.0], [False, False]) == 0.0
    assert ood.oscr([3.0], [4.0], [True]) == 0.0  # the unknown ranks above: CCR rises only at FPR 1
    assert ood.oscr([3.0, 1.0], [2.0], np.array([[True], [True]])) == pytest.approx(0.5)


def test_group_mean_keeps_the_metrics_every_row_has():
    per = {"a": {"auroc": 0.9, "fpr95": 0.2}, "c": {"auroc": 0.1}, "d": {"fpr95": 0.4, "auroc": 0.5}}
    assert ood.group_mean(per, ["a", "c"]) == {"auroc": pytest.approx(0.5)}
    assert list(ood.group_mean(per, ["a", "d"])) == ["auroc", "fpr95"]
    assert ood.group_mean(per, ["c"]) == {"auroc": 0.1}
    with pytest.raises(KeyError):
        ood.group_mean(per, ["zz"])


def test_precision_at_n_cuts_and_ties():
    assert ood.precision_at_n([5.0, 4.0, 1.0], [0.0, 2.0]) == 0.5  # lowest two: 0 (outlier), 1 (inlier)
    # one slot left at the cut 1.0, shared by one outlier and two inliers: (1 + 1/3) / 2
    assert ood.precision_at_n([1.0, 1.0, 5.0], [0.0, 1.0]) == pytest.approx((1 + 1 / 3) / 2)
    assert ood.precision_at_n([0.0, 0.5], [1.0]) == 0.0
    assert ood.precision_at_n([2.0], [1.0, 3.0]) == 0.5


def test_metric_names_and_reversed_auroc():
    assert ood.METRICS == ("auroc", "aupr_in", "aupr_out", "fpr95", "fpr95_classic")
    assert set(ood.ood_metrics([1.0, 2.0], [0.0])) == set(ood.METRICS)
    assert ood.auroc([0.0, 1.0], [0.5]) == 0.5 and math.isclose(ood.auroc([2.0], [1.0, 3.0]), 0.5)
