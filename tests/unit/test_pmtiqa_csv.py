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
        load_csv(str(_one_row(tmp_path, "imgs/im0.png,300")), str(tmp_path), layout="livec", strict_range=True)
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


# --- pyiqa's conventions: split columns / split files, 0/1/2 codes, ranges (pyiqa/default_dataset_configs.yml) ---


def test_layout_ranges_are_pyiqas() -> None:
    assert LAYOUTS["live"].mos_range == (1.0, 100.0) and LAYOUTS["live"].lower_better
    assert LAYOUTS["koniq"].mos_range == (1.0, 100.0) and LAYOUTS["livec"].mos_range == (1.0, 100.0)
    assert LAYOUTS["csiq"].mos_range == (0.0, 1.0) and LAYOUTS["tid2013"].mos_range == (0.0, 9.0)


def _koniq_old(tmp_path: Path) -> Path:
    """As pyiqa's scripts/process_koniq10k.py writes meta_info_KonIQ10kDataset.csv: split coded 0/1/2."""
    names = _images(tmp_path, 6)
    codes = [0, 0, 0, 1, 2, 2]
    mos = [35.1, 60.2, 100.27, 45.0, 77.7, 12.3]  # KonIQ's MOS exceeds 100 slightly on its 1..100 scale
    rows = ["img_name,mos,std,split,c1,c2,c3,c4,c5,c_total"]
    rows += [f"{n},{m},0.5,{c},0,1,2,3,4,10" for n, m, c in zip(names, mos, codes)]
    (tmp_path / "koniq.csv").write_text("\n".join(rows) + "\n")
    return tmp_path / "koniq.csv"


def test_koniq_split_codes_and_out_of_range_mos_kept_with_a_warning(tmp_path: Path, capsys) -> None:
    meta = _koniq_old(tmp_path)
    data = load_csv(str(meta), str(tmp_path), layout="koniq", image_size=0)
    assert data.splits is not None and data.info["split"] == "column split"
    assert {k: v.tolist() for k, v in data.splits.items()} == {"train": [0, 1, 2], "val": [3], "test": [4, 5]}
    assert data.mos[2] == 100.27  # kept as is
    err = capsys.readouterr().err
    assert "trustlab: warning: 1 score(s) outside mos_range [1.0, 100.0]" in err and "koniq.csv:4" in err
    assert len(data.info["warnings"]) == 1
    with pytest.raises(DataError, match="outside mos_range.*strict_range=false"):
        load_csv(str(meta), str(tmp_path), layout="koniq", image_size=0, strict_range=True)


def test_live_realigned_dmos_outside_0_100_is_kept(tmp_path: Path) -> None:
    names = _images(tmp_path, 4)
    rows = ["ref_name,dist_name,mos"] + [f"refimgs/r{i // 2}.bmp,{n},{v}"
                                          for i, (n, v) in enumerate(zip(names, [-2.6, 30.0, 55.5, 111.7]))]
    (tmp_path / "live.csv").write_text("\n".join(rows) + "\n")
    data = load_csv(str(tmp_path / "live.csv"), str(tmp_path), layout="live", image_size=0)
    assert data.mos.tolist() == [-2.6, 30.0, 55.5, 111.7] and data.lower_better
    assert "2 score(s) outside mos_range" in data.info["warnings"][0]
    assert data.splits is None and data.info["split"] == "random by reference" and len(set(data.groups)) == 2


def _pyiqa_columns(tmp_path: Path) -> Path:
    """pyiqa's current meta files: official_split plus ratio<R>_seed123_split_<NN> columns of train/val/test."""
    names = _images(tmp_path, 8)
    header = "ref_name,dist_name,mos,std,official_split,ratio802_seed123_split_01,ratio802_seed123_split_02"
    rows = [header]
    for i, n in enumerate(names):
        ref = f"ref{i // 2}.png"  # two distortions per reference
        official = ["train", "train", "train", "train", "val", "val", "test", "test"][i]
        r1 = "test" if i // 2 == 0 else "train"
        r2 = "test" if i // 2 == 3 else "train"
        rows.append(f"{ref},{n},{i + 1.0},0.1,{official},{r1},{r2}")
    (tmp_path / "pyiqa.csv").write_text("\n".join(rows) + "\n")
    return tmp_path / "pyiqa.csv"


def test_pyiqa_split_columns_chosen_by_column_or_index(tmp_path: Path) -> None:
    meta = str(_pyiqa_columns(tmp_path))

    def splits(**kw):
        d = load_csv(meta, str(tmp_path), image_size=0, **kw)
        return None if d.splits is None else {k: v.tolist() for k, v in d.splits.items()}

    assert splits() == {"train": [0, 1, 2, 3], "val": [4, 5], "test": [6, 7]}  # official_split by default
    assert splits(split_index=1) == {"train": [2, 3, 4, 5, 6, 7], "val": [], "test": [0, 1]}
    assert splits(split_index=2)["test"] == [6, 7]
    assert splits(split_column="RATIO802_seed123_split_02")["test"] == [6, 7]  # names case-insensitive
    assert splits(split_column="random") is None
    with pytest.raises(ConfigError, match="split_index=3: no pyiqa split column"):
        splits(split_index=3)
    with pytest.raises(ConfigError, match="is not a column of the CSV.*official_split"):
        splits(split_column="oficial_split")
    with pytest.raises(ConfigError, match="set one of them"):
        splits(split_column="official_split", split_index=1)


