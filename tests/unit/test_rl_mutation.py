"""trustlab.metrics.rl edge cases that mutation testing (scripts/mutation.py) showed untested: window edges,
ties, non-unit grids, single seeds, numbers given as text, and the error messages."""

from __future__ import annotations

import numpy as np
import pytest

from trustlab.metrics.rl import area_under_curve, learning_curve, mean_band, step_grid


def test_step_grid_bounds():
    assert step_grid(1, 1).tolist() == [1.0]
    assert step_grid(3, 1).tolist() == [3.0]
    for total, points in ((0, 4), (1000, 0), (0, 0), (-5, 2)):
        with pytest.raises(ValueError, match=f"need total_steps >= 1 and points >= 1, got {total}, {points}"):
            step_grid(total, points)


def test_episode_on_a_window_edge_belongs_to_the_window_it_closes():
    # windows are (grid[i-1], grid[i]]: an episode ending at 250 is in the first window only
    assert learning_curve([250, 500], [1.0, 3.0], [250, 500]).tolist() == [1.0, 3.0]
    assert learning_curve([250, 251], [1.0, 3.0], [250, 500]).tolist() == [1.0, 3.0]


def test_windows_before_the_first_episode_take_the_first_listed_of_tied_episodes():
    # 20 episodes ending at steps 100/200/300 with ties: the earliest step's first *listed* episode (index 4)
    # scores the window before any episode ended (a stable sort; numpy's default sort reorders these ties)
    steps = (np.array([1, 1, 1, 1, 0, 2, 0, 1, 0, 2, 2, 2, 2, 2, 0, 0, 0, 2, 2, 2]) + 1) * 100
    rets = np.arange(20, dtype=float)
    curve = learning_curve(steps, rets, [50, 100, 200, 300])
    assert curve[0] == 4.0
    assert curve[1:].tolist() == [rets[steps == s].mean() for s in (100, 200, 300)]


def test_inputs_are_converted_to_float():
    # numbers read as text (a CSV log) work as numbers
    assert learning_curve(["250", "500"], ["1.5", "2.5"], ["250", "500"]).tolist() == [1.5, 2.5]
    assert area_under_curve(["0", "2"], ["1", "3"]) == 2.0
    m, s = mean_band([["1", "2"], ["3", "4"]])
    assert m.tolist() == [2.0, 3.0]


def test_length_mismatch_is_named():
    with pytest.raises(ValueError, match=r"end_steps and returns differ in length: \(2,\) vs \(1,\)"):
        learning_curve([1, 2], [1.0], [2])


def test_area_uses_the_grid_spacing_and_span():
    # trapezoid over x = 250, 500, 1000 (uneven), divided by the span 750
    want = ((1 + 3) / 2 * 250 + (3 + 5) / 2 * 500) / 750
    assert area_under_curve([250, 500, 1000], [1.0, 3.0, 5.0]) == pytest.approx(want)
    for grid, curve in (([], []), ([0, 1], [1.0]), ([1], [])):
        with pytest.raises(ValueError, match="^grid and curve must be non-empty and of equal length$"):
            area_under_curve(grid, curve)


def test_mean_band_single_seed_and_bad_shapes():
    m, s = mean_band([[1.0, 5.0, 2.0]])
    assert m.tolist() == [1.0, 5.0, 2.0] and s.tolist() == [0.0, 0.0, 0.0]  # one seed: no spread
    m, s = mean_band([[], []])
    assert m.shape == s.shape == (0,)
    for bad in ([1.0, 2.0], [], [[[1.0]]]):
        with pytest.raises(ValueError, match="^curves must be a non-empty list of equally long sequences$"):
            mean_band(bad)
