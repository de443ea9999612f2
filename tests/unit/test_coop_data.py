"""Captioned scenes, downstream tasks, few-shot sampling and the tiny CLIP pretraining loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trustlab.errors import ConfigError, DataError
from trustlab.methods.coop import pretrain, scenes
from trustlab.methods.coop.tasks import embedded_task, sample_shots


def test_scenes_are_deterministic_and_attributes_valid():
    a = scenes.make_scenes(30, "pretrain", seed=3)
    b = scenes.make_scenes(30, "pretrain", seed=3)
    assert np.array_equal(a["images"], b["images"]) and np.array_equal(a["attrs"], b["attrs"])
    assert a["images"].shape == (30, 32, 32, 3) and a["images"].dtype == np.uint8
    for j, name in enumerate(scenes.ATTRS):
        assert a["attrs"][:, j].max() < len(scenes.VALUES[name])
    two = a["attrs"][:, scenes.ATTRS.index("count")] == 1
    assert (a["attrs"][two, scenes.ATTRS.index("position")] == 1).all()  # pairs are centred
    c = scenes.make_scenes(30, "downstream", seed=3)
    assert not np.array_equal(a["images"], c["images"])


def test_object_colour_is_visible():
    """A red scene has more red than green in its brightest pixels (the colour attribute is rendered)."""
    rng = np.random.default_rng(0)
    digits = (np.full((1, 28, 28), 255, np.uint8), np.array([7]))
    img = scenes.compose(rng, np.array([7, 0, 0, 0, 1, 0]), digits, scenes._fonts()[:1], 0).astype(float)
    centre = img[12:20, 12:20].reshape(-1, 3).mean(0)
    assert centre[0] > 150 and centre[0] > 2 * centre[1]


def test_captions_vary_and_name_the_attributes():
    rng = np.random.default_rng(0)
    row = np.array([7, 1, 0, 1, 2, 0])  # seven, printed, red, brick, right, one
    caps = {scenes.caption(rng, row) for _ in range(200)}
    assert len(caps) > 150
    text = " ".join(caps)
    for word in ("seven", "7", "printed", "red", "brick", "right"):
        assert word in text


def test_embedded_tasks_use_held_out_downstream_scenes():
    t = embedded_task("background")
    assert t.classes == scenes.BACKGROUNDS and t.templates[0] == "a photo of a {}."
    assert len(t.pools["train"].y) == 1800 and len(t.pools["test"].y) == 800
    with pytest.raises(ConfigError, match="did you mean 'colour'"):
        embedded_task("color")
    pos = embedded_task("position")
    assert len(pos.pools["test"].y) < 800  # two-object scenes dropped


def test_sample_shots():
    y = torch.tensor([0] * 5 + [1] * 3)
    idx = sample_shots(y, 2, 3, seed=0)
    assert sorted(y[idx].tolist()) == [0, 0, 0, 1, 1, 1]
    assert torch.equal(idx, sample_shots(y, 2, 3, seed=0))
    with pytest.raises(DataError, match="class 'b' has 3 training images but 4 shots"):
        sample_shots(y, 2, 4, seed=0, classes=["a", "b"])


def test_pretraining_loop_learns_and_round_trips(monkeypatch, tmp_path):
    small = {"pretrain": scenes.make_scenes(64, "pretrain", 0), "downstream": scenes.make_scenes(8, "downstream", 0)}
    monkeypatch.setattr(scenes, "load_scenes", lambda cache_dir=None: small)
    state, stats = pretrain.pretrain(steps=6, batch_size=16, lr=2e-3, seed=0)
    assert stats["loss"].shape == (6,) and np.isfinite(stats["loss"]).all()
    model = pretrain.tiny_model()
    model.load_state_dict({k: torch.as_tensor(v) for k, v in state.items()})
    assert not model.token_embedding.sparse
    idx = pretrain._batch_indices(np.random.default_rng(0), small["pretrain"]["attrs"], 16)
    assert len(set(idx.tolist())) == len(idx)


def test_caption_tokenizer_matches_open_clip():
    from trustlab.methods.coop.clip_model import build_clip

    clip = build_clip("tiny", None)
    fast = pretrain.CaptionTokenizer(clip)
    rng = np.random.default_rng(0)
    attrs = scenes.make_scenes(40, "pretrain", 1)["attrs"]
    texts = [scenes.caption(rng, row) for row in attrs] + ["A Hand-Written 7, on the left.", "a " * 40]
    assert torch.equal(fast(texts), clip.tokenize(texts))


def test_recipe_change_changes_the_cache_key(monkeypatch):
    key = pretrain.recipe_key()
    monkeypatch.setitem(pretrain.RECIPE, "steps", pretrain.STEPS + 1)
    assert pretrain.recipe_key() != key


def test_data_entries_build_and_show(monkeypatch, tmp_path):
    from trustlab.experiment import DataConfig
    from trustlab.registry import DATASETS

    cfg = DataConfig(name="coop-scenes", target="")
    scenes_entry = DATASETS.get("coop-scenes")
    lines = scenes_entry.build(cfg)
    assert any(ln.startswith("pretrain") and "12000 scenes" in ln for ln in lines)
    assert any(ln.startswith("downstream") and "3000 scenes" in ln for ln in lines)
    paths = scenes_entry.show(cfg, tmp_path)
    assert [p.name for p in paths] == ["coop-scenes_pretrain.png", "coop-scenes_downstream.png"]
    # the CLIP entry, on random weights standing in for the cached pretrained ones (no pretraining in tests)
    model = pretrain.tiny_model(0)
    fake = {"weights": {k: v.numpy() for k, v in model.state_dict().items()},
            "stats": {"seconds": np.array([1.0]), "loss": np.linspace(4, 3, 20, dtype=np.float32),
                      "steps": np.array([20]), "batch_size": np.array([8])}}
    monkeypatch.setattr(pretrain, "pretrained_arrays", lambda cache_dir=None, shipped=True: fake)
    clip_entry = DATASETS.get("coop-tinyclip")
    out = clip_entry.build(cfg)
    assert out[0].startswith("tiny CLIP: 20 steps x 8 pairs") and len(out) == 6
    assert all(line.startswith("zero-shot") for line in out[1:])
    assert clip_entry.show(cfg, tmp_path)[0].is_file()


@pytest.mark.slow
def test_real_pretraining_reaches_its_zero_shot_accuracy(tmp_path):
    """The whole embedded recipe (about 60 CPU-s): zero-shot test accuracy stays where the README reports it."""
    from trustlab.methods.coop.method import prompt_text_features, zero_shot_accuracy

    clip = pretrain.load_pretrained_tiny(cache_dir=str(tmp_path), shipped=False)  # the recipe, not the shipped file
    # README (v3): digit 0.825, colour 0.991, style 0.592, position 0.813 (chance <= 0.33)
    floor = {"digit": 0.75, "colour": 0.95, "style": 0.5, "position": 0.75}
    for name, least in floor.items():
        task = embedded_task(name, cache_dir=str(tmp_path))
        te = task.pools["test"]
        acc = zero_shot_accuracy(clip, prompt_text_features(clip, task.templates[0], task.classes),
                                 clip.encode_images(te.x), te.y)
        assert acc >= least, (name, acc)
