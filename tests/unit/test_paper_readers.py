"""The paper suite's readers (torchvision stores, Dassl split files, OpenOOD lists) on fixtures written as the
official tools write them, and fuzzed: any input loads or raises one DataError line, and nothing is written."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import trustlab.data  # noqa: F401  (registers the readers)
from trustlab.data.openood_lists import ood_sets
from trustlab.errors import DataError, TrustlabError
from trustlab.experiment import DataConfig
from trustlab.registry import DATASETS

from . import paper_fixtures as F

# TRUSTLAB_FUZZ_EXAMPLES=300 for a longer search (the default keeps each test within seconds)
EXAMPLES = int(os.environ.get("TRUSTLAB_FUZZ_EXAMPLES", "25"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def build(name: str, root: Path, **kw):
    return DATASETS.get(name)(DataConfig(name=name, root=str(root), image_size=kw.pop("image_size", 32), **kw))


def test_cifar10_pixels_labels_and_names_as_written(tmp_path: Path) -> None:
    F.write_cifar10(tmp_path, per_batch=6)
    d = build("tv-cifar10", tmp_path, val_fraction=0.0)
    with open(tmp_path / "cifar-10-batches-py" / "test_batch", "rb") as fh:
        ref = pickle.load(fh, encoding="bytes")
    x, y = d.get("tv-cifar10", "test").tensors()
    want = ref[b"data"].reshape(-1, 3, 32, 32)
    assert np.array_equal((x * 255).round().byte().numpy(), want)
    assert y.tolist() == ref[b"labels"] and d.classes == [f"c{k}" for k in range(10)]
    assert len(d.get("tv-cifar10", "train")) == 30  # five batches of six


def test_svhn_label_10_is_digit_0_and_hwcn_layout(tmp_path: Path) -> None:
    from scipy.io import loadmat

    F.write_svhn(tmp_path, n=20)
    d = build("tv-svhn", tmp_path, val_fraction=0.0)
    x, y = d.get("tv-svhn", "test").tensors()
    mat = loadmat(str(tmp_path / "test_32x32.mat"))
    assert np.array_equal((x[3] * 255).round().byte().permute(1, 2, 0).numpy(), mat["X"][..., 3])
    assert y.tolist() == [int(v) % 10 for v in mat["y"].ravel()] and 0 in y.tolist()


def test_stl10_column_major_as_torchvision(tmp_path: Path) -> None:
    F.write_stl10(tmp_path, n=10)
    d = build("tv-stl10", tmp_path, image_size=96, val_fraction=0.0)
    x, y = d.get("tv-stl10", "test").tensors()
    raw = np.frombuffer((tmp_path / "stl10_binary" / "test_X.bin").read_bytes(), np.uint8).reshape(-1, 3, 96, 96)
    assert np.array_equal((x * 255).round().byte().numpy(), raw.transpose(0, 1, 3, 2))  # torchvision's transpose
    assert y.tolist() == list(range(10)) and d.classes[0] == "airplane"


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_plain_and_gz_grey_to_rgb(tmp_path: Path, gz: bool) -> None:
    F.write_mnist(tmp_path, "FashionMNIST", n=20, gz=gz)
    d = build("tv-fashion-mnist", tmp_path, image_size=28, val_fraction=0.25)
    x, y = d.get("tv-fashion-mnist", "test").tensors()
    assert x.shape == (20, 3, 28, 28) and torch_equal_channels(x) and y.tolist() == [k % 10 for k in range(20)]
    assert len(d.get("tv-fashion-mnist", "train")) + len(d.get("tv-fashion-mnist", "val")) == 20
    assert d.classes[-1] == "Ankle boot"


def torch_equal_channels(x) -> bool:
    return bool((x[:, 0] == x[:, 1]).all() and (x[:, 1] == x[:, 2]).all())


def test_dassl_split_file_as_coop_writes_it(tmp_path: Path) -> None:
    F.write_dassl(tmp_path, "OxfordPets", "images", classes=3, per_split=(6, 2, 3))
    d = build("dassl", tmp_path, image_size=16)
    assert d.domains == ["OxfordPets"] and d.classes == ["cls0", "cls1", "cls2"]
    assert [len(d.get("OxfordPets", s)) for s in ("train", "val", "test")] == [18, 6, 9]
    x, y = d.get("OxfordPets", "val")[0]
    assert x.shape == (3, 16, 16) and int(y) == 0
    sub = build("dassl", tmp_path, image_size=16, max_per_domain=6)
    assert sorted(sub.get("OxfordPets", "train").labels.tolist()) == [0, 0, 1, 1, 2, 2]


def test_dassl_image_folder_of_coop_and_several_files(tmp_path: Path) -> None:
    F.write_dassl(tmp_path, "EuroSAT", "2750", classes=2, per_split=(2, 1, 1))
    assert build("dassl", tmp_path).domains == ["EuroSAT"]
    F.write_dassl(tmp_path, "Other", "images", classes=2, per_split=(2, 1, 1))
    with pytest.raises(DataError, match="several split files"):
        build("dassl", tmp_path)
    assert build("dassl", tmp_path, target="Other").domains == ["Other"]
    (tmp_path / "2750").rename(tmp_path / "moved")
    with pytest.raises(DataError, match="2750"):
        build("dassl", tmp_path, target="EuroSAT")


def test_dassl_rejects_escaping_and_inconsistent_entries(tmp_path: Path) -> None:
    F.write_dassl(tmp_path, "OxfordPets", classes=2, per_split=(2, 1, 1))
    path = tmp_path / "split_zhou_OxfordPets.json"
    split = json.loads(path.read_text())
    for bad, msg in (([["../../x.jpg", 0, "cls0"]], "leaves data.root"), ([["cls0_0.jpg", 1, "cls0"]], "both"),
                     ([["cls0_0.jpg", "0", "cls0"]], "not \\[impath")):
        path.write_text(json.dumps({**split, "test": split["test"] + bad}))
        with pytest.raises(DataError, match=msg):
            build("dassl", tmp_path)


def test_openood_lists_id_and_ood_groups(tmp_path: Path) -> None:
    F.write_openood(tmp_path, "cifar10", classes=10, per_class=2, ood=3)
    d = build("openood-cifar10", tmp_path, image_size=16)
    assert d.domains == ["cifar10"] and d.num_classes == 10
    assert [len(d.get("cifar10", s)) for s in ("train", "val", "test")] == [20, 20, 20]
    groups = ood_sets(DataConfig(root=str(tmp_path), image_size=16), "cifar10")
    assert sorted(groups["near"]) == ["cifar100", "tin"] and sorted(groups["far"]) == [
        "mnist", "places365", "svhn", "texture"]
    assert all(len(ds) == 3 and set(ds.labels.tolist()) == {-1} for g in groups.values() for ds in g.values())


def test_openood_materialize_as_folders(tmp_path: Path) -> None:
    """The lists as ood/folder's folders: complete (every listed image, classes per split) or absent."""
    from trustlab.data.folder import build_folder
    from trustlab.data.openood_lists import BENCHMARKS, materialize

    root = F.write_openood(tmp_path / "data", "cifar10", classes=10, per_class=2, ood=3)
    dest = materialize(root, "cifar10", tmp_path / "out" / "bench")
    b = BENCHMARKS["cifar10"]
    assert sorted(p.name for p in (dest / "near").iterdir()) == sorted(b.near)
    assert sorted(p.name for p in (dest / "far").iterdir()) == sorted(b.far)
    assert [p.name for p in (dest / "val").iterdir()] == ["cifar100"]
    assert all(len(list(d.iterdir())) == 3 for g in ("near", "far", "val") for d in (dest / g).iterdir())
    data = build_folder(DataConfig(name="folder", root=str(dest / "id"), target="cifar10", image_size=8))
    assert data.num_classes == 10 and [len(data.get("cifar10", s)) for s in ("train", "val", "test")] == [20, 20, 20]
    (root / b.far["svhn"]).write_text("svhn/missing.png -1\n")  # a broken list: nothing is left behind
    with pytest.raises(DataError, match="missing image"):
        materialize(root, "cifar10", tmp_path / "out2" / "bench")
    assert not (tmp_path / "out2").exists() or not any((tmp_path / "out2").iterdir())


