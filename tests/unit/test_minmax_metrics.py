"""Robustness metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from trustlab.metrics import robustness as rb

# 4 samples x 3 domains
S = np.array([[1, 1, 1], [1, 0, 1], [0, 0, 1], [1, 1, 1]], dtype=bool)


def test_asr_all_avg_and_per_domain() -> None:
    assert rb.asr_all(S) == 0.5  # rows 0 and 3 fool every domain
    assert rb.asr_avg(S) == pytest.approx(9 / 12)
    assert rb.per_domain_rate(S) == [0.75, 0.5, 1.0]
    assert rb.worst_domain_rate(S) == 0.5
    assert rb.eot_success(S) == {"avg": pytest.approx(0.75), "worst": 0.5, "worst_transform": 0.5}
    assert rb.asr_all(torch.tensor(S)) == 0.5  # tensors work too


def test_success_matrix_untargeted_targeted_and_broadcast() -> None:
    pred = np.array([[1, 2], [3, 3]])
    assert rb.success_matrix(pred, np.array([1, 3])).tolist() == [[False, True], [False, False]]
    assert rb.success_matrix(pred, np.array([[1, 1], [0, 3]]), targeted=True).tolist() == [[True, False],
                                                                                           [False, True]]
    assert rb.per_domain_accuracy(pred, np.array([1, 3])) == [1.0, 0.5]


def test_fooling_rate_norms_union() -> None:
    assert rb.fooling_rate([1, 2, 3, 4], [1, 0, 3, 0]) == 0.5
    with pytest.raises(ValueError, match="differ in shape"):
        rb.fooling_rate([1, 2], [1])
    d = np.zeros((2, 1, 2, 2))
    d[0, 0, 0, 0], d[0, 0, 1, 1] = 0.3, -0.4
    n = rb.perturbation_norms(d)
    assert n["linf"] == pytest.approx(0.2)  # mean of 0.4 and 0
    assert n["l2"] == pytest.approx(0.25)  # mean of 0.5 and 0
    assert n["l1"] == pytest.approx(0.35)
    assert n["l0"] == pytest.approx(2 / 8)
    correct = np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1]], dtype=bool)
    assert rb.union_accuracy(correct) == pytest.approx(1 / 3)


def test_empty_inputs_give_nan() -> None:
    assert math.isnan(rb.asr_all(np.zeros((0, 3), dtype=bool)))
    assert math.isnan(rb.perturbation_norms(np.zeros((0, 4)))["l2"])
