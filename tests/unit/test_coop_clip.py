"""Real CLIP through open_clip: local checkpoints, the BPE tokenizer, clear errors."""

from __future__ import annotations

import open_clip
import pytest
import torch

from trustlab.errors import ConfigError, NotFoundError
from trustlab.methods.coop.clip_model import build_clip
from trustlab.methods.coop.config import CoOpConfig
from trustlab.methods.coop.method import CoOp
from trustlab.methods.coop.prompts import encode_prompts, token_embedding


@pytest.fixture(scope="module")
def vit_checkpoint(tmp_path_factory):
    """A ViT-S-32-alt built by open_clip (random weights), saved as a plain state dict."""
    torch.manual_seed(0)
    model = open_clip.create_model("ViT-S-32-alt", pretrained=None)
    path = tmp_path_factory.mktemp("ckpt") / "vit_s32.pt"
    torch.save(model.state_dict(), path)
    return path, model


@pytest.mark.slow
def test_open_clip_architecture_from_local_checkpoint(vit_checkpoint):
    path, ref = vit_checkpoint
    clip = build_clip("ViT-S-32-alt", str(path))
    assert clip.image_size == 224 and clip.context_length == 77
    for k, v in ref.state_dict().items():
        assert torch.equal(clip.model.state_dict()[k], v), k
    # CoOp runs on it: 32x32 inputs are resized to 224; the text encoder matches open_clip's
    tokens = clip.tokenize(["a photo of a seven."])
    with torch.no_grad():
        assert torch.allclose(encode_prompts(clip.model, token_embedding(clip.model)(tokens), tokens),
                              clip.model.encode_text(tokens), atol=1e-4)
        logits = CoOp(clip, ["zero", "seven"], CoOpConfig(n_ctx=4))(torch.rand(2, 3, 32, 32))
    assert logits.shape == (2, 2)


@pytest.mark.slow
def test_vit_checkpoint_into_tiny_is_refused(vit_checkpoint):
    path, _ = vit_checkpoint
    with pytest.raises(ConfigError, match="does not match clip.arch 'tiny'"):
        build_clip("tiny", str(path))


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    torch.manual_seed(0)
    state = build_clip("tiny", None).model.state_dict()
    state["visual.conv1.weight"] = torch.zeros(96, 3, 4, 4)  # a patch-4 ViT stem, not the tiny ResNet's 3x3 stem
    path = tmp_path / "other.pt"
    torch.save(state, path)
    with pytest.raises(ConfigError, match="does not match clip.arch 'tiny'"):
        build_clip("tiny", str(path))


def test_missing_or_unreadable_checkpoint(tmp_path):
    with pytest.raises(NotFoundError, match="not a file"):
        build_clip("tiny", str(tmp_path / "nope.pt"))
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="not a readable CLIP checkpoint"):
        build_clip("tiny", str(bad))


def test_unknown_architecture_has_a_hint():
    with pytest.raises(ConfigError, match="did you mean 'ViT-B-32'"):
        build_clip("ViT-B-32x", None)


def test_tokenizer_is_open_clips_bpe():
    clip = build_clip("tiny", None)
    ref = open_clip.tokenize(["a photo of a seven."], context_length=24)
    assert torch.equal(clip.tokenize(["a photo of a seven."]), ref)
    assert clip.token_count("brick wall") == 2


def test_tiny_checkpoint_round_trip(tmp_path):
    torch.manual_seed(1)
    clip = build_clip("tiny", None)
    path = tmp_path / "tiny.pt"
    torch.save(clip.model.state_dict(), path)
    again = build_clip("tiny", str(path))
    x = torch.rand(2, 3, 32, 32)
    assert torch.allclose(clip.encode_images(x), again.encode_images(x))


def test_user_checkpoint_loads_without_the_random_init_warning(tmp_path, caplog, capsys):
    """open_clip's 'No pretrained weights loaded ... initialized randomly' is not shown when clip.weights is given;
    one stderr line names the file instead (issue 25 item 5)."""
    import logging

    torch.manual_seed(0)
    model = open_clip.create_model("RN50", pretrained=None)
    path = tmp_path / "rn50.pt"
    torch.save(model.state_dict(), path)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        clip = build_clip("RN50", str(path))
    assert not [r for r in caplog.records if "No pretrained weights" in r.getMessage()]
    assert f"weights loaded from {path}" in capsys.readouterr().err
    assert torch.equal(clip.model.state_dict()["visual.conv1.weight"], model.state_dict()["visual.conv1.weight"])
