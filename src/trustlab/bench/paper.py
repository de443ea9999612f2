"""``trustlab bench --suite paper``: each paper's protocol on its real benchmark, from data the user already has.

A method package declares its paper's protocol in ``methods/<m>/paper.py`` with :func:`register_paper`: the data it
reads (:class:`DataNeed`: a key for ``--data KEY=ROOT``, the expected layout, where the release describes it) and a
function that turns the given roots into runs of *existing* recipes with overrides (:class:`PaperRun`). This module
imports no method package (the shared layer; ``trustlab.methods`` fills :data:`PAPERS`).

    trustlab bench --suite paper --data PACS=/data/PACS --data resnet50=/ckpt/resnet50.pth --plan
    trustlab bench --suite paper --data-map data.yaml --launcher slurm --slurm-partition gpu --gpus 1

* Every given root is checked before anything runs (:func:`check_data`): a missing or wrongly laid out root is one
  ``error:`` line naming the dataset, the expected layout and where its release describes it; nothing is written.
* A protocol runs on the datasets it is given (others are listed as skipped); its runs go through the run cache
  (``<out>/paper/runs/<recipe>/cache-<config hash>``), so a second call reuses finished runs (SLURM resubmission).
* ``--plan`` prints every run with its config hash, whether it is done, and an *estimate* of its cost
  (:func:`estimate`): FLOPs = 6 x forward MACs per sample x training samples (forward + backward = 3 forwards, 2
  FLOPs per MAC); CPU-hours from a training step measured on this machine (:func:`measure_cpu_rate`), GPU-hours at an
  assumed sustained ``GPU_FLOPS``. An estimate: it ignores data loading, evaluation and a model's real utilisation.
* A protocol may ``prepare`` files its runs read from what the user gave (e.g. a torchvision ImageNet checkpoint
  re-keyed for the recipe's model): written atomically under ``<out>/paper/prepared`` before the runs (never by
  ``--plan``); a run names them with :data:`PREPARED` in an override value.
* ``--tiny`` runs every protocol's first run per dataset at its recipe's ``tiny`` scale: the wiring on your data, in
  minutes, before booking a cluster (the tests run it on fixtures).

Results: ``<out>/paper/paper.json`` (every run: protocol, cell, recipe, overrides, run folder, its headline metrics)
and ``paper.md`` (per protocol, mean +- std over seeds of each cell). The claims (``--suite quick``) are not re-decided
on the paper data: the table is the paper's, the verdict logic stays with the miniatures.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trustlab.errors import ConfigError, DataError, TrustlabError
from trustlab.registry import Registry

# Assumed sustained training throughput of one data-centre GPU (A100/H100 class, bf16/tf32 at roughly 15-30% of
# peak for these model sizes). The GPU-hours of --plan are FLOPs / GPU_FLOPS: an estimate, not a measurement.
GPU_FLOPS = 40e12
PREPARED = "{prepared}"  # in an override value: the folder of the files the protocols' prepare() wrote


@dataclass(frozen=True)
class DataNeed:
    """One dataset (or checkpoint) a protocol reads: ``--data KEY=ROOT``.

    ``probe``: paths relative to ROOT that must exist (a cheap layout check; the reader checks the rest when the run
    starts). ``kind`` "file" for a checkpoint. ``optional``: the protocol runs without it (e.g. pretrained weights; the
    plan says what changes)."""

    key: str
    what: str
    layout: str
    source: str
    probe: tuple[str, ...] = ()
    kind: str = "dir"
    optional: bool = False

    def problem(self, root: Path) -> str | None:
        """None when ``root`` looks right, else one line naming the dataset, the layout and the release."""
        where = f"{self.what} ('{self.key}'): expected {self.layout}; see {self.source}"
        if self.kind == "file":
            return None if root.is_file() else f"'{root}' is not a file. {where}"
        if not root.is_dir():
            return f"'{root}' is not a folder. {where}"
        missing = [p for p in self.probe if not (root / p).exists()]
        if missing:
            return f"'{root}' has no {', '.join(missing[:3])}. {where}"
        return None


@dataclass(frozen=True)
class Cost:
    """What a run trains: ``samples`` forward-backward passes of a model with ``gmacs`` forward GMACs per sample.
    ``cpu_bound``: the run's time is not model FLOPs (RL environment steps): the FLOP estimate undercounts it."""

    samples: float
    gmacs: float
    cpu_bound: bool = False

    @property
    def flops(self) -> float:
        return 6.0 * self.gmacs * 1e9 * self.samples


