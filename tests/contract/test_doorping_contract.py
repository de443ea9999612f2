"""Every registered doorping recipe, backdoor attack and defense runs on tiny CPU data."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import trustlab.methods  # noqa: F401  (registers everything)
from trustlab.experiment import DataConfig, TrainConfig
from trustlab.methods.doorping.attack import BACKDOORS
from trustlab.methods.doorping.config import AttackConfig, DefenseConfig
from trustlab.methods.doorping.defenses import DEFENSES, run_defenses
from trustlab.methods.doorping.evaluate import train_fresh
from trustlab.methods.doorping.recipes import TINY
from trustlab.methods.doorping.triggers import PatchTrigger
from trustlab.models import build_model
from trustlab.recipes import run_recipe
from trustlab.registry import DATASETS, RECIPES

RECIPE_NAMES = [n for n in RECIPES.names() if n.startswith(("distill/", "backdoor/"))]


pytestmark = pytest.mark.usefixtures("one_thread")


def test_every_method_and_attack_has_a_recipe() -> None:
    for m in ("dc", "dsa", "dm", "dd"):
        assert f"distill/{m}" in RECIPE_NAMES
        for kind in BACKDOORS.names():
            assert f"backdoor/{kind}-{m}" in RECIPE_NAMES
    assert "distill/full-data" in RECIPE_NAMES
    assert len(DEFENSES) >= 4


@pytest.mark.parametrize("name", RECIPE_NAMES)
def test_recipe_runs_saves_and_reloads(name: str, tmp_path: Path) -> None:
    assert RECIPES.get(name).tiny == TINY
    rec = run_recipe(name, overrides=TINY, runs_root=tmp_path, quiet=True)
    s = rec.summary()
    assert rec.done and 0.0 <= s["cta"] <= 1.0 and 0.0 <= s["asr"] <= 1.0 and "asr_reference" in s
    assert set(s["per_model"]) == {"model0"}
    if name == "distill/full-data":
        assert s["synthetic_size"] == s["train_size"] == 200
        return
    assert s["synthetic_size"] == 100 and (rec.path / "artifacts" / "distilled.png").is_file()
    assert rec.checkpoint_path("distill.pt").is_file()
    data = DATASETS.get("distilled")(DataConfig(name="distilled", root=str(rec.path), image_size=16))
    assert len(data.get("distilled", "train")) == 100
    assert ("triggered" in data.domains) == name.startswith("backdoor/")
    if name.startswith("backdoor/"):
        assert (rec.path / "artifacts" / "trigger.png").is_file() and s["attack_info"]["poisoned"] == 10
        assert "asr_clean_real" in s  # the default control
        if name.startswith("backdoor/doorping"):
            assert s["trigger_unit"] == pytest.approx(0.3081)  # MNIST's std: the reference's trigger units


@pytest.mark.parametrize("kind", BACKDOORS.names())
def test_backdoor_poisons_the_requested_share(kind: str) -> None:
    attack = BACKDOORS.get(kind)(AttackConfig(kind=kind, portion=0.1), (1, 16, 16), 10,
                                 torch.Generator().manual_seed(0))
    x, y = torch.rand(50, 1, 16, 16), torch.arange(50) % 10
    xp, yp = attack.poison(x, y)
    assert len(attack.indices) == 5 and (yp[attack.indices] == 0).all()
    assert torch.allclose(xp[attack.indices], attack.trigger.stamp(x[attack.indices]))


def test_every_defense_runs_and_reports_detection_and_after_metrics() -> None:
    torch.manual_seed(0)
    k = 4
    syn_y = torch.arange(k).repeat_interleave(6)
    syn_x = torch.rand(len(syn_y), 1, 16, 16) * 0.2
    for c in range(k):
        syn_x[syn_y == c, :, c * 4 : c * 4 + 4] += 0.7
    trigger = PatchTrigger.solid((1, 16, 16), 2, target=0)
    syn_x[:6] = trigger.stamp(syn_x[:6])
    x_test, y_test = syn_x.clone(), syn_y.clone()

    def make_net() -> torch.nn.Module:
        return build_model("small_cnn", k, input_size=16, width=0.0625, in_chans=1)

    train = TrainConfig(epochs=3, lr=0.05, schedule="constant")
    model = train_fresh(syn_x, syn_y, make_net, train, batch_size=32, seed=0)
    cfg = DefenseConfig(names=DEFENSES.names())
    cfg.neural_cleanse.steps, cfg.neural_cleanse.unlearn_epochs = 3, 1
    cfg.fine_pruning.finetune_epochs = 1
    cfg.strip.test_images, cfg.strip.num_blends = 8, 2
    out = run_defenses(cfg, model=model, syn_x=syn_x, syn_y=syn_y, x_test=x_test, y_test=y_test, trigger=trigger,
                       make_net=make_net, train_cfg=train, batch_size=32, augment=None, seed=0,
                       before={"cta": 1.0, "asr": 1.0})
    assert set(out) == set(DEFENSES.names())
    for name, row in out.items():
        assert {"detected", "cta_after", "asr_after", "cta_before", "asr_before", "seconds"} <= set(row), name
        assert all(isinstance(v, float) for v in row.values())


def test_unknown_defense_name_is_a_config_error() -> None:
    from trustlab.errors import ConfigError

    with pytest.raises(ConfigError, match="defense.names has unknown"):
        run_defenses(DefenseConfig(names=["magic"]))


def test_controls_and_a_saved_trigger(tmp_path: Path) -> None:
    """eval.controls measure the final trigger three ways; trigger_from reuses it in a clean or naive run."""
    door = run_recipe("backdoor/doorping-dc", overrides={**TINY, "eval.controls": ["clean-distilled", "full-data"],
                                                        "eval.full_data_epochs": 1}, runs_root=tmp_path, quiet=True)
    s = door.summary()
    assert {"clean_cta", "asr_clean_distilled", "cta_full_data", "asr_full_data"} <= set(s)
    assert "asr_clean_real" not in s
    lo, hi = s["trigger_range"]
    assert 0.0 <= lo <= hi <= 1.0  # bounded by default
    for recipe, kind in (("distill/dc", "none"), ("distill/full-data", "naive")):
        rec = run_recipe(recipe, overrides={**TINY, "attack.kind": kind, "attack.trigger_from": str(door.path)},
                         runs_root=tmp_path, quiet=True)
        assert rec.summary()["trigger_range"] == pytest.approx([lo, hi])
