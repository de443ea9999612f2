"""Shipped weights of the embedded tiny CLIP: ``weights/tiny_clip.pt`` + ``weights/tiny_clip.json``.

Rebuild them (pretrains with :data:`~trustlab.methods.coop.pretrain.RECIPE`, about 1 CPU-minute, and rewrites both
files)::

    python -m trustlab.methods.coop.shipped            # or: make weights
    python -m trustlab.methods.coop.shipped --tiny --out /tmp/w/tiny_clip.pt   # 3 steps: checks the script runs

What is stored, to stay small (README, "Shipped weights"): every tensor of the state dict except the token
embedding in fp32 (:data:`HALF` would store the large ones in fp16, README), and of
the 49,408 x 64 token embedding only the rows pretraining changed (the tokens the captions use) and the rows of
every token of the embedded tasks' prompts (:func:`prompt_tokens`). The other rows are still at their random
initialisation: the shipped model has :func:`~trustlab.methods.coop.pretrain.portable_token_init` there (random
too, and the same bits on every CPU), so they need no storage. Those rows enter nothing but user prompts with
words no caption uses and the nearest-word readout of learned contexts. ``stats/*``: the pretraining statistics.

:func:`load_if_matching` returns the arrays only when the file's recorded settings (``key``) equal the current
recipe's (:func:`~trustlab.methods.coop.pretrain.recipe_settings`); otherwise the caller pretrains (cached).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

WEIGHTS = Path(__file__).resolve().parent / "weights" / "tiny_clip.pt"
# fp16 storage of float tensors with >= FP16_MIN values: 2.9 MB instead of 5.7 MB, but 2 of the 15 zero-shot numbers
# (5 tasks x first / best prompt / ensemble) moved by one test image of 800 (README); off: the file is exact
HALF, FP16_MIN = False, 4096
EMB = "token_embedding.weight"
COMMAND = "python -m trustlab.methods.coop.shipped"
PROBE_TEXTS = ["a photo of a red seven.", "a photo of a blue two on stripes.", "a sketch of a digit.",
               "a green four at the left, printed."]
PROBE_RTOL, PROBE_ATOL = 1e-3, 1e-3


def prompt_tokens() -> np.ndarray:
    """Token ids of every hand-crafted prompt of the embedded tasks (and the generic ones) with every class name."""
    from open_clip.tokenizer import SimpleTokenizer

    from trustlab.methods.coop import scenes, tasks

    tok = SimpleTokenizer()
    texts = [t.format(c) for name, attr in tasks.TASK_ATTR.items() for c in scenes.VALUES[attr]
             for t in [*tasks.TEMPLATES[name], *tasks.GENERIC_TEMPLATES]]
    ids = {tok.encoder["<start_of_text>"], tok.encoder["<end_of_text>"]}
    for text in texts:
        ids.update(tok.encode(text))
    return np.array(sorted(ids), np.int64)


def pack(state: dict[str, np.ndarray], stats: dict[str, np.ndarray], seed: int) -> dict[str, Any]:
    """The .pt payload of a pretrained state (see the module doc): ``seed`` is the one pretraining used."""
    import torch

    from trustlab.methods.coop.clip_model import tiny_model

    emb = np.asarray(state[EMB], np.float32)
    init = tiny_model(seed).token_embedding.weight.detach().numpy()  # pretrain(): the same init on this machine
    changed = np.any(emb != init, axis=1)
    changed[prompt_tokens()] = True
    rows = np.flatnonzero(changed)
    out: dict[str, Any] = {"format": "trustlab-tinyclip/1", "token_init_seed": int(seed),
                           "token_shape": torch.tensor(emb.shape),
                           "token_rows": torch.from_numpy(rows.astype(np.int64)), "token_values": _store(emb[rows])}
    for k, v in state.items():
        if k != EMB:
            out[f"weights/{k}"] = _store(np.asarray(v))
    for k, v in stats.items():
        out[f"stats/{k}"] = torch.from_numpy(np.array(v))
    return out


def _store(a: np.ndarray) -> Any:
    import torch

    t = torch.from_numpy(np.ascontiguousarray(a))
    return t.half() if HALF and t.is_floating_point() and t.numel() >= FP16_MIN else t


def unpack(payload: dict[str, Any]) -> dict[str, dict[str, np.ndarray]]:
    """``{"weights": state arrays (fp32), "stats": {...}}`` from a payload (inverse of :func:`pack`)."""
    from trustlab.methods.coop.pretrain import portable_token_init

    n, d = (int(x) for x in payload["token_shape"])
    emb = portable_token_init(n, d, int(payload["token_init_seed"]))
    emb[payload["token_rows"].numpy()] = payload["token_values"].float().numpy()
    weights: dict[str, np.ndarray] = {}
    stats: dict[str, np.ndarray] = {}
    for k, v in payload.items():
        if k.startswith("weights/"):
            weights[k[len("weights/"):]] = (v.float() if v.is_floating_point() else v).numpy()
        elif k.startswith("stats/"):
            stats[k[len("stats/"):]] = v.numpy()
    weights[EMB] = emb
    return {"weights": weights, "stats": stats}


def probe(clip: Any) -> list[list[float]]:
    """Logits (4 images x 4 texts) of a model on a fixed input made with integer arithmetic (exact everywhere)."""
    import torch

    g = torch.arange(4 * 3 * 32 * 32, dtype=torch.int64).reshape(4, 3, 32, 32)
    x = ((g * 7919 + (g // 97) * 31) % 256).float() / 255.0
    with torch.no_grad():
        logits = clip.logit_scale * clip.encode_images(x) @ clip.encode_texts(PROBE_TEXTS).t()
    return [[round(float(v), 5) for v in row] for row in logits]


def clip_from(arrays: dict[str, dict[str, np.ndarray]]) -> Any:
    import torch

    from trustlab.methods.coop.clip_model import TINY, build_clip, freeze

    clip = build_clip(TINY, None, device="cpu")
    clip.model.load_state_dict({k: torch.as_tensor(v) for k, v in arrays["weights"].items()}, strict=True)
    freeze(clip.model)
    return clip


def load_if_matching(path: Path = WEIGHTS) -> tuple[dict[str, Any] | None, str]:
    """``(arrays, description)`` of the shipped file when it stands for the current recipe, else ``(None, why)``."""
    from trustlab.data import shipped
    from trustlab.methods.coop.pretrain import recipe_settings

    meta = shipped.info(path)
    if meta is None:
        return None, f"no shipped weights at {path}"
    why = shipped.mismatch(meta.get("key"), recipe_settings())
    if why:
        return None, f"the shipped weights are for other pretraining settings ({why})"
    payload, meta = shipped.load(path)
    return unpack(payload), f"shipped weights {path.parent.name}/{path.name} (sha256 {meta['sha256'][:12]})"


def build(out: Path = WEIGHTS, tiny: bool = False, cache_dir: str | None = None,
          trained: tuple[dict, dict] | None = None) -> dict[str, Any]:
    """Pretrain with the recipe (``tiny``: 3 steps of 16 pairs) and write ``out`` + its JSON; returns the JSON.
    ``trained``: the (state, stats) :func:`~trustlab.methods.coop.pretrain.pretrain` returned for these settings."""
    import torch

    from trustlab.data import shipped
    from trustlab.methods.coop import pretrain, scenes

    steps, batch = (3, 16) if tiny else (pretrain.STEPS, pretrain.BATCH)
    if trained is None:
        with torch.enable_grad():
            trained = pretrain.pretrain(steps=steps, batch_size=batch, cache_dir=cache_dir,
                                        log_every=0 if tiny else 100)
    state, stats = trained
    payload = pack(state, stats, pretrain.SEED)
    arrays = unpack(payload)
    key = {**pretrain.recipe_settings(), "steps": steps, "batch": batch}
    meta = {"what": "the embedded tiny CLIP (open_clip CLIP, TINY_CONFIG) pretrained contrastively on coop-scenes",
            "command": COMMAND + (f" --tiny --out {out}" if tiny else ""), "seed": pretrain.SEED,
            "data": f"coop-scenes {scenes.GENERATOR_VERSION}, split 'pretrain' (generated, seed in "
                    "trustlab.methods.coop.scenes); a fresh random caption per draw",
            "key": key, "torch_threads": torch.get_num_threads(),
            "storage": f"{f'fp16 for float tensors >= {FP16_MIN} values, else ' if HALF else ''}fp32; token embedding: "
                       f"{len(payload['token_rows'])} rows (changed by pretraining or in the embedded prompts), "
                       "the rest from pretrain.portable_token_init",
            "build_seconds": round(float(np.ravel(stats["seconds"])[0]), 1),
            "cpu_seconds": round(float(np.ravel(stats["cpu_seconds"])[0]), 1),
            "final_loss": round(float(np.mean(stats["loss"][-50:])), 4),
            "probe": {"images": "4 fixed 32x32 images, ((i * 7919 + (i // 97) * 31) % 256) / 255",
                      "texts": PROBE_TEXTS, "logits": probe(clip_from(arrays)), "rtol": PROBE_RTOL,
                      "atol": PROBE_ATOL}}
    return shipped.save(out, payload, meta)


def main(argv: list[str] | None = None) -> int:
    from trustlab.data import shipped

    return shipped.build_main(
        argv, command=COMMAND, description="Build the shipped tiny CLIP weights (pretrains it).", weights=WEIGHTS,
        tiny_help="3 steps", build=build,
        report=lambda m: (f"{m['bytes'] / 1e6:.2f} MB, sha256 {m['sha256']}, loss {m['final_loss']}, "
                          f"{m['build_seconds']} s"))


if __name__ == "__main__":
    raise SystemExit(main())
