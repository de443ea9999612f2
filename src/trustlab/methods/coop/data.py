"""``trustlab data build|show coop-scenes`` and ``coop-tinyclip``: the captioned scenes and the pretrained CLIP."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trustlab.data.base import DatasetEntry
from trustlab.registry import DATASETS


def _scene_lines(cfg: object) -> list[str]:
    from trustlab.methods.coop import scenes

    arrays = scenes.load_scenes()
    rng = np.random.default_rng(0)
    lines = [f"{part:<11} {len(a['images'])} scenes {a['images'].shape[1]}x{a['images'].shape[2]}"
             for part, a in arrays.items()]
    lines += [f"caption     {scenes.caption(rng, arrays['pretrain']['attrs'][i])}" for i in range(3)]
    return lines


def _grid(images: np.ndarray, texts: list[str], path: Path, cols: int = 6) -> Path:
    from PIL import Image, ImageDraw

    from trustlab.report.figures import save_image

    cell_w, cell_h, img = 260, 110, 96
    rows = (len(images) + cols - 1) // cols
    canvas = Image.new("RGB", (cols * cell_w, rows * cell_h), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for i, (im, text) in enumerate(zip(images, texts)):
        r, c = divmod(i, cols)
        canvas.paste(Image.fromarray(im).resize((img, img), Image.NEAREST), (c * cell_w + 4, r * cell_h + 6))
        words, line, y = text.split(), "", r * cell_h + 8
        for w in words:  # wrap the caption beside the image
            if len(line) + len(w) > 24:
                draw.text((c * cell_w + img + 10, y), line, fill=(0, 0, 0))
                line, y = "", y + 12
            line = f"{line} {w}".strip()
        draw.text((c * cell_w + img + 10, y), line, fill=(0, 0, 0))
    return save_image(canvas, path)


def _scene_show(cfg: object, out_dir: Path) -> list[Path]:
    from trustlab.methods.coop import scenes

    arrays = scenes.load_scenes()
    rng = np.random.default_rng(0)
    out = []
    for part in ("pretrain", "downstream"):
        a = arrays[part]
        texts = [scenes.caption(rng, a["attrs"][i]) if part == "pretrain" else
                 ", ".join(scenes.VALUES[k][int(v)] for k, v in zip(scenes.ATTRS, a["attrs"][i])) for i in range(24)]
        out.append(_grid(a["images"][:24], texts, Path(out_dir) / f"coop-scenes_{part}.png"))
    return out


def zero_shot_lines() -> list[str]:
    """Zero-shot test accuracy of the pretrained tiny CLIP per embedded task (each prompt + ensemble)."""
    from trustlab.methods.coop.method import ensemble_text_features, zero_shot_accuracy
    from trustlab.methods.coop.pretrain import load_pretrained_tiny
    from trustlab.methods.coop.run import zero_shot_table
    from trustlab.methods.coop.tasks import EMBEDDED_TASKS, embedded_task

    clip = load_pretrained_tiny()
    lines, feats = [], None
    for name in EMBEDDED_TASKS:
        t = embedded_task(name)
        te = t.pools["test"]
        feats = clip.encode_images(te.x)
        table = zero_shot_table(clip, t, feats, te.y)
        ens = zero_shot_accuracy(clip, ensemble_text_features(clip, t.templates, t.classes), feats, te.y)
        best = max(table, key=table.get)
        lines.append(f"zero-shot {name:<11} chance {1 / len(t.classes):.2f}  '{t.templates[0]}' "
                     f"{table[t.templates[0]]:.3f}  best '{best}' {table[best]:.3f}  ensemble {ens:.3f}")
    return lines


def _clip_lines(cfg: object) -> list[str]:
    from trustlab.methods.coop.pretrain import pretrained_arrays

    stats = pretrained_arrays()["stats"]
    loss = stats["loss"]
    def one(k: str) -> float:
        return float(np.ravel(stats[k])[0])

    cpu = f" ({one('cpu_seconds'):.0f} CPU-s)" if "cpu_seconds" in stats else ""
    head = [f"tiny CLIP: {one('steps'):.0f} steps x {one('batch_size'):.0f} pairs, trained in "
            f"{one('seconds'):.0f} s{cpu}, contrastive loss {loss[:20].mean():.3f} -> {loss[-50:].mean():.3f}"]
    return head + zero_shot_lines()


def _clip_show(cfg: object, out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from trustlab.methods.coop.pretrain import pretrained_arrays

    loss = pretrained_arrays()["stats"]["loss"]
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(loss, lw=0.6)
    ax.set_xlabel("step")
    ax.set_ylabel("contrastive loss")
    ax.set_title("tiny CLIP pretraining")
    fig.tight_layout()
    path = Path(out_dir) / "coop-tinyclip_loss.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return [path]


DATASETS.add("coop-scenes", DatasetEntry(_scene_lines, _scene_show,
                                         "captioned scenes (digits, styles, colours, backgrounds) for CLIP/CoOp"))
DATASETS.add("coop-tinyclip", DatasetEntry(_clip_lines, _clip_show,
                                           "the embedded tiny CLIP, pretrained on coop-scenes (cached weights)",
                                           # measured: 42 CPU-s, 57-86 s wall on the shared 2 cores (README):
                                           # the generated tests check its interface only; test_coop_data runs the loop
                                           build_seconds=90.0))
