"""``trustlab bench --suite smoke|quick|full``: run the registered claims and write the report.

Claims ask the :class:`BenchContext` for runs; runs with the same recipe and overrides are made once
per bench and shared between claims. With ``reuse=True`` a finished run of an earlier bench with the
same resolved config is read back instead of trained again.
"""

from __future__ import annotations

import sys
import time
import traceback
from pathlib import Path
from typing import Any

from trustlab.bench.claims import SUITES, Claim, ClaimResult
from trustlab.config import to_dict
from trustlab.errors import ConfigError, TrustlabError
from trustlab.recipes import run_recipe
from trustlab.registry import CLAIMS, RECIPES
from trustlab.runs import io
from trustlab.runs.store import RunRecord, environment


class BenchContext:
    """Runs recipes for claims, once per (recipe, overrides)."""

    def __init__(self, suite: str, out_dir: Path, quiet: bool = True, reuse: bool = False) -> None:
        self.suite = suite
        self.out_dir = out_dir
        self.runs_root = out_dir / "runs"
        self.quiet = quiet
        self.reuse = reuse
        self._cache: dict[tuple[str, tuple[str, ...]], RunRecord] = {}

    def run(self, recipe: str, overrides: list[str]) -> RunRecord:
        key = (recipe, tuple(overrides))
        if key in self._cache:
            return self._cache[key]
        record = self._find_finished(recipe, overrides) if self.reuse else None
        if record is None:
            if not self.quiet:
                print(f"  run {recipe} {' '.join(overrides)}", file=sys.stderr)
            record = run_recipe(recipe, overrides=overrides, runs_root=self.runs_root, quiet=True)
        self._cache[key] = record
        return record

    def _find_finished(self, recipe: str, overrides: list[str]) -> RunRecord | None:
        wanted = {"recipe": recipe, **to_dict(RECIPES.get(recipe).config(None, overrides))}
        folder = self.runs_root / recipe
        if not folder.is_dir():
            return None
        for path in sorted(folder.iterdir()):
            rec = RunRecord(path=path, recipe=recipe)
            if rec.done and (path / "config.yaml").is_file() and rec.config() == wanted:
                return rec
        return None


def run_bench(
    suite: str,
    out_root: str | Path = "reports",
    only: list[str] | None = None,
    quiet: bool = False,
    reuse: bool = False,
) -> Path:
    """Run every claim registered for ``suite`` (or those whose id starts with one of ``only``)."""
    import trustlab.methods  # noqa: F401  (registers recipes and claims)

    if suite not in SUITES:
        raise ConfigError(f"unknown suite '{suite}'; use one of {', '.join(SUITES)}")
    out_dir = Path(out_root) / suite
    out_dir.mkdir(parents=True, exist_ok=True)
    claims: list[Claim] = [c for _, c in CLAIMS.items() if suite in c.suites]
    if only:
        claims = [c for c in claims if any(c.id.startswith(p) for p in only)]
        if not claims:
            raise ConfigError(f"no claim id starts with {only}; `trustlab list claims` shows them")
    ctx = BenchContext(suite, out_dir, quiet=quiet, reuse=reuse)
    results: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for i, claim in enumerate(claims, 1):
        if not quiet:
            print(f"[{i}/{len(claims)}] {claim.id}: {claim.statement}", file=sys.stderr)
        t = time.perf_counter()
        try:
            res = claim.check(suite, ctx)
        except Exception as exc:  # a broken claim is reported as failed, not hidden
            detail = str(exc) if isinstance(exc, TrustlabError) else traceback.format_exc(limit=3)
            res = ClaimResult(
                claim.id, claim.statement, suite, False, float("nan"), "", {}, [], notes=f"error: {detail}"
            )
        res.seconds = time.perf_counter() - t
        if not quiet:
            verdict = "PASS" if res.passed else "FAIL"
            print(f"      {verdict} margin {res.margin:+.4f} {res.unit} ({res.seconds:.0f}s)", file=sys.stderr)
        results.append(res.to_dict())
        _write(out_dir, suite, results, time.perf_counter() - t0)  # partial results survive a crash
    _write(out_dir, suite, results, time.perf_counter() - t0)
    from trustlab.report import render_bench

    return render_bench(out_dir)


def _write(out_dir: Path, suite: str, results: list[dict[str, Any]], seconds: float) -> None:
    io.write_json(
        out_dir / "claims.json",
        {
            "suite": suite,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "env": environment(),
            "seconds": seconds,
            "claims": results,
        },
    )
