"""OOD metrics and detectors against scikit-learn, autograd and the papers' / OpenOOD's formulas.

Tolerances: metrics 1e-12 (same float64 arithmetic); detectors 1e-5 relative (float32 vs float64 paths).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn import metrics as skm
from torch import nn

from trustlab.methods.ood.base import Outputs
from trustlab.metrics import ood

pytestmark = pytest.mark.parity


def _random_pairs(n: int = 60):
    rng = np.random.default_rng(0)
    for _ in range(n):
        decimals = int(rng.integers(0, 3))  # 0 decimals: many ties
        s_id = np.round(rng.normal(1, 1, int(rng.integers(1, 80))), decimals)
        s_ood = np.round(rng.normal(0, 1.5, int(rng.integers(1, 80))), decimals)
        yield s_id, s_ood


def test_metrics_match_sklearn_openood_style():
    """OpenOOD's evaluator: OOD = 1, conf negated; FPR at the first tpr >= 0.95; AUPR = auc(recall, precision)."""
    for s_id, s_ood in _random_pairs():
        is_ood = np.r_[np.zeros(s_id.size), np.ones(s_ood.size)]
        conf = np.r_[s_id, s_ood]
        assert ood.auroc(s_id, s_ood) == pytest.approx(skm.roc_auc_score(is_ood, -conf), abs=1e-12)
        fpr, tpr, _ = skm.roc_curve(is_ood, -conf, drop_intermediate=False)
        assert ood.fpr_at_95(s_id, s_ood) == fpr[np.argmax(tpr >= 0.95)]
        fpr_c, tpr_c, _ = skm.roc_curve(1 - is_ood, conf, drop_intermediate=False)
        assert ood.fpr_at_95(s_id, s_ood, "classic") == fpr_c[np.argmax(tpr_c >= 0.95)]
        p, r, _ = skm.precision_recall_curve(1 - is_ood, conf)
        assert ood.aupr_in(s_id, s_ood) == pytest.approx(skm.auc(r, p), abs=1e-12)
        p, r, _ = skm.precision_recall_curve(is_ood, -conf)
        assert ood.aupr_out(s_id, s_ood) == pytest.approx(skm.auc(r, p), abs=1e-12)


def test_oscr_equals_pairwise_count_over_correct_known_samples():
    rng = np.random.default_rng(1)
    for s_id, s_ood in _random_pairs(30):
        correct = rng.random(s_id.size) < 0.8
        gt = (s_id[:, None] > s_ood[None, :]) + 0.5 * (s_id[:, None] == s_ood[None, :])
        brute = float((gt * correct[:, None]).sum() / (s_id.size * s_ood.size))
        assert ood.oscr(s_id, s_ood, correct) == pytest.approx(brute, abs=1e-12)


# ---------------------------------------------------------------- detectors


class TinyNet(nn.Module):
    """A model exposing the trustlab contract: forward(x, return_features) and classifier()."""

    def __init__(self, d_in: int = 12, d: int = 16, k: int = 4) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, d), nn.ReLU())
        self.head = nn.Linear(d, k)

    def classifier(self) -> nn.Linear:
        return self.head

    def forward(self, x, return_features: bool = False):
        f = self.body(x.flatten(1))
        return (self.head(f), f) if return_features else self.head(f)


def _outputs(net: TinyNet, n: int, seed: int) -> Outputs:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 12, generator=g)
    with torch.no_grad():
        lg, f = net(x, return_features=True)
    return Outputs(lg, f, lg.argmax(1))


@pytest.fixture
def net() -> TinyNet:
    torch.manual_seed(0)
    return TinyNet()


def test_mahalanobis_matches_sklearn_empirical_covariance(net):
    from sklearn.covariance import EmpiricalCovariance

    from trustlab.methods.ood.feature_scorers import Mahalanobis

    train, test = _outputs(net, 300, 0), _outputs(net, 50, 1)
    f, y = train.features.double().numpy(), train.labels.numpy()
    means = np.stack([f[y == c].mean(0) for c in np.unique(y)])
    prec = EmpiricalCovariance(assume_centered=False).fit(f - means[np.searchsorted(np.unique(y), y)]).precision_
    q = test.features.double().numpy()
    ref = np.max(np.stack([-np.einsum("nd,de,ne->n", q - m, prec, q - m) for m in means], 1), 1)
    got = Mahalanobis().fit(train).score_outputs(test).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-5)


def test_knn_matches_sklearn_nearest_neighbors(net):
    """The faiss search (KNN) and the chunked torch search (its reference) against scikit-learn."""
    from sklearn.neighbors import NearestNeighbors

    from trustlab.methods.ood.feature_scorers import KNN, kth_neighbour_distance, l2_normalise

    train, test = _outputs(net, 400, 0), _outputs(net, 37, 1)
    bank, q = l2_normalise(train.features), l2_normalise(test.features)
    dist, _ = NearestNeighbors(n_neighbors=7).fit(bank.numpy()).kneighbors(q.numpy())
    got = KNN(k=7).fit(train).score_outputs(test).numpy()
    np.testing.assert_allclose(got, -dist[:, -1], rtol=1e-4, atol=1e-5)
    for chunk in (401, 2**24):  # 401 elements: one query row per chunk
        ref = kth_neighbour_distance(q, bank, 7, chunk_elems=chunk).numpy()
        np.testing.assert_allclose(ref, dist[:, -1], rtol=1e-4, atol=1e-5)


