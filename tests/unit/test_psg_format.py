"""The PSG format: rgb2id, write/read round trip, field-by-field validation errors, and the generated scenes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from trustlab.errors import DataError
from trustlab.methods.psg.format import id2rgb, masks_to_rle, read_psg, rgb2id, write_psg
from trustlab.methods.psg.scenes import PREDICATES, generate, predicate_counts


@pytest.fixture(scope="module")
def small():
    return generate(seed=5, sizes={"train": 6, "val": 2, "test": 3})


@pytest.fixture()
def root(tmp_path, small):
    write_psg(tmp_path / "psg", small)
    return tmp_path / "psg"


def _edit(root, fn):
    path = root / "psg.json"
    top = json.loads(path.read_text())
    fn(top)
    path.write_text(json.dumps(top))


def test_rgb2id_round_trip_and_coco_convention():
    ids = np.array([[0, 1, 255], [256, 65536 + 2, 256**3 - 1]])
    rgb = id2rgb(ids)
    assert rgb[1, 0].tolist() == [0, 1, 0] and rgb[1, 1].tolist() == [2, 0, 1]  # id = R + 256 G + 256^2 B
    np.testing.assert_array_equal(rgb2id(rgb), ids)
    with pytest.raises(DataError):
        rgb2id(np.zeros((4, 4)))


def test_rle_through_pycocotools(small):
    from pycocotools import mask as mask_utils

    masks = small.split("train")[0].masks()
    rles = masks_to_rle(masks)
    assert len(rles) == len(masks)
    np.testing.assert_array_equal(mask_utils.decode(rles).transpose(2, 0, 1).astype(bool), masks)
    np.testing.assert_array_equal(mask_utils.area(rles), masks.reshape(len(masks), -1).sum(1))


def test_write_read_round_trip(root, small):
    data = read_psg(root)
    assert data.predicate_classes == PREDICATES and data.num_classes == 13
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 6, "val": 2, "test": 3}
    for a, b in zip(data.split("test"), small.split("test")):
        np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(a.pan, b.pan)
        np.testing.assert_array_equal(a.relations, b.relations)
        assert [s["category_id"] for s in a.segments] == [s["category_id"] for s in b.segments]
    top = json.loads((root / "psg.json").read_text())
    item = top["data"][0]
    assert set(item) >= {"file_name", "height", "width", "image_id", "pan_seg_file_name", "segments_info",
                         "annotations", "relations"}
    seg, ann = item["segments_info"][0], item["annotations"][0]
    assert set(seg) == {"id", "category_id", "iscrowd", "isthing", "area"}
    assert ann["bbox_mode"] == 0 and len(ann["bbox"]) == 4 and ann["category_id"] == seg["category_id"]
    # no val_image_ids (as in the release): val carved from the non-test images
    _edit(root, lambda t: t.pop("val_image_ids"))
    data = read_psg(root, val_fraction=0.25)
    assert len(data.split("val")) == 2 and len(data.split("train")) == 6 and len(data.split("test")) == 3


@pytest.mark.parametrize("edit,needle", [
    (lambda t: t["data"][0]["relations"].append([0, 99, 0]), "points to segment 99"),
    (lambda t: t["data"][0]["relations"].append([0, 0, 0]), "relates segment 0 to itself"),
    (lambda t: t["data"][0]["relations"].append([0, 1, 12]), "predicate 12 is outside [0, 12)"),
    (lambda t: t.update(predicate_classes=[]), "predicate_classes is empty"),
    (lambda t: t["data"][0].update(file_name="../../etc/passwd"), "points outside the data root"),
    (lambda t: t["data"][0].update(pan_seg_file_name="/tmp/x.png"), "points outside the data root"),
    (lambda t: t["data"][0]["segments_info"][0].update(id=12345), "does not match segments_info"),
    (lambda t: t["data"][0]["segments_info"].pop(), "annotations has"),
    (lambda t: t["data"][0]["segments_info"][0].update(category_id=40), "outside [0, 13)"),
    (lambda t: t["data"][0]["segments_info"][0].update(isthing=0), "isthing=0"),
    (lambda t: t.pop("stuff_classes"), "lacks stuff_classes"),
    (lambda t: t["data"][1].update(image_id=t["data"][0]["image_id"]), "occurs twice"),
    (lambda t: t["data"][0].update(height=10), "the json says"),
])
def test_bad_psg_json_is_one_clear_error(root, edit, needle):
    _edit(root, edit)
    with pytest.raises(DataError) as e:
        read_psg(root)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_png_with_ids_not_in_segments_info(root):
    from PIL import Image

    data = read_psg(root)
    sc = data.split("train")[0]
    pan = sc.pan.copy()
    pan[0, 0] = 777
    top = json.loads((root / "psg.json").read_text())
    item = next(d for d in top["data"] if d["image_id"] == sc.image_id)
    Image.fromarray(id2rgb(pan)).save(root / item["pan_seg_file_name"])
    with pytest.raises(DataError, match=r"ids \[777\] in the PNG are not in segments_info"):
        read_psg(root)


def test_missing_root_file_and_json(tmp_path):
    with pytest.raises(DataError, match="not a folder"):
        read_psg(tmp_path / "nope")
    with pytest.raises(DataError, match="no 'psg.json'"):
        read_psg(tmp_path)
    (tmp_path / "psg.json").write_text("{not json")
    with pytest.raises(DataError, match="cannot parse"):
        read_psg(tmp_path)


def test_generated_scenes_are_sound_and_long_tailed():
    data = generate(seed=0, sizes={"train": 120, "val": 0, "test": 0})
    for sc in data.split("train"):
        masks = sc.masks()
        assert masks.sum(0).max() <= 1 and masks.reshape(len(masks), -1).any(1).all()  # panoptic, no empty segment
        assert len(sc.relations) and (sc.relations[:, 0] != sc.relations[:, 1]).all()
        things = np.asarray([s["isthing"] for s in sc.segments], bool)
        assert things[sc.relations[:, 0]].all()  # subjects are things
    counts = predicate_counts(data, "train")
    head, tail = counts.max(), counts[counts > 0].min()
    assert counts[PREDICATES.index("on")] == head and head > 10 * tail  # long tail
    again = generate(seed=0, sizes={"train": 3, "val": 0, "test": 0})
    np.testing.assert_array_equal(again.split("train")[2].image, data.split("train")[2].image)


# --- psg.json as released (string ids), written the way OpenPSG writes it: tests/unit/openpsg_fixture.py ---


@pytest.fixture()
def release(tmp_path, small):
    from tests.unit.openpsg_fixture import write_openpsg

    write_openpsg(tmp_path / "psg", small)
    return tmp_path / "psg"


def test_reads_the_release_layout_with_string_ids(release, small):
    top = json.loads((release / "psg.json").read_text())
    assert list(top) == ["data", "thing_classes", "stuff_classes", "predicate_classes", "test_image_ids"]
    assert top["test_image_ids"][0] == "107910" and top["data"][0]["image_id"] == "107902"
    data = read_psg(release, val_fraction=0.25)
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 6, "val": 2, "test": 3}
    test = data.split("test")
    assert [sc.image_id for sc in test] == ["107910", "107911", "107912"]  # kept as written
    for a, b in zip(test, small.split("test")):
        np.testing.assert_array_equal(a.relations, b.relations)
        np.testing.assert_array_equal(a.labels, b.labels)
        np.testing.assert_array_equal(a.masks(), b.masks())  # the release's large rgb2id segment ids
    # written back by this package's writer: the string ids stay strings and read back the same
    write_psg(release.parent / "again", data)
    again = json.loads((release.parent / "again" / "psg.json").read_text())
    assert again["test_image_ids"] == ["107910", "107911", "107912"]
    assert [sc.image_id for sc in read_psg(release.parent / "again").split("test")] == ["107910", "107911", "107912"]


def test_ids_compare_by_value_across_int_and_string(release):
    from trustlab.methods.psg.format import id_key

    assert id_key(107902) == id_key("107902") and id_key("0107902") != id_key(107902)
    _edit(release, lambda t: t.update(test_image_ids=[int(i) for i in t["test_image_ids"]]))
    assert len(read_psg(release).split("test")) == 3  # integers in test_image_ids match string image_ids
    _edit(release, lambda t: t["data"][1].update(image_id=int(t["data"][0]["image_id"])))
    with pytest.raises(DataError, match="image_id 107902 occurs twice"):
        read_psg(release)


@pytest.mark.parametrize("edit,needle", [
    (lambda t: t.update(test_image_ids="107910"), "test_image_ids must be a list of image ids"),
    (lambda t: t.update(test_image_ids=[["107910"]]), "test_image_ids[0] is ['107910'], not an image id"),
    (lambda t: t.update(test_image_ids=[None]), "test_image_ids[0] is None, not an image id"),
    (lambda t: t.update(val_image_ids={"a": 1}), "val_image_ids must be a list of image ids"),
    (lambda t: t["data"][0].update(image_id=["107902"]), "'image_id' must be a string or an integer"),
    (lambda t: t["data"][0].update(image_id=1.5), "'image_id' must be a string or an integer"),
    (lambda t: t["data"][0].update(image_id=""), "'image_id' must be a string or an integer"),
    (lambda t: t["data"][0].pop("image_id"), "lacks image_id"),
    (lambda t: t["data"][0]["segments_info"][0].update(iscrowd="no"), "segments_info[0].iscrowd must be 0 or 1"),
    (lambda t: t["data"][0]["segments_info"][0].update(iscrowd=2), "segments_info[0].iscrowd must be 0 or 1"),
    (lambda t: t["data"][0]["segments_info"][1].update(area="big"), "'segments_info[1].area' must be a non-negative"),
    (lambda t: t["data"][0]["segments_info"][1].update(area=12.5), "'segments_info[1].area' must be a non-negative"),
    (lambda t: t["data"][0]["segments_info"][1].update(area=-1), "'segments_info[1].area' must be a non-negative"),
    (lambda t: t["data"][0]["segments_info"][0].update(id="5"), "'segments_info[0].id' must be an integer"),
    (lambda t: t["data"][0]["annotations"][0].update(bbox=["0", 0, 1, 1]), "annotations[0].bbox must be four"),
    (lambda t: t["data"][0].update(height="64"), "'height' must be an integer"),
    (lambda t: t["data"].append(["not", "an", "image"]), "data[11] must be an object"),
])
def test_each_malformed_field_is_one_error_naming_it(release, edit, needle):
    _edit(release, edit)
    with pytest.raises(DataError) as e:
        read_psg(release)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_integral_float_area_and_bool_iscrowd_are_accepted(release):
    def edit(t):
        t["data"][0]["segments_info"][0].update(area=float(t["data"][0]["segments_info"][0]["area"]), iscrowd=False)

    _edit(release, edit)
    assert read_psg(release).split("train")[0].segments[0]["iscrowd"] == 0
