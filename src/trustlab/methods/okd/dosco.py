"""DOSCO (domain shift in context): build a DG split without domain labels by clustering image contexts.

Zhou et al., "On-Device Domain Generalization" (arXiv 2209.07521). The reference ships finished splits
only (``{class: {"train": [...], "val": [...], "test": [...]}}`` per seed); the clustering is designed here:

1. embed every image's context with ``encoder`` (``encoders.py``; default colour/texture statistics),
   standardise the features over the whole source;
2. per class, cluster that class's features into ``clusters`` = K groups: ``spectral`` (default;
   scikit-learn spectral clustering on the ``neighbours``-nearest-neighbour graph, which follows the
   contexts' non-convex shapes) or ``kmeans`` (``n_init=4``); seeded;
3. per class, list the sets of *whole* clusters whose share of the class is within 0.1 of
   ``test_fraction`` (0.3) and score each by its *boundary*: the share of its images that have a
   training-context image among their ``neighbours`` nearest neighbours. The test contexts are drawn at
   random (seeded) among the ``candidates`` (3) sets with the smallest boundary, so test contexts are
   the ones least connected to the training contexts;
4. with ``guard`` (default on), images whose neighbourhood crosses the split (a test image with a
   training-context neighbour, or the reverse) are left out of the split: they are the ones whose
   context the encoder cannot place;
5. ``val`` is a random ``val_fraction`` (0.2) of the training-context images (in-context hold-out,
   model selection as DomainBed's training-domain validation; DOSCO has no domain labels);
6. write the split JSON in the reference layout, a ``.meta.json`` beside it (source, encoder, K, seed,
   cluster sizes and splits, boundary and guard counts per class, and, when the source knows its true
   contexts, the ARI of clusters vs. the true scenes and the split *leakage*: per class, the share of
   test images whose true context also occurs among that class's train/val images) and a contact
   sheet PNG per cluster (``contact/<class>/cluster<k>_<split>.png``).

As a DG dataset (``data.name=dosco-digits``, or ``data.name=dosco`` with ``data.root=SPLIT.json``) the
split has two domains: ``seen`` (train = train; val / test = the two halves of ``val``: selection and
*in-context* test) and ``unseen`` (test = the unseen-context ``test`` images); ``data.target=unseen``.
Items are indices (``"00042"``) into an embedded source or paths relative to an ImageFolder root.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trustlab.data.base import DGData, TensorImageDataset
from trustlab.data.folder import IMAGE_EXTENSIONS, balanced_subset
from trustlab.errors import ConfigError, DataError
from trustlab.experiment import DataConfig
from trustlab.methods.okd.context_data import SCENES, SOURCES, context_arrays, context_classes
from trustlab.methods.okd.context_data import VERSION as CONTEXT_VERSION
from trustlab.methods.okd.encoders import build_encoder
from trustlab.registry import DATASETS
from trustlab.runs import atomic


@dataclass
class DoscoConfig:
    """Builder settings (defaults: embedded digits over contexts, statistics encoder, 10 spectral clusters)."""

    source: str = "digits-context"  # embedded source, or an ImageFolder root/<class>/<image>
    encoder: str = "stats"  # or a model name with encoder_weights (local checkpoint)
    encoder_weights: str | None = None
    encoder_classes: int = 365
    encoder_width: float = 1.0
    encoder_size: int = 224
    clusters: int = 10
    clustering: str = "spectral"  # or "kmeans"
    neighbours: int = 10  # k of the nearest-neighbour graph (spectral, boundary score, guard)
    candidates: int = 3  # test-cluster sets drawn among the ones with the smallest boundary
    guard: bool = True  # leave out images whose neighbourhood crosses the split
    seed: int = 0
    test_fraction: float = 0.3
    val_fraction: float = 0.2
    image_size: int = 32  # folder sources are read at this size


@dataclass
class Source:
    name: str
    classes: list[str]
    ids: list[str]
    labels: np.ndarray
    images: np.ndarray  # uint8 (N, H, W, 3)
    context: np.ndarray | None = None  # true scene ids (embedded sources only; diagnostics)
    root: str | None = None


def load_source(source: str, image_size: int = 32) -> Source:
    """An embedded source (``digits-context``, ``fashion-context``) or an ImageFolder root/<class>/<image>."""
    if source in SOURCES:
        a = context_arrays(source)
        ids = [f"{i:05d}" for i in range(len(a["y"]))]
        return Source(source, context_classes(source), ids, a["y"], a["x"], a["context"])
    root = Path(source).expanduser()
    if not root.is_dir():
        raise DataError(
            f"DOSCO source '{source}' is neither an embedded source ({', '.join(SOURCES)}) nor a folder"
        )
    from PIL import Image

    root = root.resolve()
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    ids, labels, images = [], [], []
    for ci, c in enumerate(classes):
        for p in sorted((root / c).rglob("*")):
            if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file() and p.resolve().is_relative_to(root):
                with Image.open(p) as im:
                    images.append(np.asarray(im.convert("RGB").resize((image_size, image_size))))
                ids.append(p.relative_to(root).as_posix())
                labels.append(ci)
    if not ids:
        raise DataError(f"no images under '{root}'; expected root/<class>/<image>")
    return Source(root.name, classes, ids, np.asarray(labels, dtype=np.int64), np.stack(images), root=str(root))


def candidate_sets(sizes: np.ndarray, fraction: float, rng: np.random.Generator) -> list[list[int]]:
    """Proper subsets of clusters whose share is within 0.1 of ``fraction`` (the closest one if none is)."""
    k, n = len(sizes), int(sizes.sum())
    if k > 14:  # too many subsets to list: greedy over a random order
        chosen, total = [], 0
        for c in rng.permutation(k):
            if total + sizes[c] <= (fraction + 0.1) * n and len(chosen) < k - 1:
                chosen.append(int(c))
                total += int(sizes[c])
            if total >= fraction * n:
                break
        return [sorted(chosen) or [int(np.argmin(sizes))]]
    subsets = [list(s) for r in range(1, k) for s in itertools.combinations(range(k), r)]
    shares = np.array([sizes[s].sum() / n for s in subsets])
    near = np.flatnonzero(np.abs(shares - fraction) <= 0.1)
    return [subsets[i] for i in near] if len(near) else [subsets[int(np.argmin(np.abs(shares - fraction)))]]


def crossing(is_test: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """(N,) True where an image has a nearest neighbour (``neighbours`` (N, k) indices) on the other side."""
    return (is_test[:, None] != is_test[neighbours]).any(1)


def _cluster(cfg: DoscoConfig, feats: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.cluster import KMeans, SpectralClustering

    if cfg.clustering == "kmeans":
        return KMeans(n_clusters=cfg.clusters, n_init=4, random_state=seed).fit_predict(feats)
    import warnings

    k = min(cfg.neighbours, len(feats) - 1)
    with warnings.catch_warnings():  # a graph in several pieces is expected: separate contexts
        warnings.filterwarnings("ignore", message="Graph is not fully connected")
        return SpectralClustering(cfg.clusters, affinity="nearest_neighbors", n_neighbors=k, random_state=seed,
                                  assign_labels="cluster_qr").fit_predict(feats)


def _check(cfg: DoscoConfig, src: Source) -> None:
    if cfg.clusters < 2:
        raise ConfigError(f"--clusters must be >= 2 (one for training contexts, one unseen), got {cfg.clusters}")
    if not 0 < cfg.test_fraction < 1 or not 0 <= cfg.val_fraction < 1:
        raise ConfigError("test_fraction must be in (0, 1) and val_fraction in [0, 1)")
    if cfg.clustering not in ("spectral", "kmeans"):
        raise ConfigError(f"--clustering must be spectral or kmeans, got '{cfg.clustering}'")
    if cfg.neighbours < 1 or cfg.candidates < 1:
        raise ConfigError("--neighbours and --candidates must be >= 1")
    for ci, c in enumerate(src.classes):
        n = int((src.labels == ci).sum())
        if n < max(cfg.clusters, 3):
            raise DataError(
                f"class '{c}' of DOSCO source '{src.name}' has {n} images, fewer than --clusters {cfg.clusters}; "
                "lower --clusters or add images"
            )


def build_split(cfg: DoscoConfig, source: Source | None = None) -> tuple[dict[str, dict[str, list[str]]], dict]:
    """Cluster contexts per class and assign whole clusters: ``(split, meta)`` (see the module docstring)."""
    from sklearn.metrics import adjusted_rand_score
    from sklearn.neighbors import NearestNeighbors
    from sklearn.preprocessing import StandardScaler

    src = source or load_source(cfg.source, cfg.image_size)
    _check(cfg, src)
    enc = build_encoder(cfg.encoder, cfg.encoder_weights, cfg.encoder_classes, cfg.encoder_width, cfg.encoder_size)
    feats = StandardScaler().fit_transform(enc.encode(src.images))
    split: dict[str, dict[str, list[str]]] = {}
    cluster_meta: dict[str, list[dict[str, Any]]] = {}
    guard_meta: dict[str, dict[str, Any]] = {}
    assign = np.zeros(len(src.ids), dtype=np.int64)
    aris = []
    for ci, c in enumerate(src.classes):
        idx = np.flatnonzero(src.labels == ci)
        lab = _cluster(cfg, feats[idx], cfg.seed * 1009 + ci)
        assign[idx] = lab
        k = min(cfg.neighbours, len(idx) - 1)
        near = NearestNeighbors(n_neighbors=k + 1).fit(feats[idx]).kneighbors(feats[idx])[1][:, 1:]
        rng = np.random.default_rng([cfg.seed, ci])
        sets = candidate_sets(np.bincount(lab, minlength=cfg.clusters), cfg.test_fraction, rng)
        boundary = [float(crossing(np.isin(lab, s), near)[np.isin(lab, s)].mean()) for s in sets]
        best = np.argsort(boundary, kind="stable")[: cfg.candidates]
        pick = int(best[rng.integers(len(best))])
        test_c = sets[pick]
        is_test = np.isin(lab, test_c)
        keep = ~crossing(is_test, near) if cfg.guard else np.ones(len(idx), dtype=bool)
        if not (keep & is_test).any() or not (keep & ~is_test).any():  # never empty a side
            keep[:] = True
        seen = rng.permutation(idx[~is_test & keep])
        n_val = int(round(cfg.val_fraction * len(seen)))
        split[c] = {
            "train": [src.ids[i] for i in sorted(seen[n_val:])],
            "val": [src.ids[i] for i in sorted(seen[:n_val])],
            "test": [src.ids[i] for i in idx[is_test & keep]],
        }
        guard_meta[c] = {"boundary": boundary[pick], "left_out": int((~keep).sum())}
        cluster_meta[c] = [{"cluster": k, "split": "test" if k in test_c else "train", "size": int((lab == k).sum()),
                            **_scene_mix(src, idx[lab == k])} for k in range(cfg.clusters)]
        if src.context is not None:
            aris.append(adjusted_rand_score(src.context[idx], lab))
    leak = split_leakage(split, src)
    meta = {
        "config": asdict(cfg), "source": src.name, "root": src.root, "classes": src.classes,
        "source_version": CONTEXT_VERSION if src.name in SOURCES else None,
        "encoder": enc.name, "feature_dim": int(feats.shape[1]), "clusters": cluster_meta, "guard": guard_meta,
        "cluster_of": {src.ids[i]: int(assign[i]) for i in range(len(src.ids))},
        "counts": {s: sum(len(v[s]) for v in split.values()) for s in ("train", "val", "test")},
        "left_out": sum(g["left_out"] for g in guard_meta.values()),
        "context_ari": float(np.mean(aris)) if aris else None,
        "leakage": leak,
        "leakage_mean": float(np.mean(list(leak.values()))) if leak else None,
        "leakage_max": float(max(leak.values())) if leak else None,
    }
    return split, meta


def split_leakage(split: dict[str, dict[str, list[str]]], src: Source) -> dict[str, float] | None:
    """Per class, the share of ``test`` images whose true context occurs among that class's train/val
    images (None when the source does not know its contexts, e.g. a user's folder)."""
    if src.context is None:
        return None
    index = {i: n for n, i in enumerate(src.ids)}
    out = {}
    for c, parts in split.items():
        seen = {int(src.context[index[i]]) for i in parts["train"] + parts["val"]}
        test = [int(src.context[index[i]]) for i in parts["test"]]
        out[c] = float(np.mean([t in seen for t in test])) if test else 0.0
    return out


def _scene_mix(src: Source, members: np.ndarray) -> dict[str, Any]:
    if src.context is None or not len(members):
        return {}
    counts = np.bincount(src.context[members], minlength=len(SCENES))
    top = int(np.argmax(counts))
    return {"top_scene": SCENES[top], "top_scene_share": float(counts[top] / len(members))}


def write_split(split: dict, meta: dict, out_dir: str | Path, source: Source | None = None,
                sheets: bool = True) -> Path:
    """Write ``split_v{seed}_k{K}.json`` (reference layout), its ``.meta.json`` and contact sheets."""
    cfg = meta["config"]
    out = Path(out_dir)
    path = out / f"split_v{cfg['seed']}_k{cfg['clusters']}.json"
    atomic.write_json(path, split)
    atomic.write_json(path.with_suffix(".meta.json"), meta)
    if sheets:
        src = source or load_source(cfg["source"], cfg["image_size"])
        index = {i: n for n, i in enumerate(src.ids)}
        for c, clusters in meta["clusters"].items():
            for cl in clusters:
                members = [index[i] for s in ("train", "val", "test") for i in split[c][s]
                           if meta["cluster_of"][i] == cl["cluster"]]
                title = f"class {c} | cluster {cl['cluster']} | {cl['split']} | {cl['size']} images"
                name = f"cluster{cl['cluster']}_{cl['split']}.png"
                contact_sheet(src.images[members], title, out / "contact" / c / name)
    return path


def contact_sheet(images: np.ndarray, title: str, path: Path, cols: int = 8, rows: int = 4, scale: int = 2) -> Path:
    """Up to ``cols * rows`` images (N, H, W, 3) on a grid under a title line, written as PNG."""
    from trustlab.report.figures import image_grid

    return image_grid(images, path, cols, rows=rows, scale=scale, title=title)


# ---------------------------------------------------------------- as a DG dataset


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    if not len(images) or images.shape[1] == size:
        return images
    return np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.BILINEAR)) for im in images])


