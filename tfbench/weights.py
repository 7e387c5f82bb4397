"""Pretrained weights: named specs, a verified cache, and errors that name the fix.

Every network tfbench runs gets its file through :func:`weights_path`. Files live in
``$TFBENCH_HOME/weights`` (default ``~/.cache/tfbench/weights``). A download streams to
``<file>.part``, is checked against the spec's sha256 (or, where the canonical hash is
unknown, against the hash prefix in a torch-hub style file name), and is renamed into
place only when it matches, so a wrong or interrupted download never leaves a file.

Weights that ship inside PyPI packages (``source="package"``) resolve to the installed
package's file and are hashed on first use. Nothing here ever falls back to random
weights: a missing file raises :class:`MissingWeightsError` naming the command to run.

A file is *canonical* only when its sha256 equals the spec's pinned sha256. A file of a
spec without a pin (or only a name prefix) is *unverified*: usable, its hash recorded with
every result, never called canonical. ``import`` and ``download`` also load a file that
is not pinned as the network it must be (:func:`check_network`) and reject it otherwise.
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
from tfbench.fsutil import atomic_write, sha256_file, write_json_atomic  # noqa: F401  (sha256_file re-exported)

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




_SPECS: dict[str, WeightsSpec] = {}


def register(spec: WeightsSpec) -> WeightsSpec:
    if spec.name in _SPECS and _SPECS[spec.name] != spec:
        raise ValueError(f"weights {spec.name!r} registered twice")
    _SPECS[spec.name] = spec
    return spec


def _register_catalog() -> None:
    from tfbench import weights_catalog  # noqa: F401  (files of no network: imports no torch)


def _register_beside_code() -> None:
    """Specs that sit beside their code (importing it imports torch, ≈ 2–4 s)."""
    from tfbench.annotate import bfm  # noqa: F401  (bfm_front, beside the renderer)
    from tfbench.nets import register_all

    register_all()  # every network module in tfbench/nets/


def specs() -> list[WeightsSpec]:
    _register_catalog()
    _register_beside_code()
    return [_SPECS[name] for name in sorted(_SPECS)]


def get_spec(name: str) -> WeightsSpec:
    """The spec called ``name``. The catalog is searched first, so asking for a file of no
    network (dlib, fer) imports no torch: a run of torch-free metrics, and each of its
    workers, starts seconds sooner."""
    _register_catalog()
    if name not in _SPECS:
        _register_beside_code()
    if name not in _SPECS:
        import difflib

        close = difflib.get_close_matches(name, _SPECS, n=3, cutoff=0.4)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownNameError(f"Unknown weights {name!r}.{hint} See `tfbench weights list`.")
    return _SPECS[name]


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
    write_json_atomic(_hash_index_path(), index)


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


# ---------------------------------------------------------------- does it load as the network?


def _torch_state(path: Path):
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


def _strict(network, state) -> None:
    network.load_state_dict(state, strict=True)


def _check_syncnet(path: Path) -> None:
    from tfbench.nets.syncnet import SyncNet, load_state_file

    load_state_file(SyncNet(), path)


def _check_s3fd(path: Path) -> None:
    from tfbench.nets.s3fd import S3FDNet

    _strict(S3FDNet(), _torch_state(path))


def _check_fid_inception(path: Path) -> None:
    from tfbench.nets.inception import build_fid_inception

    _strict(build_fid_inception(), _torch_state(path))


def _check_torchvision(constructor: str) -> Callable[[Path], None]:
    def check(path: Path) -> None:
        import torchvision

        _strict(getattr(torchvision.models, constructor)(weights=None), _torch_state(path))

    return check


def _check_torchscript(path: Path) -> None:
    import torch

    torch.jit.load(str(path), map_location="cpu")


def _check_arcface(path: Path) -> None:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    shape_in, shape_out = session.get_inputs()[0].shape, session.get_outputs()[0].shape
    if list(shape_in[1:]) != [3, 112, 112] or shape_out[-1] != 512:
        raise ValueError(f"input {shape_in} / output {shape_out}, expected [N,3,112,112] -> [N,512]")


def _check_emotion_fan(path: Path) -> None:
    from tfbench.face.emotion import _load_emotion_fan

    _load_emotion_fan.__wrapped__(str(path), 0)


#: How a file of each downloadable network is loaded to prove it is that network.
NETWORK_CHECKS: dict[str, tuple[str, Callable[[Path], None]]] = {
    "syncnet_v2": ("a SyncNet state dict (syncnet_v2.model)", _check_syncnet),
    "s3fd": ("an S3FD state dict (sfd_face.pth)", _check_s3fd),
    "fid_inception": ("pytorch-fid's FID Inception state dict", _check_fid_inception),
    "alexnet": ("a torchvision AlexNet state dict", _check_torchvision("alexnet")),
    "vgg16": ("a torchvision VGG-16 state dict", _check_torchvision("vgg16")),
    "vgg19": ("a torchvision VGG-19 state dict", _check_torchvision("vgg19")),
    "fvd_i3d": ("a TorchScript archive (i3d_torchscript.pt)", _check_torchscript),
    "fan2d": ("a TorchScript archive (2DFAN4)", _check_torchscript),
    "arcface_r50": ("an ArcFace ONNX model (112x112 -> 512-d)", _check_arcface),
    "emotion_fan": ("an Emotion-FAN ResNet-18 checkpoint", _check_emotion_fan),
}


def check_network(name: str, path: Path) -> None:
    """Raise CheckpointError unless ``path`` loads as the network of weights ``name``
    (names without a check in :data:`NETWORK_CHECKS` pass)."""
    from tfbench.errors import CheckpointError

    if name not in NETWORK_CHECKS:
        return
    expected, check = NETWORK_CHECKS[name]
    try:
        check(Path(path))
    except ImportError as error:
        raise CheckpointError(f"Cannot check that {path} is {expected}: {error}") from None
    except Exception as error:  # noqa: BLE001 - unpickling, key, shape and format errors have many types
        first = (str(error).splitlines() or [type(error).__name__])[0][:200]
        raise CheckpointError(f"{path} is not {expected}: {first}") from None


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
    """What a result records about one weights file it used.

    ``status``: ``"canonical"`` (sha256 equals the pin), ``"unverified"`` (no pinned sha256
    for this file: the hash is recorded, the file may or may not be the published one) or
    ``"non-canonical"`` (marked by tests / own training, or contradicting the pin).
    """

    name: str
    sha256: str
    canonical: bool
    path: str
    status: str = "canonical"

    def to_dict(self) -> dict:
        return asdict(self)


def canonical_status(spec: WeightsSpec, path: Path, digest: str) -> str:
    """``"canonical"``, ``"unverified"`` or ``"non-canonical"`` for a file with sha256 ``digest``."""
    if _hash_problem(spec, digest) or _is_marked_non_canonical(path, digest):
        return "non-canonical"
    return "canonical" if spec.sha256 and digest == spec.sha256 else "unverified"


def weights_record(name: str) -> WeightsRecord:
    """Hash the file behind ``name`` and say whether it is the canonical one.

    Canonical means exactly: the file's sha256 equals the spec's pinned sha256 (and tests
    have not marked it, :func:`mark_non_canonical`). Without a pin the file is
    ``"unverified"`` and not canonical, whatever its name's hash prefix says.
    """
    spec = get_spec(name)
    path = weights_path(name)
    digest = cached_sha256(path)
    status = canonical_status(spec, path, digest)
    return WeightsRecord(name=name, sha256=digest, canonical=status == "canonical", path=str(path), status=status)


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
    """Put ``source`` into the cache as weights ``name`` after checking it.

    With ``check_hash`` (the default; tests installing random networks turn it off) the
    hash must not contradict the spec, and a file that does not match a pinned sha256 must
    load as the expected network (:func:`check_network`). The file is copied to a temporary
    name beside ``dest`` and renamed only when it passes, so a rejected file leaves nothing behind.
    """
    spec = get_spec(name)
    if spec.source == "package":
        raise TfbenchError(f"Weights {name!r} come from the package {spec.package!r}: {fix_command(spec)}")
    source = Path(source)
    if not source.is_file():
        raise TfbenchError(f"No such file: {source}")
    dest = cache_path(spec)
    digests = []

    def verified_copy(part: Path) -> None:
        (shutil.move if move else shutil.copyfile)(source, part)
        digests.append(sha256_file(part))
        problem = _hash_problem(spec, digests[0]) if check_hash else None
        if problem:
            raise WeightsHashError(f"Rejected {source}: {problem}. Nothing was written.")
        if check_hash and digests[0] != spec.sha256:
            _check_or_remove(name, part, f"Rejected {source}")

    atomic_write(dest, verified_copy)
    _remember_hash(dest, digests[0])
    return dest


def _unzip_member(part: Path, filename: str) -> str:
    """Replace the zip archive ``part`` by its member named ``filename`` (e.g. w600k_r50.onnx
    of insightface's buffalo_l.zip); return the member's sha256."""
    import zipfile

    try:
        with zipfile.ZipFile(part) as archive:
            members = [item for item in archive.namelist() if Path(item).name == filename]
            if not members:
                raise zipfile.BadZipFile(f"no {filename} inside")
            extracted = part.with_name(part.name + ".member")
            with archive.open(members[0]) as member, open(extracted, "wb") as out:
                shutil.copyfileobj(member, out, CHUNK)
    except zipfile.BadZipFile as error:
        part.unlink(missing_ok=True)
        raise TfbenchError(f"The downloaded archive does not give {filename} ({error}). Nothing was written.") from None
    os.replace(extracted, part)
    return sha256_file(part)


def _check_or_remove(name: str, part: Path, what: str) -> None:
    """check_network on the ``.part`` file; on failure delete it and re-raise with ``what``."""
    from tfbench.errors import CheckpointError

    try:
        check_network(name, part)
    except CheckpointError as error:
        part.unlink(missing_ok=True)
        raise CheckpointError(f"{what}: {error}. Nothing was written.") from None


def download(name: str, progress: Callable[[int, int | None], None] | None = None) -> Path:
    """Stream weights ``name`` from its URLs to a temporary file, verify, rename into place.

    ``progress(bytes_done, bytes_total_or_None)`` is called as data arrives.
    """
    spec = get_spec(name)
    if spec.source == "package":
        return weights_path(name)
    if not spec.urls:
        raise TfbenchError(f"Weights {name!r} have no download URL. {fix_command(spec)}")
    dest = cache_path(spec)
    errors, digests = [], []
    for url in spec.urls:
        digest = hashlib.sha256()

        def fetch(part: Path, url: str = url) -> None:
            with urllib.request.urlopen(url, timeout=60) as response, open(part, "wb") as out:
                total = response.headers.get("Content-Length")
                total_bytes = int(total) if total else None
                done = 0
                for block in iter(lambda: response.read(CHUNK), b""):
                    out.write(block)
                    digest.update(block)
                    done += len(block)
                    if progress:
                        progress(done, total_bytes)
            zipped = url.split("?")[0].endswith(".zip") and not spec.filename.endswith(".zip")
            digests.append(_unzip_member(part, spec.filename) if zipped else digest.hexdigest())
            problem = _hash_problem(spec, digests[-1])
            if problem:
                raise WeightsHashError(f"Downloaded {url} has {problem}. Nothing was written.")
            if digests[-1] != spec.sha256:
                _check_or_remove(name, part, f"Downloaded {url}")

        try:
            atomic_write(dest, fetch)
        except OSError as error:  # URLError, HTTPError, timeouts (storage errors stop as StorageError)
            errors.append(f"{url}: {error}")
            continue
        _remember_hash(dest, digests[-1])
        return dest
    raise TfbenchError(
        f"Could not download {name!r}:\n  " + "\n  ".join(errors)
        + f"\nOffline, fetch the file elsewhere and run: tfbench weights import {name} /path/to/{spec.filename}"
    )


@dataclass(frozen=True)
class WeightsStatus:
    spec: WeightsSpec
    path: Path | None
    # "present", "missing"; with verify: "ok" (pinned sha256 matches), "hash mismatch",
    # "not the network", "non-canonical", "unverified (no pinned sha256)"
    state: str
    sha256: str | None = None
    detail: str = ""


def status(name: str, verify: bool = False) -> WeightsStatus:
    """Whether weights ``name`` are present and (with ``verify``) what their hash says.

    ``verify`` hashes the file; a file not matching a pin is also loaded as its network."""
    spec = get_spec(name)
    try:
        path = weights_path(name)
    except MissingWeightsError:
        return WeightsStatus(spec, None, "missing")
    if not verify:
        return WeightsStatus(spec, path, "present")
    digest = sha256_file(path)
    if _is_marked_non_canonical(path, digest):
        return WeightsStatus(spec, path, "non-canonical", digest)
    problem = _hash_problem(spec, digest)
    if problem:
        return WeightsStatus(spec, path, "hash mismatch", digest, problem)
    if spec.sha256 and digest == spec.sha256:
        return WeightsStatus(spec, path, "ok", digest)
    from tfbench.errors import CheckpointError

    try:
        check_network(name, path)
    except CheckpointError as error:
        return WeightsStatus(spec, path, "not the network", digest, str(error))
    return WeightsStatus(spec, path, "unverified (no pinned sha256)", digest)


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
