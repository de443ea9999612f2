"""GMoE cost: batched expert dispatch against a dense MLP, and the MoE ViT against the dense ViT.

Prints, measured side by side in one process (interleaved repeats, median; one torch thread by default):

1. tokens/s of forward+backward of the whole model: ``vit_moe`` (recipe defaults: 6 experts, cosine router,
   top-1, capacity 1.5, experts trimmed to the dense MACs/token) against the dense ``vit``;
2. one MoE layer (top-1, capacity 1.5) with E = 2, 4, 8, 16 experts against the dense MLP it replaces
   (timm ``Mlp``, same hidden size): time ratio MoE / MLP per E. Batched dispatch keeps it nearly flat
   in E: the routed token count, and so the expert FLOPs, do not grow with E (only the router and the
   (E, C, D) buffer bookkeeping do);
3. for reference, a per-token Python loop over experts (what "not batched" would cost) at E = 4.

    .venv/bin/python benchmarks/gmoe_dispatch.py [--threads 1] [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch


def _time(fn: Callable[[], None], repeats: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def _step(model: torch.nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def run() -> None:
        model.zero_grad(set_to_none=True)
        out = model(x)
        loss = out.float().square().mean() + (model.aux_loss() if hasattr(model, "aux_loss") else 0.0)
        loss.backward()

    return run


def _interleaved(fns: dict[str, Callable[[], None]], repeats: int) -> dict[str, float]:
    times: dict[str, list[float]] = {k: [] for k in fns}
    for f in fns.values():
        f()
    for _ in range(repeats):
        for k, f in fns.items():
            times[k] += _time(f, 1)
    return {k: statistics.median(v) for k, v in times.items()}


def _loop_moe(layer: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Unbatched reference: each token through its expert one by one."""
    idx, gates, keep, _, _ = layer.route(x)
    rows = []
    for t in range(x.shape[0]):
        e = int(idx[t, 0])
        h = torch.nn.functional.gelu(x[t] @ layer.w1[e] + layer.b1[e, 0])
        rows.append(gates[t, 0] * (h @ layer.w2[e] + layer.b2[e, 0]))
    return torch.stack(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    from timm.layers import Mlp

    from trustlab.methods.gmoe.config import GMoERecipeConfig
    from trustlab.methods.gmoe.method import build_vit_model
    from trustlab.models.moe import MoEConfig, MoEFFN

    cfg = GMoERecipeConfig()
    cfg.moe.proj_dim = 48  # the recipes' setting
    moe_vit = build_vit_model(cfg, 10).train()
    cfg.model.name = "vit"
    dense_vit = build_vit_model(cfg, 10).train()
    x = torch.rand(args.batch, 3, 32, 32)
    tokens = args.batch * dense_vit.num_tokens
    t = _interleaved({"dense": _step(dense_vit, x), "moe": _step(moe_vit, x)}, args.repeats)
    print(f"# {args.threads} thread(s), batch {args.batch} x {dense_vit.num_tokens} tokens, median of {args.repeats}")
    macs = (dense_vit.macs_per_token()["total"], moe_vit.macs_per_token()["total"])
    print(f"MACs/token: dense ViT {macs[0]:.0f}, GMoE {macs[1]:.0f}")
    print(f"model fwd+bwd tokens/s: dense ViT {tokens / t['dense']:.0f}, GMoE {tokens / t['moe']:.0f}, "
          f"GMoE/dense time {t['moe'] / t['dense']:.2f}x")

    d, h = dense_vit.feature_dim, dense_vit.dense_hidden
    xt = torch.randn(tokens, d, requires_grad=True)
    mlp = Mlp(d, h).train()
    layers = {e: MoEFFN(MoEConfig(num_experts=e, proj_dim=48, dropout=0.0), d, h).train() for e in (2, 4, 8, 16)}

    def layer_step(m: torch.nn.Module) -> Callable[[], None]:
        def run() -> None:
            m.zero_grad(set_to_none=True)
            xt.grad = None
            y = m(xt)
            (y.square().mean() + getattr(m, "aux_loss", 0.0)).backward()

        return run

    fns = {"mlp": layer_step(mlp), **{f"moe{e}": layer_step(m) for e, m in layers.items()}}
    t = _interleaved(fns, args.repeats)
    print(f"layer fwd+bwd ({tokens} tokens, D={d}, H={h}, top-1, capacity 1.5, dropout off in both):")
    print(f"  dense MLP {t['mlp'] * 1e3:.1f} ms")
    for e in layers:
        print(f"  MoE E={e:2d}: {t[f'moe{e}'] * 1e3:.1f} ms  = {t[f'moe{e}'] / t['mlp']:.2f}x the dense MLP")
    print(f"  growth E=2 -> 16: {t['moe16'] / t['moe2']:.2f}x (expert FLOPs per token fixed; the params grow 8x)")
    with torch.no_grad():
        layer = layers[4].eval()
        xs = xt.detach()[:512]
        t = _interleaved({"batched": lambda: layer(xs), "loop": lambda: _loop_moe(layer, xs)}, 3)
    print(f"forward of 512 tokens, E=4: batched {t['batched'] * 1e3:.1f} ms, per-token loop {t['loop'] * 1e3:.1f} ms "
          f"({t['loop'] / t['batched']:.0f}x slower)")


if __name__ == "__main__":
    main()