def split_to_dgdata(split: dict, meta: dict | None, source: Source, cfg: DataConfig, name: str) -> DGData:
    """Domains ``seen`` (train / val half 1 / val half 2 as in-context test) and ``unseen`` (test)."""
    cidx = {c: i for i, c in enumerate(source.classes)}
    index = {i: n for n, i in enumerate(source.ids)}
    parts: dict[str, list[int]] = {"train": [], "val": [], "in": [], "out": []}
    for c, s in split.items():
        if c not in cidx:
            raise DataError(f"DOSCO split names class '{c}', which source '{source.name}' does not have")
        missing = [i for k in ("train", "val", "test") for i in s.get(k, []) if i not in index]
        if missing:
            raise DataError(f"DOSCO split item '{missing[0]}' is not in source '{source.name}' (stale split?)")
        parts["train"] += [index[i] for i in s["train"]]
        parts["val"] += [index[i] for i in s["val"][0::2]]
        parts["in"] += [index[i] for i in s["val"][1::2]]
        parts["out"] += [index[i] for i in s["test"]]

    def ds(ix: list[int]) -> TensorImageDataset:
        ix_arr = np.asarray(ix, dtype=np.int64)
        return TensorImageDataset(_resize(source.images[ix_arr], cfg.image_size), source.labels[ix_arr])

    train_ix = np.asarray(parts["train"], dtype=np.int64)
    train_ix = train_ix[balanced_subset(source.labels[train_ix], cfg.max_per_domain, cfg.split_seed)]
    splits = {
        "seen": {"train": ds(list(train_ix)), "val": ds(parts["val"]), "test": ds(parts["in"])},
        "unseen": {"train": ds([]), "val": ds([]), "test": ds(parts["out"])},
    }
    info = {"sizes": {d: {s: len(v) for s, v in sp.items()} for d, sp in splits.items()}}
    if meta:
        keys = ("source", "encoder", "context_ari", "counts", "left_out", "leakage_mean", "leakage_max", "leakage")
        info.update({"dosco": {k: meta.get(k) for k in keys}})
    return DGData(name=name, domains=["seen", "unseen"], classes=list(source.classes), splits=splits, info=info)