def test_dassl_materialize_keeps_the_released_split(tmp_path: Path) -> None:
    from trustlab.data.dassl_splits import materialize
    from trustlab.data.folder import build_folder

    root = F.write_dassl(tmp_path / "pets", classes=3, per_split=(4, 2, 3))
    dest = materialize(root, tmp_path / "out" / "pets")
    data = build_folder(DataConfig(name="folder", root=str(dest), image_size=8))
    assert data.domains == ["OxfordPets"] and data.classes == ["cls0", "cls1", "cls2"]
    assert [len(data.get("OxfordPets", s)) for s in ("train", "val", "test")] == [12, 6, 9]  # nothing re-split
    released = json.loads((root / "split_zhou_OxfordPets.json").read_text())
    test_files = sorted(p.name for p in (dest / "OxfordPets" / "test").rglob("*.jpg"))
    assert test_files == sorted(f"images__{r[0]}" for r in released["test"])
    (root / "images" / released["val"][0][0]).unlink()  # a missing image: nothing is left behind
    with pytest.raises(DataError, match="missing"):
        materialize(root, tmp_path / "out2" / "pets")
    assert not (tmp_path / "out2").exists() or not any((tmp_path / "out2").iterdir())


@pytest.mark.parametrize("name", ["tv-cifar10", "tv-svhn", "tv-stl10", "tv-mnist", "dassl", "openood-cifar100"])
def test_missing_root_is_one_line(tmp_path: Path, name: str) -> None:
    for root in (None, tmp_path / "nope", tmp_path):
        with pytest.raises(DataError) as e:
            DATASETS.get(name)(DataConfig(name=name, root=str(root) if root else None))
        assert "\n" not in str(e.value) and len(str(e.value)) < 400


