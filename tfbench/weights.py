"""Pretrained weights: named specs, a verified cache, and errors that name the fix.

Every network tfbench runs gets its file through :func:`weights_path`. Files live in
``$TFBENCH_HOME/weights`` (default ``~/.cache/tfbench/weights``). A download streams to
``<file>.part``, is checked against the spec's sha256 (or, where the canonical hash is
unknown, against the hash prefix in a torch-hub style file name), and is renamed into
place only when it matches, so a wrong or interrupted download never leaves a file.

Weights that ship inside PyPI packages (``source="package"``) resolve to the installed
package's file and are hashed on first use. Nothing here ever falls back to random
weights: a missing file raises :class:`MissingWeightsError` naming the command to run.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from tfbench.errors import MissingWeightsError, TfbenchError, UnknownNameError, WeightsHashError

CHUNK = 1 << 20


@dataclass(frozen=True)
class WeightsSpec:
    """One weights file.

    ``urls`` are tried in order by ``tfbench weights download``. ``sha256`` is the canonical
    file's hash, or None where it is not known: then ``hash_prefix`` (the 8+ hex digits a
    torch-hub style file name ends in) is checked if given, and the hash of the file
    actually used is always recorded in results. ``package`` + ``package_path`` locate a
    file shipped inside an installed PyPI package (``source="package"``).
    """

    name: str
    filename: str
    description: str
    license: str
    source: str  # "download" or "package"
    urls: tuple[str, ...] = ()
    sha256: str | None = None
    hash_prefix: str | None = None
    size: int | None = None  # bytes, where known
    package: str | None = None
    package_path: str | None = None
    install_hint: str | None = None
    used_by: tuple[str, ...] = field(default_factory=tuple)


def tfbench_home() -> Path:
    """Root of tfbench's cache: ``$TFBENCH_HOME`` or ``~/.cache/tfbench``."""
    return Path(os.environ.get("TFBENCH_HOME") or Path.home() / ".cache" / "tfbench")


def weights_dir() -> Path:
    return tfbench_home() / "weights"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


_SPECS: dict[str, WeightsSpec] = {}


def register(spec: WeightsSpec) -> WeightsSpec:
    if spec.name in _SPECS and _SPECS[spec.name] != spec:
        raise ValueError(f"weights {spec.name!r} registered twice")
    _SPECS[spec.name] = spec
    return spec


def specs() -> list[WeightsSpec]:
    from tfbench import weights_catalog  # noqa: F401  (fills the registry)
    from tfbench.nets import register_all

    register_all()  # specs that sit beside their network in tfbench/nets/

    return [_SPECS[name] for name in sorted(_SPECS)]


def get_spec(name: str) -> WeightsSpec:
    known = {spec.name: spec for spec in specs()}
    if name not in known:
        import difflib

        close = difflib.get_close_matches(name, known, n=3, cutoff=0.4)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownNameError(f"Unknown weights {name!r}.{hint} See `tfbench weights list`.")
    return known[name]


# ---------------------------------------------------------------- hash bookkeeping


def _hash_index_path() -> Path:
    return weights_dir() / "hashes.json"


def _read_hash_index() -> dict[str, dict]:
    path = _hash_index_path()
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return {}


