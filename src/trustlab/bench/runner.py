"""``trustlab bench --suite smoke|quick|full``: run the registered claims and write the report.

Claims ask the :class:`BenchContext` for runs; runs with the same recipe and overrides are made once
per bench and shared between claims. With ``reuse=True`` every run goes through the run cache
(:mod:`trustlab.runs.cache`): a finished run of an earlier bench with the same resolved config is read
back instead of trained again. With ``jobs > 1`` every new run trains in
one of ``jobs`` worker processes, each with ``cpus // jobs`` torch threads (at least one), and the
runs a claim asks for together (:meth:`BenchContext.run_many`) train at the same time. Every run is
seeded on its own, so its numbers do not depend on ``jobs`` or on the order, only on the threads a
run gets (float reduction order): ``--jobs 2`` on 2 cores gives the numbers of a one-thread serial bench.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from concurrent.futures import as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from pathlib import Path
from typing import Any

from trustlab.bench.claims import SUITES, Claim, ClaimResult
from trustlab.bench.launchers import LAUNCHERS, Launcher, LauncherConfig, LauncherError, make_launcher
from trustlab.config import Overrides, override_strings
from trustlab.errors import ConfigError, TrustlabError
from trustlab.recipes import run_recipe
from trustlab.registry import CLAIMS
from trustlab.runs import atomic
from trustlab.runs.cache import cache_path, cached_run
from trustlab.runs.store import RunRecord, environment


class BenchContext:
    """Runs recipes for claims, once per (recipe, overrides)."""

    def __init__(
        self, suite: str, out_dir: Path, quiet: bool = True, reuse: bool = False, jobs: int = 1,
        threads: int | None = None, launcher: str = "local", launcher_cfg: LauncherConfig | None = None,
    ) -> None:
        if jobs < 1:
            raise ConfigError(f"--jobs must be at least 1, got {jobs}")
        LAUNCHERS.get(launcher)  # an unknown launcher fails before anything is written
        self.launcher = launcher
        self.launcher_cfg = launcher_cfg
        self.suite = suite
        self.out_dir = out_dir
        self.runs_root = out_dir / "runs"
        self.quiet = quiet
        self.reuse = reuse
        self.jobs = jobs
        self._worker_threads = threads
        self._cache: dict[tuple[str, tuple[str, ...]], RunRecord] = {}
        self._pool: Launcher | None = None

    @property
    def threads_per_run(self) -> int:
        """Torch threads a new run trains with: each worker's share of the CPUs, or this process's own."""
        if self.jobs == 1 and self.launcher == "local":
            import torch

            return torch.get_num_threads()
        if self.launcher_cfg is not None and self.launcher != "local":
            return self.launcher_cfg.threads
        return self._worker_threads or max(1, _cpus() // self.jobs)

    def records(self) -> list[RunRecord]:
        """Every run this context made or reused, in the order first asked for."""
        return list(self._cache.values())

    def run(self, recipe: str, overrides: Overrides | None = None) -> RunRecord:
        return self.run_many([(recipe, overrides)])[0]

    def run_many(self, items: list[tuple[str, Overrides | None]]) -> list[RunRecord]:
        """The runs of ``items`` (recipe, overrides as a dict or ``key=value`` strings), in order; new
        ones train ``jobs`` at a time."""
        keys = [(recipe, tuple(override_strings(overrides))) for recipe, overrides in items]
        todo = []
        for key in dict.fromkeys(keys):  # once each, in order
            if key in self._cache:
                continue
            done = cache_path(key[0], list(key[1]), self.runs_root) / "done" if self.reuse else None
            if done is not None and done.is_file():
                self._cache[key] = RunRecord.open(done.parent)
            else:
                todo.append(key)
        for key in todo:
            if not self.quiet:
                print(f"  run {key[0]} {' '.join(key[1])}", file=sys.stderr)
        if (self.jobs == 1 and self.launcher == "local") or not todo:  # else every run trains in a worker
            for key in todo:
                self._cache[key] = RunRecord.open(_run(key[0], list(key[1]), str(self.runs_root), self.reuse))
        else:
            self._run_in_workers(todo)
        return [self._cache[key] for key in keys]

    def _run_in_workers(self, todo: list[tuple[str, tuple[str, ...]]]) -> None:
        """Train ``todo`` in the workers; every run that finishes is cached, then the first failure (in
        ``todo`` order, as the serial loop would meet it) is raised."""
        pool = self._workers()
        futures = {pool.submit(_run, key[0], list(key[1]), str(self.runs_root), self.reuse): key for key in todo}
        failed: dict[tuple[str, tuple[str, ...]], BaseException] = {}
        finished: dict[tuple[str, tuple[str, ...]], RunRecord] = {}
        for n, fut in enumerate(as_completed(futures), 1):
            key = futures[fut]
            exc = fut.exception()
            if exc is not None:
                failed[key] = exc
                continue
            finished[key] = RunRecord.open(fut.result())
            if not self.quiet:
                print(f"  done {n}/{len(todo)}: {finished[key].path}", file=sys.stderr)
        for key in todo:  # cached in the order asked for (``records()`` lists them so), not the order they finished
            if key in finished:
                self._cache[key] = finished[key]
        if any(isinstance(e, BrokenProcessPool) for e in failed.values()):  # a local worker died (e.g. out of memory)
            self.close()  # the next claim gets fresh workers
        if failed:
            raise next(failed[key] for key in todo if key in failed)

    def _workers(self) -> Launcher:
        if self._pool is None:
            cfg = replace(self.launcher_cfg or LauncherConfig(), jobs=self.jobs, threads=self.threads_per_run)
            self._pool = make_launcher(self.launcher, cfg, self.out_dir)
        return self._pool

    def close(self) -> None:
        """Stop the workers (local pool, local Ray cluster) if any were started."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

