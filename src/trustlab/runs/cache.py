"""The one run cache: a finished run per (recipe, resolved config), safe for parallel processes.

``cached_run(recipe, overrides, root)`` returns the finished run of ``recipe`` whose resolved config
equals that of ``overrides``: it is read back when ``<root>/<recipe>/cache-<sha1 of the config>/done``
exists, resumed from its last checkpoint when a run was killed, or trained. Processes asking for the
same run at once (bench workers, a KD teacher needed by several students) serialise on a ``flock``:
one trains, the others wait and read it. ``trustlab bench --reuse`` and the KD/OKD teacher both use it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from trustlab.config import Overrides, to_dict

if TYPE_CHECKING:
    from trustlab.runs.store import RunRecord


def config_digest(recipe: str, overrides: Overrides | None) -> str:
    """12 hex digits of the sha1 of ``recipe``'s resolved config with ``overrides``."""
    import trustlab.methods  # noqa: F401  (registers the recipes)
    from trustlab.registry import RECIPES

    cfg = {"recipe": recipe, **to_dict(RECIPES.get(recipe).config(None, overrides))}
    return hashlib.sha1(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()[:12]


def cache_path(recipe: str, overrides: Overrides | None, root: str | Path) -> Path:
    return Path(root) / recipe / f"cache-{config_digest(recipe, overrides)}"


def cached_run(recipe: str, overrides: Overrides | None, root: str | Path, quiet: bool = True) -> RunRecord:
    """A finished run of ``recipe`` with ``overrides`` under ``root``: reused, resumed or trained."""
    from trustlab.engine.runtime import launched_by_torchrun
    from trustlab.recipes import run_recipe
    from trustlab.runs.store import RunRecord

    path = cache_path(recipe, overrides, root)
    if (path / "done").is_file():
        return RunRecord.open(path)
    # parallel processes: one trains, the rest wait. Not under torchrun: there every rank trains it together.
    lock = contextlib.nullcontext() if launched_by_torchrun() else exclusive(path.with_name(f".{path.name}.lock"))
    with lock:
        if (path / "done").is_file():
            return RunRecord.open(path)
        if (path / "failed").is_file():  # stopped on an error last time: train it again from scratch
            import shutil

            shutil.rmtree(path)
        if (path / "checkpoints" / "last.pt").is_file():
            return run_recipe(recipe, resume_dir=path, quiet=quiet)
        if path.exists():  # a run killed before its first checkpoint: start it again
            import shutil

            shutil.rmtree(path)
        return run_recipe(recipe, overrides=overrides, runs_root=root, run_id=path.name, quiet=quiet)


@contextlib.contextmanager
def exclusive(lock: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock`` across processes (POSIX ``flock``; no lock where it is missing)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover  (not POSIX)
        yield
        return
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