def _remember_hash(path: Path, digest: str) -> None:
    index = _read_hash_index()
    stat = path.stat()
    index[str(path)] = {"sha256": digest, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    _hash_index_path().parent.mkdir(parents=True, exist_ok=True)
    tmp = _hash_index_path().with_suffix(".tmp")
    tmp.write_text(json.dumps(index, indent=1, sort_keys=True))
    os.replace(tmp, _hash_index_path())


def cached_sha256(path: Path) -> str:
    """sha256 of ``path``, cached by (path, size, mtime) so big files are hashed once."""
    path = Path(path)
    stat = path.stat()
    entry = _read_hash_index().get(str(path))
    if entry and entry["size"] == stat.st_size and entry["mtime_ns"] == stat.st_mtime_ns:
        return entry["sha256"]
    digest = sha256_file(path)
    try:
        _remember_hash(path, digest)
    except OSError:
        pass  # a read-only cache still works; the hash is just recomputed next time
    return digest


def _hash_problem(spec: WeightsSpec, digest: str) -> str | None:
    """Why ``digest`` is not acceptable for ``spec``, or None when it is."""
    if spec.sha256 and digest != spec.sha256:
        return f"sha256 {digest} but {spec.name} must be {spec.sha256}"
    if not spec.sha256 and spec.hash_prefix and not digest.startswith(spec.hash_prefix):
        return f"sha256 {digest[:16]}… but the file name promises a hash starting {spec.hash_prefix}"
    return None


# ---------------------------------------------------------------- resolving files


def _package_file(spec: WeightsSpec) -> Path | None:
    found = importlib.util.find_spec(spec.package) if spec.package else None
    if found is None or not found.submodule_search_locations:
        return None
    path = Path(list(found.submodule_search_locations)[0]) / (spec.package_path or spec.filename)
    return path if path.exists() else None


def cache_path(spec: WeightsSpec) -> Path:
    return weights_dir() / spec.filename


def fix_command(spec: WeightsSpec) -> str:
    """The text telling a user how to get ``spec``'s file."""
    if spec.source == "package":
        return spec.install_hint or f"pip install {spec.package}"
    if not spec.urls:  # import-only (licence, or no public URL): `download` would only fail
        where = f"\n  ({spec.install_hint})" if spec.install_hint else ""
        return f"tfbench weights import {spec.name} /path/to/{spec.filename}{where}"
    lines = [f"tfbench weights download {spec.name}"]
    lines.append(f"or, offline: tfbench weights import {spec.name} /path/to/{spec.filename}")
    return "\n  ".join(lines)


def weights_path(name: str) -> Path:
    """Path of the verified local file for weights ``name``.

    Raises :class:`MissingWeightsError` naming the fix when it is not there.
    """
    spec = get_spec(name)
    if spec.source == "package":
        path = _package_file(spec)
        if path is None:
            raise MissingWeightsError(
                f"Weights {name!r} ({spec.description}) ship inside the PyPI package "
                f"{spec.package!r}, which is not installed. Fix:\n  {fix_command(spec)}"
            )
        return path
    path = cache_path(spec)
    if not path.exists():
        raise MissingWeightsError(
            f"Weights {name!r} ({spec.description}) are not in {weights_dir()}. Fix:\n  {fix_command(spec)}"
        )
    return path


@dataclass(frozen=True)
class WeightsRecord:
    """What a result records about one weights file it used."""

    name: str
    sha256: str
    canonical: bool
    path: str

    def to_dict(self) -> dict:
        return asdict(self)


def weights_record(name: str) -> WeightsRecord:
    """Hash the file behind ``name`` and say whether it is the canonical one.

    Canonical means: the spec's sha256 matches, or (hash unknown) the file came through
    the registry and passes the name's hash prefix, or it ships in the named package.
    Files written by tests with random weights are marked by :func:`mark_non_canonical`.
    """
    spec = get_spec(name)
    path = weights_path(name)
    digest = cached_sha256(path)
    canonical = _hash_problem(spec, digest) is None and not _is_marked_non_canonical(path, digest)
    return WeightsRecord(name=name, sha256=digest, canonical=canonical, path=str(path))


def _non_canonical_index() -> Path:
    return weights_dir() / "non_canonical.json"


def mark_non_canonical(name: str) -> None:
    """Record that the cached file of ``name`` is not the published one (tests, own training)."""
    path = weights_path(name)
    index_path = _non_canonical_index()
    marks = json.loads(index_path.read_text()) if index_path.exists() else {}
    marks[str(path)] = sha256_file(path)
    index_path.write_text(json.dumps(marks, indent=1, sort_keys=True))


def _is_marked_non_canonical(path: Path, digest: str) -> bool:
    index_path = _non_canonical_index()
    if not index_path.exists():
        return False
    return json.loads(index_path.read_text()).get(str(path)) == digest


def install_file(name: str, source: Path, *, check_hash: bool = True, move: bool = False) -> Path:
    """Put ``source`` into the cache as weights ``name`` after checking its hash.

    The file is copied to ``<dest>.part`` and renamed only when it verifies, so a rejected
    file leaves nothing behind.
    """
    spec = get_spec(name)
    if spec.source == "package":
        raise TfbenchError(f"Weights {name!r} come from the package {spec.package!r}: {fix_command(spec)}")
    source = Path(source)
    if not source.is_file():
        raise TfbenchError(f"No such file: {source}")
    dest = cache_path(spec)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    (shutil.move if move else shutil.copyfile)(source, part)
    digest = sha256_file(part)
    problem = _hash_problem(spec, digest) if check_hash else None
    if problem:
        part.unlink()
        raise WeightsHashError(f"Rejected {source}: {problem}. Nothing was written.")
    os.replace(part, dest)
    _remember_hash(dest, digest)
    return dest


def download(name: str, progress: Callable[[int, int | None], None] | None = None) -> Path:
    """Stream weights ``name`` from its URLs to ``.part``, verify, rename into place.

    ``progress(bytes_done, bytes_total_or_None)`` is called as data arrives.
    """
    spec = get_spec(name)
    if spec.source == "package":
        return weights_path(name)
    if not spec.urls:
        raise TfbenchError(f"Weights {name!r} have no download URL. {fix_command(spec)}")
    dest = cache_path(spec)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    errors = []
    for url in spec.urls:
        try:
            with urllib.request.urlopen(url, timeout=60) as response, open(part, "wb") as out:
                total = response.headers.get("Content-Length")
                total_bytes = int(total) if total else None
                done = 0
                digest = hashlib.sha256()
                for block in iter(lambda: response.read(CHUNK), b""):
                    out.write(block)
                    digest.update(block)
                    done += len(block)
                    if progress:
                        progress(done, total_bytes)
        except OSError as error:  # URLError, HTTPError, timeouts and disk errors
            part.unlink(missing_ok=True)
            errors.append(f"{url}: {error}")
            continue
        problem = _hash_problem(spec, digest.hexdigest())
        if problem:
            part.unlink(missing_ok=True)
            raise WeightsHashError(f"Downloaded {url} has {problem}. Nothing was written.")
        os.replace(part, dest)
        _remember_hash(dest, digest.hexdigest())
        return dest
    raise TfbenchError(
        f"Could not download {name!r}:\n  " + "\n  ".join(errors)
        + f"\nOffline, fetch the file elsewhere and run: tfbench weights import {name} /path/to/{spec.filename}"
    )


@dataclass(frozen=True)
class WeightsStatus:
    spec: WeightsSpec
    path: Path | None
    state: str  # "ok", "missing", "hash mismatch", "unverified"
    sha256: str | None = None


def status(name: str, verify: bool = False) -> WeightsStatus:
    """Whether weights ``name`` are present and (with ``verify``) what their hash says."""
    spec = get_spec(name)
    try:
        path = weights_path(name)
    except MissingWeightsError:
        return WeightsStatus(spec, None, "missing")
    if not verify:
        return WeightsStatus(spec, path, "present")
    digest = sha256_file(path)
    problem = _hash_problem(spec, digest)
    if problem:
        return WeightsStatus(spec, path, "hash mismatch", digest)
    if _is_marked_non_canonical(path, digest):
        return WeightsStatus(spec, path, "non-canonical", digest)
    known = spec.sha256 or spec.hash_prefix
    return WeightsStatus(spec, path, "ok" if known else "unverified (no canonical hash known)", digest)


def load_state_dict(network, path: Path, key: str | None, expected: str):
    """Load the torch file ``path`` into ``network`` and return it in eval mode.

    The file holds a state dict, or a dict with the state dict under ``key``. Anything
    else (a foreign checkpoint, wrong shapes, a truncated file) raises CheckpointError
    saying the file is not ``expected`` (e.g. "a LibreFace AU-intensity checkpoint").
    Only tensors are unpickled (``weights_only=True``).
    """
    import pickle

    import torch

    from tfbench.errors import CheckpointError

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        state = checkpoint.get(key, checkpoint) if isinstance(checkpoint, dict) and key else checkpoint
        network.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError, pickle.UnpicklingError, EOFError) as error:
        raise CheckpointError(f"{path} is not {expected}: {str(error).splitlines()[0][:200]}") from error
    return network.eval()


def require(names: Iterable[str]) -> None:
    """Raise one :class:`MissingWeightsError` listing every missing file among ``names``."""
    missing = []
    for name in names:
        try:
            weights_path(name)
        except MissingWeightsError as error:
            missing.append(str(error))
    if missing:
        raise MissingWeightsError("\n".join(missing))
