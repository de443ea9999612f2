"""Sample grids: one PNG per domain, rows = classes, the right images in the right cells."""

from __future__ import annotations

import numpy as np
from PIL import Image

from trustlab.data.base import DGData, TensorImageDataset
from trustlab.data.folder import ImageFileDataset
from trustlab.data.show import save_sample_grids

RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 255, 0)


def _solid(colour: tuple[int, int, int], n: int, size: int = 32) -> np.ndarray:
    return np.broadcast_to(np.array(colour, dtype=np.uint8), (n, size, size, 3)).copy()


def _data() -> DGData:
    a = TensorImageDataset(np.concatenate([_solid(RED, 5), _solid(BLUE, 5), _solid(GREEN, 5)]), np.repeat([0, 1, 2], 5))
    b = TensorImageDataset(np.concatenate([_solid(RED, 2), _solid(BLUE, 2)]), np.repeat([0, 1], 2))  # no class 2
    return DGData(
        name="toy set",
        domains=["a", "b/x"],
        classes=["r", "b", "g"],
        splits={"a": {"train": a, "val": a, "test": a}, "b/x": {"train": b, "val": b, "test": b}},
    )


def _cell_centre(img: Image.Image, row: int, col: int, n_cols: int, cell: int = 64, pad: int = 2, title: int = 18):
    label_w = img.width - n_cols * (cell + pad) - pad
    return img.getpixel((label_w + col * (cell + pad) + pad + cell // 2, title + row * (cell + pad) + pad + cell // 2))


def test_one_grid_per_domain_with_class_rows(tmp_path):
    paths = save_sample_grids(_data(), tmp_path / "grids", per_class=4, seed=0)
    assert [p.name for p in paths] == ["toy_set_a.png", "toy_set_b_x.png"]
    assert sorted(p.name for p in (tmp_path / "grids").iterdir()) == sorted(p.name for p in paths)  # no temp files
    img = Image.open(paths[0]).convert("RGB")
    assert img.height == 18 + 3 * (64 + 2) + 2
    for col in range(4):
        assert _cell_centre(img, 0, col, 4) == RED
        assert _cell_centre(img, 1, col, 4) == BLUE
        assert _cell_centre(img, 2, col, 4) == GREEN
    other = Image.open(paths[1]).convert("RGB")
    assert _cell_centre(other, 0, 1, 4) == RED
    assert _cell_centre(other, 0, 2, 4) == (255, 255, 255)  # only 2 red images: the rest stays blank
    assert _cell_centre(other, 2, 0, 4) == (255, 255, 255)  # class missing in this domain


def test_grids_are_deterministic_in_seed(tmp_path):
    rng = np.random.default_rng(0)
    ds = TensorImageDataset(rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8), np.repeat(np.arange(4), 10))
    data = DGData("noise", ["d"], ["0", "1", "2", "3"], {"d": {"train": ds}})
    p1 = save_sample_grids(data, tmp_path / "s1", per_class=3, seed=5)[0].read_bytes()
    p2 = save_sample_grids(data, tmp_path / "s2", per_class=3, seed=5)[0].read_bytes()
    p3 = save_sample_grids(data, tmp_path / "s3", per_class=3, seed=6)[0].read_bytes()
    assert p1 == p2 and p1 != p3


def test_file_dataset_and_large_images(tmp_path):
    paths = []
    for i, colour in enumerate([RED, BLUE]):
        p = tmp_path / f"{i}.png"
        Image.new("RGB", (90, 70), colour).save(p)
        paths.append(p)
    ds = ImageFileDataset(paths, [0, 1], image_size=80)
    data = DGData("files", ["only"], ["red", "blue"], {"only": {"train": ds}})
    (out,) = save_sample_grids(data, tmp_path / "g", per_class=1)
    img = Image.open(out).convert("RGB")
    assert img.height == 18 + 2 * (80 + 2) + 2  # 80 px images are not upscaled
    assert _cell_centre(img, 0, 0, 1, cell=80) == RED and _cell_centre(img, 1, 0, 1, cell=80) == BLUE
