"""Shipped weights: small pretrained weights that ship inside the package, with how they were built beside them.

An asset is two files in a method's ``weights/`` folder (package data, see ``pyproject.toml``):

* ``<name>.pt``: a flat dict of tensors (and plain ints / floats / strings) written with ``torch.save``; it loads
  with ``torch.load(path, weights_only=True)``.
* ``<name>.json``: its provenance: the ``command`` that rebuilds it, ``seed``, ``data``, the training settings it
  stands for (``key``: a method loads the file only when the settings it is asked for equal these), the
  ``sha256`` and ``bytes`` of the ``.pt``, and ``probe``: outputs of the model built from the file on a fixed
  input (tests rebuild the model and compare).

Why ship them: trained on each machine, the same seed gives slightly different weights on CPUs with other
instruction sets (float kernels, and torch's vectorised random init), and claims at the edge of a threshold
flip; loading one file removes that source and the training time.

Usage::

    save(path, {"w": tensor, ...}, {"command": "...", "seed": 0, "key": {...}})
    payload, meta = load(path)             # checks the sha256 first; DataError when it does not match
    why = mismatch(meta["key"], want_key)  # None when the shipped file stands for the requested settings
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trustlab.data.cache import atomic_write, sha256_file, write_json_atomic
from trustlab.errors import DataError

_ANNOUNCED: set[tuple[str, str]] = set()


def meta_path(pt: str | os.PathLike[str]) -> Path:
    return Path(pt).with_suffix(".json")


def normalise(obj: Any) -> Any:
    """``obj`` as JSON would give it back (tuples -> lists, keys -> str): what ``key`` comparisons use."""
    return json.loads(json.dumps(obj, sort_keys=True, default=list))


def save(pt: str | os.PathLike[str], payload: Mapping[str, Any], meta: Mapping[str, Any]) -> dict[str, Any]:
    """Write ``payload`` (``torch.save``) and then ``<name>.json`` (``meta`` + sha256 + bytes); returns the meta."""
    import torch

    pt = Path(pt)
    atomic_write(pt, lambda tmp: torch.save(dict(payload), tmp))
    full = {**normalise(dict(meta)), "file": pt.name, "sha256": sha256_file(pt), "bytes": pt.stat().st_size,
            "torch": torch.__version__}
    write_json_atomic(meta_path(pt), full)
    return full


def info(pt: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The ``.json`` beside ``pt`` (None when the asset or its metadata is missing)."""
    m = meta_path(pt)
    if not Path(pt).is_file() or not m.is_file():
        return None
    try:
        return json.loads(m.read_text(encoding="utf-8"))
    except ValueError:
        return None


def load(pt: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(payload, meta)`` of a shipped asset, after checking the file against the sha256 recorded beside it."""
    import torch

    meta = info(pt)
    if meta is None:
        raise DataError(f"shipped weights '{pt}' or their '{meta_path(pt).name}' are missing; reinstall trustlab or "
                        "rebuild them (the command is in the method's README, 'Shipped weights')")
    got = sha256_file(pt)
    if got != meta.get("sha256"):
        raise DataError(f"shipped weights '{pt}' do not match the sha256 recorded beside them ({got[:12]} vs "
                        f"{str(meta.get('sha256'))[:12]}): the file is damaged; reinstall or rebuild it: "
                        f"{meta.get('command')}")
    return torch.load(pt, map_location="cpu", weights_only=True), meta


def mismatch(shipped_key: Any, want_key: Any, prefix: str = "") -> str | None:
    """None when the two settings are equal, else the first difference (``"steps: 4, shipped 1000"``)."""
    a, b = normalise(shipped_key), normalise(want_key)
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return f"{prefix}{k}: {'not in the shipped settings' if k not in a else 'missing'}"
            why = mismatch(a[k], b[k], f"{prefix}{k}.")
            if why:
                return why
        return None
    if a != b:
        return f"{prefix.rstrip('.') or 'settings'}: {b}, shipped {a}"
    return None


def announce(what: str, line: str) -> None:
    """One stderr line per process and asset saying which weights were used (shipped or trained)."""
    if (what, line) in _ANNOUNCED:
        return
    _ANNOUNCED.add((what, line))
    print(f"trustlab: {what}: {line}", file=sys.stderr, flush=True)


def build_main(argv: list[str] | None, *, command: str, description: str, weights: Path, tiny_help: str,
               build: Any, report: Any) -> int:
    """The command line of a shipped-weights build script: ``--out`` (default the shipped file) and ``--tiny``
    (a seconds-long check that never replaces the shipped file); ``build(out, tiny=) -> meta``, then
    ``report(meta)`` is the one line printed on stderr after the path."""
    import argparse

    p = argparse.ArgumentParser(prog=command, description=description)
    p.add_argument("--out", type=Path, default=weights, help=f"output .pt (default {weights})")
    p.add_argument("--tiny", action="store_true", help=f"{tiny_help}: check the script runs (never ship this)")
    args = p.parse_args(argv)
    if args.tiny and args.out.resolve() == Path(weights).resolve():
        p.error("--tiny needs --out elsewhere: it must never replace the shipped file")
    meta = build(args.out, tiny=args.tiny)
    print(f"{args.out}: {report(meta)}", file=sys.stderr)
    return 0
