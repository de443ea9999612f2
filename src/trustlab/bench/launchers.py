"""Where a bench's runs train: a local process pool, a Ray cluster, or SLURM jobs through submitit.

``trustlab bench --jobs N`` (``local``) trains runs in N spawned worker processes on this machine.
``--launcher ray`` makes each run a Ray task with its CPU/GPU request, on an existing cluster
(``--ray-address``) or a local one; ``--launcher slurm`` makes each run a SLURM job through submitit
(partition, time limit, GPUs from flags or a YAML profile). All three return concurrent futures, so
the bench collects results and failures the same way: finished runs are cached (run records on disk),
a failed run is reported with its error, and ``--resume`` (``--reuse``) collects the runs that
finished and submits the rest again.

Ray and submitit are optional (``pip install 'trustlab[ray]'`` / ``'trustlab[slurm]'``).
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from trustlab.errors import ConfigError
from trustlab.registry import Registry


class LauncherError(ConfigError):
    """The launcher cannot run the bench's jobs (unreachable cluster, rejected job): stops the bench."""


@dataclass
class LauncherConfig:
    """What a launcher needs beyond the bench's ``--jobs``; every field has a CLI flag and a YAML key."""

    jobs: int = 1  # runs at once (local pool size; a local Ray cluster gets jobs * threads CPUs)
    threads: int = 1  # torch threads (and CPUs requested) per run
    gpus: float = 0.0  # GPUs requested per run (Ray: num_gpus; SLURM: gpus_per_node)
    ray_address: str | None = None  # an existing cluster ("ray://host:10001" or "auto"); None: start a local one
    slurm_partition: str | None = None
    slurm_time: int = 60  # minutes per run
    slurm_folder: str = "slurm"  # submitit's logs and pickles, under the bench folder when relative
    slurm_cluster: str | None = None  # None: SLURM; "local": submitit's local executor (tests, laptops)
    slurm_mem_gb: float | None = None


class Launcher(Protocol):
    """What the bench needs of a launcher: ``submit(fn, *args) -> Future`` and ``shutdown()``."""

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Start ``fn(*args)`` somewhere; the future holds its result or its exception."""

    def shutdown(self) -> None:
        """Release the workers (local pool, a local Ray cluster); finished results stay on disk."""


LAUNCHERS: Registry[Callable[[LauncherConfig, Path], Launcher]] = Registry("launcher", listed=False)


def _init_worker(threads: int) -> None:
    import torch

    import trustlab.methods  # noqa: F401  (registers recipes)

    torch.set_num_threads(threads)


def _in_worker(threads: int, fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn`` in a fresh worker (Ray task, SLURM job) with the bench's thread count."""
    _init_worker(threads)
    return fn(*args)


@LAUNCHERS.register("local")
class LocalLauncher(Launcher):
    """``jobs`` spawned worker processes on this machine, ``threads`` torch threads each."""

    def __init__(self, cfg: LauncherConfig, out_dir: Path) -> None:
        self.pool = ProcessPoolExecutor(cfg.jobs, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_init_worker, initargs=(cfg.threads,))

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        return self.pool.submit(fn, *args)

    def shutdown(self) -> None:
        self.pool.shutdown(cancel_futures=True)


@LAUNCHERS.register("ray")
class RayLauncher(Launcher):
    """Each run a Ray task requesting ``threads`` CPUs and ``gpus`` GPUs."""

    def __init__(self, cfg: LauncherConfig, out_dir: Path) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError("--launcher ray needs Ray: pip install 'trustlab[ray]'") from None
        self.ray = ray
        self.cfg = cfg
        self.owned = not ray.is_initialized()
        if self.owned:
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "ignore_reinit_error": True}
            if cfg.ray_address:
                kwargs["address"] = cfg.ray_address
            else:
                kwargs["num_cpus"] = cfg.jobs * cfg.threads
            try:
                ray.init(**kwargs)
            except Exception as exc:  # noqa: BLE001  (Ray raises ConnectionError, RuntimeError, ...)
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise LauncherError(f"cannot reach the Ray cluster at '{cfg.ray_address}': {first}; check "
                                  "--ray-address (e.g. ray://head:10001 or auto), or drop it for a local cluster") \
                    from None
        self.task = ray.remote(_in_worker).options(num_cpus=cfg.threads, num_gpus=cfg.gpus, max_retries=0)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        return self.task.remote(self.cfg.threads, fn, *args).future()

    def shutdown(self) -> None:
        if self.owned and self.ray.is_initialized():
            self.ray.shutdown()


