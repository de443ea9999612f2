"""Shipped weights (DEVELOPERS.md, "Shipped weights"): the build scripts run at a tiny setting, the shipped files
match their checksums, load with ``weights_only=True``, stand for the current default settings, and the models
built from them reproduce the outputs recorded beside them."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from trustlab.data import shipped
from trustlab.data.cache import sha256_file
from trustlab.errors import DataError
from trustlab.methods.advsim import shipped as adv_shipped
from trustlab.methods.coop import shipped as coop_shipped

ASSETS = [coop_shipped.WEIGHTS, adv_shipped.WEIGHTS]


@pytest.mark.parametrize("pt", ASSETS, ids=lambda p: p.name)
def test_shipped_file_matches_its_checksum_and_loads_weights_only(pt):
    meta = json.loads(pt.with_suffix(".json").read_text())
    assert sha256_file(pt) == meta["sha256"] and pt.stat().st_size == meta["bytes"]
    for k in ("command", "seed", "data", "key", "probe"):
        assert k in meta, k
    payload = torch.load(pt, map_location="cpu", weights_only=True)
    assert isinstance(payload, dict) and payload["format"].startswith("trustlab-")
    assert pt.stat().st_size < 8_000_000


def test_all_shipped_weights_stay_under_the_budget():
    """DEVELOPERS.md: all shipped weights together under 20 MB."""
    from pathlib import Path

    import trustlab

    files = list((Path(trustlab.__file__).parent / "methods").glob("*/weights/*.pt"))
    assert set(ASSETS) <= set(files)
    assert sum(f.stat().st_size for f in files) < 20_000_000


def test_shipped_clip_is_for_the_current_recipe_and_reproduces_its_logits():
    from trustlab.methods.coop.pretrain import load_pretrained_tiny, recipe_settings

    meta = shipped.info(coop_shipped.WEIGHTS)
    assert shipped.mismatch(meta["key"], recipe_settings()) is None, \
        f"the pretraining recipe changed: rebuild with `{coop_shipped.COMMAND}`"
    clip = load_pretrained_tiny()
    assert clip.source.startswith("shipped weights")
    got = np.array(coop_shipped.probe(clip))
    np.testing.assert_allclose(got, np.array(meta["probe"]["logits"]), rtol=meta["probe"]["rtol"],
                               atol=meta["probe"]["atol"])


def test_shipped_detector_is_for_the_default_settings_and_reproduces_its_outputs():
    from trustlab.methods.advsim.detector import DetectorConfig
    from trustlab.methods.advsim.lidar import BEVConfig, LidarConfig
    from trustlab.methods.advsim.stack import load_detector

    cfg, bcfg = DetectorConfig(), BEVConfig()
    net, det_meta = load_detector(cfg, LidarConfig(), bcfg)
    assert net.source.startswith("shipped weights"), \
        f"the detector defaults changed: rebuild with `{adv_shipped.COMMAND}`"
    meta = shipped.info(adv_shipped.WEIGHTS)
    assert det_meta["val_recall"] == pytest.approx(meta["val_recall"], abs=1e-4)
    got = adv_shipped.probe(net, bcfg.channels, bcfg.shape)
    for k in ("sum", "max"):
        np.testing.assert_allclose(got[k], meta["probe"][k], rtol=meta["probe"]["rtol"], atol=meta["probe"]["atol"])


def test_other_detector_settings_fall_back_to_training():
    from trustlab.methods.advsim.detector import DetectorConfig
    from trustlab.methods.advsim.lidar import BEVConfig, LidarConfig

    net, _, why = adv_shipped.load_if_matching(DetectorConfig(steps=4), LidarConfig(), BEVConfig())
    assert net is None and "detector.steps: 4, shipped 1000" in why
    # the decoding threshold is not part of what was trained: the shipped weights still apply
    net, _, why = adv_shipped.load_if_matching(DetectorConfig(threshold=0.5), LidarConfig(), BEVConfig())
    assert net is not None, why


def test_damaged_shipped_file_is_refused(tmp_path):
    pt = tmp_path / "w.pt"
    shipped.save(pt, {"format": "trustlab-test/1", "w": torch.ones(3)}, {"command": "x", "seed": 0, "key": {}})
    payload, _ = shipped.load(pt)
    assert torch.equal(payload["w"], torch.ones(3))
    data = bytearray(pt.read_bytes())
    data[len(data) // 2] ^= 0xFF
    pt.write_bytes(bytes(data))
    with pytest.raises(DataError, match="do not match the sha256"):
        shipped.load(pt)


def test_build_scripts_run_at_a_tiny_setting(tmp_path):
    """Both scripts end to end (seconds): write the .pt and .json, and the file loads back to the same model."""
    out = tmp_path / "det.pt"
    assert adv_shipped.main(["--tiny", "--out", str(out)]) == 0
    meta = shipped.info(out)
    assert meta["key"]["detector"]["steps"] == adv_shipped.TINY["steps"] and meta["sha256"] == sha256_file(out)
    payload, _ = shipped.load(out)
    from trustlab.methods.advsim.lidar import BEVConfig

    bcfg = BEVConfig()
    got = adv_shipped.probe(adv_shipped.net_from(payload, bcfg.channels, 24), bcfg.channels, bcfg.shape)
    np.testing.assert_allclose(got["sum"], meta["probe"]["sum"], rtol=1e-3, atol=1e-3)

    out = tmp_path / "clip.pt"
    assert coop_shipped.main(["--tiny", "--out", str(out)]) == 0
    meta = shipped.info(out)
    assert meta["key"]["steps"] == 3 and meta["sha256"] == sha256_file(out)
    payload, _ = shipped.load(out)
    clip = coop_shipped.clip_from(coop_shipped.unpack(payload))
    np.testing.assert_allclose(np.array(coop_shipped.probe(clip)), np.array(meta["probe"]["logits"]), rtol=1e-3,
                               atol=1e-3)
    # tiny settings are not the recipe: never picked up as the shipped model
    arrays, why = coop_shipped.load_if_matching(out)
    assert arrays is None and "batch: 96, shipped 16" in why


def test_portable_token_init_is_fixed():
    """The token rows the shipped file does not store are regenerated: their values must never change."""
    from trustlab.methods.coop.pretrain import portable_token_init

    a = portable_token_init(5, 4, 0)
    assert a.dtype == np.float32 and a.shape == (5, 4)
    np.testing.assert_array_equal(a[0], np.array([0.005049576051533222, -0.046793948858976364, -0.0016323463059961796,
                                                  -0.0017812035512179136], np.float32))
    np.testing.assert_array_equal(a, portable_token_init(5, 4, 0))
    assert abs(float(portable_token_init(2000, 64, 0).std()) - 0.02) < 0.001
