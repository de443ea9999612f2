"""Sparse mixture-of-experts FFN layer with batched dispatch, and its routers (a model part any model can use).

Source: GMoE, Li et al., "Sparse Mixture-of-Experts are Domain Generalizable Learners", ICLR 2023
(https://arxiv.org/abs/2206.04046; reference code github.com/Luodian/Generalizable-Mixture-of-Experts, which
calls Tutel's ``moe_layer``), and its v1 "Sparse Fusion Mixture-of-Experts" (github.com/Luodian/SF-MoE-DG,
GShard top-2 gating). The layer replaces a transformer block's MLP::

    y = MoEFFN(MoEConfig(num_experts=6, top_k=1, router="cosine"), dim=64, hidden=256)(x)   # x: (B, N, D)
    y.shape == x.shape;  layer.aux_loss  (scalar, already times aux_weight);  layer.stats  (load, drops)

Routing (per forward, over all B*N tokens as Tutel does):

1. ``logits = router(x)`` in fp32, (T, E); routers are in ``ROUTERS`` ("cosine", "linear").
2. training: ``logits += gate_noise * N(0, 1) / E``; ``scores = softmax(logits)``.
3. top-k experts per token; with k > 1 the k gates are renormalised to sum to 1 and the second choice is kept
   by ``second_policy`` ("all", "threshold": gate > ``second_threshold``, "random": with probability
   gate / threshold, GShard's default in SF-MoE).
4. capacity ``C = k * int(capacity_factor * ceil(T / E))`` slots per expert; tokens take slots in order of
   their top score (batch-prioritised routing) or in token order; first choices before second choices;
   tokens beyond C are dropped for that expert (their residual passes unchanged) and counted.
5. dispatch: kept tokens are gathered into an (E, C, D) buffer, the experts run as two batched matmuls
   (``torch.baddbmm``: one matmul per expert), and outputs are scattered back weighted by their gate.

Routing (router, noise, softmax, top-k, aux loss) runs in fp32 with autocast switched off, as Tutel's
``fp32_gate`` under ``autocast(enabled=False)``; the experts run in the ambient precision.

Aux loss (times ``aux_weight``, 0.01 per layer in the reference): "importance_load" (Tutel's
``load_importance_loss``, the reference's ``is_gshard_loss=False``): ``(cv^2(importance) + cv^2(load)) / 2``
with importance the summed noise-free softmax scores and load the summed normal CDF (std ``gate_noise / E``)
of *noise-free softmax score minus the token's k-th noisy logit* (Tutel compares a probability with a logit;
kept as the reference computes it); "logit_load": the same with noise-free *logits* in the load term
(Shazeer et al. 2017's formula; 20-50x Tutel's at init, our earlier default, kept for the ablation);
or "gshard": ``E * sum_e mean_score_e * frac_top1_e``.

Experts start as copies of a dense MLP (:meth:`MoEFFN.copy_mlp`, as the reference expands the pretrained
DeiT MLP into every expert); a layer built on its own initialises each expert like timm's ViT MLP
(trunc-normal std 0.02, zero bias).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trustlab.errors import ConfigError
from trustlab.registry import Registry


def _router_contract(name: str, cls: Any) -> None:
    """A router maps (T, D) tokens to finite fp32 (T, E) logits and passes gradients to its weights."""
    torch.manual_seed(0)
    router = cls(8, 4, MoEConfig(num_experts=4, proj_dim=6))
    x = torch.randn(10, 8)
    logits = router(x)
    if logits.shape != (10, 4) or logits.dtype != torch.float32 or not torch.isfinite(logits).all():
        raise AssertionError(f"router {name}: bad logits {tuple(logits.shape)} {logits.dtype}")
    logits.softmax(1)[:, 0].sum().backward()
    if not all(p.grad is not None and torch.isfinite(p.grad).all() for p in router.parameters()):
        raise AssertionError(f"router {name}: a parameter got no finite gradient")
    if router.macs_per_token() <= 0:
        raise AssertionError(f"router {name}: macs_per_token must be > 0")


def _part_contract(name: str, cls: Any) -> None:
    """A model part keeps the (B, N, D) shape, trains (finite aux loss, gradients) and reports its load."""
    torch.manual_seed(0)
    part = cls(MoEConfig(num_experts=4, top_k=2, proj_dim=6), 8, 16)
    x = torch.randn(3, 5, 8, requires_grad=True)
    y = part(x)
    if y.shape != x.shape or not torch.isfinite(y).all():
        raise AssertionError(f"model part {name}: output {tuple(y.shape)} for input {tuple(x.shape)}")
    (y.square().mean() + part.aux_loss).backward()
    if x.grad is None or not all(p.grad is not None for p in part.parameters()):
        raise AssertionError(f"model part {name}: gradients do not reach the input and every parameter")
    if int(part.stats["load"].sum() + part.stats["dropped"]) != int(part.stats["assigned"]):
        raise AssertionError(f"model part {name}: load + dropped != assigned")


ROUTERS: Registry[Any] = Registry("router", contract=_router_contract)
MODEL_PARTS: Registry[Any] = Registry("model part", key="model-parts", contract=_part_contract)

SECOND_POLICIES = ("all", "threshold", "random")
AUX_LOSSES = ("importance_load", "logit_load", "gshard", "none")
EXPERT_INIT_STD = 0.02  # timm ViT Linear init (trunc-normal), the dense MLP's


@dataclass
class MoEConfig:
    """One MoE layer. Defaults: GMoE (ICLR) reference call of Tutel ``moe_layer`` in vision_transformer.py."""

    num_experts: int = 6
    top_k: int = 1
    router: str = "cosine"  # ROUTERS: cosine | linear (GShard softmax)
    proj_dim: int = 256  # cosine router projection (reference 256; the recipes use min(256, dim))
    init_temperature: float = 0.5  # cosine router: logit scale starts at 1 / 0.5 and is learned (clamped <= 100)
    gate_noise: float = 1.0  # training noise N(0, 1) * gate_noise / E on the logits
    capacity_factor: float = 1.5  # training capacity
    eval_capacity_factor: float | None = None  # None: same as training (Tutel); SF-MoE v1 uses 2.0
    second_policy: Literal["all", "threshold", "random"] = "all"  # k >= 2 only
    second_threshold: float = 0.2
    batch_prioritized: bool = True
    aux_loss: Literal["importance_load", "logit_load", "gshard", "none"] = "importance_load"
    aux_weight: float = 0.01
    dropout: float = 0.1  # after the expert activation (reference: moe_drop = Dropout(0.1))


def check_moe_config(cfg: MoEConfig) -> None:
    """One ConfigError line for each impossible setting."""
    if cfg.num_experts < 1:
        raise ConfigError(f"moe.num_experts must be >= 1, got {cfg.num_experts}")
    if not 1 <= cfg.top_k <= cfg.num_experts:
        raise ConfigError(
            f"moe.top_k={cfg.top_k} must be between 1 and moe.num_experts={cfg.num_experts}; "
            "lower top_k or add experts"
        )
    for key in ("capacity_factor", "eval_capacity_factor"):
        v = getattr(cfg, key)
        if v is not None and not (v > 0 and math.isfinite(v)):
            raise ConfigError(f"moe.{key} must be > 0 (e.g. 1.5), got {v}")
    if cfg.router not in ROUTERS:
        ROUTERS.get(cfg.router)  # NotFoundError with a did-you-mean hint
    if cfg.second_policy not in SECOND_POLICIES:
        raise ConfigError(f"moe.second_policy must be one of {SECOND_POLICIES}, got {cfg.second_policy!r}")
    if cfg.aux_loss not in AUX_LOSSES:
        raise ConfigError(f"moe.aux_loss must be one of {AUX_LOSSES}, got {cfg.aux_loss!r}")
    if cfg.aux_loss in ("importance_load", "logit_load") and cfg.gate_noise <= 0:
        raise ConfigError(f"moe.aux_loss={cfg.aux_loss} needs moe.gate_noise > 0 (its load term); set both")
    if cfg.proj_dim < 1 or cfg.init_temperature <= 0:
        raise ConfigError(f"moe.proj_dim must be >= 1 and moe.init_temperature > 0, got {cfg.proj_dim}, "
                          f"{cfg.init_temperature}")


@ROUTERS.register("cosine", help="GMoE cosine router: softmax(t * cos(W x, e_i)), learnable t, projection dim")
class CosineRouter(nn.Module):
    """Tutel ``cosine_top`` gate: ``logits = exp(clamp(s, max=log 100)) * <norm(P x), norm(M_:,e)>``, fp32.

    ``P`` is Linear(dim, proj_dim) with bias, ``M`` (proj_dim, E) starts N(0, 0.01), ``s = log(1 / init_t)``.
    """

    def __init__(self, dim: int, num_experts: int, cfg: MoEConfig) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, cfg.proj_dim)
        self.sim = nn.Parameter(torch.empty(cfg.proj_dim, num_experts).normal_(0.0, 0.01))
        self.log_scale = nn.Parameter(torch.log(torch.full([1], 1.0 / cfg.init_temperature)))
        self.clamp_max = math.log(100.0)

    def forward(self, x: Tensor) -> Tensor:
        """(T, D) -> (T, E) fp32 logits."""
        w, b = self.proj.weight.float(), self.proj.bias.float()
        h = F.normalize(F.linear(x.float(), w, b), dim=1)
        return h @ F.normalize(self.sim.float(), dim=0) * self.log_scale.clamp(max=self.clamp_max).exp()

    def macs_per_token(self) -> int:
        return self.proj.in_features * self.proj.out_features + self.sim.numel()


@ROUTERS.register("linear", help="GShard / Tutel 'top' router: softmax(W x), no bias")
class LinearRouter(nn.Module):
    """Tutel ``top`` gate and SF-MoE's ``Top2Gating``: ``logits = W x`` (no bias), fp32."""

    def __init__(self, dim: int, num_experts: int, cfg: MoEConfig) -> None:
        super().__init__()
        self.wg = nn.Linear(dim, num_experts, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x.float(), self.wg.weight.float())

    def macs_per_token(self) -> int:
        return self.wg.weight.numel()


