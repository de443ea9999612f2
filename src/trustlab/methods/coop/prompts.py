"""CoOp's prompt learner and text encoder over a frozen open_clip model.

Zhou, Yang, Loy, Liu, "Learning to Prompt for Vision-Language Models", IJCV 2022
(https://arxiv.org/abs/2109.01134); reference code ``trainers/coop.py`` of KaiyangZhou/CoOp.

The prompt of class k is the token sequence ``[SOS] [V]_1 ... [V]_M [CLASS_k] . [EOS]``: the M context
vectors ``ctx`` (shape (M, d), or (K, M, d) with class-specific context) replace word embeddings and are
the only trainable tensor; the SOS embedding and the embeddings of ``name.`` + EOS + padding are fixed
buffers cut from the token embedding of ``"X X ... X name."`` exactly as the reference does. The class
token goes at the ``end`` (default), in the ``middle`` (M/2 context vectors on each side) or at the
``front``. The text encoder is CLIP's own (positional embedding, causal transformer, final LayerNorm,
pooling at the EOT token, projection), run on these embeddings.

Usage::

    learner = PromptLearner(clip, ["seven", "eight"], n_ctx=16, csc=False, position="end")
    text = encode_prompts(clip.model, learner(), learner.tokenized)   # (K, embed_dim)
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from trustlab.errors import ConfigError
from trustlab.methods.coop.clip_model import Clip

Position = Literal["end", "middle", "front"]


def _text_parts(model: nn.Module) -> nn.Module:
    """The module holding the text tower's pieces: the CLIP itself, or ``model.text`` (CustomTextCLIP)."""
    if hasattr(model, "token_embedding") and hasattr(model, "ln_final"):
        return model
    text = getattr(model, "text", None)
    if text is not None and hasattr(text, "token_embedding") and getattr(text, "cls_emb", None) is None:
        return text
    raise ConfigError(f"{type(model).__name__} has no CLIP-style text transformer that CoOp can prompt; "
                      "use an open_clip architecture with the standard text tower")


def pool_is_argmax(t: nn.Module) -> bool:
    return (getattr(t, "text_pool_type", None) or getattr(t, "pool_type", "argmax")) == "argmax"


def token_embedding(model: nn.Module) -> nn.Embedding:
    return _text_parts(model).token_embedding


def encode_prompts(model: nn.Module, prompts: torch.Tensor, tokenized: torch.Tensor) -> torch.Tensor:
    """CLIP's text encoder on prompt *embeddings* (K, L, d); pooled at the EOT token of ``tokenized`` (K, L)."""
    from open_clip.transformer import text_global_pool

    t = _text_parts(model)
    mask = t.attn_mask
    if mask is not None and pool_is_argmax(t):
        # Causal attention: tokens after the last EOT cannot change any EOT output, so drop them (exact;
        # 77 -> ~20 positions for real CLIP with M = 16).
        n = int(tokenized.argmax(dim=-1).max()) + 1
        prompts, tokenized, mask = prompts[:, :n], tokenized[:, :n], mask[:n, :n]
    x = prompts + t.positional_embedding[: prompts.shape[1]].to(prompts.dtype)
    x = t.transformer(x, attn_mask=mask)
    x = t.ln_final(x)
    pool = getattr(t, "text_pool_type", None) or getattr(t, "pool_type", "argmax")
    x = text_global_pool(x, tokenized, pool, eos_token_id=getattr(t, "text_eos_id", getattr(t, "eos_id", None)))
    proj = t.text_projection
    if proj is not None:
        x = proj(x) if isinstance(proj, nn.Linear) else x @ proj
    return x


