"""ODIN without stale perturbations (issue 11 item 10), one gradient per temperature and batched passes, KNN on
faiss (issue 12, OOD scoring budget), and the reference APS grids with the wider ones as options (issue 11 item 11).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import trustlab.methods  # noqa: F401
from trustlab.errors import ConfigError
from trustlab.methods.ood.base import Outputs
from trustlab.methods.ood.evaluate import EvalSet, aps_search, make_detector, score_set_grid
from trustlab.methods.ood.feature_scorers import KNN, flat_index, knn_distances, kth_neighbour_distance, l2_normalise
from trustlab.methods.ood.logit_scorers import ODIN
from trustlab.metrics.ood import auroc
from trustlab.models import build_model


def _model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return build_model("small_cnn", 4, input_size=16, width=0.1, in_chans=1).eval()


def _odin_reference(model: nn.Module, x: torch.Tensor, t: float, eps: float) -> torch.Tensor:
    """ODIN written out plainly (OpenOOD's steps in pixel space), no caching, one setting."""
    xg = x.clone().requires_grad_(True)
    logits = model(xg)
    F.cross_entropy(logits / t, logits.detach().argmax(1)).backward()
    step = torch.where(xg.grad >= 0, 1.0, -1.0)
    with torch.no_grad():
        return F.softmax(model(x - eps * step) / t, 1).max(1).values


X = torch.rand(12, 1, 16, 16, generator=torch.Generator().manual_seed(0))


def test_odin_after_setup_on_another_model_gives_that_models_scores():
    # issue 11 item 10: the old cache was keyed on (T, x) only, so the first model's perturbation was reused
    a, b = _model(0), _model(1)
    det = ODIN(temperature=1.0, eps=0.05).setup(a, X)
    torch.testing.assert_close(det.score(X), _odin_reference(a, X, 1.0, 0.05))
    det.setup(b, X)
    torch.testing.assert_close(det.score(X), _odin_reference(b, X, 1.0, 0.05))
    det.fit(Outputs(None, None), None, a)  # fit (the shared-pass path) switches back as well
    torch.testing.assert_close(det.score(X), _odin_reference(a, X, 1.0, 0.05))


def test_odin_after_a_weight_update_gives_fresh_scores():
    model = _model(2)
    det = ODIN(temperature=1.0, eps=0.05).setup(model, X)
    before = det.score(X)
    with torch.no_grad():  # an in-place weight update of the same model object (as an optimizer step)
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    after = det.score(X)
    torch.testing.assert_close(after, _odin_reference(model, X, 1.0, 0.05))
    assert not torch.allclose(before, after)


@pytest.mark.parametrize("train_mode", [True, False])
def test_odin_restores_the_model_mode(train_mode):
    model = _model(3)
    model.train(train_mode)
    det = ODIN().setup(model, X)
    det.score(X)
    det.score_grid([{"temperature": 1.0}, {"temperature": 10.0}], x=X)
    assert all(m.training == train_mode for m in model.modules())
    assert all(p.grad is None for p in model.parameters())  # no gradient left on the weights


def test_odin_grid_is_one_forward_with_graph_and_one_batched_perturbed_pass():
    model = _model(4)
    calls: list[int] = []
    model.register_forward_hook(lambda m, i, o: calls.append(len(i[0])))
    grads: list[int] = []
    real_grad = torch.autograd.grad

    def counting_grad(*args, **kw):
        grads.append(1)
        return real_grad(*args, **kw)

    det = ODIN().setup(model, X)
    combos = [{"temperature": t, "eps": e} for t in (1.0, 10.0, 100.0, 1000.0) for e in (0.0014, 0.0028)]
    torch.autograd.grad = counting_grad
    try:
        got = det.score_grid(combos, x=X)
    finally:
        torch.autograd.grad = real_grad
    assert calls == [len(X), len(X) * len(combos)]  # the clean pass, then all eight perturbed batches at once
    assert len(grads) == 4  # one input gradient per temperature, shared by both eps
    for c, s in zip(combos, got):
        torch.testing.assert_close(s, _odin_reference(model, X, c["temperature"], c["eps"]), rtol=1e-5, atol=1e-6)


def test_odin_aps_matches_a_plain_search():
    model = _model(5)
    g = torch.Generator().manual_seed(1)
    idv, oodv = torch.rand(40, 1, 16, 16, generator=g), torch.rand(40, 1, 16, 16, generator=g) ** 3
    det = make_detector("odin")
    choice = aps_search(det, model, Outputs(None, None), EvalSet("i", idv, Outputs(None, None)),
                        EvalSet("o", oodv, Outputs(None, None)))
    ref = [(auroc(_odin_reference(model, idv, t, e).numpy(), _odin_reference(model, oodv, t, e).numpy()), t, e)
           for t in (1.0, 10.0, 100.0, 1000.0) for e in (0.0014, 0.0028)]
    best = max(ref, key=lambda r: r[0])  # max keeps the first on ties, as APS
    assert choice["searched"] == 8 and (choice["temperature"], choice["eps"]) == (best[1], best[2])
    assert choice["val_auroc"] == pytest.approx(best[0], abs=1e-9)


# ---------------------------------------------------------------- KNN on faiss


def test_faiss_knn_matches_the_exact_torch_search():
    """Parity with the previous exact search (torch GEMM + top-k): distances to 1e-4, identical AUROC."""
    g = torch.Generator().manual_seed(0)
    bank = l2_normalise(torch.randn(3000, 32, generator=g).relu())
    q = l2_normalise(torch.randn(500, 32, generator=g).relu())
    index = flat_index(bank)
    d = knn_distances(index, q, 200)
    assert d.shape == (500, 200) and bool((d[:, 1:] >= d[:, :-1]).all())
    for k in (1, 50, 200):
        torch.testing.assert_close(d[:, k - 1], kth_neighbour_distance(q, bank, k), rtol=0, atol=1e-4)
    self_d = knn_distances(index, bank, 5, skip_self=True)[:, -1]
    torch.testing.assert_close(self_d, kth_neighbour_distance(bank, bank, 5, skip_self=True), rtol=0, atol=1e-3)
    train = Outputs(None, torch.randn(3000, 32, generator=g).relu())
    test = Outputs(None, torch.randn(300, 32, generator=g))
    det = KNN(k=50).fit(train)
    new = det.score_outputs(test).numpy()
    old = -kth_neighbour_distance(l2_normalise(test.features), det.bank, 50).numpy()
    np.testing.assert_allclose(new, old, atol=1e-4)
    s_id = det.score_outputs(Outputs(None, train.features[:300])).numpy()
    old_id = -kth_neighbour_distance(det.bank[:300], det.bank, 50).numpy()
    assert auroc(s_id, new) == pytest.approx(auroc(old_id, old), abs=1e-3)


def test_knn_grid_is_one_search_at_the_largest_k():
    g = torch.Generator().manual_seed(2)
    train, test = Outputs(None, torch.rand(400, 8, generator=g)), Outputs(None, torch.rand(30, 8, generator=g))
    det = KNN().fit(train)
    grid = score_set_grid(det, EvalSet("t", None, test), [{"k": 5}, {"k": 50}, {"k": 200}])
    for k, s in zip((5, 50, 200), grid):
        np.testing.assert_allclose(s, KNN(k=k).fit(train).score_outputs(test).numpy(), rtol=1e-6)
    assert det.params["k"] == 50  # scoring a grid leaves the params alone


def test_knn_on_one_torch_thread_uses_one_faiss_thread():
    import faiss

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        KNN(k=2).fit(Outputs(None, torch.rand(20, 4))).score_outputs(Outputs(None, torch.rand(3, 4)))
        assert faiss.omp_get_max_threads() == 1
    finally:
        torch.set_num_threads(before)


# ---------------------------------------------------------------- grids


def test_default_grids_are_openood_sweeps():
    """OpenOOD v1.5 configs/postprocessors/{ebo,gen,vim,knn,odin,react,ash}.yml, postprocessor_sweep."""
    assert make_detector("energy").search == {"temperature": [1.0]}
    assert make_detector("gen").search == {"gamma": [0.01, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0],
                                           "m": [10, 50, 100, 200, 500, 1000]}
    assert make_detector("vim").search == {"dim": [256, 1000]}
    assert make_detector("knn").search == {"k": [50, 100, 200, 500, 1000]}
    assert make_detector("odin").search == {"temperature": [1.0, 10.0, 100.0, 1000.0], "eps": [0.0014, 0.0028]}
    assert make_detector("react").search == {"percentile": [85.0, 90.0, 95.0, 99.0]}
    assert make_detector("ash").search == {"percentile": [65.0, 70.0, 75.0, 80.0, 85.0, 90.0, 95.0]}
    logits = Outputs(torch.rand(5, 10), torch.rand(5, 512))
    assert make_detector("gen").param_grid(logits)["m"] == [10]  # M >= K (10 classes) is one point
    assert make_detector("vim").param_grid(logits) == {"dim": [256]}  # 1000 >= D = 512 is dropped
    assert make_detector("vim").param_grid(Outputs(None, torch.rand(5, 128))) == {"dim": [64]}  # none left: D/2


def test_wide_grids_and_overrides_are_options():
    assert make_detector("energy", grid="wide").search == {"temperature": [1.0, 10.0, 100.0, 1000.0]}
    wide_vim = make_detector("vim", grid="wide").param_grid(Outputs(None, torch.rand(5, 256)))
    assert wide_vim == {"dim": [32, 64, 128, 192]}
    assert make_detector("knn", grid="wide").search == make_detector("knn").search  # no wider grid: the reference
    over = make_detector("energy", grids={"energy": {"temperature": [2.0, 3.0]}})
    assert over.search == {"temperature": [2.0, 3.0]}
    with pytest.raises(ConfigError, match="detectors.grid must be one of reference, wide"):
        make_detector("energy", grid="huge")
    with pytest.raises(ConfigError, match="detectors.grids.energy has no parameter T"):
        make_detector("energy", grids={"energy": {"T": [1]}})
    with pytest.raises(ConfigError, match="must be a non-empty list"):
        make_detector("energy", grids={"energy": {"temperature": []}})


def test_bad_grid_config_fails_before_training():
    from trustlab.methods.ood.common import check_detectors
    from trustlab.methods.ood.config import DetectorsConfig

    with pytest.raises(ConfigError, match="detectors.grids has 'knn', which is not in detectors.names"):
        check_detectors(DetectorsConfig(names=["msp"], grids={"knn": {"k": [5]}}))
    with pytest.raises(ConfigError, match="detectors.grid must be one of"):
        check_detectors(DetectorsConfig(names=["msp"], grid="all"))