def _cv2(v: Tensor) -> Tensor:
    return v.float().var() / (v.float().mean() ** 2 + 1e-10)


def aux_loss(kind: str, logits: Tensor, noisy: Tensor, top_idx: Tensor, gate_noise: float) -> Tensor:
    """Load-balancing loss (unweighted) from clean ``logits``, ``noisy`` logits and the (T, k) choices."""
    num_experts = logits.shape[1]
    if kind == "gshard":
        scores = noisy.softmax(1)
        frac = F.one_hot(top_idx[:, 0], num_experts).float().mean(0)
        return num_experts * (scores.mean(0) * frac).sum()
    if kind in ("importance_load", "logit_load"):
        clean = logits.softmax(1)
        importance = clean.sum(0)
        threshold = noisy.gather(1, top_idx[:, -1:])  # k-th largest noisy logit per token
        std = gate_noise / num_experts
        # Tutel: noise-free softmax *scores* against the noisy logit; logit_load: noise-free logits (Shazeer)
        load = torch.special.ndtr(((clean if kind == "importance_load" else logits) - threshold) / std).sum(0)
        return (_cv2(importance) + _cv2(load)) / 2
    return logits.new_zeros(())


@MODEL_PARTS.register("moe_ffn", help="sparse MoE FFN (top-k, capacity, aux loss), batched dispatch")
class MoEFFN(nn.Module):
    """E FFN experts (Linear -> GELU -> Dropout -> Linear) behind a router; see the module docstring.

    Args: cfg (MoEConfig), dim D, hidden H (per expert). Input (..., D) -> output (..., D).
    After each forward: ``aux_loss`` (weighted scalar), ``stats`` (dict of tensors: ``load`` (E,) kept
    assignments per expert, ``dropped``, ``assigned``), and with ``record_routing = True`` ``last_choice``
    (T,) the top-1 expert of every token (before capacity).
    """

    def __init__(self, cfg: MoEConfig, dim: int, hidden: int) -> None:
        super().__init__()
        check_moe_config(cfg)
        if hidden < 1:
            raise ConfigError(f"moe expert hidden size must be >= 1, got {hidden}")
        self.cfg = cfg
        self.dim, self.hidden, self.num_experts = dim, hidden, cfg.num_experts
        self.router = ROUTERS.get(cfg.router)(dim, cfg.num_experts, cfg)
        e = cfg.num_experts
        self.w1 = nn.Parameter(torch.empty(e, dim, hidden))
        self.b1 = nn.Parameter(torch.empty(e, 1, hidden))
        self.w2 = nn.Parameter(torch.empty(e, hidden, dim))
        self.b2 = nn.Parameter(torch.empty(e, 1, dim))
        self.drop = nn.Dropout(cfg.dropout)
        self.reset_parameters()
        self.aux_loss: Tensor = torch.zeros(())
        self.stats: dict[str, Tensor] = {}
        self.record_routing = False
        self.last_choice: Tensor | None = None

    def reset_parameters(self) -> None:
        """Each expert initialised like timm's ViT MLP: weights trunc-normal std 0.02, biases zero.

        (Tutel's experts use nn.Linear's default, std 1/sqrt(3 fan_in): 0.083 at D 48, 4x the dense ViT MLP's
        0.02; the reference never uses it, it loads the pretrained MLP into every expert: :meth:`copy_mlp`.)
        """
        with torch.no_grad():
            for w in (self.w1, self.w2):
                nn.init.trunc_normal_(w, std=EXPERT_INIT_STD)
            self.b1.zero_()
            self.b2.zero_()

    def copy_mlp(self, fc1_weight: Tensor, fc1_bias: Tensor, fc2_weight: Tensor, fc2_bias: Tensor) -> None:
        """Every expert := the dense MLP ``fc2(act(fc1 x))`` (nn.Linear layouts), as the reference expands the
        pretrained DeiT MLP into each expert. When the experts are narrower than the MLP (equal-MACs trimming)
        each keeps the same ``hidden`` units: those with the largest ``|fc1 row| * |fc2 column|``."""
        dense_hidden = fc1_weight.shape[0]
        if fc1_weight.shape[1] != self.dim or dense_hidden < self.hidden:
            raise ConfigError(f"cannot copy a dense MLP {tuple(fc1_weight.shape)} into experts of dim {self.dim}, "
                              f"hidden {self.hidden}")
        keep = torch.arange(dense_hidden)
        if self.hidden < dense_hidden:
            score = fc1_weight.float().norm(dim=1) * fc2_weight.float().norm(dim=0)
            keep = score.topk(self.hidden).indices.sort().values
        with torch.no_grad():
            self.w1.copy_(fc1_weight[keep].t().unsqueeze(0).expand_as(self.w1))
            self.b1.copy_(fc1_bias[keep].view(1, 1, -1).expand_as(self.b1))
            self.w2.copy_(fc2_weight[:, keep].t().unsqueeze(0).expand_as(self.w2))
            self.b2.copy_(fc2_bias.view(1, 1, -1).expand_as(self.b2))

    def capacity(self, num_tokens: int) -> int:
        cf = self.cfg.capacity_factor
        if not self.training and self.cfg.eval_capacity_factor is not None:
            cf = self.cfg.eval_capacity_factor
        per_expert = (num_tokens + self.num_experts - 1) // self.num_experts
        return max(1, self.cfg.top_k * int(cf * per_expert))

    def route(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, int]:
        """(T, D) -> expert ids, gates (zero where dropped), kept mask, slot positions (all (T, k)) and
        the capacity C; sets ``aux_loss`` and ``stats``."""
        cfg, e = self.cfg, self.num_experts
        with torch.autocast(x.device.type, enabled=False):  # fp32 routing (Tutel: fp32_gate, autocast off)
            logits = self.router(x.float())
            noisy = logits
            if self.training and cfg.gate_noise > 0:
                noisy = logits + cfg.gate_noise * torch.randn_like(logits) / e
            scores = noisy.softmax(1)
            gates, idx = scores.topk(cfg.top_k, dim=1)
            self.aux_loss = cfg.aux_weight * aux_loss(cfg.aux_loss, logits, noisy, idx, cfg.gate_noise)
        if cfg.top_k > 1:
            gates = gates / gates.sum(1, keepdim=True).clamp_min(torch.finfo(gates.dtype).eps)
        keep = torch.ones_like(gates, dtype=torch.bool)
        if cfg.top_k > 1 and cfg.second_policy != "all":
            rest = gates[:, 1:]
            if cfg.second_policy == "threshold":
                keep[:, 1:] = rest > cfg.second_threshold
            else:  # random: kept with probability gate / threshold
                keep[:, 1:] = torch.rand_like(rest) < rest / max(cfg.second_threshold, 1e-9)
        cap = self.capacity(x.shape[0])
        order = torch.argsort(-scores.max(1).values, stable=True) if cfg.batch_prioritized else None
        base = torch.zeros(e, dtype=torch.long, device=x.device)
        pos = torch.empty_like(idx)
        for j in range(cfg.top_k):  # k <= a few: a loop over choices, never over tokens
            onehot = F.one_hot(idx[:, j], e) * keep[:, j : j + 1]
            if order is not None:
                ranked = onehot[order].cumsum(0)
                cum = torch.empty_like(ranked)
                cum[order] = ranked
            else:
                cum = onehot.cumsum(0)
            pos[:, j] = ((cum - 1 + base) * onehot).sum(1)
            base = base + onehot.sum(0)
        requested = keep.clone()
        keep = keep & (pos < cap)
        with torch.no_grad():
            load = torch.bincount(idx[keep], minlength=e).float()
            self.stats = {"load": load, "dropped": (requested & ~keep).sum().float(),
                          "assigned": requested.sum().float(), "tokens": torch.tensor(float(x.shape[0]))}
        if self.record_routing:
            self.last_choice = idx[:, 0].detach()
        return idx, gates * keep, keep, pos, cap

    def forward(self, x: Tensor) -> Tensor:
        shape = x.shape
        flat = x.reshape(-1, shape[-1])
        idx, gates, keep, pos, cap = self.route(flat)
        e, d = self.num_experts, shape[-1]
        tok = torch.arange(flat.shape[0], device=x.device).unsqueeze(1).expand_as(idx)[keep]
        slot = idx[keep] * cap + pos[keep]  # each kept (token, choice) owns one slot of the (E, C) buffer
        buf = flat.new_zeros(e * cap, d).index_copy(0, slot, flat[tok])
        h = self.drop(F.gelu(torch.baddbmm(self.b1, buf.view(e, cap, d), self.w1)))
        out = torch.baddbmm(self.b2, h, self.w2).view(e * cap, d)
        y = flat.new_zeros(flat.shape).index_add(0, tok, (out[slot] * gates[keep].unsqueeze(1).to(out.dtype)
                                                          ).to(flat.dtype))
        return y.reshape(shape)

    def macs_per_token(self) -> int:
        """Active multiply-accumulates per token: router + top_k experts (the upper bound when k > 1)."""
        return self.router.macs_per_token() + self.cfg.top_k * 2 * self.dim * self.hidden
