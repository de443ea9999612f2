"""The registry catalog: names and help lines of everything registered, without importing torch.

``trustlab --help`` and ``trustlab list`` must start fast, but registering recipes and claims means
importing every method package (torch, torchvision, timm, ...: seconds on 2 cores). The catalog is a
JSON snapshot of the registries (``{registry key: {name: help}}`` plus the CLI's plugin commands),
stamped with a fingerprint of the package's source files. It is read from the package
(``catalog.json``, committed; ``python -m trustlab.catalog`` rewrites it) when its fingerprint
matches, else from the user's cache (``$TRUSTLAB_DATA/catalog.json``), else the registries are
imported for real and the snapshot is written to the cache for next time. A stale catalog is never
used: editing any source file changes the fingerprint.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).resolve().parent
PACKAGED = PACKAGE / "catalog.json"


def fingerprint() -> str:
    """sha1 over every ``.py`` file of the package (relative path and content)."""
    h = hashlib.sha1()
    for path in sorted(PACKAGE.rglob("*.py")):
        h.update(str(path.relative_to(PACKAGE)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def snapshot() -> dict[str, Any]:
    """Import every plugin and read the registries (slow: this is what the catalog saves)."""
    import trustlab.data  # noqa: F401
    import trustlab.methods  # noqa: F401
    import trustlab.models  # noqa: F401
    from trustlab.registry import ALL, COMMANDS, DATA_COMMANDS

    regs = {key: {name: reg.help(name) for name in reg.names()} for key, reg in ALL.items()}
    return {
        "fingerprint": fingerprint(),
        "registries": regs,
        "commands": {name: COMMANDS.help(name) for name in COMMANDS.names()},
        "data_commands": {name: DATA_COMMANDS.help(name) for name in DATA_COMMANDS.names()},
    }


def _cache_file() -> Path:
    root = os.environ.get("TRUSTLAB_DATA") or str(Path.home() / ".cache" / "trustlab")
    return Path(root) / "catalog.json"


def _read(path: Path, fp: str) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("fingerprint") == fp else None


def load() -> dict[str, Any]:
    """The current catalog: packaged or cached when up to date, else built now (and cached)."""
    fp = fingerprint()
    for path in (PACKAGED, _cache_file()):
        data = _read(path, fp)
        if data is not None:
            return data
    data = snapshot()
    _write(_cache_file(), data)
    return data


def _write(path: Path, data: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):  # a read-only cache only costs speed: the next call rebuilds
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, path)


def main() -> int:
    """``python -m trustlab.catalog``: rewrite the packaged catalog.json from the live registries."""
    data = snapshot()
    _write(PACKAGED, data)
    n = sum(len(v) for v in data["registries"].values())
    print(f"{PACKAGED}: {n} entries, fingerprint {data['fingerprint']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