def test_ratio_columns_without_an_index_are_an_error_not_a_silent_random_split(tmp_path: Path) -> None:
    meta = _pyiqa_columns(tmp_path)
    lines = meta.read_text().splitlines()
    cut = [",".join(ln.split(",")[:4] + ln.split(",")[5:]) for ln in lines]  # drop official_split
    meta.write_text("\n".join(cut) + "\n")
    with pytest.raises(ConfigError, match="split columns ratio802_seed123_split_01, ratio802_seed123_split_02 but "
                                          "none was chosen"):
        load_csv(str(meta), str(tmp_path), image_size=0)


def test_split_values_empty_cells_and_references_across_splits(tmp_path: Path) -> None:
    names = _images(tmp_path, 5)
    rows = ["ref_name,dist_name,mos,split"] + [f"r{i // 2}.png,{n},{i},{s}"
                                               for i, (n, s) in enumerate(zip(names, ["0", "2", "1.0", "", "test"]))]
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    data = load_csv(str(tmp_path / "m.csv"), str(tmp_path), image_size=0)
    assert {k: v.tolist() for k, v in data.splits.items()} == {"train": [0], "val": [2], "test": [1, 4]}
    w = " | ".join(data.info["warnings"])
    assert "1 row(s) have no value in split column 'split'" in w
    assert "puts 1 reference image(s) in more than one split, e.g. 'r0.png'" in w
    (tmp_path / "m.csv").write_text("\n".join(rows[:2] + [rows[2].rsplit(",", 1)[0] + ",holdout"]) + "\n")
    with pytest.raises(DataError, match=r"m.csv:3: split 'holdout' in column 'split' is not train / val / test"):
        load_csv(str(tmp_path / "m.csv"), str(tmp_path), image_size=0)


def test_pyiqa_split_pickle(tmp_path: Path) -> None:
    import collections
    import pickle

    meta = str(_pyiqa_columns(tmp_path))
    pkl = tmp_path / "live_seed123.pkl"  # as scripts/process_live.py: 8:2 by reference, the 2 under "val"
    pkl.write_bytes(pickle.dumps({1: {"train": [0, 1, 2, 3, 4, 5], "val": [6, 7], "test": []},
                                  2: {"train": [2, 3, 4, 5, 6, 7], "val": [0, 1], "test": []}}))
    data = load_csv(meta, str(tmp_path), image_size=0, split_file=str(pkl), split_index=2)
    assert data.splits["test"].tolist() == [0, 1] and data.splits["val"].tolist() == []
    assert data.info["split"] == "split file live_seed123.pkl index 2"
    assert "its val rows are the test split" in data.info["warnings"][0]
    assert load_csv(meta, str(tmp_path), image_size=0, split_file=str(pkl)).splits["test"].tolist() == [6, 7]
    with pytest.raises(ConfigError, match="split_index=5 is not in split file"):
        load_csv(meta, str(tmp_path), image_size=0, split_file=str(pkl), split_index=5)
    pkl.write_bytes(pickle.dumps({1: {"train": [0, 99], "val": [], "test": [1]}}))
    with pytest.raises(DataError, match="has row 99, outside the CSV's 8 data rows"):
        load_csv(meta, str(tmp_path), image_size=0, split_file=str(pkl))
    pkl.write_bytes(pickle.dumps(collections.OrderedDict({1: {"train": [0]}})))  # a class: refused, not built
    with pytest.raises(DataError, match="not a pyiqa split pickle.*collections.OrderedDict"):
        load_csv(meta, str(tmp_path), image_size=0, split_file=str(pkl))
    with pytest.raises(NotFoundError, match="split file"):
        load_csv(meta, str(tmp_path), image_size=0, split_file=str(tmp_path / "nope.pkl"))


def test_split_keys_reach_the_recipe(tmp_path: Path) -> None:
    from trustlab.methods.pmtiqa.run import load_data
    from trustlab.recipes import RECIPES

    meta = _pyiqa_columns(tmp_path)
    over = {"data.name": "csv", "data.meta": str(meta), "data.image_size": 0, "data.split_index": 2,
            "data.layout": "tid2013"}
    cfg = RECIPES.get("pmtiqa/distort").config(overrides=over)
    _, parts = load_data(cfg)
    assert parts["test"].tolist() == [6, 7] and parts["val"].tolist() == []


def test_folds_on_a_csv_with_a_given_split_is_one_error_and_random_splits_fold(tmp_path: Path) -> None:
    from trustlab.methods.pmtiqa.run import load_data
    from trustlab.recipes import RECIPES

    meta = _write(tmp_path, "livec")
    rows = meta.read_text().strip().splitlines()
    with_split = tmp_path / "s.csv"
    with_split.write_text("\n".join([rows[0] + ",split"] + [r + (",test" if i < 2 else ",train")
                                                            for i, r in enumerate(rows[1:])]) + "\n")
    over = {"data.name": "csv", "data.meta": str(with_split), "data.image_size": 0, "data.folds": 3}
    with pytest.raises(ConfigError, match="data.folds=3 needs data without a given split"):
        load_data(RECIPES.get("pmtiqa/distort").config(overrides=over))
    _, parts = load_data(RECIPES.get("pmtiqa/distort").config(overrides={**over, "data.split_column": "random"}))
    assert len(parts["test"]) and len(parts["val"]) and len(parts["train"])
