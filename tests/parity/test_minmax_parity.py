"""Our PGD (the K=1 case of the min-max ensemble attack) against torchattacks' PGD on identical inputs.

torchattacks 3.5.1 is installed with ``--no-deps`` as a test reference. With the same random start
(``torch.manual_seed`` before each call; both draw U(-eps, eps) with ``empty_like(x).uniform_``) the
adversarial images must agree to 1e-6 (absolute, per pixel): the arithmetic is the same sequence of
sign steps, l_inf clipping and [0, 1] clipping, and the loss differs only by a positive factor (mean vs
sum over the batch), which leaves the gradient signs unchanged.
"""

from __future__ import annotations

import pytest
import torch

from trustlab.methods.minmax.attacks import PGD, EnsembleAttack
from trustlab.models import build_model

torchattacks = pytest.importorskip("torchattacks")
pytestmark = pytest.mark.parity
TOL = 1e-6


def _model(seed: int, **kw) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model("small_cnn", 10, input_size=16, in_chans=kw.pop("in_chans", 1), width=0.125, **kw).eval()


@pytest.mark.parametrize(
    "eps, alpha, steps, kw",
    [(8 / 255, 2 / 255, 10, {}), (0.3, 0.01, 25, {"depth": 2, "norm": "none"}), (0.1, 0.02, 7, {"in_chans": 3})],
)
def test_pgd_equals_torchattacks(eps: float, alpha: float, steps: int, kw: dict) -> None:
    chans = kw.get("in_chans", 1)
    model = _model(0, **kw)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(48, chans, 16, 16, generator=g)
    y = torch.randint(0, 10, (48,), generator=g)
    torch.manual_seed(123)
    ref = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=True)(x, y)
    torch.manual_seed(123)
    ours = PGD(model, eps=eps, step_size=alpha, steps=steps)(x, y)
    assert (ours - ref).abs().max().item() <= TOL
    assert (ref - x).abs().max().item() > 0.5 * eps  # the attack moved: the comparison is not trivial


def test_pgd_seeded_generator_and_no_random_start_match_torchattacks() -> None:
    model = _model(3)
    x = torch.rand(32, 1, 16, 16, generator=torch.Generator().manual_seed(4))
    y = torch.randint(0, 10, (32,), generator=torch.Generator().manual_seed(5))
    torch.manual_seed(7)
    ref = torchattacks.PGD(model, eps=0.2, alpha=0.02, steps=10)(x, y)
    ours = PGD(model, eps=0.2, step_size=0.02, steps=10, seed=7)(x, y)  # own generator, same stream
    assert (ours - ref).abs().max().item() <= TOL
    ref0 = torchattacks.PGD(model, eps=0.2, alpha=0.02, steps=10, random_start=False)(x, y)
    ours0 = EnsembleAttack(model, eps=0.2, step_size=0.02, steps=10, loss="ce", weighting="average", init="zero")(x, y)
    assert (ours0 - ref0).abs().max().item() <= TOL
