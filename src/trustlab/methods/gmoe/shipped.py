"""Shipped pretrained ViT of the GMoE recipes: ``weights/vit_fashion.pt`` + ``weights/vit_fashion.json``.

GMoE (Li et al., ICLR 2023, arXiv:2206.04046) fine-tunes an ImageNet-pretrained DeiT-S: the dense ViT from the
pretrained weights, GMoE with every expert a copy of the pretrained MLP. Nothing can be downloaded here, so
trustlab pretrains its own small ViT (the recipes' ``vit`` shape: D 48, depth 4, 4 heads, patch 8, 32 px) on
images disjoint from every Digits-DG domain: **Fashion-MNIST's 60k training images** (clothing, not digits; from
Debian's ``dataset-fashion-mnist``, see ``trustlab.data.mnist``), padded to 32 px and colourised per image
(a random foreground colour on a solid or two-colour gradient background, contrast at least 0.25 in luma),
with DomainBed's augmentation (:mod:`~trustlab.methods.gmoe.augment`). None of Digits-DG's sources (MNIST-5k,
scikit-learn's digits, matplotlib's fonts, the scikit-image/scikit-learn photos) enters it.

Rebuild (:data:`STEPS` steps of batch :data:`BATCH`, about 3 CPU-minutes on one thread; rewrites both files)::

    python -m trustlab.methods.gmoe.shipped          # or: make weights
    python -m trustlab.methods.gmoe.shipped --tiny --out /tmp/w/vit.pt   # 3 steps: the script runs

The file holds the dense ViT's fp32 state dict (``weights/*``, 124k parameters, ~0.5 MB; its Fashion-MNIST head
included, the recipes drop it) and the Fashion-MNIST test accuracy. :func:`load_for` returns the state dict when
the requested ViT has the shape the file was pretrained for (``key``), else a ConfigError that says so.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

WEIGHTS = Path(__file__).resolve().parent / "weights" / "vit_fashion.pt"
COMMAND = "python -m trustlab.methods.gmoe.shipped"
PRETRAIN_VERSION = "1.0"  # bump when the loop or the data below change
SEED = 0
STEPS = 2000
BATCH = 128
LR = 1e-3
WARMUP = 200
WEIGHT_DECAY = 0.05
MIN_CONTRAST = 0.25
TINY = {"steps": 3, "batch": 8}
PROBE_RTOL, PROBE_ATOL = 1e-3, 1e-3
RECIPE = {"steps": STEPS, "batch": BATCH, "lr": LR, "warmup": WARMUP, "weight_decay": WEIGHT_DECAY,
          "optimizer": "adamw", "schedule": "linear warm-up, cosine", "grad_clip": 1.0, "label_smoothing": 0.0,
          "augment": "domainbed", "data": "fashion-mnist train 60k, colourised", "version": PRETRAIN_VERSION}


def vit_shape(cfg: Any) -> dict[str, Any]:
    """What the pretrained weights fix: the ViT's shape at the recipe's width and image size."""
    from trustlab.models.vit import scaled_embed_dim

    v = cfg.vit
    return {"patch_size": v.patch_size, "embed_dim": scaled_embed_dim(cfg.model.width, v.num_heads, v.embed_dim),
            "depth": v.depth, "num_heads": v.num_heads, "mlp_ratio": v.mlp_ratio, "image_size": cfg.data.image_size}


def colourise(grey: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 (B, 28, 28) -> float32 (B, 3, 32, 32) in [0, 1]: a random colour on a solid or gradient background."""
    b = grey.shape[0]
    alpha = np.pad(grey.astype(np.float32) / 255.0, ((0, 0), (2, 2), (2, 2)))[:, None]
    c0, c1, fg = rng.random((b, 3)), rng.random((b, 3)), rng.random((b, 3))
    solid = rng.random(b) < 0.5
    c1[solid] = c0[solid]
    angle = rng.uniform(0, 2 * np.pi, b)
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float32) / 31.0
    t = np.clip(0.5 + (xx[None] - 0.5) * np.cos(angle)[:, None, None] + (yy[None] - 0.5) * np.sin(angle)[:, None, None],
                0, 1)[:, None]
    bg = c0[:, :, None, None] * (1 - t) + c1[:, :, None, None] * t
    luma = np.array([0.299, 0.587, 0.114])
    lb, lf = (c0 + c1) / 2 @ luma, fg @ luma
    low = np.abs(lf - lb) < MIN_CONTRAST  # too little contrast: push the foreground away from the background
    fg[low & (lb >= 0.5)] *= 0.3
    fg[low & (lb < 0.5)] = 0.7 + 0.3 * fg[low & (lb < 0.5)]
    return (bg * (1 - alpha) + fg[:, :, None, None] * alpha).astype(np.float32)


def _model(shape: dict[str, Any]) -> Any:
    from trustlab.models import build_model

    return build_model("vit", 10, input_size=shape["image_size"], width=shape["embed_dim"] / 48, patch_size=shape[
        "patch_size"], depth=shape["depth"], num_heads=shape["num_heads"], mlp_ratio=shape["mlp_ratio"])


def default_shape() -> dict[str, Any]:
    from trustlab.methods.gmoe.config import GMoERecipeConfig

    cfg = GMoERecipeConfig()
    cfg.data.image_size = 32
    return vit_shape(cfg)


