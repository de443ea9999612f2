"""The run store: one folder per run, written only through :class:`RunRecord`.

Layout (one folder per run, every file written atomically)::

    runs/<recipe>/<run-id>/
        config.yaml      resolved config
        env.json         versions, git sha, device, seed, command line
        metrics.jsonl    append-only, one JSON object per line (each has "epoch" and/or "step")
        summary.json     final metrics of the run
        checkpoints/     last.pt (resume), best.pt (selected model) ...
        artifacts/       figures, tables, exported models, leaderboards ...
        done             written last: a run without it did not finish

Reports read run records only; nothing parses stdout.
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from trustlab.errors import NotFoundError, TrustlabError
from trustlab.runs import atomic

DEFAULT_ROOT = "runs"


def runs_root(root: str | Path | None = None) -> Path:
    """``root``, else ``$TRUSTLAB_RUNS``, else ``./runs``."""
    return Path(root or os.environ.get("TRUSTLAB_RUNS", DEFAULT_ROOT))


def git_sha() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def cpu_isa() -> dict[str, Any]:
    """The CPU and the kernel set torch and oneDNN pick for it. Float kernels follow the instruction set
    (AVX-512 vs AVX2 vs SSE), so two machines of one seed can differ in the last digits, and a margin
    near zero can change its verdict: the bench report's header shows these beside the verdicts."""
    info = Path("/proc/cpuinfo")  # Linux; elsewhere the model comes from platform and the flags stay unknown
    model, flags = "", set()
    for line in info.read_text().splitlines() if info.is_file() else []:
        key, _, val = (part.strip() for part in line.partition(":"))
        if key == "model name" and not model:
            model = val
        elif key == "flags" and not flags:
            flags = set(val.split())
    model = model or platform.processor()
    try:
        capability = str(torch.backends.cpu.get_cpu_capability())
    except Exception:  # pragma: no cover  (older torch)
        capability = "unknown"
    simd = [f for f in ("avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "avx2", "fma", "sse4_1") if f in flags]
    return {
        "cpu_model": model,
        "cpu_simd": simd,  # the vector extensions this CPU reports (/proc/cpuinfo)
        "cpu_capability": capability,  # the ATen kernel set in use (ATEN_CPU_CAPABILITY caps it)
        "aten_cpu_capability_env": os.environ.get("ATEN_CPU_CAPABILITY", ""),
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", "") or "ALL (default)",
    }


def environment(device: str | None = None, seed: int | None = None) -> dict[str, Any]:
    """What env.json records: enough to tell two runs' setups apart."""
    import numpy

    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        **cpu_isa(),
        "cuda": torch.cuda.is_available(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "device": device,
        "seed": seed,
        "git_sha": git_sha(),
        "argv": sys.argv,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


@dataclass
class RunRecord:
    """Writes one run's folder. ``path`` exists once created; ``done`` is written last."""

    path: Path
    recipe: str
    writer: bool = True  # False on non-zero DDP ranks: every write becomes a no-op
    _loggers: Any = field(default=None, init=False, repr=False, compare=False)  # runs.loggers.Fanout, lazily

    @classmethod
    def create(
        cls,
        recipe: str,
        config: dict[str, Any],
        root: str | Path | None = None,
        run_id: str | None = None,
        env: dict[str, Any] | None = None,
        writer: bool = True,
    ) -> RunRecord:
        seed = config.get("train", {}).get("seed") if isinstance(config.get("train"), dict) else None
        rid = run_id or new_run_id(seed)
        path = runs_root(root) / recipe / rid
        if writer:
            while run_id is None:  # a generated id: claim a fresh folder (parallel bench workers start together)
                path.parent.mkdir(parents=True, exist_ok=True)
                try:
                    path.mkdir()
                    break
                except FileExistsError:
                    path = path.parent / new_run_id(seed)
                except FileNotFoundError:  # a rejected run's discard() removed the empty parent meanwhile
                    continue
            if (path / "done").exists():
                raise TrustlabError(f"run '{path}' already finished; pick another --run-id")
            (path / "checkpoints").mkdir(parents=True, exist_ok=True)
            (path / "artifacts").mkdir(parents=True, exist_ok=True)
            atomic.write_yaml(path / "config.yaml", {"recipe": recipe, **config})
            atomic.write_json(path / "env.json", env or environment(seed=seed))
        return cls(path=path, recipe=recipe, writer=writer)

    @classmethod
    def open(cls, path: str | Path, writer: bool = True) -> RunRecord:
        """An existing run folder (for --resume or reports)."""
        p = Path(path)
        if not (p / "config.yaml").is_file():
            raise NotFoundError(f"'{p}' is not a run record (no config.yaml); `trustlab runs` lists them")
        cfg = read_config(p)
        return cls(path=p, recipe=str(cfg.get("recipe", p.parent.name)), writer=writer)

    # --- writes -----------------------------------------------------------------------------
    def log(self, metrics: dict[str, Any]) -> None:
        """Append one line to metrics.jsonl (append-only; each line is complete JSON)."""
        if not self.writer:
            return
        line = json.dumps(metrics, sort_keys=True, default=atomic.json_default)
        with open(self.path / "metrics.jsonl", "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
        self._tracking().log(metrics)

    def _tracking(self) -> Any:
        """The optional loggers asked for by $TRUSTLAB_LOG (trustlab.runs.loggers), started on first use."""
        if self._loggers is None:
            from trustlab.runs.loggers import Fanout, requested

            names = requested()
            self._loggers = Fanout(names, self.path, self.recipe, self.config() if names else {})
        return self._loggers

    def truncate_metrics(self, after_epoch: int) -> None:
        """On resume: drop lines logged after the checkpointed epoch (they will be logged again)."""
        if not self.writer:
            return
        rows = [r for r in self.metrics() if r.get("epoch", 0) <= after_epoch]
        atomic.write_text(
            self.path / "metrics.jsonl",
            "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows),
        )

    def write_summary(self, summary: dict[str, Any]) -> None:
        if self.writer:
            atomic.write_json(self.path / "summary.json", summary)

    def update_env(self, **values: Any) -> None:
        if self.writer:
            env = json.loads((self.path / "env.json").read_text())
            env.update(values)
            atomic.write_json(self.path / "env.json", env)

    def save_checkpoint(self, state: dict[str, Any], name: str = "last.pt") -> Path:
        path = self.path / "checkpoints" / name
        if self.writer:
            atomic.save_torch(path, state)
        return path

    def artifact(self, name: str) -> Path:
        """Path for an artifact file (parent folders created)."""
        p = self.path / "artifacts" / name
        if self.writer:
            p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def mark_done(self) -> None:
        if self.writer:
            self.close_loggers()
            atomic.write_text(self.path / "done", time.strftime("%Y-%m-%dT%H:%M:%S%z") + "\n")

    def mark_failed(self, error: str) -> None:
        """The run stopped on an error after it had started writing: ``failed`` holds the error line (it is
        not resumable; ``trustlab runs --clean-failed`` removes it)."""
        if self.writer:
            self.close_loggers()
            line = " ".join(str(error).split()) or "error"
            atomic.write_text(self.path / "failed", time.strftime("%Y-%m-%dT%H:%M:%S%z") + " " + line + "\n")

    def close_loggers(self) -> None:
        """End the optional tracking runs (MLflow, TensorBoard) whatever way the run ended."""
        if self._loggers is not None:
            self._loggers.close()
            self._loggers = None

    def pristine(self) -> bool:
        """Nothing but the config and env were written: no metrics, summary, checkpoint or artifact."""
        def empty(folder: Path) -> bool:
            return not folder.is_dir() or not any(p.is_file() for p in folder.rglob("*"))

        metrics = self.path / "metrics.jsonl"
        return (not (metrics.is_file() and metrics.stat().st_size) and not (self.path / "summary.json").exists()
                and empty(self.path / "checkpoints") and empty(self.path / "artifacts"))

    def discard(self) -> None:
        """Remove the folder of a run that was rejected before it wrote anything (it never ran)."""
        if self.writer:
            import shutil

            self.close_loggers()
            shutil.rmtree(self.path, ignore_errors=True)
            parent = self.path.parent
            for _ in self.recipe.split("/"):  # the recipe's folders, when this run was all they held
                try:
                    parent.rmdir()  # only an empty folder goes
                except OSError:
                    break
                parent = parent.parent

    # --- reads --------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return (self.path / "done").exists()

    @property
    def failed(self) -> bool:
        return (self.path / "failed").exists() and not self.done

    @property
    def status(self) -> str:
        """``done``; ``failed`` (stopped on an error, see :meth:`error`); or ``killed``: stopped from
        outside (interrupt, kill, out of memory), resumable from its last checkpoint if it has one."""
        return "done" if self.done else ("failed" if self.failed else "killed")

    def error(self) -> str:
        """The error line of a failed run ("" otherwise)."""
        p = self.path / "failed"
        return p.read_text().strip().split(" ", 1)[-1] if p.is_file() else ""

    def config(self) -> dict[str, Any]:
        return read_config(self.path)

    def summary(self) -> dict[str, Any]:
        p = self.path / "summary.json"
        return json.loads(p.read_text()) if p.is_file() else {}

    def env(self) -> dict[str, Any]:
        p = self.path / "env.json"
        return json.loads(p.read_text()) if p.is_file() else {}

    def metrics(self) -> list[dict[str, Any]]:
        p = self.path / "metrics.jsonl"
        if not p.is_file():
            return []
        rows = []
        for line in p.read_text().splitlines():
            line = line.strip()
            if line:
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # a line cut by a kill mid-write: skip it
        return rows

    def checkpoint_path(self, name: str = "last.pt") -> Path:
        return self.path / "checkpoints" / name


def read_config(path: Path) -> dict[str, Any]:
    import yaml

    return yaml.safe_load((Path(path) / "config.yaml").read_text()) or {}


def new_run_id(seed: int | None = None) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    tail = secrets.token_hex(2)
    return f"{stamp}-s{seed}-{tail}" if seed is not None else f"{stamp}-{tail}"


def list_runs(root: str | Path | None = None) -> list[RunRecord]:
    """Every run folder under the root (finished or not), newest first."""
    base = runs_root(root)
    if not base.is_dir():
        return []
    found = [RunRecord.open(p.parent) for p in base.rglob("config.yaml")]
    return sorted(found, key=lambda r: r.path.stat().st_mtime, reverse=True)
