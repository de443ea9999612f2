"""The ``trustlab`` command line. Thin: it parses arguments, then calls the Python API.

    trustlab list [datasets|models|methods|recipes|claims|scorers|attacks]
    trustlab run RECIPE [--config FILE] [--set key=value ...] [--resume RUN_DIR] [--quiet]
    trustlab runs [--runs-dir DIR]
    trustlab report RUN_DIR | REPORT_DIR
    trustlab bench --suite smoke|quick|full [--only ID] [--reuse]
    trustlab data build|show DATASET
    trustlab export RUN_DIR --format onnx [--quantize int8] [--threads N] [--latency-runs N]

Expected failures print one line (``error: ...``) and exit 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from trustlab.errors import ConfigError, TrustlabError

# Commands that need only the catalog (names and help lines), not the registries themselves: they
# start without importing torch or any method package (see trustlab.catalog).
LIGHT_COMMANDS = ("list",)


def _load_plugins() -> None:
    import trustlab.data  # noqa: F401
    import trustlab.methods  # noqa: F401
    import trustlab.models  # noqa: F401


# --- list ----------------------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    from trustlab.catalog import load

    registries = load()["registries"]
    kinds = [args.kind] if args.kind else list(registries)
    for kind in kinds:
        entries = registries[kind]
        print(f"{kind} ({len(entries)}):")
        if kind == "models" and args.kind == "models":  # the MACs table needs the models themselves
            _list_models(args.input_size)
            continue
        for name, text in sorted(entries.items()):
            print(f"  {name:<34} {text}")
    return 0


def _list_models(input_size: int) -> None:
    import trustlab.models  # noqa: F401  (MACs need the models themselves)
    from trustlab.models.complexity import model_table
    from trustlab.registry import MODELS

    rows = model_table(MODELS.names(), num_classes=10, input_size=input_size, width=1.0)
    print(f"  {'name':<24} {'params':>12} {'MACs @' + str(input_size) + 'px':>16}")
    for row in rows:
        print(f"  {row['name']:<24} {row['params']:>12,} {row['macs']:>16,}")
    print("  (any timm model as timm:<name>; width=... scales channels)")


# --- run / runs ------------------------------------------------------------------------------------


def _use_loggers(args: argparse.Namespace) -> None:
    """``--log NAME`` (repeatable): checked now, then handed to every run (and bench worker) via the env."""
    if getattr(args, "log", None):
        from trustlab.runs.loggers import ENV, check

        os.environ[ENV] = ",".join(check(list(dict.fromkeys(args.log))))


def cmd_run(args: argparse.Namespace) -> int:
    from trustlab.recipes import run_recipe

    _use_loggers(args)
    overrides = [*args.set, *(["data.skip_corrupt=true"] if args.skip_corrupt else [])]
    if args.print_config:
        return _print_config(args, overrides)
    record = run_recipe(
        args.recipe,
        yaml_path=args.config,
        overrides=overrides,
        runs_root=args.runs_dir,
        run_id=args.run_id,
        resume_dir=args.resume,
        quiet=args.quiet,
    )
    if record.writer:
        summary = record.summary()
        keys = [k for k, v in summary.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        for key in keys[:12]:
            print(f"{key:>20}: {_fmt(summary[key])}")
        print(f"run record: {record.path}")
    return 0


def _print_config(args: argparse.Namespace, overrides: list[str]) -> int:
    """``trustlab run RECIPE --print-config``: the resolved config, every key with its type; runs nothing."""
    from trustlab.config import describe
    from trustlab.recipes import recipe_of_config
    from trustlab.registry import RECIPES

    name = recipe_of_config(args.recipe, args.config)
    cfg = RECIPES.get(name).config(args.config, overrides)
    print(f"# recipe {name}: {RECIPES.help(name)}\nrecipe: {name}\n{describe(cfg)}")
    return 0


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def cmd_runs(args: argparse.Namespace) -> int:
    from trustlab.runs.store import list_runs

    records = list_runs(args.runs_dir)
    if not records:
        print(f"no runs under '{args.runs_dir or os.environ.get('TRUSTLAB_RUNS', 'runs')}'")
        return 0
    if args.clean_failed:
        import shutil

        failed = [rec for rec in records if rec.status == "failed"]
        for rec in failed:
            shutil.rmtree(rec.path)
            print(f"removed {rec.path}  ({rec.error()})")
        print(f"{len(failed)} failed run(s) removed; {len(records) - len(failed)} kept")
        return 0
    for rec in records:
        s = rec.summary()
        keys = [k for k in ("heldout_acc", "indomain_acc", "acc", "auroc", "asr", "cta") if k in s]
        status = rec.status
        if status == "killed" and rec.checkpoint_path().is_file():
            status = "killed (resumable: trustlab run --resume DIR)"
        detail = rec.error() if status == "failed" else "  ".join(f"{k}={_fmt(s[k])}" for k in keys)
        print(f"{str(rec.path):<60} {status:<10} {detail}")
    return 0


# --- report / bench ----------------------------------------------------------------------------------


def cmd_report(args: argparse.Namespace) -> int:
    from trustlab.errors import NotFoundError
    from trustlab.report import render_bench, render_run

    path = Path(args.path)
    if (path / "claims.json").is_file():
        out = render_bench(path)
    elif (path / "config.yaml").is_file():
        out = render_run(path)
    else:
        raise NotFoundError(f"'{path}' is neither a run record (config.yaml) nor a bench report (claims.json)")
    print(out)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    if args.suite == "paper":  # each paper's protocol on the user's data (trustlab.bench.paper)
        return _bench_paper(args)
    if args.data or args.data_map or args.plan or args.tiny:
        raise ConfigError("--data, --data-map, --plan and --tiny are for --suite paper")
    if args.power:  # reads the last bench of the suite; trains nothing
        from trustlab.bench.power import power_markdown, power_rows

        rows = power_rows(Path(args.out) / args.suite / "claims.json")
        if args.only:
            rows = [r for r in rows if any(r["claim"].startswith(p) for p in args.only)]
        print(power_markdown(rows))
        return 0
    from trustlab.bench.runner import run_bench

    _use_loggers(args)
    from trustlab.bench.launchers import launcher_config

    cfg = launcher_config(args.launcher_profile, gpus=args.gpus, ray_address=args.ray_address,
                          slurm_partition=args.slurm_partition, slurm_time=args.slurm_time,
                          slurm_cluster=args.slurm_cluster)
    out = run_bench(args.suite, out_root=args.out, only=args.only, quiet=args.quiet,
                    reuse=args.reuse or args.resume, jobs=args.jobs, launcher=args.launcher, launcher_cfg=cfg)
    print(out)
    return 0


def _bench_paper(args: argparse.Namespace) -> int:
    from trustlab.bench.launchers import launcher_config
    from trustlab.bench.paper import parse_data, run_paper

    _use_loggers(args)
    cfg = launcher_config(args.launcher_profile, gpus=args.gpus, ray_address=args.ray_address,
                          slurm_partition=args.slurm_partition, slurm_time=args.slurm_time,
                          slurm_cluster=args.slurm_cluster)
    out = run_paper(parse_data(args.data, args.data_map), out_root=args.out, only=args.only, plan=args.plan,
                    tiny=args.tiny, quiet=args.quiet, jobs=args.jobs, launcher=args.launcher, launcher_cfg=cfg)
    print(out)
    return 0


# --- export (on-device deployment of any run's model) --------------------------------------------


def cmd_export(args: argparse.Namespace) -> int:
    from trustlab.export import FP32_TOLERANCE, export_run
    from trustlab.report import render_run

    rows = export_run(args.run_dir, args.format, args.quantize, opset=args.opset,
                      latency_runs=args.latency_runs, threads=args.threads)
    keys = ("file_kb", "params", "macs", "max_abs_diff", "latency_ms_b1", "heldout_acc", "top1_agreement")
    for fmt, row in rows.items():
        print(f"{fmt}: " + "  ".join(f"{k}={_fmt4(row[k])}" for k in keys if k in row) + f"  ({row['file']})")
    print(f"report: {render_run(args.run_dir)}")
    fp32 = rows["onnx-fp32"]
    if not fp32["within_tol"]:
        print(f"check failed: fp32 max abs diff {fp32['max_abs_diff']:.3g} > {FP32_TOLERANCE}")
        return 1
    return 0


def _add_export(sub: Any) -> None:
    p = sub.add_parser("export", help="export a run's model for devices (ONNX, optional int8) and check it")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--format", default="onnx", help="onnx (the only format for now)")
    p.add_argument("--quantize", default=None, help="int8: also write a statically quantized model")
    p.add_argument("--opset", type=int, default=18)
    p.add_argument("--threads", type=int, default=1, help="intra-op threads for the latency measurement")
    p.add_argument("--latency-runs", type=int, default=50)
    p.set_defaults(func=cmd_export)


def _fmt4(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


# --- data --------------------------------------------------------------------------------------------


def cmd_data(args: argparse.Namespace) -> int:
    import trustlab.data  # noqa: F401  (registers the built-in datasets)
    import trustlab.methods  # noqa: F401  (and the methods' own)
    from trustlab.data.base import DatasetEntry
    from trustlab.experiment import DataConfig
    from trustlab.registry import DATASETS
    from trustlab.tasks.classification import build_data

    cfg = DataConfig(name=args.dataset, root=args.root, image_size=args.image_size, target="")
    entry = DATASETS.get(args.dataset)
    if isinstance(entry, DatasetEntry):
        lines = entry.build(cfg) if args.action == "build" else [str(p) for p in entry.show(cfg, Path(args.out))]
        print("\n".join(lines))
        return 0
    data = build_data(cfg)
    if args.action == "build":
        for d in data.domains:
            sizes = {s: len(data.get(d, s)) for s in ("train", "val", "test")}
            print(f"{d:<12} " + "  ".join(f"{k}={v}" for k, v in sizes.items()))
        return 0
    from trustlab.data.show import save_sample_grids

    for p in save_sample_grids(data, Path(args.out)):
        print(p)
    return 0


def _add_list(sub: Any, catalog: dict[str, Any]) -> None:
    p = sub.add_parser("list", help="list registered datasets, models, methods, recipes, claims ...")
    p.add_argument("kind", nargs="?", choices=sorted(catalog["registries"]))
    p.add_argument("--input-size", type=int, default=32, help="input size for the models' MACs")
    p.set_defaults(func=cmd_list)


def _add_run(sub: Any) -> None:
    p = sub.add_parser("run", help="run a recipe and write a run record")
    p.add_argument("recipe", nargs="?", default="", help="recipe name (`trustlab list recipes`)")
    p.add_argument("--config", help="YAML file with config overrides (a run's config.yaml re-runs its recipe)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. train.epochs=5")
    p.add_argument("--runs-dir", default=None, help="where run records go (default $TRUSTLAB_RUNS or ./runs)")
    p.add_argument("--run-id", default=None)
    p.add_argument("--resume", default=None, metavar="RUN_DIR", help="continue an unfinished run from its checkpoint")
    p.add_argument("--skip-corrupt", action="store_true", help="skip unreadable images (counted) instead of failing")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--log", action="append", default=[], metavar="LOGGER",
                   help="also send metrics to tensorboard or mlflow (repeatable; metrics.jsonl is always written)")
    p.add_argument("--print-config", action="store_true",
                   help="print the resolved config (every key, value and type) as YAML and exit")
    p.set_defaults(func=cmd_run)


def _add_runs_and_report(sub: Any) -> None:
    p = sub.add_parser("runs", help="list run records (done, failed, killed) with their key metrics")
    p.add_argument("--runs-dir", default=None)
    p.add_argument("--clean-failed", action="store_true", help="remove the runs that stopped on an error")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("report", help="render a run record or a bench folder as HTML")
    p.add_argument("path")
    p.set_defaults(func=cmd_report)


def _add_bench(sub: Any) -> None:
    p = sub.add_parser("bench", help="run the claims of a suite and write reports/<suite>/index.html")
    p.add_argument("--suite", default="quick", choices=["smoke", "demo", "quick", "full", "paper"],
                   help="paper: each paper's protocol on your data (--data KEY=ROOT; README 'Paper suite')")
    p.add_argument("--only", action="append", default=None, metavar="CLAIM_PREFIX")
    p.add_argument("--out", default="reports")
    p.add_argument("--reuse", action="store_true", help="reuse finished runs with identical configs")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="train up to N runs at once in worker processes (claims that ask for runs together)")
    p.add_argument("--log", action="append", default=[], metavar="LOGGER",
                   help="also send every run's metrics to tensorboard or mlflow (repeatable)")
    p.add_argument("--launcher", default="local", choices=["local", "ray", "slurm"],
                   help="where runs train: local worker processes, Ray tasks, or SLURM jobs (submitit)")
    p.add_argument("--resume", action="store_true",
                   help="collect runs that finished (e.g. SLURM jobs of an earlier bench) and submit the rest")
    p.add_argument("--launcher-profile", default=None, metavar="YAML",
                   help="launcher settings (keys: gpus, ray_address, slurm_partition, slurm_time, ...)")
    p.add_argument("--gpus", type=float, default=None, help="GPUs per run (Ray num_gpus, SLURM gpus_per_node)")
    p.add_argument("--ray-address", default=None, help="an existing Ray cluster (default: start a local one)")
    p.add_argument("--slurm-partition", default=None)
    p.add_argument("--slurm-time", type=int, default=None, metavar="MINUTES", help="time limit per run")
    p.add_argument("--slurm-cluster", default=None, help="'local' runs the jobs with submitit's local executor")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--power", action="store_true",
                   help="print each claim's seeds needed (power analysis of the suite's last bench), train nothing")
    p.add_argument("--data", action="append", default=[], metavar="KEY=ROOT",
                   help="--suite paper: where a dataset or checkpoint is (repeatable; --plan lists the keys)")
    p.add_argument("--data-map", default=None, metavar="YAML", help="--suite paper: a YAML file of KEY: ROOT")
    p.add_argument("--plan", action="store_true",
                   help="--suite paper: print every run, its config hash, done or not, and a GPU-hours estimate")
    p.add_argument("--tiny", action="store_true",
                   help="--suite paper: each protocol's first run per dataset at its recipe's tiny scale (wiring)")
    p.set_defaults(func=cmd_bench)


def _add_data(sub: Any) -> Any:
    """The ``data`` command; returns its subparsers (plugins add theirs)."""
    p = sub.add_parser("data", help="build datasets, show samples, and dataset tools")
    dsub = p.add_subparsers(dest="action", required=True)
    for action, text in (
        ("build", "build/cache a dataset and print its sizes"),
        ("show", "write a sample grid PNG per domain"),
    ):
        q = dsub.add_parser(action, help=text)
        q.add_argument("dataset", help="dataset name (`trustlab list datasets`)")
        q.add_argument("--root", default=None, help="folder datasets: the dataset root")
        q.add_argument("--image-size", type=int, default=32)
        q.add_argument("--out", default="reports/data")
        q.set_defaults(func=cmd_data)
    return dsub


def build_parser(catalog: dict[str, Any] | None = None) -> argparse.ArgumentParser:
    """The full parser. With ``catalog`` (the fast path), plugin commands are stubs that carry their help
    line; without it, the plugins must be imported and add their real parsers."""
    from trustlab.registry import COMMANDS, DATA_COMMANDS

    if catalog is None:
        from trustlab.catalog import load

        catalog = load()
        light = False
    else:
        light = True
    parser = argparse.ArgumentParser(prog="trustlab", description="Trustworthy-ML toolkit")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for expected errors")
    sub = parser.add_subparsers(dest="command", required=True)

    _add_list(sub, catalog)
    _add_run(sub)
    _add_runs_and_report(sub)
    _add_bench(sub)
    _add_export(sub)
    dsub = _add_data(sub)
    if light:
        for name, text in catalog["data_commands"].items():
            dsub.add_parser(name, help=text)
        for name, text in catalog["commands"].items():
            sub.add_parser(name, help=text)
        return parser
    for _, add in DATA_COMMANDS.items():
        add(dsub)
    for _, add in COMMANDS.items():
        add(sub)
    return parser


def _command_of(argv: list[str]) -> str | None:
    """The first word of ``argv`` that is not an option (the subcommand), if any."""
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    try:
        command = _command_of(argv)
        if command is None or command in LIGHT_COMMANDS:  # `trustlab`, `--help`, `list`: no torch import
            from trustlab.catalog import load

            parser = build_parser(load())
        else:
            _load_plugins()
            parser = build_parser()
        args = parser.parse_args(argv)
        if args.command == "run" and not args.recipe and not args.resume and not args.config:
            parser.error("run needs a RECIPE (or --resume RUN_DIR, or --config of a run record's config.yaml); "
                         "`trustlab list recipes` shows them")
        return int(args.func(args) or 0)
    except TrustlabError as exc:
        if debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted; `trustlab run --resume RUN_DIR` continues from the last checkpoint", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
