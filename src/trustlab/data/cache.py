"""On-disk cache for generated datasets: atomic writes, a manifest per version, checksums.

Embedded datasets (e.g. Digits-DG) are built once from what installed packages ship and stored under
``$TRUSTLAB_DATA`` (default ``~/.cache/trustlab``) as ``<cache>/<name>/<version>/``:

* one ``.npz`` per part (written byte-for-byte deterministically, so two builds with the same seed
  have the same sha256 and a checksum mismatch really means damage, not a timestamp);
* ``manifest.json`` (written last) listing every file with its sha256 and size, the generator version
  and the seed.

:func:`load_or_build` verifies the manifest on every load; a missing or damaged file, or a manifest from
another generator version or seed, triggers a rebuild with one line on stderr. All writes go to a temp
file in the same folder followed by ``os.replace``, so a killed build never leaves a half-written file
that looks valid, and two processes building at once only ever replace identical files.

Usage::

    arrays = load_or_build("digits-dg", "v1", build_fn, seed=0, generator_version="1.0")
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from trustlab.errors import DataError

MANIFEST = "manifest.json"
# Fixed zip timestamp: np.savez stamps the current time into the archive, which would make the bytes
# (and so the checksum) of two identical builds differ.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def cache_root() -> Path:
    """The trustlab data cache: ``$TRUSTLAB_DATA`` if set, else ``~/.cache/trustlab``."""
    env = os.environ.get("TRUSTLAB_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "trustlab"


def dataset_dir(name: str, version: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """``<cache>/<name>/<version>``; ``cache_dir`` overrides the cache root (not the dataset folder)."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else cache_root()
    return root / name / version


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temp file next to ``path``, then move it into place."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise DataError(
            f"cannot write to the data cache '{path.parent}' ({e.strerror}); set TRUSTLAB_DATA to a writable folder"
        ) from e
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; cached data is not secret
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_npz_atomic(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray], compress: bool = True) -> None:
    """Write ``arrays`` as an ``.npz`` readable by ``np.load``, atomically and with reproducible bytes."""
    path = Path(path)

    def write(tmp: Path) -> None:
        method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        with zipfile.ZipFile(tmp, "w", compression=method, compresslevel=1 if compress else None) as zf:
            for key, arr in arrays.items():
                info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_EPOCH)
                info.compress_type = method
                with zf.open(info, "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, np.ascontiguousarray(arr), allow_pickle=False)

    atomic_write(path, write)


def load_npz(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` file (no pickles)."""
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def write_json_atomic(path: str | os.PathLike[str], obj: object) -> None:
    """Write ``obj`` as pretty, key-sorted JSON, atomically."""
    text = json.dumps(obj, indent=2, sort_keys=True) + "\n"
    atomic_write(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_manifest(
    directory: str | os.PathLike[str],
    files: list[str],
    *,
    name: str,
    version: str,
    generator_version: str,
    seed: int,
    extra: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """Checksum ``files`` (names relative to ``directory``) and write ``manifest.json``; returns it."""
    directory = Path(directory)
    entries = {f: {"sha256": sha256_file(directory / f), "bytes": (directory / f).stat().st_size} for f in files}
    manifest: dict[str, object] = {
        "name": name,
        "version": version,
        "generator_version": generator_version,
        "seed": seed,
        "files": entries,
        **dict(extra or {}),
    }
    write_json_atomic(directory / MANIFEST, manifest)
    return manifest


def verify(directory: str | os.PathLike[str], *, generator_version: str, seed: int) -> str | None:
    """Check a cached dataset folder against its manifest; ``None`` if sound, else why it is not."""
    directory = Path(directory)
    mpath = directory / MANIFEST
    if not mpath.is_file():
        return "no manifest"
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
        files = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return "unreadable manifest"
    if manifest.get("generator_version") != generator_version or manifest.get("seed") != seed:
        return (
            f"built by generator {manifest.get('generator_version')} seed {manifest.get('seed')}, "
            f"need {generator_version} seed {seed}"
        )
    for fname, meta in sorted(files.items()):
        fpath = directory / fname
        if not fpath.is_file():
            return f"missing file {fname}"
        if fpath.stat().st_size != meta.get("bytes"):
            return f"size mismatch in {fname}"
        if sha256_file(fpath) != meta.get("sha256"):
            return f"checksum mismatch in {fname}"
    return None


def load_or_build(
    name: str,
    version: str,
    build: Callable[[], Mapping[str, Mapping[str, np.ndarray]]],
    *,
    seed: int,
    generator_version: str,
    cache_dir: str | os.PathLike[str] | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """Load ``<cache>/<name>/<version>/*.npz`` if the manifest verifies, else ``build()`` and cache it.

    ``build`` returns ``{part: {key: array}}``; each part becomes ``<part>.npz``. The result has the
    same shape, read back from disk (so a fresh build and a cache hit return identical data).
    """
    directory = dataset_dir(name, version, cache_dir)
    problem = verify(directory, generator_version=generator_version, seed=seed)
    if problem is None:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        return {Path(f).stem: load_npz(directory / f) for f in sorted(manifest["files"])}
    if problem == "no manifest":
        print(f"trustlab: building {name} {version} into {directory} (first use)", file=sys.stderr)
    else:
        print(f"trustlab: {name} {version} cache at {directory}: {problem}; rebuilding", file=sys.stderr)
    parts = build()
    files = []
    for part, arrays in parts.items():
        fname = f"{part}.npz"
        save_npz_atomic(directory / fname, arrays)
        files.append(fname)
    write_manifest(directory, files, name=name, version=version, generator_version=generator_version, seed=seed)
    return {part: load_npz(directory / f"{part}.npz") for part in parts}