@dataclass(frozen=True)
class PaperRun:
    """One run of an existing recipe. ``where``: the overrides that wire it to the data and define its table cell
    (data.name/root/target, a method arm); ``scale``: the paper's scale (models, epochs, image size), which ``--tiny``
    replaces by the recipe's own ``tiny`` overrides. ``cell`` is its table cell (``PACS/sketch``), ``data`` its key."""

    recipe: str
    where: dict[str, Any]
    scale: dict[str, Any]
    cell: str
    data: str
    seed: int
    cost: Cost

    @property
    def overrides(self) -> dict[str, Any]:
        return {**self.scale, **self.where, "train.seed": self.seed}


@dataclass
class Protocol:
    """A paper's protocol: ``runs(roots, seeds)`` gives its runs for the given ``{data key: root}``."""

    id: str
    paper: str  # title (arXiv id)
    needs: list[DataNeed]
    runs: Callable[[Mapping[str, Path], Sequence[int]], list[PaperRun]]
    metrics: tuple[str, ...]  # summary keys of the table
    seeds: tuple[int, ...] = (0, 1, 2)
    not_wired: str = ""  # what of the paper's protocol is not wired yet (one line; README's TODO list)
    command: str = ""  # the cluster command of the README (filled by the method)
    # prepare(given data, folder): write what the runs read under PREPARED (atomically; a bad input is one
    # TrustlabError line, before anything is written); run_paper calls it before the runs, --plan never
    prepare: Callable[[Mapping[str, Path], Path], None] | None = None

    @property
    def __doc__(self) -> str:  # type: ignore[override]  # registry help line
        return self.paper


PAPERS: Registry[Protocol] = Registry("paper protocol", listed=False)


def register_paper(protocol: Protocol) -> Protocol:
    PAPERS.add(protocol.id, protocol)
    return protocol


# DomainBed's image folders (domainbed/scripts/download.py), shared by the DG protocols (OKD, GMoE)
DOMAINBED_DOMAINS = {
    "PACS": ("art_painting", "cartoon", "photo", "sketch"),
    "VLCS": ("Caltech101", "LabelMe", "SUN09", "VOC2007"),
    "OfficeHome": ("Art", "Clipart", "Product", "Real World"),
    "TerraIncognita": ("location_100", "location_38", "location_43", "location_46"),
}
DOMAINBED_IMAGES = {"PACS": 9991, "VLCS": 10729, "OfficeHome": 15588, "TerraIncognita": 24788}
DOMAINBED_CLASSES = {"PACS": 7, "VLCS": 5, "OfficeHome": 65, "TerraIncognita": 10}


def file_tag(path: Path) -> str:
    """A file's or folder's identity for prepared files' names (path, size, mtime): a replaced one gets a new name, so
    the run cache does not reuse runs trained from the old one. A path that does not exist (the plan's placeholder)
    is tagged by its name."""
    import hashlib

    try:
        st = path.stat()
        key = f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        key = str(path)
    return hashlib.sha1(key.encode()).hexdigest()[:10]


def domainbed_need(name: str) -> DataNeed:
    domains = DOMAINBED_DOMAINS[name]
    return DataNeed(name, f"DomainBed {name}", f"ROOT/<domain>/<class>/<image>, domains {', '.join(domains)}",
                    "DomainBed's domainbed/scripts/download.py (https://github.com/facebookresearch/DomainBed)",
                    probe=domains)


# torchvision's ImageNet ResNet-50, shared by the protocols that start from it (OKD's teacher, PMT-IQA's backbone)
TORCHVISION_RESNET50 = DataNeed("resnet50", "torchvision ResNet-50 ImageNet weights", "a state_dict .pth "
                                "(torchvision's resnet50-11ad3fa6.pth)", "https://pytorch.org/vision/stable/models.html",
                                kind="file", optional=True)