def test_gradnorm_closed_form_matches_autograd(net):
    from trustlab.methods.ood.logit_scorers import GradNorm

    out = _outputs(net, 20, 2)
    ref = []
    for f in out.features:
        head = nn.Linear(16, 4)
        head.load_state_dict(net.head.state_dict())
        logp = F.log_softmax(head(f[None]), dim=1)
        loss = -(logp * torch.full_like(logp, 1 / 4)).sum()  # KL(uniform || p) up to a constant
        loss.backward()
        ref.append(head.weight.grad.abs().sum().item())
    got = GradNorm().fit(out, None, net).score_outputs(out).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-5)


def test_vim_matches_openood_steps(net):
    from numpy.linalg import norm, pinv
    from scipy.special import logsumexp
    from sklearn.covariance import EmpiricalCovariance

    from trustlab.methods.ood.feature_scorers import ViM

    train, test = _outputs(net, 300, 0), _outputs(net, 40, 3)
    w, b = net.head.weight.detach().double().numpy(), net.head.bias.detach().double().numpy()
    f_tr, l_tr = train.features.double().numpy(), train.logits.double().numpy()
    u = -pinv(w) @ b
    ec = EmpiricalCovariance(assume_centered=True).fit(f_tr - u)
    vals, vecs = np.linalg.eig(ec.covariance_)
    ns = np.ascontiguousarray(vecs.T[np.argsort(vals * -1)[6:]].T).real
    alpha = l_tr.max(-1).mean() / norm((f_tr - u) @ ns, axis=-1).mean()
    f_te, l_te = test.features.double().numpy(), test.logits.double().numpy()
    ref = logsumexp(l_te, axis=-1) - alpha * norm((f_te - u) @ ns, axis=-1)
    got = ViM(dim=6).fit(train, None, net).score_outputs(test).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def test_ash_b_matches_per_sample_definition():
    from trustlab.methods.ood.feature_scorers import ash_b

    f = torch.rand(5, 20)
    got = ash_b(f, 65.0)
    k = 20 - int(np.round(20 * 0.65))
    for row, out in zip(f, got):
        keep = row.argsort(descending=True)[:k]
        ref = torch.zeros(20)
        ref[keep] = row.sum() / k
        torch.testing.assert_close(out, ref)


def test_energy_gen_react_formulas(net):
    from trustlab.methods.ood.feature_scorers import ReAct
    from trustlab.methods.ood.logit_scorers import GEN, Energy

    out = _outputs(net, 30, 4)
    lg = out.logits.double()
    torch.testing.assert_close(Energy(temperature=10.0).score_outputs(out).double(),
                               10 * torch.logsumexp(lg / 10, 1), rtol=1e-5, atol=1e-5)
    p = lg.softmax(1).sort(1).values[:, -3:]
    ref = -(p**0.1 * (1 - p) ** 0.1).sum(1)
    torch.testing.assert_close(GEN(m=3).score_outputs(out).double(), ref, rtol=1e-5, atol=1e-6)
    train = _outputs(net, 200, 5)
    c = float(np.percentile(train.features.numpy().ravel(), 90))
    ref = torch.logsumexp(net.head(out.features.clamp(max=c)), 1)
    torch.testing.assert_close(ReAct().fit(train, None, net).score_outputs(out), ref.detach(), rtol=1e-5, atol=1e-5)


def test_odin_pixel_step_equals_openood_normalised_step():
    """OpenOOD perturbs the normalised input by eps*sign/std; trustlab perturbs [0,1] pixels by eps*sign."""
    from trustlab.methods.ood.logit_scorers import ODIN
    from trustlab.models import build_model

    torch.manual_seed(0)
    model = build_model("small_cnn", 3, input_size=16, width=0.1, in_chans=1, std=0.3, mean=0.4).eval()
    x = torch.rand(6, 1, 16, 16)
    got = ODIN(temperature=100.0, eps=0.01).setup(model, x).score(x)
    z = model.normalize(x).requires_grad_(True)
    logits = model.classifier()(model.features(z))
    F.cross_entropy(logits / 100.0, logits.argmax(1)).backward()
    step = (torch.ge(z.grad, 0).float() - 0.5) * 2 / model.std
    z_t = z.detach() - 0.01 * step
    ref = F.softmax(model.classifier()(model.features(z_t)) / 100.0, 1).max(1).values
    torch.testing.assert_close(got, ref.detach(), rtol=1e-5, atol=1e-6)


def test_isolation_forest_matches_sklearn_on_standardised_features(net):
    from sklearn.ensemble import IsolationForest

    from trustlab.methods.ood.classical import IsolationForestScorer

    train, test = _outputs(net, 200, 0), _outputs(net, 30, 1)
    f = train.features.double().numpy()
    std = np.where(f.std(0) > 1e-12, f.std(0), 1.0)
    z = lambda a: (a - f.mean(0)) / std
    ref = IsolationForest(n_estimators=100, random_state=0).fit(z(f)).score_samples(z(test.features.double().numpy()))
    got = IsolationForestScorer().fit(train).score_outputs(test).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-5)
