"""Contrastive pretraining of the embedded tiny CLIP on captioned scenes, cached once per machine.

The model is open_clip's ``CLIP`` with :data:`~trustlab.methods.coop.clip_model.TINY_CONFIG`; the loss is
CLIP's symmetric InfoNCE over a batch of (image, caption) pairs with a learned temperature (Radford et al.
2021, https://arxiv.org/abs/2103.00020). Every time a scene is drawn it gets a fresh random caption
(:func:`trustlab.methods.coop.scenes.caption`). The token embedding is updated sparsely (only the rows of
tokens in the batch; SparseAdam), which keeps a step cheap although the vocabulary has 49,408 rows; rows
of tokens no caption uses keep their random init, as unseen words do in a real CLIP.

The weights are cached like a dataset: ``<cache>/coop-tinyclip/v1/weights.npz`` + ``stats.npz`` with a
manifest and checksums, built under a file lock so two bench workers never pretrain twice.

Usage::

    clip = load_pretrained_tiny()            # trains on first use (about two minutes on one core)
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from trustlab.data.cache import dataset_dir, load_or_build
from trustlab.methods.coop import scenes
from trustlab.methods.coop.clip_model import TINY, Clip, build_clip, freeze, tiny_model

NAME, VERSION = "coop-tinyclip", "v1"
PRETRAIN_VERSION = "1.1"  # bump when the recipe below changes: the cached weights are retrained
SEED = 0
STEPS = 900
BATCH = 96
LR = 2e-3
WARMUP = 50
# Hard batches: most batches share one attribute value, so that attribute cannot tell the pairs apart and
# the model must use the others (without this the tiny model learns colour and little else).
HARD_ATTRS = {"colour": 0.5, "background": 0.2, "style": 0.1}


def _batch_indices(rng: np.random.Generator, attrs: np.ndarray, batch_size: int) -> np.ndarray:
    u, acc = rng.random(), 0.0
    for name, p in HARD_ATTRS.items():
        acc += p
        if u < acc:
            col = attrs[:, scenes.ATTRS.index(name)]
            pool = np.flatnonzero(col == rng.integers(int(col.max()) + 1))
            return rng.choice(pool, size=min(batch_size, len(pool)), replace=False)
    return rng.choice(len(attrs), size=batch_size, replace=False)


def _batch_captions(rng: np.random.Generator, attrs: np.ndarray) -> list[str]:
    return [scenes.caption(rng, row) for row in attrs]


def pretrain(steps: int = STEPS, batch_size: int = BATCH, lr: float = LR, seed: int = SEED,
             cache_dir: str | None = None, log_every: int = 0) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Train the tiny CLIP from scratch; returns (state dict as arrays, stats arrays)."""
    data = scenes.load_scenes(cache_dir)["pretrain"]
    images = torch.as_tensor(data["images"]).permute(0, 3, 1, 2).contiguous()  # uint8 NCHW
    attrs = data["attrs"]
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = tiny_model(seed)
    clip = Clip(model=model, arch=TINY, context_length=model.context_length, image_size=32)
    model.token_embedding.sparse = True
    emb = [model.token_embedding.weight]
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "token_embedding" not in n]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.98), eps=1e-6)
    opt_emb = torch.optim.SparseAdam(emb, lr=lr, betas=(0.9, 0.98), eps=1e-6)
    model.train()
    start, losses = time.time(), []
    for step in range(steps):
        idx = _batch_indices(rng, attrs, batch_size)
        progress = (step - WARMUP) / max(1, steps - WARMUP)
        scale = (step + 1) / WARMUP if step < WARMUP else 0.5 * (1 + math.cos(math.pi * progress))
        for o in (opt, opt_emb):
            for g in o.param_groups:
                g["lr"] = lr * scale
        x = clip.preprocess(images[idx].float().div_(255.0))
        tokens = clip.tokenize(_batch_captions(rng, attrs[idx]))
        img = F.normalize(model.encode_image(x), dim=-1)
        txt = F.normalize(model.encode_text(tokens), dim=-1)
        logits = model.logit_scale.exp() * img @ txt.t()
        target = torch.arange(len(idx))
        loss = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))
        opt.zero_grad(set_to_none=True)
        opt_emb.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        opt_emb.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        losses.append(float(loss.detach()))
        if log_every and (step + 1) % log_every == 0:
            print(f"trustlab: tiny CLIP pretraining step {step + 1}/{steps} loss {np.mean(losses[-log_every:]):.3f} "
                  f"{time.time() - start:.0f}s", file=sys.stderr, flush=True)
    model.token_embedding.sparse = False
    state = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    stats = {"seconds": np.array(time.time() - start), "loss": np.asarray(losses, dtype=np.float32),
             "steps": np.array(steps), "batch_size": np.array(batch_size)}
    return state, stats


def load_pretrained_tiny(cache_dir: str | None = None, device: str | torch.device = "cpu") -> Clip:
    """The embedded pretrained tiny CLIP, frozen (pretrained and cached on first use)."""
    clip = build_clip(TINY, None, device="cpu")
    state = pretrained_arrays(cache_dir)["weights"]
    clip.model.load_state_dict({k: torch.as_tensor(v) for k, v in state.items()}, strict=True)
    freeze(clip.model).to(device)
    return clip


def pretrained_arrays(cache_dir: str | None = None) -> dict[str, dict[str, np.ndarray]]:
    """``{"weights": state arrays, "stats": {...}}`` from the cache, training them first if needed."""
    from trustlab.runs.cache import exclusive

    directory = dataset_dir(NAME, VERSION, cache_dir)
    with exclusive(directory.parent / f".{VERSION}.lock"):
        def build() -> dict[str, dict[str, np.ndarray]]:
            state, stats = pretrain(cache_dir=cache_dir, log_every=100)
            return {"weights": state, "stats": stats}

        with torch.enable_grad():
            return load_or_build(NAME, VERSION, build, seed=SEED, cache_dir=cache_dir,
                                 generator_version=f"scenes-{scenes.GENERATOR_VERSION}+clip-{PRETRAIN_VERSION}")
