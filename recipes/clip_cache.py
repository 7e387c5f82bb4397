"""The per-clip cache of a prepare run: paths, source markers, reading cached clips.

``<out>/cache/clips/<clip_id>.npz`` holds one clip's arrays and its ``info`` (JSON);
``<out>/cache/sources/<source_id>.json`` marks a source finished (its clips and failures).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

from tfbench.fsutil import is_storage_error, sha256_file, storage_errors
from tfbench.recipes.base import ClipParams, Source


def cache_dir(out: Path) -> Path:
    return Path(out) / "cache"


def source_marker(out: Path, source_id: str) -> Path:
    return cache_dir(out) / "sources" / f"{source_id}.json"


def clip_cache_path(out: Path, clip_id: str) -> Path:
    return cache_dir(out) / "clips" / f"{clip_id}.npz"


def shard_of(source_id: str, num_shards: int) -> int:
    """Stable shard of a source: sha256 of its id modulo ``num_shards``."""
    return int(hashlib.sha256(source_id.encode()).hexdigest(), 16) % num_shards


def finished_marker(out: Path, source: Source, params: ClipParams, notify: Callable[[str], None] = print) -> dict | None:
    """The stored marker of ``source`` if it was finished with the same parameters and every
    file it stands for is intact, else None (the source is then processed again).

    A damaged entry — an unreadable marker, a truncated or corrupt clip npz (zip CRC), a clip
    mp4 or wav whose sha256 is not the one recorded — is named through ``notify`` in one line
    and removed. Storage errors raise :class:`~tfbench.fsutil.StorageError`.
    """
    path = source_marker(out, source.source_id)
    with storage_errors(path):
        if not path.exists():
            return None
        try:
            marker = json.loads(path.read_text())
            clips = [str(clip) for clip in marker["clips"]]
        except (ValueError, KeyError, TypeError) as error:
            return _discard(path, [path], f"unreadable JSON ({type(error).__name__})", notify)
        if marker.get("params") != params.digest():
            return None
        for clip_id in clips:
            problem, damaged = _clip_problem(out, clip_id)
            if problem:
                return _discard(damaged, [path, damaged], problem, notify)
    return marker


def _clip_problem(out: Path, clip_id: str) -> tuple[str | None, Path]:
    """(what is wrong, the damaged file) with a cached clip's npz, mp4 and wav; (None, npz) when intact."""
    npz = clip_cache_path(out, clip_id)
    if not npz.exists():
        return "missing", npz
    try:
        with zipfile.ZipFile(npz) as archive:
            bad = archive.testzip()  # reads every member and checks its CRC
            if bad is not None:
                return f"corrupt member {bad}", npz
            info = json.loads(str(np.load(archive.open("info.npy"), allow_pickle=False)))
    except OSError as error:
        if is_storage_error(error):
            raise
        return f"unreadable ({type(error).__name__}: {error})", npz
    except (zipfile.BadZipFile, KeyError, ValueError, EOFError) as error:
        return f"truncated or corrupt ({type(error).__name__}: {error})", npz
    for column in ("video", "audio"):
        file = Path(out) / info[column]
        if not file.exists():
            return "missing", file
        if sha256_file(file) != info[f"{column.replace('video', 'clip')}_sha256"]:
            return "content differs from the sha256 recorded when it was written", file
    return None, npz


def _discard(named: Path, remove: list[Path], problem: str, notify: Callable[[str], None]) -> None:
    notify(f"corrupt cache entry {named}: {problem}; recomputing it")
    for file in remove:
        file.unlink(missing_ok=True)
    return None


def load_clip(out: Path, clip_id: str, keys: tuple[str, ...] | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    """(info dict, arrays) of a cached clip; only the arrays named in ``keys`` (all when None)
    are read from disk."""
    with np.load(clip_cache_path(out, clip_id)) as data:
        wanted = [key for key in data.files if key != "info" and (keys is None or key in keys)]
        arrays = {key: data[key] for key in wanted}
        info = json.loads(str(data["info"]))
    return info, arrays


def remove_tree(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)