def embedded_split(cfg: DataConfig, name: str) -> DGData:
    """The default DOSCO split of the embedded digits-over-contexts source (seed ``data.split_seed``), cached."""
    from trustlab.data.cache import cache_root

    dcfg = DoscoConfig(seed=cfg.split_seed)
    folder = cache_root() / "dosco" / dcfg.source / CONTEXT_VERSION / dcfg.encoder
    path = folder / f"split_v{dcfg.seed}_k{dcfg.clusters}.json"
    source = load_source(dcfg.source)
    meta = _read_json(path.with_suffix(".meta.json")) if path.is_file() else None
    if meta is None or meta.get("config") != asdict(dcfg) or meta.get("source_version") != CONTEXT_VERSION:
        split, meta = build_split(dcfg, source)
        write_split(split, meta, folder, source, sheets=False)
    return split_to_dgdata(_read_json(path), meta, source, cfg, name)


@DATASETS.register("dosco-digits")
def build_dosco_digits(cfg: DataConfig) -> DGData:
    """DOSCO split of embedded digits over contexts (stats encoder, 10 spectral clusters, seed data.split_seed)."""
    return embedded_split(cfg, "dosco-digits")


@DATASETS.register("dosco")
def build_dosco_file(cfg: DataConfig) -> DGData:
    """A DOSCO split JSON (data.root, from `trustlab data dosco` or the reference); no root: the embedded split."""
    if not cfg.root:
        return embedded_split(cfg, "dosco")
    path = Path(cfg.root).expanduser()
    split = _read_json(path)
    if not isinstance(split, dict):
        raise DataError(f"DOSCO split '{path}' does not exist or is not JSON; build one with `trustlab data dosco`")
    meta = _read_json(path.with_suffix(".meta.json"))
    if meta is not None:
        c = meta.get("config", {})
        source = load_source(meta.get("root") or c.get("source", ""), int(c.get("image_size", cfg.image_size)))
    else:  # a reference split: items are image paths relative to the JSON's folder
        source = load_source(str(path.parent), cfg.image_size)
    return split_to_dgdata(split, meta, source, cfg, path.stem)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