def timm_init_from_torchvision(path: Path, arch: str, num_classes: int, seed: int = 0, input_size: int = 224,
                               key: str = "resnet50") -> dict[str, Any]:
    """torchvision's ImageNet state_dict of ``arch`` -> the state_dict of ``build_model("timm:<arch>", num_classes)``:
    every backbone tensor from the file (timm's ResNets use torchvision's names, under the classifier's ``model.``),
    the 1000-class ``fc`` replaced by the model's own seeded initialisation. A file that does not fit is one
    DataError line naming ``--data <key>``."""
    import torch

    from trustlab.models import build_model

    where = (f"--data {key} '{path}' must be torchvision's ImageNet {arch} state_dict "
             f"(torchvision.models.{arch}(weights='IMAGENET1K_V1').state_dict(), e.g. {arch}-11ad3fa6.pth)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # not a torch file, corrupt, or pickled objects weights_only refuses
        raise DataError(f"{where}; it cannot be read ({type(e).__name__})") from None
    if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise DataError(f"{where}; it holds no state_dict")
    torch.manual_seed(seed)
    target = build_model(f"timm:{arch}", num_classes, input_size=input_size).state_dict()
    out: dict[str, Any] = {}
    bad = []
    for name, value in target.items():
        src = name.removeprefix("model.")
        if src.startswith("fc."):
            out[name] = value  # the new head: the model's own init
        elif src in state and tuple(state[src].shape) == tuple(value.shape):
            out[name] = state[src].clone()
        else:
            bad.append(src)
    if bad:
        raise DataError(f"{where}; it lacks or mis-shapes {', '.join(bad[:3])}{' ...' if len(bad) > 3 else ''}")
    return out


def lodo_train_images(name: str, val_fraction: float = 0.2, test_fraction: float = 0.2) -> float:
    """Training images of one leave-one-domain-out split (three of four domains, minus the carved val/test)."""
    return DOMAINBED_IMAGES[name] * 0.75 * (1.0 - val_fraction - test_fraction)


def all_needs() -> dict[str, DataNeed]:
    out: dict[str, DataNeed] = {}
    for _, p in PAPERS.items():
        for n in p.needs:
            out.setdefault(n.key, n)
    return out


# ---------------------------------------------------------------- data map


def parse_data(pairs: Sequence[str], data_map: str | None = None) -> dict[str, Path]:
    """``["PACS=/data/PACS", ...]`` and a YAML ``{KEY: ROOT}`` file -> ``{key: Path}`` (pairs win)."""
    out: dict[str, Path] = {}
    if data_map:
        import yaml

        try:
            raw = yaml.safe_load(Path(data_map).read_text())
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"--data-map '{data_map}' is not a readable YAML file ({type(e).__name__})") from e
        if not isinstance(raw, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
            raise ConfigError(f"--data-map '{data_map}' must map dataset keys to paths (KEY: /path)")
        out.update({k: Path(v).expanduser() for k, v in raw.items()})
    for pair in pairs:
        key, sep, root = pair.partition("=")
        if not sep or not key or not root:
            raise ConfigError(f"--data '{pair}' must be KEY=ROOT (e.g. PACS=/data/PACS)")
        out[key.strip()] = Path(root.strip()).expanduser()
    return out


def check_data(data: Mapping[str, Path]) -> None:
    """Every given key is known and its root looks right; else one line (the first problem) and nothing runs."""
    from trustlab.errors import did_you_mean

    needs = all_needs()
    for key, root in data.items():
        if key not in needs:
            raise ConfigError(f"--data key '{key}' is not a dataset of the paper suite{did_you_mean(key, needs)}; "
                              f"known: {', '.join(sorted(needs))}")
        problem = needs[key].problem(root)
        if problem:
            raise DataError(problem)


def selected(only: Sequence[str] | None) -> list[Protocol]:
    ps = [p for _, p in PAPERS.items() if not only or any(p.id.startswith(o) for o in only)]
    if not ps:
        raise ConfigError(f"no paper protocol id starts with {list(only or [])}; known: {', '.join(PAPERS.names())}")
    return ps


def plan_runs(protocols: Sequence[Protocol], data: Mapping[str, Path], tiny: bool = False, explicit: bool = False,
              prepared: Path | None = None) -> tuple[list[tuple[Protocol, PaperRun]], list[str]]:
    """Every run of ``protocols`` on the given data, and a line per protocol left out (:data:`PREPARED` in an
    override value becomes ``prepared``, ``<out>/paper/prepared``).

    A protocol needing no data (gymnasium ids) runs only when ``explicit`` (``--only`` named it) or when no data was
    given at all (the overview of ``--plan``), so ``--data PACS=...`` does not start the RL runs too."""
    runs: list[tuple[Protocol, PaperRun]] = []
    skipped = []
    for p in protocols:
        given = {n.key: data[n.key] for n in p.needs if n.key in data}
        required = [n.key for n in p.needs if not n.optional]
        if required and not any(k in given for k in required):
            skipped.append(f"{p.id}: no data given (needs one of {', '.join(required)})")
            continue
        if not required and data and not explicit:
            skipped.append(f"{p.id}: needs no data; run it with --only {p.id}")
            continue
        rs = [with_prepared(r, prepared) for r in p.runs(given, (p.seeds[0],) if tiny else p.seeds)]
        if not rs:
            skipped.append(f"{p.id}: not wired: {p.not_wired}")
            continue
        runs.extend((p, tiny_run(r) if tiny else r) for r in (first_per_data(rs) if tiny else rs))
    return runs, skipped


def with_prepared(run: PaperRun, prepared: Path | None) -> PaperRun:
    """``run`` with :data:`PREPARED` in its string override values (and lists of them) replaced by ``prepared``."""
    if prepared is None:
        return run

    def one(v: Any) -> Any:
        if isinstance(v, str):
            return v.replace(PREPARED, str(prepared))
        return [one(x) for x in v] if isinstance(v, list) else v

    def sub(d: dict[str, Any]) -> dict[str, Any]:
        return {k: one(v) for k, v in d.items()}

    return PaperRun(run.recipe, sub(run.where), sub(run.scale), run.cell, run.data, run.seed, run.cost)


def placeholders(protocols: Sequence[Protocol]) -> dict[str, Path]:
    """``{key: $KEY}`` for every dataset of ``protocols``: the plan's overview when no data is given."""
    return {n.key: Path(f"${n.key}") for p in protocols for n in p.needs}


def first_per_data(runs: Sequence[PaperRun]) -> list[PaperRun]:
    seen, out = set(), []
    for r in runs:
        if (r.recipe, r.data) not in seen:
            seen.add((r.recipe, r.data))
            out.append(r)
    return out


def tiny_run(run: PaperRun) -> PaperRun:
    """``run`` at its recipe's ``tiny`` scale: its ``where`` overrides, the recipe's ``tiny`` ones instead of the
    paper's scale (those that point at the contract test's generated folder left out)."""
    from trustlab.config import flatten
    from trustlab.recipes import TINY_FOLDER
    from trustlab.registry import RECIPES

    tiny = {k: v for k, v in flatten(dict(RECIPES.get(run.recipe).tiny)).items()
            if k not in run.where and TINY_FOLDER not in str(v)}
    return PaperRun(run.recipe, run.where, tiny, run.cell, run.data, run.seed, Cost(0.0, run.cost.gmacs))


# ---------------------------------------------------------------- estimate


def measure_cpu_rate(batch: int = 8, size: int = 32, steps: int = 3) -> tuple[float, float, float]:
    """``(FLOP per CPU-second, CPU-seconds per step, FLOPs per step)`` of a training step of trustlab's resnet18 at
    ``size`` px, batch ``batch``, on this machine (CPU time of all torch threads, the best of ``steps`` after a
    warm-up step; CPU time, not wall time, as the machine is shared)."""
    import torch

    from trustlab.models import build_model, count_macs

    torch.manual_seed(0)
    model = build_model("resnet18", 10, input_size=size)
    macs = count_macs(model, (3, size, size))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.rand(batch, 3, size, size), torch.randint(0, 10, (batch,))
    best = math.inf
    for i in range(steps + 1):
        t = time.process_time()
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        if i:
            best = min(best, time.process_time() - t)  # CPU seconds of every thread together
    flops = 6.0 * macs * batch
    return flops / best, best, flops


def estimate(cost: Cost, cpu_flops: float) -> dict[str, float]:
    return {"pflop": cost.flops / 1e15, "cpu_hours": cost.flops / cpu_flops / 3600,
            "gpu_hours": cost.flops / GPU_FLOPS / 3600}


def plan_rows(runs: Sequence[tuple[Protocol, PaperRun]], runs_root: Path, cpu_flops: float,
              overview: bool = False) -> list[dict[str, Any]]:
    from trustlab.config import override_strings
    from trustlab.runs.cache import cache_path, config_digest

    rows = []
    for p, r in runs:
        ov = override_strings(r.overrides)
        rows.append({"protocol": p.id, "cell": r.cell, "seed": r.seed, "recipe": r.recipe,
                     "hash": "-" if overview else config_digest(r.recipe, ov),
                     "done": not overview and (cache_path(r.recipe, ov, runs_root) / "done").is_file(),
                     "cpu_bound": r.cost.cpu_bound, **estimate(r.cost, cpu_flops)})
    return rows


def format_plan(rows: Sequence[Mapping[str, Any]], skipped: Sequence[str], rate: tuple[float, float, float]) -> str:
    flops, sec, step_flops = rate
    lines = [f"{'protocol':<9} {'cell':<28} {'seed':>4} {'recipe':<22} {'config':<12} {'done':<4} "
             f"{'PFLOP':>9} {'GPU-h*':>8}"]
    for r in rows:
        done = "yes" if r["done"] else "-" if r["hash"] == "-" else "no"
        lines.append(f"{r['protocol']:<9} {r['cell'][:28]:<28} {r['seed']:>4} {r['recipe'][:22]:<22} {r['hash']:<12} "
                     f"{done:<4} {r['pflop']:>9.3f} {r['gpu_hours']:>8.2f}"
                     f"{'  (env-step bound: more)' if r['cpu_bound'] else ''}")
    todo = [r for r in rows if not r["done"]]
    for pid in dict.fromkeys(r["protocol"] for r in rows):
        mine = [r for r in todo if r["protocol"] == pid]
        bound = any(r["cpu_bound"] for r in mine)
        lines.append(f"  {pid}: {len(mine)} runs to do, {sum(r['pflop'] for r in mine):.2f} PFLOP, estimate "
                     f"{sum(r['gpu_hours'] for r in mine):.2f} GPU-hours"
                     f"{' (env-step bound: budget CPU time, see the method README run times)' if bound else ''}")
    lines.append(f"{len(rows)} runs, {len(rows) - len(todo)} done; to do: {sum(r['pflop'] for r in todo):.2f} PFLOP, "
                 f"estimate {sum(r['gpu_hours'] for r in todo):.1f} GPU-hours "
                 f"({sum(r['cpu_hours'] for r in todo):.0f} CPU-hours at this machine's rate)")
    lines.append(f"* estimate: FLOPs = 6 x forward MACs x training samples; GPU-hours at an assumed sustained "
                 f"{GPU_FLOPS / 1e12:.0f} TFLOP/s; this CPU measured {flops / 1e9:.1f} GFLOP per CPU-second "
                 f"(resnet18 32px batch 8 training step: {sec * 1e3:.0f} ms CPU time, {step_flops / 1e9:.2f} GFLOP); "
                 "data loading and evaluation not counted")
    lines += [f"skipped {s}" for s in skipped]
    return "\n".join(lines)


# ---------------------------------------------------------------- run


def run_paper(data: Mapping[str, Path], out_root: str | Path = "reports", only: Sequence[str] | None = None,
              plan: bool = False, tiny: bool = False, quiet: bool = False, jobs: int = 1, launcher: str = "local",
              launcher_cfg: Any = None) -> Path | str:
    """Check the data, then print the plan (``plan``) or run every protocol's runs and write the report."""
    import trustlab.methods  # noqa: F401  (registers recipes and the paper protocols)

    protocols = selected(only)
    check_data(data)  # one line and nothing written when a root is wrong
    overview = plan and not data
    out_dir = Path(out_root) / ("paper-tiny" if tiny else "paper")
    runs, skipped = plan_runs(protocols, placeholders(protocols) if overview else data, tiny,
                              explicit=bool(only) or overview, prepared=out_dir.resolve() / "prepared")
    if plan:
        rate = measure_cpu_rate()
        text = format_plan(plan_rows(runs, out_dir / "runs", rate[0], overview), skipped, rate)
        return text + ("\n(no --data given: every protocol on placeholder roots $KEY; config hashes need the roots)"
                       if overview else "")
    if not runs:
        raise ConfigError("no paper protocol has data: pass --data KEY=ROOT (`trustlab bench --suite paper --plan` "
                          "lists the keys)")
    from trustlab.bench.runner import BenchContext

    ctx = BenchContext("paper", out_dir, quiet=quiet, reuse=True, jobs=jobs, launcher=launcher,
                       launcher_cfg=launcher_cfg)
    records: list[dict[str, Any]] = []
    try:
        if launcher != "local":
            ctx._workers()  # connect (or fail) before anything is written
        for pid in dict.fromkeys(p.id for p, _ in runs):  # files the runs read (a bad input: one line, no report)
            p = PAPERS.get(pid)
            if p.prepare is not None:
                p.prepare({n.key: data[n.key] for n in p.needs if n.key in data}, out_dir.resolve() / "prepared")
        out_dir.mkdir(parents=True, exist_ok=True)
        for pid in dict.fromkeys(p.id for p, _ in runs):
            p = PAPERS.get(pid)
            mine = [r for q, r in runs if q.id == pid]
            if not quiet:
                print(f"[paper] {p.id}: {len(mine)} runs ({p.paper})", file=sys.stderr)
            records += _run_protocol(ctx, p, mine)
            _write(out_dir, records, skipped)
    finally:
        ctx.close()
    return _write(out_dir, records, skipped)


def _run_protocol(ctx: Any, p: Protocol, runs: list[PaperRun]) -> list[dict[str, Any]]:
    from trustlab.config import override_strings

    out = []
    for r in runs:  # one at a time through run_many's cache: a failing run is recorded, the others go on
        row: dict[str, Any] = {"protocol": p.id, "cell": r.cell, "seed": r.seed, "recipe": r.recipe,
                               "overrides": override_strings(r.overrides)}
        try:
            rec = ctx.run_many([(r.recipe, r.overrides)])[0]
            summary = rec.summary()
            row.update(run=str(rec.path), metrics=flat_metrics(summary, p.metrics))
        except TrustlabError as e:
            row["error"] = str(e)
        except Exception as e:  # a broken run is reported, not hidden
            row["error"] = f"{type(e).__name__}: {e}"
        out.append(row)
    return out


def flat_metrics(summary: Mapping[str, Any], keys: Sequence[str]) -> dict[str, float]:
    """The numbers under ``keys`` of a run summary; nested dicts flatten to ``key/sub`` (one level per dict)."""
    out: dict[str, float] = {}

    def walk(prefix: str, v: Any) -> None:
        if isinstance(v, bool):
            return
        if isinstance(v, (int, float)):
            out[prefix] = float(v)
        elif isinstance(v, Mapping):
            for k, sub in v.items():
                walk(f"{prefix}/{k}", sub)

    for k in keys:
        if k in summary:
            walk(k, summary[k])
    return out


def _write(out_dir: Path, records: list[dict[str, Any]], skipped: Sequence[str]) -> Path:
    from trustlab.runs import atomic

    atomic.write_json(out_dir / "paper.json", {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "runs": records,
                                               "skipped": list(skipped)})
    atomic.write_text(out_dir / "paper.md", table_markdown(records, skipped))
    return out_dir / "paper.md"


def table_markdown(records: Sequence[Mapping[str, Any]], skipped: Sequence[str] = ()) -> str:
    """Per protocol: one row per (cell, recipe), mean +- std over seeds of every metric."""
    lines = ["# Paper suite"]
    for pid in dict.fromkeys(r["protocol"] for r in records):
        rows = [r for r in records if r["protocol"] == pid]
        metrics = list(dict.fromkeys(k for r in rows for k in r.get("metrics", {})))
        lines += ["", f"## {pid}", "", "| cell | recipe | seeds | " + " | ".join(metrics) + " | errors |",
                  "|" + "---|" * (len(metrics) + 4)]
        for cell, recipe in dict.fromkeys((r["cell"], r["recipe"]) for r in rows):
            group = [r for r in rows if r["cell"] == cell and r["recipe"] == recipe]
            vals = [_mean_std([r["metrics"][m] for r in group if m in r.get("metrics", {})]) for m in metrics]
            errors = "; ".join(r["error"][:80] for r in group if "error" in r)
            lines.append(f"| {cell} | {recipe} | {len(group)} | " + " | ".join(vals) + f" | {errors} |")
    lines += [f"\nskipped {s}" for s in skipped]
    return "\n".join(lines) + "\n"


def _mean_std(xs: Sequence[Any]) -> str:
    xs = [float(x) for x in xs if isinstance(x, (int, float))]
    if not xs:
        return "-"
    return f"{statistics.fmean(xs):.4f}" + (f" ± {statistics.stdev(xs):.4f}" if len(xs) > 1 else "")

