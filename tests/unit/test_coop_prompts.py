"""CoOp's prompt learner and text encoder on a randomly initialised tiny open_clip CLIP."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from trustlab.errors import ConfigError
from trustlab.methods.coop.clip_model import build_clip
from trustlab.methods.coop.config import CoOpConfig
from trustlab.methods.coop.method import CoOp, fit_coop
from trustlab.methods.coop.prompts import PromptLearner, encode_prompts, nearest_words, token_embedding

NAMES = ["zero", "seven", "brick wall"]


@pytest.fixture(scope="module")
def clip():
    torch.manual_seed(0)
    return build_clip("tiny", None)


def test_text_encoder_matches_open_clip_encode_text(clip):
    tokens = clip.tokenize(["a photo of a seven.", "two red printed digits on grass", "x"])
    ours = encode_prompts(clip.model, token_embedding(clip.model)(tokens), tokens)
    with torch.no_grad():
        ref = clip.model.encode_text(tokens)
    assert torch.allclose(ours, ref, atol=1e-5)


@pytest.mark.parametrize("position", ["end", "middle", "front"])
@pytest.mark.parametrize("csc", [False, True])
def test_prompt_layout(clip, position, csc):
    pl = PromptLearner(clip, NAMES, n_ctx=4, csc=csc, position=position)
    assert pl.ctx.shape == ((3, 4, 64) if csc else (4, 64))
    prompts = pl()
    assert prompts.shape == (3, clip.context_length, 64)
    emb = token_embedding(clip.model)
    name_tok = clip.tokenize(["brick wall"])[0, 1:3]  # two BPE tokens
    start = {"end": 1 + 4, "middle": 1 + 2, "front": 1}[position]
    assert torch.allclose(prompts[2, start : start + 2], emb(name_tok))
    ctx = pl.ctx[2] if csc else pl.ctx
    ctx_pos = {"end": [1, 2, 3, 4], "middle": [1, 2, 5, 6], "front": [3, 4, 5, 6]}[position]
    assert torch.allclose(prompts[2, ctx_pos], ctx)
    # SOS first; "." and EOT follow the last context/name token
    assert torch.allclose(prompts[:, 0], emb(clip.tokenize(["x"])[:, 0]).expand(3, -1))
    eot = pl.tokenized[2].argmax()
    assert int(eot) == 1 + 4 + 2 + 1


def test_phrase_init(clip):
    pl = PromptLearner(clip, NAMES, n_ctx=16, init="a photo of a")
    assert pl.n_ctx == 4 and pl.ctx.shape == (4, 64)
    tok = clip.tokenize(["a photo of a"])[0, 1:5]
    assert torch.allclose(pl.ctx, token_embedding(clip.model)(tok))
    assert nearest_words(clip, pl.ctx, k=1) == [["a"], ["photo"], ["of"], ["a"]]


def test_only_the_context_is_trained(clip):
    model = CoOp(clip, NAMES, CoOpConfig(n_ctx=4, csc=True))
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable == ["prompt_learner.ctx"]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ctx0 = model.prompt_learner.ctx.detach().clone()
    x, y = torch.rand(6, 3, 32, 32), torch.tensor([0, 1, 2, 0, 1, 2])
    losses = fit_coop(model, None, y, CoOpConfig(epochs=3, lr=1.0, warmup_epochs=0, batch_size=3), 1, 0, images=x)
    assert len(losses) == 3
    after = model.state_dict()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed == ["prompt_learner.ctx"]
    assert not torch.equal(ctx0, model.prompt_learner.ctx)
    assert not model.clip_model.training  # the frozen CLIP stays in eval mode


def test_training_lowers_the_loss_on_features(clip):
    torch.manual_seed(0)
    feats = F.normalize(torch.randn(12, 64), dim=-1)
    y = torch.arange(12) % 3
    model = CoOp(clip, NAMES, CoOpConfig(n_ctx=4, csc=True))  # class-specific: can fit any labelling
    losses = fit_coop(model, feats, y, CoOpConfig(epochs=30, lr=0.5, warmup_epochs=1), 16, 0)
    assert losses[-1] < 0.8 * losses[1]


def test_class_name_too_long_is_a_config_error(clip):
    long = " ".join(["antidisestablishmentarianism"] * 4)
    with pytest.raises(ConfigError, match="context length is 24"):
        PromptLearner(clip, ["zero", long], n_ctx=16)


def test_bad_position_and_n_ctx(clip):
    with pytest.raises(ConfigError, match="position"):
        PromptLearner(clip, NAMES, position="left")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="n_ctx"):
        PromptLearner(clip, NAMES, n_ctx=0)


def test_nearest_words_finds_planted_tokens(clip):
    emb = token_embedding(clip.model).weight
    ids = clip.tokenize(["photo brick"])[0, 1:3]
    assert nearest_words(clip, emb[ids].clone() + 1e-4, k=1) == [["photo"], ["brick"]]
