"""The registry catalog behind the fast CLI: equal to the live registries, never stale, no torch import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.e2e.helpers import ROOT, cli
from trustlab import catalog


def test_snapshot_is_the_live_registries() -> None:
    from trustlab.registry import ALL, COMMANDS

    snap = catalog.snapshot()
    assert set(snap["registries"]) == set(ALL)
    for key, reg in ALL.items():
        assert snap["registries"][key] == {n: reg.help(n) for n in reg.names()}
    assert snap["commands"] == {n: COMMANDS.help(n) for n in COMMANDS.names()}
    assert "erm/digits-dg" in snap["registries"]["recipes"] and "mnist5k" in snap["registries"]["datasets"]


def test_stale_or_foreign_catalogs_are_ignored(tmp_path: Path) -> None:
    fp = catalog.fingerprint()
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"fingerprint": fp, "registries": {}}))
    stale = tmp_path / "stale.json"
    stale.write_text(json.dumps({"fingerprint": "0" * 16, "registries": {}}))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert catalog._read(good, fp) is not None
    assert catalog._read(stale, fp) is None and catalog._read(broken, fp) is None


def test_help_and_list_do_not_import_torch(tmp_path: Path) -> None:
    env = {**os.environ, "TRUSTLAB_DATA": str(tmp_path), "PYTHONPATH": str(ROOT / "src")}
    # the first call may have to build the catalog (importing everything) and caches it ...
    subprocess.run([sys.executable, "-c", "from trustlab.catalog import load; load()"], env=env, check=True)
    code = ("import sys, contextlib, io\nfrom trustlab.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out: main(['list', 'recipes'])\n"
            "assert 'erm/digits-dg' in out.getvalue(), out.getvalue()\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'numpy', 'trustlab')))")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    loaded = proc.stdout
    # ... after which `list` reads the catalog only
    assert "'torch'" not in loaded and "'numpy'" not in loaded and "trustlab.methods" not in loaded, loaded


def test_print_config_lists_every_key_and_loads_back(tmp_path: Path) -> None:
    proc = cli("run", "erm/digits-dg", "--print-config", "--set", "train.epochs=3", check=True)
    text = proc.stdout
    assert "epochs: 3  # int" in text and "optimizer: sgd  # Literal['sgd', 'adam', 'adamw']" in text
    cfg = yaml.safe_load(text)
    assert cfg["recipe"] == "erm/digits-dg" and set(cfg) == {"recipe", "data", "model", "train", "method"}
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    again = cli("run", "--config", str(path), "--print-config", check=True).stdout
    assert again == text  # the printed config is a valid config file that resolves to itself
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("args", [["--help"], ["list", "--help"]])
def test_help_exits_zero(args: list[str]) -> None:
    proc = cli(*args)
    assert proc.returncode == 0 and "trustlab" in proc.stdout
