"""The pyiqa-style CSV reader on generated copies of each column style, and its bad-input errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trustlab.errors import ConfigError, DataError, NotFoundError
from trustlab.methods.pmtiqa.csvdata import LAYOUTS, load_csv

HEADERS = {  # the column style of each dataset's meta file
    "live": "ref_name,dist_name,dmos,std", "csiq": "ref_name,dist_name,dmos,std",
    "tid2013": "ref_name,dist_name,mos,std", "koniq": "name,mos,std", "livec": "name,mos", "bid": "name,mos,std",
}


def _images(root: Path, n: int, size: int = 48) -> list[str]:
    rng = np.random.default_rng(0)
    names = []
    for i in range(n):
        p = root / "imgs" / f"im{i}.png"
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (size, size + 8, 3), dtype=np.uint8)).save(p)
        names.append(f"imgs/im{i}.png")
    return names


def _write(root: Path, layout: str, n: int = 8) -> Path:
    names = _images(root, n)
    lo, hi = LAYOUTS[layout].mos_range  # type: ignore[misc]
    cols = HEADERS[layout].split(",")
    lines = [HEADERS[layout]]
    for i, name in enumerate(names):
        vals = {"ref_name": f"ref{i // 4}.png", "dist_name": name, "name": name,
                "dmos": lo + (hi - lo) * i / n, "mos": lo + (hi - lo) * i / n, "std": 0.1}
        lines.append(",".join(str(vals[c]) for c in cols))
    meta = root / f"{layout}.csv"
    meta.write_text("\n".join(lines) + "\n")
    return meta


@pytest.mark.parametrize("layout", sorted(HEADERS))
def test_each_layout_reads(tmp_path: Path, layout: str) -> None:
    meta = _write(tmp_path, layout)
    data = load_csv(str(meta), str(tmp_path), layout=layout, image_size=40, patch_size=32)
    assert len(data) == 8 and data.images[0].shape == (3, 40, 47)
    assert data.mos_range == LAYOUTS[layout].mos_range and data.lower_better == LAYOUTS[layout].lower_better
    q = data.quality01()
    assert (q[1:] < q[:-1]).all() if data.lower_better else (q[1:] > q[:-1]).all()
    if "ref_name" in HEADERS[layout]:
        assert len(set(data.groups)) == 2  # FR: the distortions of a reference share a group
    else:
        assert len(set(data.groups)) == 8


def test_split_column_and_generic_range(tmp_path: Path) -> None:
    names = _images(tmp_path, 6)
    split = ["train", "train", "train", "val", "test", "TEST"]
    rows = ["name,mos,split"] + [f"{n},{i * 1.5},{s}" for i, (n, s) in enumerate(zip(names, split))]
    (tmp_path / "m.csv").write_text("\n".join(rows))
    data = load_csv(str(tmp_path / "m.csv"), None, image_size=0)
    assert data.mos_range == (0.0, 7.5) and data.splits is not None
    assert data.splits["train"].tolist() == [0, 1, 2] and data.splits["test"].tolist() == [4, 5]


def _one_row(tmp_path: Path, row: str, header: str = "name,mos") -> Path:
    _images(tmp_path, 1)
    (tmp_path / "bad.csv").write_text(f"{header}\n{row}\n")
    return tmp_path / "bad.csv"


@pytest.mark.parametrize(("row", "match"), [
    ("../outside.png,3", "outside the image root"),
    ("/etc/passwd,3", "outside the image root"),
    ("imgs/nope.png,3", "not found"),
    ("imgs/im0.png,high", "is not a number"),
    ("imgs/im0.png,nan", "not finite"),
    ("imgs/im0.png,", "is not a number"),
])
def test_bad_rows(tmp_path: Path, row: str, match: str) -> None:
    meta = _one_row(tmp_path, row)
    with pytest.raises(DataError, match=match):
        load_csv(str(meta), str(tmp_path), image_size=0, patch_size=32)


def test_bad_files_and_columns(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="smaller than method.patch_size"):
        load_csv(str(_one_row(tmp_path, "imgs/im0.png,3")), str(tmp_path), image_size=16, patch_size=32)
    with pytest.raises(DataError, match="no a score column|no a score|score column"):
        load_csv(str(_one_row(tmp_path, "imgs/im0.png,3", header="name,quality")), str(tmp_path))
    with pytest.raises(DataError, match="outside mos_range"):
        load_csv(str(_one_row(tmp_path, "imgs/im0.png,300")), str(tmp_path), layout="livec")
    (tmp_path / "junk.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match="cannot read image"):
        load_csv(str(_one_row(tmp_path, "junk.png,3")), str(tmp_path))
    with pytest.raises(NotFoundError, match="not found"):
        load_csv(str(tmp_path / "missing.csv"), None)
    with pytest.raises(ConfigError, match="data.layout"):
        load_csv(str(tmp_path / "bad.csv"), None, layout="kadid10k")
    (tmp_path / "empty.csv").write_text("name,mos\n")
    with pytest.raises(DataError, match="no rows"):
        load_csv(str(tmp_path / "empty.csv"), None)
