"""trustlab.metrics.rl: learning curves and their area, hand-computed."""

from __future__ import annotations

import numpy as np
import pytest

from trustlab.metrics.rl import area_under_curve, learning_curve, mean_band, step_grid


def test_learning_curve_windows_and_carry_forward():
    grid = step_grid(1000, 4)
    assert grid.tolist() == [250, 500, 750, 1000]
    curve = learning_curve([100, 200, 300, 900], [10.0, 30.0, 20.0, 40.0], grid)
    assert curve.tolist() == [20.0, 20.0, 20.0, 40.0]  # window 1 averages two; window 3 carries window 2
    assert learning_curve([600], [5.0], grid).tolist() == [5.0] * 4  # before the first episode: its return
    assert np.isnan(learning_curve([], [], grid)).all()


def test_area_is_the_mean_height():
    assert area_under_curve([0, 1, 2], [0.0, 2.0, 2.0]) == pytest.approx(1.5)
    assert area_under_curve([5], [3.0]) == 3.0
    with pytest.raises(ValueError):
        area_under_curve([0, 1], [1.0])


def test_mean_band():
    m, s = mean_band([[1.0, 2.0], [3.0, 4.0]])
    assert m.tolist() == [2.0, 3.0] and np.allclose(s, [np.sqrt(2)] * 2)
