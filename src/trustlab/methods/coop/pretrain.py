"""Pretraining of the embedded tiny CLIP on captioned scenes, cached once per machine: LiT's two stages (an
image tower trained on the pretraining scenes' attributes, then locked while CLIP's contrastive loss trains the
text tower; see :func:`pretrain`). With captions that rarely name style, background and position
(:data:`~trustlab.methods.coop.scenes.MENTION`) this puts the model in CoOp's regime: image features good,
hand-crafted prompts weak on some tasks (``benchmarks/coop_regime.py`` measures it on validation pools).

The model is open_clip's ``CLIP`` with :data:`~trustlab.methods.coop.clip_model.TINY_CONFIG` (a tiny
ModifiedResNet image tower, a 2-layer text transformer); the loss is CLIP's symmetric InfoNCE over a batch
of (image, caption) pairs with a learned temperature (Radford et al. 2021, https://arxiv.org/abs/2103.00020).
Every time a scene is drawn it gets a fresh random caption (:func:`trustlab.methods.coop.scenes.caption`).
The token embedding is updated sparsely (only the rows of tokens in the batch; SparseAdam), which keeps a
step cheap although the vocabulary has 49,408 rows; rows of tokens no caption uses keep their random init,
as unseen words do in a real CLIP.

Cost: the images are normalised once up front and captions are tokenised word by word through a memo
(:class:`CaptionTokenizer`, identical ids to open_clip's tokenizer), so a step is the two towers' forward and
backward only. :data:`RECIPE` is the whole recipe; its hash is part of the cache key, so changing any
value retrains the cached model.

Shipped weights: the package ships this recipe's result (``weights/tiny_clip.pt``, built by
``python -m trustlab.methods.coop.shipped``); :func:`load_pretrained_tiny` uses it whenever its recorded settings
equal :func:`recipe_settings` (``clip.shipped`` / ``shipped=True``, the default). Otherwise the weights are cached
like a dataset: ``<cache>/coop-tinyclip/v2/weights.npz`` + ``stats.npz`` with a manifest and checksums, built under
a file lock so two bench workers never pretrain twice. One stderr line says which was used.

Usage::

    clip = load_pretrained_tiny()            # the shipped weights (else trains on first use, about 60 CPU-seconds)
    clip.source                              # "shipped weights weights/tiny_clip.pt (sha256 ...)" or "pretrained ..."
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from trustlab.data.cache import dataset_dir, load_or_build
from trustlab.methods.coop import scenes
from trustlab.methods.coop.clip_model import TINY, TINY_CONFIG, Clip, build_clip, freeze, tiny_model

NAME, VERSION = "coop-tinyclip", "v2"
PRETRAIN_VERSION = "3.0"  # bump when the code of the loop below changes (values in RECIPE are hashed anyway)
SEED = 0
STEPS = 300  # contrastive steps (text tower, image tower locked)
IMAGE_STEPS = 600  # supervised image-tower steps before them (LiT)
BATCH = 96
LR = 2e-3
WARMUP = 50
WEIGHT_DECAY = 0.05
# Hard batches: some batches share one attribute value, so that attribute cannot tell the pairs apart and the
# model must use the others. No colour-sharing batches: with the BatchNorm of the ResNet tower a batch of one
# colour has its colour normalised away, and the model then failed to learn colour at all (README).
HARD_ATTRS = {"background": 0.2, "style": 0.1}
RECIPE = {"steps": STEPS, "image_steps": IMAGE_STEPS, "batch": BATCH, "lr": LR, "warmup": WARMUP,
          "weight_decay": WEIGHT_DECAY, "hard": HARD_ATTRS, "seed": SEED, "arch": TINY_CONFIG,
          "mention": scenes.MENTION}


def recipe_settings() -> dict:
    """Everything the pretrained weights depend on: :data:`RECIPE`, the loop's version and the scenes' generator.
    The shipped weights are used only when their recorded settings equal these."""
    return {**RECIPE, "loop": PRETRAIN_VERSION, "scenes": scenes.GENERATOR_VERSION}


def portable_token_init(n: int, dim: int, seed: int, std: float = 0.02) -> np.ndarray:
    """(n, dim) float32 with mean 0 and std ``std`` (Irwin-Hall: the sum of 12 uniforms minus 6), from PCG64
    integers and exact float additions, so every CPU draws the same bits. The shipped weights' token rows that
    neither pretraining nor the embedded prompts use (random either way) are these (:mod:`.shipped`)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    acc = np.zeros((n, dim), np.float64)
    for _ in range(12):
        acc += rng.random((n, dim))
    return ((acc - 6.0) * std).astype(np.float32)


