"""Bad inputs of issue 6 fail with one clear line before any training."""

from __future__ import annotations

from pathlib import Path

import pytest

import trustlab.methods  # noqa: F401
from trustlab.errors import TrustlabError
from trustlab.recipes import run_recipe


@pytest.mark.parametrize(
    ("recipe", "overrides", "message"),
    [
        ("distill/dm", ["data.max_per_domain=60", "distill.ipc=10"], r"distill.ipc 10 must be between 1 and the \d "
         r"real images of class \d+; lower distill.ipc"),
        ("distill/dc", ["distill.ipc=1000"], r"distill.ipc 1000 must be between 1 and the \d+ real images"),
        ("backdoor/naive-dc", ["attack.size=31"], r"attack.size 31 does not fit 32x32 images with a 1-pixel margin; "
         r"use 1..30"),
        ("backdoor/doorping-dm", ["attack.portion=0"], r"attack.portion must be in \(0, 1\]"),
        ("backdoor/naive-dm", ["attack.portion=1.5"], r"attack.portion must be in \(0, 1\]"),
        ("backdoor/doorping-dc", ["attack.target=10"], r"attack.target 10 is not a class; use a label in 0..9"),
        ("backdoor/naive-dd", ["attack.target=-1"], r"attack.target -1 is not a class"),
        ("distill/full-data", ["attack.kind=doorping"], r"attack.kind=doorping optimises its trigger during"),
        ("backdoor/doorping-dc", ["distill.outer_loop=1"], r"set distill.outer_loop >= 2"),
        ("distill/dm", ["distill.method=gm"], r"config key 'distill.method'"),
        ("backdoor/doorping-dc", ["attack.trigger_from=/x"], r"attack.trigger_from fixes the trigger; DOORPING "
         r"learns its own"),
        ("backdoor/doorping-dc", ["attack.trigger_unit=0"], r"attack.trigger_unit must be > 0"),
        ("backdoor/doorping-dc", ["eval.controls=[clean,full-data]"], r"eval.controls has unknown \['clean'\]"),
        ("backdoor/doorping-dc", ["eval.full_data_epochs=0"], r"eval.full_data_epochs must be >= 1"),
        ("backdoor/doorping-dc", ["eval.val_size=-1"], r"eval.val_size must be >= 0"),
        ("backdoor/naive-dm", ["data.max_per_domain=200", "eval.val_size=150"], r"eval.val_size 150 leaves fewer "
         r"than 10 training images per class of 200"),
        ("distill/dc", ["attack.trigger_from=/nonexistent/run"], r"no distilled set at '/nonexistent/run'"),
    ],
)
def test_bad_input_is_one_config_error_line(recipe: str, overrides: list[str], message: str, tmp_path: Path) -> None:
    with pytest.raises(TrustlabError, match=message) as err:
        run_recipe(recipe, overrides=overrides, runs_root=tmp_path, quiet=True)
    assert "\n" not in str(err.value)


def test_trigger_from_a_clean_run_or_other_images_is_one_data_error(tmp_path: Path) -> None:
    from trustlab.errors import DataError
    from trustlab.methods.doorping.recipes import TINY

    clean = run_recipe("distill/dm", overrides=TINY, runs_root=tmp_path, quiet=True)
    with pytest.raises(DataError, match="carries no trigger; point attack.trigger_from at a backdoor/"):
        run_recipe("distill/dm", overrides={**TINY, "attack.trigger_from": str(clean.path)}, runs_root=tmp_path)
    door = run_recipe("backdoor/doorping-dm", overrides=TINY, runs_root=tmp_path, quiet=True)
    with pytest.raises(DataError, match=r"the trigger at .* is for images \(1, 16, 16\), these are \(1, 32, 32\)"):
        run_recipe("distill/dm", overrides={**TINY, "data.image_size": 32, "attack.trigger_from": str(door.path)},
                   runs_root=tmp_path)


def test_hold_out_carves_a_disjoint_stratified_validation_split() -> None:
    import torch

    from trustlab.methods.doorping.data import Source
    from trustlab.methods.doorping.recipes import hold_out

    y = torch.arange(10).repeat_interleave(40)  # 400 images, 40 per class
    x = torch.arange(400, dtype=torch.float32).view(400, 1, 1, 1)
    src = Source("toy", [str(c) for c in range(10)], x, y, x[:5], y[:5])
    rest, xv, yv = hold_out(src, 50, seed=0)
    assert len(yv) == 50 and len(rest.y_train) == 350
    assert torch.bincount(yv, minlength=10).tolist() == [5] * 10  # class shares kept
    assert not set(xv.flatten().tolist()) & set(rest.x_train.flatten().tolist())  # disjoint
    assert torch.equal(hold_out(src, 50, seed=0)[1], xv)  # seeded
    assert hold_out(src, 0, seed=0) == (src, None, None)
