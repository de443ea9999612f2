"""Every config key acts, or it is not there (issue 24 item 1).

The check runs inside the generated contract test (``test_registries.py::test_every_recipe_runs_tiny``: one tiny
run per recipe, two checks): the run gets a config that records which fields code reads
(``tests/contract/config_reads.py``), and :func:`unread_keys` says which fields no code path read. A key is
excused only when

- it acts under a setting this run does not use (``ACTS_ONLY_WHEN``: a predicate on the config says when it
  acts; when the predicate holds, the key must be read), or
- it is listed in ``ALLOWED_UNREAD`` with the reason and the issue that removes it. An entry whose key is read
  now fails too ("remove it from the list"): the list only shrinks.

This module also tests the mechanism on a fake recipe, and that every entry names a recipe and a key that exist.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import trustlab.methods  # noqa: F401  (registers every recipe)
from trustlab.config import to_dict
from trustlab.experiment import DataConfig, TrainConfig
from trustlab.recipes import Recipe, RunContext, run_recipe
from trustlab.registry import RECIPES

from .config_reads import keys, recipe_reads


def _warm(t: TrainConfig) -> bool:
    return bool(t.warmup_epochs or t.warmup_steps)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


# (section class, field) -> when the field acts. Fields of the shared sections that only one setting reads.
SECTION_ACTS_ONLY_WHEN: dict[tuple[type, str], Callable[[Any], bool]] = {
    (TrainConfig, "gamma"): lambda t: t.schedule == "step",
    (TrainConfig, "step_size"): lambda t: t.schedule == "step",
    (TrainConfig, "pct_start"): lambda t: t.schedule == "onecycle",
    (TrainConfig, "warmup"): _warm,
    (TrainConfig, "warmup_factor"): lambda t: _warm(t) and t.warmup == "constant",
    (TrainConfig, "amp_dtype"): lambda t: t.amp and _cuda(),
    (TrainConfig, "momentum"): lambda t: t.optimizer == "sgd",
    (DataConfig, "root"): lambda d: d.name == "folder",
    (DataConfig, "skip_corrupt"): lambda d: d.name == "folder",
    (DataConfig, "val_fraction"): lambda d: d.name == "folder",
    (DataConfig, "test_fraction"): lambda d: d.name == "folder",
}


def _has_grid(d: Any) -> bool:
    from trustlab.methods.ood.evaluate import make_detector

    return any(make_detector(n, d.params, d.grid, d.grids).search for n in d.names)


def _defense(name: str) -> Callable[[Any], bool]:
    return lambda cfg: name in cfg.defense.names


def _distill(*methods: str) -> Callable[[Any], bool]:
    return lambda cfg: cfg.distill.method in methods


# (recipe glob, key glob) -> when the key acts, a predicate on the whole config of that recipe.
ACTS_ONLY_WHEN: dict[tuple[str, str], Callable[[Any], bool]] = {
    # coop: the reference's epoch table is scaled unless coop.epochs fixes the epochs; the shipped weights are the
    # embedded pretrained tiny CLIP's; class names and templates are for a user's folder (embedded tasks have theirs)
    ("coop/*", "coop.epoch_scale"): lambda cfg: cfg.coop.epochs is None,
    ("coop/*", "clip.shipped"): lambda cfg: cfg.clip.arch == "tiny" and not cfg.clip.weights and cfg.clip.pretrained,
    ("coop/*", "fewshot.classnames"): lambda cfg: cfg.data.name == "folder",
    ("coop/*", "fewshot.templates"): lambda cfg: cfg.data.name == "folder",
    # coop's data: section (CoOpDataConfig): a folder's root, split and held-out domains (coop/dg)
    **{("coop/*", f"data.{k}"): (lambda cfg: cfg.data.name == "folder")
       for k in ("root", "skip_corrupt", "val_fraction", "test_fraction", "split_seed", "target")},
    # GMoE's expert settings act on vit_moe only; the dense ViT beside it has no experts
    ("gmoe/*", "moe.*"): lambda cfg: cfg.model.name == "vit_moe",
    ("gmoe/*", "vit.moe_blocks"): lambda cfg: cfg.model.name == "vit_moe",
    ("gmoe/*", "vit.match_dense_flops"): lambda cfg: cfg.model.name == "vit_moe",
    # doorping: each defense reads its own section when it is named in defense.names; each distiller its own
    # settings
    ("*", "defense.neural_cleanse.*"): _defense("neural-cleanse"),
    ("*", "defense.fine_pruning.*"): _defense("fine-pruning"),
    ("*", "defense.strip.*"): _defense("strip"),
    ("*", "defense.spectral.*"): _defense("spectral"),
    ("*", "defense.activation_clustering.*"): _defense("activation-clustering"),
    ("*", "distill.dd_steps"): _distill("dd"),
    ("*", "distill.dd_lr_net"): _distill("dd"),
    ("*", "distill.lr_net"): _distill("dc", "dsa"),
    ("*", "distill.momentum_img"): _distill("dc", "dsa", "dm"),
    ("*", "distill.dsa_strategy"): _distill("dsa", "dm"),
    # the full-data control (poisoned real data, no distillation) reads its schedule
    ("*", "eval.full_data_schedule"): lambda cfg: "full-data" in cfg.eval.controls and cfg.distill.method != "none",
    # psg: a PSG root's json, image cap and val share are read when data.name=psg (not on the embedded scenes)
    ("psg/*", "data.json"): lambda cfg: cfg.data.name == "psg",
    ("psg/*", "data.max_images"): lambda cfg: cfg.data.name == "psg",
    ("psg/*", "data.val_fraction"): lambda cfg: cfg.data.name == "psg",
    # PSGTR's pretrained ResNet weights: only with a ResNet backbone (the paper suite's --data resnet50)
    ("psg/psgtr", "method.backbone_weights"): lambda cfg: cfg.method.backbone != "tiny",
    # (the first matching entry decides: trigger_batch before the attack.trigger_* glob)
    ("backdoor/*", "attack.trigger_batch"): lambda cfg: (cfg.attack.kind == "doorping"
                                                        and cfg.attack.trigger_input == "poisoned"),
    ("backdoor/*", "attack.alpha"): lambda cfg: cfg.attack.kind == "doorping",
    ("backdoor/*", "attack.topk"): lambda cfg: cfg.attack.kind == "doorping",
    ("backdoor/*", "attack.trigger_*"): lambda cfg: cfg.attack.kind == "doorping",
    # distill/* run clean (attack.kind=none); --set attack.kind=naive|doorping poisons the data as backdoor/* do
    # (distill/full-data with attack.kind=naive is the BadNets control of doorping's defense claims)
    ("distill/*", "attack.portion"): lambda cfg: cfg.attack.kind != "none",
    ("distill/*", "attack.alpha"): lambda cfg: cfg.attack.kind == "doorping",
    ("distill/*", "attack.topk"): lambda cfg: cfg.attack.kind == "doorping",
    ("distill/*", "attack.trigger_*"): lambda cfg: cfg.attack.kind == "doorping",
    # doorping's data.root: the torchvision-stored sources (tv-*) are read from it, the grey ones are embedded
    ("backdoor/*", "data.root"): lambda cfg: cfg.data.name.startswith("tv-"),
    ("distill/*", "data.root"): lambda cfg: cfg.data.name.startswith("tv-"),
    # doorping's and min-max's train: section is NoEvalTrainConfig (TrainConfig without eval_every): TrainConfig's
    # rules apply
    **{(r, f"train.{k}"): (lambda cfg, k=k: SECTION_ACTS_ONLY_WHEN[(TrainConfig, k)](cfg.train))
       for r in ("backdoor/*", "distill/*", "attack/*") for (cls, k) in SECTION_ACTS_ONLY_WHEN if cls is TrainConfig},
    # min-max's attack recipes (AttackDataConfig): a grey set (mnist5k, fashion-mnist) is read at 28 px from name,
    # max_per_domain and split_seed; any other registered dataset also reads these (folder / torchvision keys)
    **{("attack/*", f"data.{k}"): (lambda cfg: cfg.data.name not in ("mnist5k", "fashion-mnist"))
       for k in ("root", "target", "image_size", "skip_corrupt", "val_fraction", "test_fraction")},
    # distill/full-data trains on the (poisoned) real data: the distillation settings act with distill.method set
    ("distill/full-data", "distill.*"): lambda cfg: cfg.distill.method != "none",
    # ood/osr: the OOD-val sources' size acts when APS runs (detectors.aps, an OOD-val list, a detector with a grid);
    # ood/nd's tiny run reads it (mds, energy have grids), ood/osr's (msp, mls) has nothing to tune
    ("ood/osr", "split.val_size"): lambda cfg: bool(cfg.detectors.aps and cfg.split.val and _has_grid(cfg.detectors)),
    # pmtiqa: a pyiqa-style CSV's keys act with data.name=csv (the embedded iqa-distort has its own); data.fold picks
    # the test fold of a k-fold partition (data.folds > 0)
    **{("pmtiqa/*", f"data.{k}"): (lambda cfg: cfg.data.name == "csv")
       for k in ("meta", "root", "layout", "mos_range", "lower_better", "strict_range", "split_column", "split_index",
                 "split_file", "image_size")},
    ("pmtiqa/*", "data.fold"): lambda cfg: cfg.data.folds > 0,
    # peerpl: the confusion-matrix noise reads its matrix, or builds a uniform one from weight when none is given
    ("peerpl/*", "noise.matrix"): lambda cfg: cfg.noise.kind == "confusion",
    ("peerpl/*", "noise.weight"): lambda cfg: cfg.noise.kind == "confusion" and cfg.noise.matrix is None,
}

# Keys no code path reads today, by recipe (exact names), each group with its reason. Issue 24 item 1 removes them
# or makes them act; an entry that is read now fails the test, so the list only shrinks.
ALLOWED_UNREAD: dict[str, tuple[str, ...]] = {
    # empty: psg's loops (the last entries) run through engine.fit now; their train: sections hold the keys that act
}
# Found by this test and not fixed yet (issue 24 item 1: remove the key from the recipe's config or make it act).
# Each group says why the key is inert in those recipes.
KNOWN_UNREAD: dict[str, tuple[str, ...]] = {
}


def _listed(table: dict[str, tuple[str, ...]], recipe: str) -> set[str]:
    """Keys listed for ``recipe`` (a name, or a name with ``#``: more keys for the same recipe)."""
    return {k for name, ks in table.items() if name.rstrip("#") == recipe for k in ks}


def _section(cfg: Any, key: str) -> tuple[Any, str]:
    *path, name = key.split(".")
    owner = cfg
    for part in path:
        owner = object.__getattribute__(owner, part)
    return owner, name


def _acts_only_when(recipe: str, cfg: Any, key: str) -> Callable[[Any], bool] | None:
    owner, name = _section(cfg, key)
    for (cls, fname), pred in SECTION_ACTS_ONLY_WHEN.items():
        if type(owner) is cls and fname == name:
            return lambda c, o=owner, p=pred: p(o)
    for (rglob, kglob), pred in ACTS_ONLY_WHEN.items():
        if fnmatch.fnmatchcase(recipe, rglob) and fnmatch.fnmatchcase(key, kglob):
            return pred
    return None


def unread_keys(recipe: str, cfg: Any, read: set[str]) -> tuple[list[str], list[str]]:
    """(keys no code path read that nothing excuses, listed keys that are read now)."""
    excused = _listed(ALLOWED_UNREAD, recipe) | _listed(KNOWN_UNREAD, recipe)
    unread, stale = [], sorted(excused & read)
    for key in sorted(keys(cfg) - read):
        when = _acts_only_when(recipe, cfg, key)
        if when is not None and not when(cfg):
            continue  # acts under another setting
        if key not in excused:
            unread.append(key)
    return unread, stale


def check_keys_act(recipe: str, cfg: Any, read: set[str]) -> None:
    unread, stale = unread_keys(recipe, cfg, read)
    assert not unread, (f"recipe {recipe}: config keys that no code path reads (accepted, printed and ignored): "
                        f"{unread}; make them act, remove them from the recipe's config, or, if they act only "
                        f"under another setting, add that to ACTS_ONLY_WHEN in tests/contract/{Path(__file__).name}")
    assert not stale, (f"recipe {recipe}: {stale} are read now; remove them from ALLOWED_UNREAD/KNOWN_UNREAD in "
                       f"tests/contract/{Path(__file__).name}")


# --- the mechanism on a fake recipe --------------------------------------------------------------------------


@dataclass
class _Knobs:
    used: int = 1
    ignored: int = 2  # no code path reads it
    walked: int = 3  # only serialised (to_dict) and validated
    copied: int = 4  # read from a dataclasses.replace copy

    def __post_init__(self) -> None:
        if self.walked < 0:
            raise ValueError("walked >= 0")


@dataclass
class _FakeConfig:
    knobs: _Knobs = field(default_factory=_Knobs)
    train: TrainConfig = field(default_factory=TrainConfig)


def _fake_run(cfg: _FakeConfig, ctx: RunContext) -> dict[str, Any]:
    to_dict(cfg)  # generic code that walks every field: not a read
    repr(cfg.knobs)
    copy = dataclasses.replace(cfg.knobs, used=5)
    return {"value": float(cfg.knobs.used + copy.copied + cfg.train.seed + cfg.train.epochs)}


@pytest.fixture
def fake_recipe():
    recipe = Recipe("test/fake-config-reads", "a fake recipe for the config-reads test", _FakeConfig, _fake_run)
    RECIPES.add(recipe.name, recipe, recipe.description)
    yield recipe
    RECIPES._items.pop(recipe.name, None)  # noqa: SLF001  (test-only cleanup)


def test_the_mechanism_finds_an_unread_key(fake_recipe: Recipe, tmp_path: Path) -> None:
    with recipe_reads(fake_recipe) as (reads, seen):
        run_recipe(fake_recipe.name, runs_root=tmp_path, quiet=True)
    assert {"knobs.used", "knobs.copied", "train.seed", "train.epochs"} <= reads.keys
    assert not {"knobs.ignored", "knobs.walked"} & reads.keys  # to_dict, repr, replace, __post_init__ do not count
    assert "knobs.ignored" in seen["keys"]
    unread, stale = unread_keys(fake_recipe.name, fake_recipe.config(), reads.keys)
    assert "knobs.ignored" in unread and "knobs.walked" in unread
    assert "train.lr" in unread  # a shared section's key that this run ignores
    assert "train.gamma" not in unread  # acts only under schedule=step (SECTION_ACTS_ONLY_WHEN)
    with pytest.raises(AssertionError, match=r"knobs\.ignored"):
        check_keys_act(fake_recipe.name, fake_recipe.config(), reads.keys)
    assert fake_recipe.run is _fake_run  # restored


@pytest.mark.parametrize("table", [ALLOWED_UNREAD, KNOWN_UNREAD])
def test_a_read_key_on_the_list_is_stale(table: dict[str, tuple[str, ...]], monkeypatch: pytest.MonkeyPatch) -> None:
    name = RECIPES.names()[0]  # any recipe; one of its keys listed (both lists may be empty now), as if it were read
    cfg = RECIPES.get(name).config()
    key = sorted(keys(cfg))[0]
    monkeypatch.setitem(table, f"{name}#", (key,))
    unread, stale = unread_keys(name, cfg, keys(cfg))
    assert stale == [key] and not unread


@pytest.mark.parametrize("name", RECIPES.names())
def test_every_listed_key_exists(name: str) -> None:
    """ALLOWED_UNREAD / KNOWN_UNREAD name real recipes and real keys of their configs (no dead entries)."""
    listed = _listed(ALLOWED_UNREAD, name) | _listed(KNOWN_UNREAD, name)
    cfg = RECIPES.get(name).config()
    assert listed <= keys(cfg), f"recipe {name}: listed keys not in its config: {sorted(listed - keys(cfg))}"


def test_every_listed_recipe_exists() -> None:
    names = {n.rstrip("#") for n in (*ALLOWED_UNREAD, *KNOWN_UNREAD)}
    assert names <= set(RECIPES.names()), sorted(names - set(RECIPES.names()))
