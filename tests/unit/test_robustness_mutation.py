"""trustlab.metrics.robustness cases that mutation testing (scripts/mutation.py) showed untested: empty inputs
(nan, no warning), 1-D and non-bool success, tensors that need grad, integer perturbations, 2-D deltas, the
l0 tolerance, and the fooling rate's direction."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from trustlab.metrics import robustness as rb


def test_empty_inputs_are_nan_without_warnings():
    empty = np.zeros((0, 3), dtype=bool)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "mean of empty slice" would be a RuntimeWarning
        for f in (rb.asr_all, rb.asr_avg, rb.union_accuracy, rb.worst_domain_rate):
            assert math.isnan(f(empty)), f
        rates = rb.per_domain_rate(empty)
        assert len(rates) == 3 and all(math.isnan(r) for r in rates)
        assert math.isnan(rb.fooling_rate([], []))
        norms = rb.perturbation_norms(np.zeros((0, 4)))
        assert sorted(norms) == ["l0", "l1", "l2", "linf"] and all(math.isnan(v) for v in norms.values())


def test_one_dimensional_success_is_one_domain():
    s = np.array([1, 0, 1, 1])
    assert rb.asr_all(s) == 0.75 and rb.asr_avg(s) == 0.75 and rb.per_domain_rate(s) == [0.75]


def test_non_zero_entries_count_as_success():
    s = np.array([[2, 0], [0.5, 3]])  # counts or scores: any non-zero entry is a success
    assert rb.asr_avg(s) == 0.75 and rb.asr_all(s) == 0.5
    assert rb.union_accuracy([[2, 1], [1, 0]]) == 0.5


def test_bad_matrix_shape_is_named():
    with pytest.raises(ValueError, match=r"expected a \(N, K\) success matrix, got shape \(2, 2, 2\)"):
        rb.asr_all(np.ones((2, 2, 2), dtype=bool))


def test_tensors_that_require_grad_are_detached():
    delta = torch.tensor([[0.3, -0.4]], requires_grad=True)  # an attack's perturbation, still in the graph
    assert rb.perturbation_norms(delta)["l2"] == pytest.approx(0.5)
    logits_pred = torch.tensor([1.0, 2.0], requires_grad=True)
    assert rb.fooling_rate(logits_pred, torch.tensor([1.0, 0.0])) == 0.5


def test_fooling_rate_counts_changed_predictions():
    assert rb.fooling_rate([1, 2, 3, 4], [1, 2, 3, 0]) == 0.25
    assert rb.fooling_rate([[1, 2]], [[1, 2]]) == 0.0


def test_perturbation_norms_of_vectors_integers_and_the_l0_tolerance():
    # 2-D (N, D): per-sample norms over D, then the mean over samples
    n = rb.perturbation_norms(np.array([[3.0, -4.0, 0.0], [1.0, 0.0, 0.0]]))
    assert n["linf"] == pytest.approx(2.5) and n["l2"] == pytest.approx(3.0) and n["l1"] == pytest.approx(4.0)
    assert n["l0"] == pytest.approx(3 / 6)
    # 1-D: one scalar per sample
    n = rb.perturbation_norms(np.array([0.5, -1.5]))
    assert n["linf"] == n["l1"] == n["l2"] == pytest.approx(1.0) and n["l0"] == 1.0
    # integer image differences (int8) must not overflow when squared
    n = rb.perturbation_norms(np.array([[100, -100]], dtype=np.int8))
    assert n["l2"] == pytest.approx(100 * math.sqrt(2)) and n["linf"] == 100.0
    # changes of at most 1e-8 do not count in l0
    assert rb.perturbation_norms(np.array([[1e-8, 2e-8, 0.0, 0.0]]))["l0"] == 0.25
