"""Recipes: named, registered configs (data + model + method + evaluation) that run end to end.

``run_recipe("erm/digits-dg", overrides=["train.epochs=5"])`` resolves the config, creates a run
record, calls the recipe's ``run`` function and writes ``summary.json`` and ``done`` last.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trustlab.config import Overrides, build_config, from_dict, load_yaml, to_dict
from trustlab.errors import ConfigError, TrustlabError
from trustlab.registry import RECIPES
from trustlab.runs.store import RunRecord, environment

# In a recipe's ``tiny`` overrides, this value (alone or as a path prefix: "@tiny-folder/d0" is one
# domain's ImageFolder) stands for a small generated DomainBed-layout folder (domains d0, d1, d2; classes
# c0..c2, 12 PNGs each) that the generated contract test makes (tests/contract/test_registries.py).
TINY_FOLDER = "@tiny-folder"


@dataclass
class RunContext:
    """What a recipe's run function gets besides its config."""

    record: RunRecord
    resume: bool = False
    quiet: bool = False


@dataclass
class Recipe:
    """A registered recipe: ``run(cfg, ctx) -> summary dict``."""

    name: str
    description: str
    config_cls: type
    run: Callable[[Any, RunContext], dict[str, Any]]
    defaults: dict[str, Any] = field(default_factory=dict)
    # Overrides that make a run of this recipe take seconds on 2 cores: the generated contract test
    # (tests/contract/test_registries.py) runs every registered recipe end to end with them.
    tiny: dict[str, Any] = field(default_factory=dict)

    @property
    def __doc__(self) -> str:  # type: ignore[override]  # registry help line
        return self.description

    def config(self, yaml_path: str | Path | None = None, overrides: Overrides | None = None) -> Any:
        return build_config(self.config_cls, self.defaults, yaml_path, overrides)


def register_recipe(recipe: Recipe) -> Recipe:
    RECIPES.add(recipe.name, recipe, recipe.description)
    return recipe


def run_recipe(
    name: str,
    *,
    yaml_path: str | Path | None = None,
    overrides: Overrides | None = None,
    runs_root: str | Path | None = None,
    run_id: str | None = None,
    resume_dir: str | Path | None = None,
    quiet: bool = False,
) -> RunRecord:
    """Run a recipe and return its finished record (raises on failure; no ``done`` then)."""
    import trustlab.methods  # noqa: F401  (registers every recipe; a no-op after the first call)
    from trustlab.engine.runtime import is_main_process, launched_by_torchrun

    writer = is_main_process() if not launched_by_torchrun() else _env_rank() == 0
    if resume_dir is not None:
        if overrides or yaml_path:
            raise ConfigError("--resume continues a run with its saved config; drop --set/--config")
        record = RunRecord.open(resume_dir, writer=writer)
        if record.done:
            raise ConfigError(f"run '{resume_dir}' already finished; nothing to resume")
        if record.failed and writer:  # retried after its error was fixed: it is running again
            (record.path / "failed").unlink()
        recipe: Recipe = RECIPES.get(record.recipe)
        saved = record.config()
        saved.pop("recipe", None)
        cfg = from_dict(recipe.config_cls, saved)
    else:
        name = recipe_of_config(name, yaml_path)
        recipe = RECIPES.get(name)
        cfg = recipe.config(yaml_path, overrides)
        cfg_dict = to_dict(cfg)
        seed = getattr(getattr(cfg, "train", None), "seed", None)
        env = environment(seed=seed)
        record = RunRecord.create(name, cfg_dict, root=runs_root, run_id=run_id, env=env, writer=writer)
    ctx = RunContext(record=record, resume=resume_dir is not None, quiet=quiet)
    try:
        summary = recipe.run(cfg, ctx)
    except TrustlabError as exc:
        # rejected before anything was written (bad config, data path, checkpoint): the run never ran, and
        # leaves no folder behind; found mid-run (a corrupt file): the record says failed, with the error
        if resume_dir is None and record.pristine():
            record.discard()
        else:
            record.mark_failed(str(exc))
        raise
    except Exception as exc:
        record.mark_failed(f"{type(exc).__name__}: {exc}")
        raise
    finally:  # KeyboardInterrupt / kill: the record stays unfinished (killed), resumable from its checkpoint
        record.close_loggers()
    record.write_summary(summary)
    record.mark_done()
    return record


def recipe_of_config(name: str, yaml_path: str | Path | None) -> str:
    """A run record's ``config.yaml`` names its recipe: re-running it needs no recipe argument, and a
    different recipe is refused (its config would not fit). The key itself is dropped by the loader."""
    if yaml_path is None:
        return name
    saved = load_yaml(yaml_path).get("recipe")
    if saved is None:
        if not name:
            raise ConfigError(f"config file '{yaml_path}' names no recipe; give one: trustlab run RECIPE --config FILE")
        return name
    if name and name != saved:
        raise ConfigError(
            f"config file '{yaml_path}' is the config of recipe '{saved}', not '{name}'; "
            f"run '{saved}' or delete its 'recipe:' line"
        )
    return str(saved)


def _env_rank() -> int:
    import os

    return int(os.environ.get("RANK", 0))