def _cpus() -> int:
    """CPUs this process may use (affinity / container limits where the OS tells them)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover  (not Linux)
        return os.cpu_count() or 1


def _run(recipe: str, overrides: list[str], runs_root: str, reuse: bool) -> str:
    """Train one run (in this process or a worker) and return its folder. With ``reuse`` it goes through
    the run cache (:func:`trustlab.runs.cache.cached_run`: one folder per resolved config, locked)."""
    if reuse:
        return str(cached_run(recipe, overrides, Path(runs_root), quiet=True).path)
    return str(run_recipe(recipe, overrides=overrides, runs_root=Path(runs_root), quiet=True).path)


def run_bench(
    suite: str,
    out_root: str | Path = "reports",
    only: list[str] | None = None,
    quiet: bool = False,
    reuse: bool = False,
    jobs: int = 1,
    launcher: str = "local",
    launcher_cfg: LauncherConfig | None = None,
) -> Path:
    """Run every claim registered for ``suite`` (or those whose id starts with one of ``only``)."""
    import trustlab.methods  # noqa: F401  (registers recipes and claims)

    if suite not in SUITES:
        raise ConfigError(f"unknown suite '{suite}'; use one of {', '.join(SUITES)}")
    out_dir = Path(out_root) / suite
    ctx = BenchContext(suite, out_dir, quiet=quiet, reuse=reuse, jobs=jobs, launcher=launcher,
                       launcher_cfg=launcher_cfg)  # checks jobs and the launcher before any write
    if launcher != "local":
        ctx._workers()  # connect to the cluster (or start it) before anything is written
    out_dir.mkdir(parents=True, exist_ok=True)
    claims: list[Claim] = [c for _, c in CLAIMS.items() if suite in c.suites]
    if only:
        claims = [c for c in claims if any(c.id.startswith(p) for p in only)]
        if not claims:
            raise ConfigError(f"no claim id starts with {only}; `trustlab list claims` shows them")
    try:
        _check_all(claims, suite, ctx, out_dir, quiet)
    finally:
        ctx.close()
    from trustlab.report import render_bench

    return render_bench(out_dir)


def _check_all(claims: list[Claim], suite: str, ctx: BenchContext, out_dir: Path, quiet: bool) -> None:
    """Check each claim in turn, writing ``claims.json`` after each (partial results survive a crash)."""
    results: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for i, claim in enumerate(claims, 1):
        if not quiet:
            print(f"[{i}/{len(claims)}] {claim.id}: {claim.statement}", file=sys.stderr)
        t = time.perf_counter()
        try:
            res = claim.check(suite, ctx)
        except LauncherError:  # the launcher itself failed: no later claim can run either
            raise
        except Exception as exc:  # a broken claim is reported as failed, not hidden
            detail = str(exc) if isinstance(exc, TrustlabError) else traceback.format_exc(limit=3)
            res = ClaimResult(
                claim.id, claim.statement, suite, False, float("nan"), "", {}, [], notes=f"error: {detail}"
            )
        res.seconds = time.perf_counter() - t
        if not quiet:
            iv = f" [{res.interval[0]:+.4f}, {res.interval[1]:+.4f}]" if len(res.interval) == 2 else ""
            print(f"      {res.verdict} margin {res.margin:+.4f}{iv} {res.unit} ({res.seconds:.0f}s)", file=sys.stderr)
            if res.reason:
                print(f"      invalid: {res.reason}", file=sys.stderr)
        results.append(res.to_dict())
        _write(out_dir, suite, results, time.perf_counter() - t0, ctx)  # partial results survive a crash
    _write(out_dir, suite, results, time.perf_counter() - t0, ctx)


def _write(out_dir: Path, suite: str, results: list[dict[str, Any]], seconds: float, ctx: BenchContext) -> None:
    atomic.write_json(
        out_dir / "claims.json",
        {
            "suite": suite,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "env": environment(),
            # the torch threads a run trained with change float reduction order, so they are recorded
            "jobs": ctx.jobs,
            "launcher": ctx.launcher,
            "threads_per_run": ctx.threads_per_run,
            "seconds": seconds,
            "claims": results,
        },
    )
