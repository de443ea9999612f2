"""Optional metric loggers that users already watch: TensorBoard and MLflow.

A run always writes ``metrics.jsonl``; these loggers receive the same stream (every ``RunRecord.log``
row) and are off unless asked for: ``trustlab run|bench --log tensorboard --log mlflow``, or the
``TRUSTLAB_LOG`` environment variable (comma separated; the CLI sets it, so bench worker processes
inherit it). Nothing else needs them.

- ``tensorboard``: event files in ``<run>/tensorboard/`` (``tensorboard --logdir runs``); needs the
  ``tensorboard`` package (``pip install trustlab[tracking]``).
- ``mlflow``: one MLflow run per trustlab run, in the experiment named after the recipe, with the
  flattened config as params; tracking URI ``$MLFLOW_TRACKING_URI``, else a local file store
  ``file:<runs root>/mlruns`` (MLflow 3 has put the file store in maintenance mode behind
  ``MLFLOW_ALLOW_FILE_STORE=true``, which this logger sets for file URIs: it needs no database or
  server; point ``MLFLOW_TRACKING_URI`` at a server or ``sqlite:`` store to use one); needs
  ``mlflow-skinny`` (``pip install trustlab[tracking]``).

A logger that fails while a run trains is reported once on stderr and switched off: tracking never
costs a run.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any, Protocol

from trustlab.errors import ConfigError
from trustlab.registry import Registry

ENV = "TRUSTLAB_LOG"


class MetricLogger(Protocol):
    def log(self, row: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


LOGGERS: Registry[Any] = Registry("logger", listed=False)


def _scalars(row: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in row.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("step", "epoch")}


def _step(row: dict[str, Any]) -> int:
    return int(row.get("step", row.get("epoch", 0)) or 0)


class TensorBoardLogger:
    """Scalars of every row to ``<run>/tensorboard`` (step: the row's ``step``, else its ``epoch``)."""

    def __init__(self, run_path: Path, recipe: str, config: dict[str, Any]) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(run_path / "tensorboard"))
        self.writer.add_text("config", f"recipe {recipe}")

    def log(self, row: dict[str, Any]) -> None:
        step = _step(row)
        for key, value in _scalars(row).items():
            self.writer.add_scalar(key, value, step)

    def close(self) -> None:
        self.writer.close()


def mlflow_uri(run_path: Path | None = None, recipe: str = "") -> str:
    """``$MLFLOW_TRACKING_URI``, else ``file:<runs root>/mlruns``: the runs root is the folder above the
    recipe folders of ``run_path`` (``<root>/<recipe>/<run id>``, so ``--runs-dir`` is honoured), or, with
    no run yet, ``$TRUSTLAB_RUNS`` / ``./runs``."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    if run_path is not None:
        root = Path(run_path).resolve().parents[recipe.count("/") + 1] if recipe else Path(run_path).parent
    else:
        root = Path(os.environ.get("TRUSTLAB_RUNS") or "runs")
    return (root / "mlruns").resolve().as_uri()


class MLflowLogger:
    """One MLflow run per trustlab run: params = the flattened config, metrics = every numeric value."""

    def __init__(self, run_path: Path, recipe: str, config: dict[str, Any]) -> None:
        import mlflow

        from trustlab.config import flatten

        self.mlflow = mlflow
        uri = mlflow_uri(run_path, recipe)
        if uri.startswith("file:"):  # MLflow 3 keeps the file store behind an opt-in; it is our offline default
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment(recipe)
        self.run = mlflow.start_run(run_name=run_path.name)
        params = {k: str(v)[:500] for k, v in flatten(config).items()}
        mlflow.log_params(params)
        mlflow.set_tag("trustlab.run_dir", str(run_path))

    def log(self, row: dict[str, Any]) -> None:
        values = _scalars(row)
        if values:
            self.mlflow.log_metrics(values, step=_step(row), run_id=self.run.info.run_id)

    def close(self) -> None:
        self.mlflow.end_run()


LOGGERS.add("tensorboard", TensorBoardLogger, "TensorBoard event files in <run>/tensorboard")
LOGGERS.add("mlflow", MLflowLogger, "MLflow tracking (local file store by default)")
PACKAGES = {"tensorboard": "tensorboard", "mlflow": "mlflow"}


def requested() -> list[str]:
    """Logger names asked for through ``$TRUSTLAB_LOG``."""
    return [n.strip() for n in os.environ.get(ENV, "").split(",") if n.strip()]


def check(names: list[str]) -> list[str]:
    """Fail early, in one line, on an unknown logger, a missing package or an unwritable tracking URI."""
    import importlib.util

    for name in names:
        LOGGERS.get(name)  # unknown: NotFoundError with a did-you-mean
        if importlib.util.find_spec(PACKAGES[name]) is None:
            raise ConfigError(f"--log {name} needs the '{PACKAGES[name]}' package: pip install 'trustlab[tracking]'")
        if name == "mlflow":
            uri = mlflow_uri()
            if uri.startswith("file:"):
                from urllib.parse import unquote, urlparse

                folder = Path(unquote(urlparse(uri).path))
                try:
                    folder.mkdir(parents=True, exist_ok=True)
                    probe = folder / f".write-test-{os.getpid()}"
                    probe.write_text("")
                    probe.unlink()
                except OSError as exc:
                    raise ConfigError(f"MLflow tracking URI '{uri}' cannot be written ({exc.strerror}); "
                                      "set MLFLOW_TRACKING_URI to a writable folder or server") from None
    return names


class Fanout:
    """The loggers of one run; a failing logger is reported once and dropped."""

    def __init__(self, names: list[str], run_path: Path, recipe: str, config: dict[str, Any]) -> None:
        self.loggers: dict[str, MetricLogger] = {}
        for name in names:
            try:
                self.loggers[name] = LOGGERS.get(name)(run_path, recipe, config)
            except Exception as exc:  # noqa: BLE001  (tracking must never cost a run)
                print(f"warning: logger {name} could not start ({exc}); continuing without it", file=sys.stderr)

    def log(self, row: dict[str, Any]) -> None:
        for name, logger in list(self.loggers.items()):
            try:
                logger.log(row)
            except Exception as exc:  # noqa: BLE001
                print(f"warning: logger {name} failed ({exc}); switched off for this run", file=sys.stderr)
                self.loggers.pop(name)

    def close(self) -> None:
        for logger in self.loggers.values():
            with contextlib.suppress(Exception):  # closing a broken logger must not fail the finished run
                logger.close()
        self.loggers = {}