class PromptLearner(nn.Module):
    """Learnable context for K class names; ``forward()`` returns the prompt embeddings (K, L, d)."""

    def __init__(self, clip: Clip, classnames: list[str], n_ctx: int = 16, csc: bool = False,
                 position: Position = "end", init: str | None = None, init_std: float = 0.02) -> None:
        super().__init__()
        if position not in ("end", "middle", "front"):
            raise ConfigError(f"method.position must be end, middle or front, got '{position}'")
        if not classnames:
            raise ConfigError("CoOp needs at least one class name")
        emb = token_embedding(clip.model)
        dim = emb.weight.shape[1]
        names = [n.replace("_", " ") for n in classnames]
        if init:
            init = init.replace("_", " ").strip()
            n_ctx = clip.token_count(init)
            with torch.no_grad():
                vec = emb(clip.tokenize([init]).to(emb.weight.device))[0, 1 : 1 + n_ctx].detach().clone().float()
            ctx = vec.unsqueeze(0).repeat(len(names), 1, 1) if csc else vec
            prefix_text = init
        else:
            if n_ctx < 1:
                raise ConfigError(f"method.n_ctx must be at least 1, got {n_ctx}")
            ctx = torch.empty(len(names), n_ctx, dim) if csc else torch.empty(n_ctx, dim)
            nn.init.normal_(ctx, std=init_std)
            prefix_text = " ".join(["X"] * n_ctx)
        self.name_lens = [clip.token_count(n) for n in names]
        for name, k in zip(names, self.name_lens):
            need = 1 + n_ctx + k + 1 + 1  # SOS, context, name, ".", EOT
            if k == 0 or need > clip.context_length:
                raise ConfigError(
                    f"class name '{name}' needs {need} tokens with {n_ctx} context tokens (its own: {k}) but the "
                    f"text encoder's context length is {clip.context_length}; shorten the name or lower method.n_ctx"
                )
        self.ctx = nn.Parameter(ctx.to(emb.weight.device))
        tokenized = clip.tokenize([f"{prefix_text} {n}." for n in names]).to(emb.weight.device)
        with torch.no_grad():
            embedding = emb(tokenized).float()
        # fixed pieces (buffers, not parameters): SOS, and the class name + "." + EOT + padding
        self.register_buffer("token_prefix", embedding[:, :1], persistent=False)
        self.register_buffer("token_suffix", embedding[:, 1 + n_ctx :], persistent=False)
        self.register_buffer("tokenized", tokenized, persistent=False)
        self.n_cls, self.n_ctx, self.position, self.csc = len(names), n_ctx, position, csc
        self.classnames = names

    def forward(self) -> torch.Tensor:
        ctx = self.ctx if self.ctx.dim() == 3 else self.ctx.unsqueeze(0).expand(self.n_cls, -1, -1)
        prefix, suffix = self.token_prefix, self.token_suffix
        if self.position == "end":
            return torch.cat([prefix, ctx, suffix], dim=1)
        out = []
        half = self.n_ctx // 2
        for i, k in enumerate(self.name_lens):
            cls_i, rest_i = suffix[i : i + 1, :k], suffix[i : i + 1, k:]
            if self.position == "middle":
                parts = [prefix[i : i + 1], ctx[i : i + 1, :half], cls_i, ctx[i : i + 1, half:], rest_i]
            else:  # front
                parts = [prefix[i : i + 1], cls_i, ctx[i : i + 1], rest_i]
            out.append(torch.cat(parts, dim=1))
        return torch.cat(out, dim=0)


def nearest_words(clip: Clip, ctx: torch.Tensor, k: int = 3) -> list[list[str]]:
    """The ``k`` vocabulary tokens nearest (Euclidean, as the reference's interpret_prompt.py) to each
    context vector; class-specific context (K, M, d) is averaged over classes first."""
    vecs = ctx.detach().float()
    if vecs.dim() == 3:
        vecs = vecs.mean(0)
    table = token_embedding(clip.model).weight.detach().float()
    idx = torch.cdist(vecs, table).argsort(dim=1)[:, :k]
    dec = clip.tokenizer.decoder
    return [[dec[int(i)].replace("</w>", "") for i in row] for row in idx]
