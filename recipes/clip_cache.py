"""The per-clip cache of a prepare run: paths, source markers, reading cached clips.

``<out>/cache/clips/<clip_id>.npz`` holds one clip's arrays and its ``info`` (JSON);
``<out>/cache/sources/<source_id>.json`` marks a source finished (its clips and failures).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np

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


def finished_marker(out: Path, source: Source, params: ClipParams) -> dict | None:
    """The stored marker of ``source`` if it was finished with the same parameters."""
    path = source_marker(out, source.source_id)
    if not path.exists():
        return None
    try:
        marker = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    if marker.get("params") != params.digest():
        return None
    if not all(clip_cache_path(out, clip).exists() for clip in marker["clips"]):
        return None
    return marker


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
