"""Bad inputs of issue 6 fail with one clear line before any training."""

from __future__ import annotations

from pathlib import Path

import pytest

import trustlab.methods  # noqa: F401
from trustlab.errors import ConfigError
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
    ],
)
def test_bad_input_is_one_config_error_line(recipe: str, overrides: list[str], message: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        run_recipe(recipe, overrides=overrides, runs_root=tmp_path, quiet=True)
    assert "\n" not in str(err.value)
