"""APGDA solver pieces: projections (simplex, l_inf / l_2 / l_1 balls), steps, weight updates, and
the solver on toy min-max problems whose solution is known in closed form."""

from __future__ import annotations

import pytest
import torch

from trustlab.errors import ConfigError
from trustlab.methods.minmax.solver import (
    Ball,
    Variable,
    apgda,
    box_project,
    project_l1_ball,
    project_simplex,
    update_weights,
)


def _threshold_projection(v: torch.Tensor, radius: float, iters: int = 200) -> torch.Tensor:
    """Reference: soft-threshold |v| by the theta with sum(max(|v| - theta, 0)) = radius (bisection)."""
    lo, hi = torch.zeros(v.shape[0], 1, dtype=v.dtype), v.abs().max(1, keepdim=True).values
    for _ in range(iters):
        mid = (lo + hi) / 2
        too_big = (v.abs() - mid).clamp_min(0).sum(1, keepdim=True) > radius
        lo, hi = torch.where(too_big, mid, lo), torch.where(too_big, hi, mid)
    return v.sign() * (v.abs() - (lo + hi) / 2).clamp_min(0)


def test_simplex_projection_matches_bisection_and_is_on_simplex() -> None:
    torch.manual_seed(0)
    v = torch.randn(50, 7, dtype=torch.float64) * 3
    p = project_simplex(v)
    assert torch.all(p >= 0)
    assert torch.allclose(p.sum(1), torch.ones(50, dtype=torch.float64), atol=1e-12)
    # the simplex projection is v - theta clipped at 0, with theta found by bisection on sum = 1
    lo, hi = v.min(1, keepdim=True).values - 1, v.max(1, keepdim=True).values
    for _ in range(200):
        mid = (lo + hi) / 2
        big = (v - mid).clamp_min(0).sum(1, keepdim=True) > 1
        lo, hi = torch.where(big, mid, lo), torch.where(big, hi, mid)
    assert torch.allclose(p, (v - (lo + hi) / 2).clamp_min(0), atol=1e-10)
    # points already on the simplex stay put
    q = torch.tensor([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]], dtype=torch.float64)
    assert torch.allclose(project_simplex(q), q)


def test_l1_ball_projection_matches_threshold_reference() -> None:
    torch.manual_seed(1)
    d = torch.randn(20, 1, 6, 6, dtype=torch.float64)
    p = project_l1_ball(d, 3.0)
    assert torch.all(p.flatten(1).abs().sum(1) <= 3.0 + 1e-9)
    ref = _threshold_projection(d.flatten(1), 3.0).view_as(d)
    assert torch.allclose(p, ref, atol=1e-8)
    small = d * 0.01  # inside the ball: unchanged
    assert torch.equal(project_l1_ball(small, 3.0), small)


def test_linf_and_l2_projections() -> None:
    d = torch.tensor([[[[0.5, -0.7], [0.1, 0.0]]]])
    assert torch.equal(Ball("linf", 0.3, 0.1).project(d), torch.tensor([[[[0.3, -0.3], [0.1, 0.0]]]]))
    p = Ball("l2", 0.5, 0.1).project(d)
    assert torch.allclose(p.flatten(1).norm(dim=1), torch.tensor([0.5]))
    assert torch.allclose(p / p.norm(), d / d.norm())  # same direction


def test_steepest_directions_have_unit_norm() -> None:
    torch.manual_seed(2)
    g = torch.randn(4, 1, 10, 10)
    assert torch.equal(Ball("linf", 1, 1).direction(g), g.sign())
    assert torch.allclose(Ball("l2", 1, 1).direction(g).flatten(1).norm(dim=1), torch.ones(4))
    d1 = Ball("l1", 1, 1, l1_sparsity=0.05).direction(g)
    assert torch.allclose(d1.flatten(1).abs().sum(1), torch.ones(4))
    assert int((d1[0] != 0).sum()) == 5  # top 5% of 100 coordinates
    blocked = torch.zeros_like(g, dtype=torch.bool)
    top = g[0].abs().flatten().argmax()
    blocked[0].view(-1)[top] = True  # the largest coordinate cannot move: it is skipped
    assert Ball("l1", 1, 1, l1_sparsity=0.05).direction(g, blocked)[0].view(-1)[top] == 0