def recipe_key() -> str:
    """A short hash of :data:`RECIPE` (and the loop's version): part of the cache key."""
    text = json.dumps({**RECIPE, "loop": PRETRAIN_VERSION}, sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class CaptionTokenizer:
    """open_clip's BPE tokenizer applied word by word with a memo: the same ids as ``Clip.tokenize`` for
    captions (plain lower-case words and punctuation; the tokenizer's split never crosses a space), about
    ten times faster on the few hundred distinct words the captions use."""

    def __init__(self, clip: Clip) -> None:
        tok = clip.tokenizer
        self._encode, self._memo = tok.encode, {}
        self.context_length = clip.context_length
        self.sot, self.eot = tok.encoder["<start_of_text>"], tok.encoder["<end_of_text>"]

    def __call__(self, texts: list[str]) -> torch.Tensor:
        out = torch.zeros(len(texts), self.context_length, dtype=torch.long)
        for i, text in enumerate(texts):
            ids = [self.sot]
            for word in text.lower().split():
                enc = self._memo.get(word)
                if enc is None:
                    enc = self._memo[word] = self._encode(word)
                ids += enc
            ids = ids[: self.context_length - 1] + [self.eot]
            out[i, : len(ids)] = torch.tensor(ids)
        return out


def _batch_indices(rng: np.random.Generator, attrs: np.ndarray, batch_size: int) -> np.ndarray:
    u, acc = rng.random(), 0.0
    for name, p in HARD_ATTRS.items():
        acc += p
        if u < acc:
            col = attrs[:, scenes.ATTRS.index(name)]
            pool = np.flatnonzero(col == rng.integers(int(col.max()) + 1))
            return rng.choice(pool, size=min(batch_size, len(pool)), replace=False)
    return rng.choice(len(attrs), size=batch_size, replace=False)


def _train_image_tower(model: Any, images: torch.Tensor, attrs: np.ndarray, steps: int, batch_size: int, lr: float,
                       rng: np.random.Generator, log_every: int) -> list[float]:
    """Stage 1 (LiT's pretrained image tower): the image tower and one linear head per scene attribute on its
    embedding, cross-entropy summed over the attributes, AdamW with warm-up + cosine; the heads are dropped."""
    sizes = [len(scenes.VALUES[a]) for a in scenes.ATTRS]
    heads = torch.nn.Linear(model.visual.output_dim, sum(sizes))
    params = list(model.visual.parameters()) + list(heads.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=WEIGHT_DECAY)
    y_all = torch.as_tensor(attrs)
    model.visual.train()
    losses, warmup = [], min(WARMUP, max(1, steps // 2))
    for step in range(steps):
        _set_lr([opt], lr * _schedule(step, steps, warmup))
        idx = torch.as_tensor(rng.choice(len(images), size=batch_size, replace=False))
        logits = heads(model.visual(images[idx])).split(sizes, dim=1)
        loss = sum(F.cross_entropy(lg, y_all[idx, j]) for j, lg in enumerate(logits))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if log_every and (step + 1) % log_every == 0:
            print(f"trustlab: tiny CLIP image tower step {step + 1}/{steps} loss {np.mean(losses[-log_every:]):.3f}",
                  file=sys.stderr, flush=True)
    model.visual.eval()
    return losses


def _schedule(step: int, steps: int, warmup: int) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine to zero."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


def _set_lr(opts: list[torch.optim.Optimizer], lr: float) -> None:
    for o in opts:
        for g in o.param_groups:
            g["lr"] = lr


def _train_text_tower(model: Any, tokenize: CaptionTokenizer, img_all: torch.Tensor, attrs: np.ndarray,
                      steps: int, batch_size: int, lr: float, rng: np.random.Generator, log_every: int,
                      start: float) -> list[float]:
    """Stage 2: CLIP's symmetric InfoNCE between fresh captions and the locked image tower's embeddings
    ``img_all``; trains the text tower and the temperature (the token embedding sparsely, SparseAdam)."""
    model.token_embedding.sparse = True
    text = [p for n, p in model.named_parameters() if not n.startswith("visual.") and "token_embedding" not in n]
    decay = [p for p in text if p.ndim >= 2]
    no_decay = [p for p in text if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": no_decay, "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.98), eps=1e-6)
    opt_emb = torch.optim.SparseAdam([model.token_embedding.weight], lr=lr, betas=(0.9, 0.98), eps=1e-6)
    model.train()
    model.visual.eval()
    losses = []
    warmup = min(WARMUP, max(1, steps // 2))
    for step in range(steps):
        idx = _batch_indices(rng, attrs, batch_size)
        _set_lr([opt, opt_emb], lr * _schedule(step, steps, warmup))
        tokens = tokenize([scenes.caption(rng, row) for row in attrs[idx]])
        img = img_all[torch.as_tensor(idx)]
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
    return losses


def pretrain(steps: int = STEPS, batch_size: int = BATCH, lr: float = LR, seed: int = SEED,
             cache_dir: str | None = None, log_every: int = 0,
             image_steps: int = IMAGE_STEPS) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Train the tiny CLIP from scratch, LiT-style (Zhai et al., "LiT: Zero-Shot Transfer with Locked-image text
    Tuning", arXiv 2111.07991): ``image_steps`` of supervised image-tower training on the scenes' attributes
    (:func:`_train_image_tower`), then the image tower is locked and ``steps`` of CLIP's contrastive loss train the
    text tower (and the temperature) against its fixed embeddings. Returns (state dict as arrays, stats arrays)."""
    data = scenes.load_scenes(cache_dir)["pretrain"]
    attrs = data["attrs"]
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = tiny_model(seed)
    clip = Clip(model=model, arch=TINY, context_length=model.context_length, image_size=scenes.SIZE)
    tokenize = CaptionTokenizer(clip)
    with torch.no_grad():  # normalised once: the towers see the same tensors every epoch
        images = clip.preprocess(torch.as_tensor(data["images"]).permute(0, 3, 1, 2).float().div_(255.0))
    start, cpu0 = time.time(), time.process_time()
    image_losses = _train_image_tower(model, images, attrs, image_steps, batch_size, lr, rng, log_every)
    with torch.no_grad():  # the locked tower's embeddings, once
        img_all = F.normalize(torch.cat([model.visual(images[i:i + 512]) for i in range(0, len(images), 512)]), dim=-1)
    losses = _train_text_tower(model, tokenize, img_all, attrs, steps, batch_size, lr, rng, log_every, start)
    model.token_embedding.sparse = False
    model.eval()
    state = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    stats = {"seconds": np.array(time.time() - start), "cpu_seconds": np.array(time.process_time() - cpu0),
             "loss": np.asarray(losses, dtype=np.float32), "image_loss": np.asarray(image_losses, dtype=np.float32),
             "steps": np.array(steps), "image_steps": np.array(image_steps), "batch_size": np.array(batch_size)}
    return state, stats


def load_pretrained_tiny(cache_dir: str | None = None, device: str | torch.device = "cpu",
                         shipped: bool = True) -> Clip:
    """The embedded pretrained tiny CLIP, frozen: the shipped weights when they are for this recipe (and
    ``shipped``), else pretrained and cached on first use. ``clip.source`` says which."""
    clip = build_clip(TINY, None, device="cpu")
    arrays = pretrained_arrays(cache_dir, shipped=shipped)
    clip.model.load_state_dict({k: torch.as_tensor(v) for k, v in arrays["weights"].items()}, strict=True)
    clip.source = str(arrays.get("source", ""))
    freeze(clip.model).to(device)
    return clip


def pretrained_arrays(cache_dir: str | None = None, shipped: bool = True) -> dict[str, Any]:
    """``{"weights": state arrays, "stats": {...}, "source": which}``: the shipped file when it is for
    :func:`recipe_settings` (and ``shipped``), else from the cache, training them first if needed."""
    from trustlab.data.shipped import announce
    from trustlab.runs.cache import exclusive

    why = "clip.shipped=false"
    if shipped:
        from trustlab.methods.coop.shipped import load_if_matching

        arrays, why = load_if_matching()
        if arrays is not None:
            announce("coop tiny CLIP", why)
            return {**arrays, "source": why}
    source = f"pretrained on this machine (cache; {why})"
    announce("coop tiny CLIP", source)

    directory = dataset_dir(NAME, VERSION, cache_dir)
    with exclusive(directory.parent / f".{VERSION}.lock"):
        def build() -> dict[str, dict[str, np.ndarray]]:
            state, stats = pretrain(cache_dir=cache_dir, log_every=100)
            return {"weights": state, "stats": stats}

        with torch.enable_grad():
            arrays = load_or_build(NAME, VERSION, build, seed=SEED, cache_dir=cache_dir,
                                   generator_version=f"scenes-{scenes.GENERATOR_VERSION}+clip-{recipe_key()}")
    return {**arrays, "source": source}
