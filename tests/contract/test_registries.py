"""Contract tests generated from the registries: registering a thing is what gets it tested.

- every recipe in ``RECIPES`` runs end to end with its ``tiny`` overrides and leaves a finished record, and every
  key of its config is read by some code path in that run or excused (``test_config_keys_act.py``);
- every claim in ``CLAIMS`` runs its check in the ``smoke`` suite (runs shared within this module) and
  returns a well-formed result (its verdict may be anything: one seed cannot decide);
- every listed registry is exercised: by a ``contract`` function on the registry, or by a test module
  that goes over every item (``COVERED`` names the module and the expression it iterates); datasets and
  methods are checked here (each builds or names what it needs; each meets the Trainable protocol).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

import trustlab.data  # noqa: F401  (registers datasets)
import trustlab.methods  # noqa: F401  (registers everything else)
import trustlab.models  # noqa: F401
from trustlab.bench.claims import VERDICTS, ClaimResult
from trustlab.bench.runner import BenchContext
from trustlab.data.base import DatasetEntry
from trustlab.errors import TrustlabError
from trustlab.experiment import DataConfig
from trustlab.recipes import TINY_FOLDER, run_recipe
from trustlab.registry import ALL, CLAIMS, DATASETS, METHODS, RECIPES
from trustlab.tasks.classification import build_data

from .config_reads import recipe_reads
from .test_config_keys_act import check_keys_act

TESTS = Path(__file__).resolve().parents[1]

# Registries tested by a module of their own, parametrized over every name: key -> (module, expression).
COVERED: dict[str, tuple[str, str]] = {
    "recipes": ("contract/test_registries.py", "RECIPES.names()"),
    "claims": ("contract/test_registries.py", "CLAIMS.names()"),
    "models": ("contract/test_model_contract.py", "NAMES"),
    "scorers": ("contract/test_ood_scorers.py", "SCORERS.names()"),
    "backdoors": ("contract/test_doorping_contract.py", "BACKDOORS.names()"),
    "attacks": ("contract/test_minmax_contract.py", "ATTACKS.names()"),
    "defenses": ("contract/test_doorping_contract.py", "DEFENSES.names()"),  # every defense in one run
    "iqa-schedules": ("unit/test_pmtiqa_data.py", "SCHEDULES.get("),  # each schedule's values
    "datasets": ("contract/test_registries.py", "DATASETS.names()"),
    "methods": ("contract/test_registries.py", "METHODS.names()"),
    "distillers": ("contract/test_registries.py", "DISTILLERS.names()"),
}


def _make_folder(root: Path, domains: int = 3, classes: int = 3, per_class: int = 12) -> Path:
    """A DomainBed layout root/d<i>/c<j>/<k>.png: each class a colour, each domain a brightness."""
    rng = np.random.default_rng(0)
    for d in range(domains):
        for c in range(classes):
            folder = root / f"d{d}" / f"c{c}"
            folder.mkdir(parents=True, exist_ok=True)
            for k in range(per_class):
                img = np.zeros((32, 32, 3), np.float64)
                img[..., c % 3] = 0.5 + 0.15 * d
                img += rng.normal(0, 0.08, img.shape)
                Image.fromarray((img.clip(0, 1) * 255).astype(np.uint8)).save(folder / f"{k}.png")
    return root


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _make_folder(tmp_path_factory.mktemp("tiny-folder"))


def _substitute(overrides: dict[str, Any], folder: Path) -> dict[str, Any]:
    """``TINY_FOLDER`` (also as a path prefix, e.g. ``@tiny-folder/d0``) -> the generated folder."""
    def sub(v: Any) -> Any:
        if isinstance(v, str):
            return v.replace(TINY_FOLDER, str(folder))
        return [sub(x) for x in v] if isinstance(v, list) else v

    return {k: sub(v) for k, v in overrides.items()}


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("name", RECIPES.names())
def test_every_recipe_runs_tiny(name: str, tiny_folder: Path, tmp_path: Path) -> None:
    recipe = RECIPES.get(name)
    assert recipe.tiny, f"recipe {name} has no `tiny` overrides: set Recipe(tiny={{...}}) so it can be tested"
    with recipe_reads(recipe) as (reads, seen):  # the run's config records which keys code reads
        rec = run_recipe(name, overrides=_substitute(recipe.tiny, tiny_folder), runs_root=tmp_path, quiet=True)
    assert rec.done
    summary = rec.summary()
    assert isinstance(summary, dict) and summary, f"recipe {name} returned an empty summary"
    assert rec.config()["recipe"] == name
    check_keys_act(name, seen["cfg"], reads.keys)  # every config key acts, or it is not there


@pytest.fixture(scope="module")
def smoke_ctx(tmp_path_factory: pytest.TempPathFactory):
    # two worker processes (one torch thread each): the claims that ask for runs together train in parallel
    ctx = BenchContext("smoke", tmp_path_factory.mktemp("smoke-bench"), quiet=True, jobs=2)
    yield ctx
    ctx.close()


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("claim_id", CLAIMS.names())
def test_every_claim_checks_in_smoke(claim_id: str, smoke_ctx: BenchContext) -> None:
    claim = CLAIMS.get(claim_id)
    assert claim.id == claim_id and claim.statement
    assert "smoke" in claim.suites, f"claim {claim_id} has no smoke scale: every claim's check must run in smoke"
    res = claim.check("smoke", smoke_ctx)
    assert isinstance(res, ClaimResult) and res.id == claim_id and res.suite == "smoke"
    assert res.verdict in VERDICTS and res.passed == (res.verdict == "PASS")
    assert res.values, f"claim {claim_id} measured nothing"
    assert math.isfinite(res.margin) or res.verdict == "INCONCLUSIVE", f"claim {claim_id}: margin {res.margin}"
    if res.diffs:  # decided by the paired rule: the margin is the mean of the per-seed margins
        assert res.margin == pytest.approx(float(np.mean(res.diffs)))


def _parametrized_over(module: Path, expression: str) -> bool:
    """The module goes over every item: ``expression`` (``X.names()``, or ``X.get(`` for item-by-item
    checks) appears in it."""
    return expression in module.read_text()


@pytest.mark.parametrize("name", DATASETS.names())
def test_every_dataset_builds_or_names_what_it_needs(name: str) -> None:
    """Without a root, a dataset builds its embedded default or says in one line what it needs."""
    entry = DATASETS.get(name)
    cfg = DataConfig(name=name, image_size=16, max_per_domain=8, target="")
    try:
        if isinstance(entry, DatasetEntry):
            assert entry.description and callable(entry.show)
            if entry.build_seconds > 60:  # minutes of pretraining: its own tests cover the build
                return
            lines = entry.build(cfg)
            assert lines and all(isinstance(line, str) for line in lines)
            return
        data = build_data(cfg)
    except TrustlabError as exc:  # e.g. "needs data.root" / "Fashion-MNIST is not installed"
        text = str(exc)
        assert text and "\n" not in text and len(text) < 400, text
        return
    assert data.domains and data.num_classes >= 2
    x, y = data.get(data.domains[0], "test")[0]
    assert x.shape[0] in (1, 3) and 0.0 <= float(x.min()) and float(x.max()) <= 1.0 and 0 <= int(y) < data.num_classes


@pytest.mark.parametrize("name", METHODS.names())
def test_every_method_is_trainable(name: str) -> None:
    """Every registered method meets the Trainable protocol the engine's fit() relies on."""
    cls = METHODS.get(name)
    assert isinstance(cls, type) and issubclass(cls, torch.nn.Module), f"method {name} is not an nn.Module class"
    for attr in ("training_step", "predict", "configure_optimizers"):
        assert callable(getattr(cls, attr, None)), f"method {name} has no {attr}()"


def test_every_distiller_has_a_recipe() -> None:
    """Distillers run end to end through their recipes (test_every_recipe_runs_tiny)."""
    from trustlab.methods.doorping.distill import DISTILLERS

    missing = [n for n in DISTILLERS.names() if f"distill/{n}" not in RECIPES]
    assert not missing, f"distillers without a distill/<name> recipe: {missing}"


@pytest.mark.parametrize("key", sorted(ALL))
def test_every_registry_is_exercised(key: str) -> None:
    registry = ALL[key]
    if getattr(registry, "contract", None) is not None:
        return  # checked item by item in test_registry_contracts
    assert key in COVERED, (f"registry '{key}' has neither a contract function (Registry(..., contract=fn)) "
                            f"nor a test module that parametrizes over it (COVERED in {Path(__file__).name})")
    module, expression = COVERED[key]
    assert _parametrized_over(TESTS / module, expression), f"{module} does not parametrize over {expression}"


CONTRACT_ITEMS = [(key, name) for key in sorted(ALL) if getattr(ALL[key], "contract", None) is not None
                  for name in ALL[key].names()]


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("key, name", CONTRACT_ITEMS)
def test_registry_contracts(key: str, name: str) -> None:
    registry = ALL[key]
    registry.contract(name, registry.get(name))