@LAUNCHERS.register("slurm")
class SlurmLauncher(Launcher):
    """Each run a SLURM job through submitit (``slurm_cluster="local"``: submitit's local executor)."""

    def __init__(self, cfg: LauncherConfig, out_dir: Path) -> None:
        try:
            import submitit
        except ImportError:
            raise ConfigError("--launcher slurm needs submitit: pip install 'trustlab[slurm]'") from None
        self.cfg = cfg
        if cfg.slurm_cluster in (None, "", "slurm"):
            # submitit's AutoExecutor falls back to its local executor when it finds no SLURM: a paper suite
            # would then train on the login node without a word. Without sbatch on PATH it is an error.
            import shutil

            if shutil.which("sbatch") is None:
                raise LauncherError("--launcher slurm: no `sbatch` on PATH, so no SLURM cluster is reachable "
                                    "from here (submitit would run every job on this machine); load your SLURM "
                                    "client (e.g. `module load slurm`), or pass --slurm-cluster local to run "
                                    "the jobs here on purpose")
        folder = Path(cfg.slurm_folder)
        folder = folder if folder.is_absolute() else out_dir / folder
        cluster = "slurm" if cfg.slurm_cluster in (None, "") else cfg.slurm_cluster
        self.executor = submitit.AutoExecutor(folder=str(folder / "%j"), cluster=cluster)
        params: dict[str, Any] = {"timeout_min": cfg.slurm_time, "cpus_per_task": cfg.threads,
                                  "name": "trustlab"}
        if cfg.slurm_cluster != "local":
            params.update({"slurm_partition": cfg.slurm_partition, "gpus_per_node": int(cfg.gpus) or None,
                           "slurm_mem": f"{cfg.slurm_mem_gb}G" if cfg.slurm_mem_gb else None})
        self.executor.update_parameters(**{k: v for k, v in params.items() if v is not None})

    def shutdown(self) -> None:
        return None  # jobs belong to SLURM; their results are run records on disk

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        try:
            job = self.executor.submit(_in_worker, self.cfg.threads, fn, *args)
        except Exception as exc:  # noqa: BLE001  (sbatch errors come back as several exception types)
            text = " ".join(str(getattr(exc, "output", b"") or exc).split())
            raise LauncherError(f"SLURM did not accept the job: {text[:300]}; check --slurm-partition "
                              f"({self.cfg.slurm_partition}), --slurm-time and --gpus") from None
        fut: Future = Future()

        def wait() -> None:
            try:
                fut.set_result(job.result())
            except BaseException as exc:  # noqa: BLE001  (a failed job is the run's failure)
                fut.set_exception(exc)

        threading.Thread(target=wait, daemon=True).start()
        return fut


def launcher_config(profile: str | Path | None, **flags: Any) -> LauncherConfig:
    """A YAML profile (keys of :class:`LauncherConfig`), then the flags that were given (not None)."""
    from trustlab.config import from_dict, load_yaml

    data = dict(load_yaml(profile)) if profile else {}
    data.update({k: v for k, v in flags.items() if v is not None})
    return from_dict(LauncherConfig, data, prefix="launcher.")


def make_launcher(name: str, cfg: LauncherConfig, out_dir: Path) -> Launcher:
    return LAUNCHERS.get(name)(cfg, out_dir)
