"""Every registered OOD scorer: setup on tiny CPU data, score, save, load, same scores; higher = more ID."""

from __future__ import annotations

import io

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import trustlab.methods  # noqa: F401  (registers the scorers)
from trustlab.methods.ood.base import Outputs, extract
from trustlab.models import build_model
from trustlab.registry import SCORERS

FAST = {"deep_svdd": {"epochs": 1, "batch_size": 16}, "knn": {"k": 3}, "ocsvm": {"nu": 0.5}}


@pytest.fixture(scope="module")
def setting():
    torch.manual_seed(0)
    model = build_model("small_cnn", 3, input_size=16, width=0.1, in_chans=1).eval()
    x = torch.rand(48, 1, 16, 16)
    y = torch.randint(0, 3, (48,))
    return model, DataLoader(TensorDataset(x, y), batch_size=16), torch.rand(10, 1, 16, 16)


@pytest.mark.parametrize("name", SCORERS.names())
def test_scorer_contract(name, setting):
    model, loader, x = setting
    cls = SCORERS.get(name)
    assert "higher" in (cls.__doc__ or "").lower(), f"{name}: the docstring must say which way the score points"
    det = cls(**FAST.get(name, {})).setup(model, loader)
    s = det.score(x)
    assert s.shape == (10,) and torch.isfinite(s).all()

    buf = io.BytesIO()
    torch.save(det.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    again = cls().load_state_dict(state, model=model)
    torch.testing.assert_close(again.score(x), s)

    if not cls.needs_input:  # the shared forward pass gives the same numbers as score(x)
        torch.testing.assert_close(det.score_outputs(extract(model, x)), s)


def test_pixel_space_detectors_need_no_model():
    g = torch.Generator().manual_seed(0)
    normal = torch.rand(60, 1, 8, 8, generator=g) * 0.2
    normal[..., :4] += 0.7  # normal images: bright left half
    far = normal[:10].flip(-1)  # anomalies: bright right half
    for name in ("iforest", "lof", "ocsvm", "knn", "deep_svdd"):
        det = SCORERS.get(name)(**FAST.get(name, {})).setup(None, normal)
        s_in, s_out = det.score(normal[:10]), det.score(far)
        assert s_in.mean() > s_out.mean(), f"{name} scores far-away pixels as more normal"


def test_transductive_fit_score_skips_self():
    from trustlab.methods.ood.feature_scorers import KNN

    f = torch.tensor([[1.0, 0.0], [1.0, 0.01], [0.0, 1.0]])
    s = KNN(k=1).fit_score(Outputs(None, f))
    assert s[2] < s[0] and s[0] < 0  # without skipping, every point would be at distance 0 from itself