def pretrain(steps: int = STEPS, batch: int = BATCH, seed: int = SEED) -> tuple[dict[str, Any], float]:
    """Train the dense ViT on colourised Fashion-MNIST; returns (state dict, test accuracy)."""
    import torch

    from trustlab.data.mnist import load_fashion_mnist
    from trustlab.engine.runtime import seed_everything
    from trustlab.methods.gmoe.augment import domainbed_batch

    seed_everything(seed, False)
    data = load_fashion_mnist()
    net = _model(default_shape())
    decay = [p for n, p in net.named_parameters() if p.ndim > 1 and "pos_embed" not in n]
    rest = [p for n, p in net.named_parameters() if not (p.ndim > 1 and "pos_embed" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": rest, "weight_decay": 0.0}],
                            lr=LR)
    warm = min(WARMUP, max(1, steps // 10))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: (s + 1) / warm if s < warm else 0.5 * (
        1 + np.cos(np.pi * (s - warm) / max(1, steps - warm))))
    rng = np.random.default_rng(seed)
    y_all = torch.from_numpy(data.y_train)
    net.train()
    for _ in range(steps):
        idx = rng.integers(0, len(data.y_train), batch)
        x = domainbed_batch(torch.from_numpy(colourise(data.x_train[idx], rng)))
        loss = torch.nn.functional.cross_entropy(net(x), y_all[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
    net.eval()
    test_rng = np.random.default_rng(seed + 1)
    n = len(data.y_test) if steps >= 100 else 256
    correct = 0
    with torch.no_grad():
        for i in range(0, n, 500):
            x = torch.from_numpy(colourise(data.x_test[i:min(n, i + 500)], test_rng))
            correct += int((net(x).argmax(1) == torch.from_numpy(data.y_test[i:min(n, i + 500)])).sum())
    return {k: v.detach().clone() for k, v in net.state_dict().items()}, correct / n


def probe(state: dict[str, Any]) -> list[float]:
    """Logits of the model built from ``state`` on a fixed integer-arithmetic input (tests rebuild and compare)."""
    import torch

    net = _model(default_shape())
    net.load_state_dict(state)
    g = torch.arange(2 * 3 * 32 * 32, dtype=torch.int64).reshape(2, 3, 32, 32)
    x = ((g * 7919 + (g // 97) * 31) % 256).float() / 255.0
    with torch.no_grad():
        return [round(float(v), 4) for v in net.eval()(x).flatten()]


def build(out: Path = WEIGHTS, tiny: bool = False) -> dict[str, Any]:
    """Pretrain (``tiny``: :data:`TINY`) and write ``out`` + its JSON."""
    import torch

    from trustlab.data import shipped

    steps, batch = (TINY["steps"], TINY["batch"]) if tiny else (STEPS, BATCH)
    start, cpu0 = time.time(), time.process_time()
    with torch.enable_grad():
        state, acc = pretrain(steps, batch)
    payload: dict[str, Any] = {"format": "trustlab-gmoe-vit/1", **{f"weights/{k}": v for k, v in state.items()}}
    meta = {"what": "the GMoE recipes' dense ViT (models/vit.py 'vit'), pretrained on colourised Fashion-MNIST",
            "command": COMMAND + (f" --tiny --out {out}" if tiny else ""), "seed": SEED,
            "data": "Fashion-MNIST train (60,000 clothing images, Debian dataset-fashion-mnist), padded 28->32, "
                    "colourised (gradient.colourise), DomainBed augmentation; disjoint from every Digits-DG domain",
            "key": {"vit": default_shape(), "recipe": {**RECIPE, "steps": steps, "batch": batch}},
            "torch_threads": torch.get_num_threads(), "storage": "fp32 state dict",
            "build_seconds": round(time.time() - start, 1), "cpu_seconds": round(time.process_time() - cpu0, 1),
            "fashion_test_acc": round(acc, 4),
            "probe": {"input": "2 x 3 x 32 x 32, ((i * 7919 + (i // 97) * 31) % 256) / 255", "logits": probe(state),
                      "rtol": PROBE_RTOL, "atol": PROBE_ATOL}}
    return shipped.save(out, payload, meta)


def load_for(cfg: Any, path: Path = WEIGHTS) -> tuple[dict[str, Any], str]:
    """``(state dict, description)`` of the shipped ViT for the recipe ``cfg``; ConfigError when its ViT shape
    differs from the one pretrained (the fix: ``vit.pretrained=none``, training from scratch)."""
    from trustlab.data import shipped
    from trustlab.errors import ConfigError

    info = shipped.info(path)
    if info is None:
        raise ConfigError(f"vit.pretrained=shipped but {path} (or its .json) is missing: reinstall trustlab, "
                          f"rebuild it ({COMMAND}) or set vit.pretrained=none")
    why = shipped.mismatch(info.get("key", {}).get("vit"), vit_shape(cfg))
    if why:
        raise ConfigError(f"vit.pretrained=shipped holds a ViT of another shape ({why}); set vit.pretrained=none "
                          "to train this one from scratch")
    payload, info = shipped.load(path)
    state = {k[len("weights/"):]: v for k, v in payload.items() if k.startswith("weights/")}
    return state, f"shipped ViT {path.parent.name}/{path.name} (sha256 {info['sha256'][:12]})"


def main(argv: list[str] | None = None) -> int:
    from trustlab.data import shipped

    return shipped.build_main(
        argv, command=COMMAND, description="Build the GMoE recipes' pretrained ViT (pretrains it on Fashion-MNIST).",
        weights=WEIGHTS, tiny_help=str(TINY), build=build,
        report=lambda m: (f"{m['bytes'] / 1e3:.0f} kB, sha256 {m['sha256']}, Fashion-MNIST test accuracy "
                          f"{m['fashion_test_acc']}, {m['cpu_seconds']} CPU-s"))


if __name__ == "__main__":
    raise SystemExit(main())