# ---------------------------------------------------------------- fuzzing


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def _loads_or_one_error(name: str, root: Path, **kw) -> None:
    """Build ``name`` from ``root``: it loads, or raises a TrustlabError of one line; nothing under root changes."""
    before = _snapshot(root)
    try:
        d = build(name, root, **kw)
        for s in ("train", "val", "test"):
            ds = d.get(d.domains[0], s)
            if len(ds):
                x, y = ds[0]
                assert x.shape[0] == 3 and 0 <= float(x.min()) and float(x.max()) <= 1
    except TrustlabError as e:
        assert str(e) and "\n" not in str(e), str(e)
    assert _snapshot(root) == before, "the reader wrote under data.root"
    shutil.rmtree(root)


def _fresh(writer, *args, **kw) -> Path:
    root = Path(tempfile.mkdtemp(prefix="paper-fuzz-"))
    writer(root, *args, **kw)
    return root


@FUZZ
@given(data=st.binary(max_size=4096), which=st.sampled_from(["data_batch_3", "test_batch", "batches.meta"]))
def test_fuzz_cifar_bytes(data: bytes, which: str) -> None:
    root = _fresh(F.write_cifar10, per_batch=2)
    (root / "cifar-10-batches-py" / which).write_bytes(data)
    _loads_or_one_error("tv-cifar10", root, val_fraction=0.0)


@settings(FUZZ, max_examples=max(12, EXAMPLES // 2))
@given(obj=st.recursive(st.none() | st.integers() | st.text(max_size=8) | st.binary(max_size=8),
                        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6) | st.binary(
                            max_size=6), c, max_size=4), max_leaves=12))
def test_fuzz_cifar_pickled_objects(obj: object) -> None:
    root = _fresh(F.write_cifar10, per_batch=2)
    (root / "cifar-10-batches-py" / "data_batch_1").write_bytes(pickle.dumps(obj, protocol=2))
    _loads_or_one_error("tv-cifar10", root, val_fraction=0.0)


def test_cifar_pickle_cannot_run_code(tmp_path: Path) -> None:
    F.write_cifar10(tmp_path, per_batch=2)
    marker = tmp_path / "ran"
    evil = pickle.dumps(type("E", (), {"__reduce__": lambda s: (os.system, (f"touch {marker}",))})())
    (tmp_path / "cifar-10-batches-py" / "data_batch_1").write_bytes(evil)
    with pytest.raises(DataError, match="not allowed"):
        build("tv-cifar10", tmp_path)
    assert not marker.exists()


@FUZZ
@given(data=st.binary(max_size=4096), which=st.sampled_from(["train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]),
       gz=st.booleans())
def test_fuzz_idx_bytes(data: bytes, which: str, gz: bool) -> None:
    root = _fresh(F.write_mnist, "MNIST", n=4, gz=gz)
    (root / "MNIST" / "raw" / (which + (".gz" if gz else ""))).write_bytes(data)
    _loads_or_one_error("tv-mnist", root, val_fraction=0.0)


@FUZZ
@given(n_bytes=st.integers(0, 3 * 96 * 96 * 3), labels=st.binary(max_size=12))
def test_fuzz_stl_sizes_and_labels(n_bytes: int, labels: bytes) -> None:
    root = _fresh(F.write_stl10, n=2)
    (root / "stl10_binary" / "train_X.bin").write_bytes(bytes(n_bytes))
    (root / "stl10_binary" / "train_y.bin").write_bytes(labels)
    _loads_or_one_error("tv-stl10", root, image_size=16, val_fraction=0.0)


@FUZZ
@given(data=st.binary(max_size=2048))
def test_fuzz_svhn_mat_bytes(data: bytes) -> None:
    root = _fresh(F.write_svhn, n=4)
    (root / "test_32x32.mat").write_bytes(data)
    _loads_or_one_error("tv-svhn", root, val_fraction=0.0)


JSONISH = st.recursive(st.none() | st.booleans() | st.integers(-3, 5) | st.text(max_size=12),
                       lambda c: st.lists(c, max_size=4) | st.dictionaries(st.sampled_from(
                           ["train", "val", "test", "x"]), c, max_size=4), max_leaves=16)


@FUZZ
@given(doc=JSONISH, raw=st.none() | st.binary(max_size=64))
def test_fuzz_dassl_split_file(doc: object, raw: bytes | None) -> None:
    root = _fresh(F.write_dassl, "OxfordPets", classes=2, per_split=(1, 1, 1))
    path = root / "split_zhou_OxfordPets.json"
    path.write_bytes(raw if raw is not None else json.dumps(doc).encode())
    _loads_or_one_error("dassl", root, image_size=8)


@FUZZ
@given(lines=st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30), max_size=6),
       which=st.sampled_from(["train", "test"]))
def test_fuzz_openood_list_lines(lines: list[str], which: str) -> None:
    root = _fresh(F.write_openood, "cifar10", classes=10, per_class=1, ood=1)
    (root / "benchmark_imglist" / "cifar10" / f"{which}_cifar10.txt").write_text("\n".join(lines))
    _loads_or_one_error("openood-cifar10", root, image_size=8)
