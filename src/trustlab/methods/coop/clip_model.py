"""CLIP models through open_clip: any open_clip architecture from a local checkpoint, or the embedded tiny CLIP.

* ``build_clip("ViT-B-16", "/path/openai_vit_b16.pt")``: an open_clip architecture with weights from a
  local file (OpenAI JIT/state-dict or open_clip checkpoints; open_clip's own loader converts them).
  Nothing is downloaded. A checkpoint that does not fit the architecture is a :class:`ConfigError`.
* ``build_clip("tiny", path)``: the embedded default's architecture (an open_clip ``CLIP`` with a tiny
  ModifiedResNet image tower on 32x32 images and a 2-layer text transformer, context 24), see :data:`TINY_CONFIG`.
  :func:`trustlab.methods.coop.pretrain.load_pretrained_tiny` pretrains and caches it.

Tokenisation always uses open_clip's CLIP BPE tokenizer (its vocabulary ships inside the package).
Images enter as float (N, 3, H, W) in [0, 1]; :meth:`Clip.encode_images` resizes them to the model's
input size and applies CLIP's normalisation.

Usage::

    clip = build_clip("tiny", weights=None)           # random init
    feats = clip.encode_images(x)                      # (N, embed_dim), L2-normalised
    tokens = clip.tokenize(["a photo of a seven."])    # (1, context_length) long
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from trustlab.errors import ConfigError, NotFoundError

TINY = "tiny"
TINY_CONFIG: dict[str, Any] = {
    "embed_dim": 64,
    # open_clip's ModifiedResNet (CLIP's RN50 tower) at width 16 with one bottleneck per stage: at 32x32 it
    # learns shapes far faster per CPU-second than the 2-layer patch-8 ViT it replaces (see the README)
    "vision_cfg": {"image_size": 32, "layers": (1, 1, 1, 1), "width": 16, "head_width": 32},
    "text_cfg": {"context_length": 24, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2, "mlp_ratio": 2.0},
}
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass
class Clip:
    """A frozen-or-not open_clip model with its tokenizer and input size."""

    model: nn.Module
    arch: str
    context_length: int
    image_size: int
    source: str = ""  # where the weights came from (the embedded tiny CLIP: shipped file or pretrained here)

    def __post_init__(self) -> None:
        from open_clip.tokenizer import SimpleTokenizer

        self.tokenizer = SimpleTokenizer(context_length=self.context_length)

    def tokenize(self, texts: list[str]) -> torch.Tensor:
        return self.tokenizer(texts, context_length=self.context_length)

    def token_count(self, text: str) -> int:
        """BPE tokens of ``text`` without the start/end tokens."""
        return len(self.tokenizer.encode(text))

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bicubic", align_corners=False)
        mean = torch.tensor(CLIP_MEAN, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(CLIP_STD, device=x.device).view(1, 3, 1, 1)
        return (x - mean) / std

    def encode_images(self, x: torch.Tensor, batch_size: int = 256, normalize: bool = True) -> torch.Tensor:
        """Image embeddings of float images in [0, 1], (N, C, H, W) -> (N, embed_dim); no gradient."""
        device = next(self.model.parameters()).device
        out = []
        with torch.no_grad():
            for i in range(0, len(x), batch_size):
                out.append(self.model.encode_image(self.preprocess(x[i : i + batch_size].to(device))).float())
        feats = torch.cat(out) if out else torch.empty(0)
        return F.normalize(feats, dim=-1) if normalize else feats

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """L2-normalised text embeddings (len(texts), embed_dim); no gradient."""
        device = next(self.model.parameters()).device
        with torch.no_grad():
            return F.normalize(self.model.encode_text(self.tokenize(texts).to(device)).float(), dim=-1)

    @property
    def logit_scale(self) -> torch.Tensor:
        return self.model.logit_scale.exp()


def tiny_model(seed: int | None = None) -> nn.Module:
    """The embedded architecture, randomly initialised (open_clip's own init)."""
    import open_clip

    if seed is not None:
        torch.manual_seed(seed)
    cfg = copy.deepcopy(TINY_CONFIG)
    return open_clip.CLIP(cfg["embed_dim"], cfg["vision_cfg"], cfg["text_cfg"])


def _open_clip_arch(arch: str) -> nn.Module:
    import open_clip

    cfg = open_clip.get_model_config(arch)
    if cfg is None:
        names = open_clip.list_models()
        from trustlab.errors import did_you_mean

        raise ConfigError(f"clip.arch '{arch}' is not an open_clip architecture{did_you_mean(arch, names)}; "
                          f"use '{TINY}' or one of open_clip.list_models()")
    text_cfg = cfg.get("text_cfg", {})
    if text_cfg.get("hf_tokenizer_name") or text_cfg.get("hf_model_name"):
        raise ConfigError(f"clip.arch '{arch}' uses a Hugging Face text tower/tokenizer; CoOp here supports "
                          "open_clip architectures with the CLIP BPE tokenizer (ViT-*, RN*, convnext_*, ...)")
    # open_clip warns "No pretrained weights loaded ... initialized randomly" here (root logger) although the
    # weights come next from clip.weights (build_clip); silenced, and build_clip says which file was loaded
    import logging

    quiet = _DropRandomInitWarning()
    logging.getLogger().addFilter(quiet)
    try:
        return open_clip.create_model(arch, pretrained=None, load_weights=False)
    finally:
        logging.getLogger().removeFilter(quiet)


class _DropRandomInitWarning:
    """A logging filter dropping open_clip's "No pretrained weights loaded" record (only that one)."""

    def filter(self, record: object) -> bool:
        return "No pretrained weights loaded" not in str(getattr(record, "msg", ""))


def build_clip(arch: str, weights: str | None, device: str | torch.device = "cpu") -> Clip:
    """An open_clip model of architecture ``arch`` with weights from the local file ``weights`` (or random)."""
    model = tiny_model() if arch == TINY else _open_clip_arch(arch)
    if weights is not None:
        load_weights(model, weights, arch)
        from trustlab.data.shipped import announce

        announce(f"coop CLIP {arch}", f"weights loaded from {Path(weights).expanduser()} (strict)")
    model.eval().to(device)
    ctx = int(getattr(model, "context_length", 0) or getattr(getattr(model, "text", None), "context_length", 77))
    vis = getattr(model, "visual", None)
    size = getattr(vis, "image_size", None) or getattr(vis, "input_resolution", 224)
    size = int(size[0] if isinstance(size, (tuple, list)) else size)
    return Clip(model=model, arch=arch, context_length=ctx, image_size=size)


def load_weights(model: nn.Module, path: str, arch: str) -> None:
    """Load a local checkpoint into ``model`` strictly; clear errors for a missing file or a wrong architecture."""
    import open_clip

    p = Path(path).expanduser()
    if not p.is_file():
        raise NotFoundError(f"clip.weights '{path}' is not a file; give the path of a local CLIP checkpoint")
    import pickle
    import zipfile

    try:
        open_clip.load_checkpoint(model, str(p), strict=True, weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, EOFError, UnicodeDecodeError) as e:
        raise ConfigError(f"clip.weights '{path}' is not a readable CLIP checkpoint ({type(e).__name__}); "
                          "save one with torch.save(model.state_dict(), path)") from e
    except Exception as e:  # shape / key mismatches (RuntimeError, or open_clip's resize assertions)
        lines = [ln.strip() for ln in str(e).strip().splitlines() if ln.strip()]
        detail = (lines[1] if len(lines) > 1 else lines[0] if lines else type(e).__name__)[:160]
        raise ConfigError(
            f"clip.weights '{path}' does not match clip.arch '{arch}' ({detail}); "
            "pick the architecture the checkpoint was trained with"
        ) from e


def freeze(model: nn.Module) -> nn.Module:
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()
