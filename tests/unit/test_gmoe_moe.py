"""The MoE layer: batched dispatch against a per-token loop, capacity and dropping, routers, aux losses, errors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from trustlab.errors import ConfigError, NotFoundError
from trustlab.models.moe import MODEL_PARTS, ROUTERS, MoEConfig, MoEFFN, aux_loss


def _reference(layer: MoEFFN, x: torch.Tensor) -> torch.Tensor:
    """Per-token loop written from the module docstring, independent of ``layer.route``: eval-mode scores
    softmax(router(x)), the top-k experts, their gates renormalised to sum to 1 when k > 1, every choice kept
    (second_policy "all", capacity large enough), y_t = sum_j gate_j * expert_j(x_t)."""
    k = layer.cfg.top_k
    y = torch.zeros_like(x)
    for t in range(x.shape[0]):
        scores = torch.softmax(layer.router(x[t : t + 1])[0], 0).tolist()
        ranked = sorted(range(len(scores)), key=lambda e: -scores[e])[:k]
        total = sum(scores[e] for e in ranked) if k > 1 else 1.0
        for e in ranked:
            h = F.gelu(x[t] @ layer.w1[e] + layer.b1[e, 0])
            y[t] += scores[e] / total * (h @ layer.w2[e] + layer.b2[e, 0])
    return y


@pytest.mark.parametrize("router", ROUTERS.names())
@pytest.mark.parametrize("top_k", [1, 2])
def test_batched_dispatch_matches_token_loop(router: str, top_k: int) -> None:
    torch.manual_seed(0)
    layer = MoEFFN(MoEConfig(num_experts=4, top_k=top_k, router=router, proj_dim=8, capacity_factor=8.0), 12, 20)
    layer.eval()
    x = torch.randn(30, 12)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), _reference(layer, x), rtol=1e-5, atol=1e-5)
        assert layer.stats["dropped"] == 0 and layer.stats["assigned"] == 30 * top_k


def test_capacity_drops_lowest_priority_tokens_and_counts_them() -> None:
    torch.manual_seed(0)
    cfg = MoEConfig(num_experts=2, top_k=1, router="linear", capacity_factor=0.2, gate_noise=0.0, aux_loss="gshard")
    layer = MoEFFN(cfg, 6, 8).eval()
    with torch.no_grad():
        layer.router.wg.weight.zero_()
        layer.router.wg.weight[0, 0] = 1.0  # expert 0 wins wherever x[:, 0] > 0, with score rising in x[:, 0]
    x = torch.randn(40, 6)
    x[:, 0] = torch.linspace(0.1, 4.0, 40)  # all tokens want expert 0
    idx, gates, keep, pos, cap = layer.route(x)
    assert cap == int(0.2 * 20) == 4
    assert (idx[:, 0] == 0).all() and int(keep.sum()) == cap
    assert keep[-cap:, 0].all(), "batch-prioritised routing keeps the highest-scoring tokens"
    assert layer.stats["dropped"] == 40 - cap and layer.stats["load"].tolist() == [cap, 0]
    assert (gates[~keep] == 0).all()
    y = layer(x)
    assert (y[~keep[:, 0]] == 0).all(), "a dropped token gets no expert output (its residual passes alone)"
    layer.cfg.batch_prioritized = False
    _, _, keep, _, _ = layer.route(x)
    assert keep[:cap, 0].all() and not keep[cap:, 0].any(), "without priority the first tokens win"


def test_eval_capacity_factor_and_second_policies() -> None:
    torch.manual_seed(0)
    cfg = MoEConfig(num_experts=4, top_k=2, router="linear", capacity_factor=1.0, eval_capacity_factor=2.0,
                    second_policy="threshold", second_threshold=0.3, gate_noise=0.0, aux_loss="gshard")
    layer = MoEFFN(cfg, 6, 8)
    assert layer.train().capacity(40) == 2 * 10 and layer.eval().capacity(40) == 2 * 20
    x = torch.randn(50, 6) * 3
    idx, gates, keep, _, _ = layer.route(x)
    scores = layer.router(x).softmax(1).topk(2, dim=1).values
    second = scores[:, 1] / scores.sum(1)
    assert torch.equal(keep[:, 1], second > 0.3)
    layer.cfg.second_policy = "all"
    assert layer.route(x)[2].all()


def test_aux_losses_match_hand_formulas() -> None:
    torch.manual_seed(0)
    logits = torch.randn(64, 4)
    noisy = logits + 0.25 * torch.randn_like(logits)
    top = noisy.topk(1, dim=1).indices
    imp = logits.softmax(1).sum(0)

    def want(clean: torch.Tensor) -> torch.Tensor:
        cdf = 0.5 * (1 + torch.erf((clean - noisy.gather(1, top)) / (0.25 * math.sqrt(2))))
        load = cdf.sum(0)
        return (imp.var() / imp.mean() ** 2 + load.var() / load.mean() ** 2) / 2

    # Tutel's load_importance_loss: the load term compares noise-free softmax *scores* with the noisy logit
    torch.testing.assert_close(aux_loss("importance_load", logits, noisy, top, gate_noise=1.0), want(logits.softmax(1)))
    # logit_load (Shazeer et al.'s formula, our earlier default): noise-free logits
    torch.testing.assert_close(aux_loss("logit_load", logits, noisy, top, gate_noise=1.0), want(logits))
    uniform = torch.zeros(8, 4)
    balanced_top = torch.arange(8).remainder(4).unsqueeze(1)
    torch.testing.assert_close(aux_loss("gshard", uniform, uniform, balanced_top, 1.0), torch.tensor(1.0))


def test_cosine_router_temperature_is_learned_and_clamped() -> None:
    layer = MoEFFN(MoEConfig(num_experts=3, proj_dim=4, init_temperature=0.5), 6, 8)
    r = layer.router
    assert math.isclose(float(r.log_scale.detach().exp()), 2.0, rel_tol=1e-6)
    with torch.no_grad():
        r.log_scale.fill_(10.0)
    logits = r(torch.randn(5, 6))
    assert logits.abs().max() <= 100.0 + 1e-4  # |cos| <= 1 times the clamped scale 100
    assert r.log_scale.requires_grad


def test_aux_loss_and_training_noise_only_in_training() -> None:
    """Eval routing is deterministic; training adds gate_noise * N(0, 1) / E to the router logits (so the
    gates change from call to call and equal those of the noisy logits drawn by hand); no noise when
    gate_noise is 0."""
    torch.manual_seed(0)
    e = 4
    layer = MoEFFN(MoEConfig(num_experts=e, proj_dim=4, gate_noise=1.0, capacity_factor=8.0), 6, 8)
    x = torch.randn(20, 6)
    layer.eval()
    a, b = layer(x), layer(x)
    torch.testing.assert_close(a, b)
    assert float(layer.aux_loss.detach()) > 0 and layer.aux_loss.requires_grad
    with torch.no_grad():
        g_eval = layer.route(x)[1]
        torch.testing.assert_close(g_eval, layer.route(x)[1], rtol=0, atol=0)
        layer.train()
        g1, g2 = layer.route(x)[1], layer.route(x)[1]
        assert not torch.equal(g1, g2) and not torch.equal(g1, g_eval), "training routes with fresh noise"
        logits = layer.router(x)
        torch.manual_seed(5)
        idx, gates = layer.route(x)[:2]
        torch.manual_seed(5)
        noisy = logits + 1.0 * torch.randn(logits.shape) / e
        want_gates, want_idx = noisy.softmax(1).max(1)
        torch.testing.assert_close(gates[:, 0], want_gates)
        assert torch.equal(idx[:, 0], want_idx)
        layer.cfg.gate_noise = 0.0
        layer.cfg.aux_loss = "gshard"
        torch.testing.assert_close(layer.route(x)[1], g_eval, rtol=0, atol=0)


@pytest.mark.parametrize(
    "cfg, match",
    [
        (MoEConfig(num_experts=4, top_k=5), "top_k=5 must be between 1 and moe.num_experts=4"),
        (MoEConfig(capacity_factor=0.0), "capacity_factor must be > 0"),
        (MoEConfig(capacity_factor=-1.0), "capacity_factor must be > 0"),
        (MoEConfig(eval_capacity_factor=0.0), "eval_capacity_factor must be > 0"),
        (MoEConfig(second_policy="sometimes"), "second_policy must be one of"),
        (MoEConfig(aux_loss="importance_load", gate_noise=0.0), "needs moe.gate_noise > 0"),
    ],
)
def test_bad_moe_settings_are_one_line_errors(cfg: MoEConfig, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        MoEFFN(cfg, 8, 16)


def test_unknown_router_names_the_registry() -> None:
    with pytest.raises(NotFoundError, match="unknown router 'cosin'.*did you mean 'cosine'"):
        MoEFFN(MoEConfig(router="cosin"), 8, 16)


def test_model_part_registry_builds_the_layer() -> None:
    assert MODEL_PARTS.get("moe_ffn") is MoEFFN
    layer = MODEL_PARTS.get("moe_ffn")(MoEConfig(num_experts=2, proj_dim=4), 6, 8)
    assert layer(torch.randn(2, 3, 6)).shape == (2, 3, 6)


def test_routing_stays_fp32_under_autocast() -> None:
    """Tutel's fp32_gate under autocast(enabled=False): logits, gates and the aux loss are the fp32 ones even when
    the surrounding model runs in bfloat16; the layer's output keeps the input's dtype."""
    torch.manual_seed(0)
    layer = MoEFFN(MoEConfig(num_experts=4, proj_dim=6, capacity_factor=8.0), 8, 16).eval()
    x = torch.randn(30, 8)
    idx, gates = layer.route(x)[:2]
    aux = layer.aux_loss
    with torch.autocast("cpu", dtype=torch.bfloat16):
        idx_a, gates_a = layer.route(x)[:2]
        y = layer(x)
    assert gates_a.dtype == torch.float32 and layer.aux_loss.dtype == torch.float32
    assert torch.equal(idx_a, idx)
    torch.testing.assert_close(gates_a, gates, rtol=0, atol=0)
    torch.testing.assert_close(layer.aux_loss, aux, rtol=0, atol=0)
    assert y.dtype == x.dtype and torch.isfinite(y).all()


def test_experts_start_as_the_dense_mlp_at_its_init_scale() -> None:
    """A layer on its own: timm's MLP init (std 0.02, zero bias), not nn.Linear's 4x larger default; copy_mlp puts
    the same dense MLP in every expert, keeping its strongest hidden units when the experts are narrower."""
    torch.manual_seed(0)
    layer = MoEFFN(MoEConfig(num_experts=6, proj_dim=8), 48, 192)
    assert abs(float(layer.w1.detach().std()) - 0.02) < 0.002 and abs(float(layer.w2.detach().std()) - 0.02) < 0.002
    assert not layer.b1.detach().any() and not layer.b2.detach().any()
    fc1, fc2 = torch.nn.Linear(48, 192), torch.nn.Linear(192, 48)
    layer.copy_mlp(fc1.weight, fc1.bias, fc2.weight, fc2.bias)
    for e in range(6):
        torch.testing.assert_close(layer.w1[e], fc1.weight.t())
        torch.testing.assert_close(layer.w2[e], fc2.weight.t())
    # each expert computes the dense MLP (dropout off): y = gate * MLP(x)
    layer.eval()
    x = torch.randn(10, 48)
    gates = layer.route(x)[1][:, :1]
    mlp = fc2(F.gelu(fc1(x)))
    torch.testing.assert_close(layer(x), gates * mlp, rtol=1e-5, atol=1e-5)
    narrow = MoEFFN(MoEConfig(num_experts=2, proj_dim=8), 48, 100)
    narrow.copy_mlp(fc1.weight, fc1.bias, fc2.weight, fc2.bias)
    score = fc1.weight.norm(dim=1) * fc2.weight.norm(dim=0)
    keep = score.topk(100).indices.sort().values
    torch.testing.assert_close(narrow.w1[1], fc1.weight[keep].t())
    torch.testing.assert_close(narrow.b2[0, 0], fc2.bias)
    with pytest.raises(ConfigError, match="cannot copy a dense MLP"):
        narrow.copy_mlp(fc1.weight[:50], fc1.bias[:50], fc2.weight[:, :50], fc2.bias)