def test_ball_rejects_bad_settings() -> None:
    with pytest.raises(ConfigError, match="eps must be"):
        Ball("linf", 0.0, 0.1)
    with pytest.raises(ConfigError, match="unknown norm 'l3'"):
        Ball("l3", 0.1, 0.1)


def test_weight_updates() -> None:
    w = torch.full((2, 3), 1 / 3)
    f = torch.tensor([[1.0, 5.0, 2.0], [0.0, 0.0, 9.0]])
    assert torch.equal(update_weights(w, f, "average", 1.0, 1.0), w)
    assert torch.equal(update_weights(w, f, "max", 1.0, 1.0), torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    m = update_weights(w, f, "minmax", 10.0, 1.0)  # proj(w + f / 10): ascent towards the larger losses
    assert torch.allclose(m, project_simplex(w + f / 10))
    assert m[0].argmax() == 1 and m[1].argmax() == 2


def _toy(weighting: str, gamma: float = 0.0, steps: int = 400) -> tuple[torch.Tensor, torch.Tensor]:
    """F_k(z) = (z - c_k)^2 with c = (-1, 0, 3): min_z max_w is at z = 1 (equal loss of c=-1 and c=3)."""
    c = torch.tensor([-1.0, 0.0, 3.0])
    ball = Ball("linf", 10.0, 0.01)
    var = Variable(torch.zeros(1, 1), ball, ball.project)
    res = apgda(lambda zs: (zs[0] - c) ** 2, [var], 3, steps=steps, weighting=weighting, beta=20.0, gamma=gamma)
    return res.values[0].squeeze(), res.w.squeeze()


def test_apgda_finds_the_minmax_point_and_weights() -> None:
    z, w = _toy("minmax")
    assert abs(float(z) - 1.0) < 0.05  # the minimax point, where the two extreme losses are equal
    assert float(w[1]) < 0.05 and abs(float(w[0]) - 0.5) < 0.1 and abs(float(w[2]) - 0.5) < 0.1
    z_avg, w_avg = _toy("average")
    assert abs(float(z_avg) - 2 / 3) < 0.02  # argmin of the mean loss: mean of c
    assert torch.allclose(w_avg, torch.full((3,), 1 / 3))
    # gamma pulls w towards 1/K (stable while gamma / beta < 2): z moves from the minimax point towards
    # the average's, and the easy middle domain keeps some weight
    z_reg, w_reg = _toy("minmax", gamma=15.0)
    assert 2 / 3 + 0.02 < float(z_reg) < 1.0 - 0.02 and float(w_reg[1]) > 0.05


def test_apgda_history_shapes_and_ascend() -> None:
    ball = Ball("linf", 1.0, 0.1)
    var = Variable(torch.zeros(4, 2), ball, ball.project)
    res = apgda(lambda zs: zs[0] ** 2, [var], 2, steps=5, ascend=True, separable=True)
    assert res.w_history.shape == (6, 2) and res.loss_history.shape == (6, 2) and res.w.shape == (4, 2)
    assert torch.all(res.values[0].abs() <= 1.0 + 1e-6)


def test_box_project_keeps_images_valid() -> None:
    x = torch.rand(3, 1, 4, 4)
    ball = Ball("l2", 0.5, 0.1)
    z = box_project(x + torch.randn_like(x), x, ball)
    assert z.min() >= 0 and z.max() <= 1
    assert torch.all((z - x).flatten(1).norm(dim=1) <= 0.5 + 1e-5)


def test_apgda_bad_inputs() -> None:
    ball = Ball("linf", 1.0, 0.1)
    var = Variable(torch.zeros(1, 1), ball, ball.project)
    with pytest.raises(ConfigError, match="K must be >= 1"):
        apgda(lambda zs: zs[0], [var], 0, steps=1)
    with pytest.raises(ConfigError, match="unknown weighting 'minimax'.*did you mean 'minmax'"):
        apgda(lambda zs: zs[0], [var], 1, steps=1, weighting="minimax")
