"""The per-clip score cache of an evaluation run: ``<out>/clips/<clip_id>/<metric>.json`` (+ ``.npz``).

Cache key of one (clip, metric): sha256 of the metric id, version and protocol parameters,
the sha256 of the pred / gt / audio files' contents, and the clip policies (see
:meth:`tfbench.evaluate.runner.Runner._keys`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from tfbench.errors import InputError
from tfbench.evaluate.metrics.base import ClipScore, Metric
from tfbench.fsutil import atomic_write

#: Bump when the cache layout or key changes; older caches are then rescored.
CACHE_VERSION = "1"


def _metric_fingerprint(metric: Metric) -> dict:
    return {"id": metric.id, "version": metric.version, "params": _jsonable(metric.protocol_params())}


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str, sort_keys=True))


# ---------------------------------------------------------------------- cache


def _safe_clip_dir(root: Path, clip_id: str) -> Path:
    parts = [part for part in Path(clip_id).parts if part not in ("", ".", "..", "/")]
    if not parts:
        raise InputError(f"clip id {clip_id!r} is not usable as a folder name")
    return root.joinpath(*parts)


class ScoreCache:
    """``<out>/clips/<clip_id>/<metric>.json`` (+ ``.npz``): one ClipScore with its cache key."""

    def __init__(self, out: Path) -> None:
        self.root = Path(out) / "clips"

    def _paths(self, clip_id: str, metric_id: str) -> tuple[Path, Path]:
        folder = _safe_clip_dir(self.root, clip_id)
        return folder / f"{metric_id}.json", folder / f"{metric_id}.npz"

    def load(self, clip_id: str, metric_id: str, key: str) -> ClipScore | None:
        """The cached score when its key matches, else None."""
        json_path, npz_path = self._paths(clip_id, metric_id)
        try:
            data = json.loads(json_path.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        if data.get("key") != key:
            return None
        state: dict[str, np.ndarray] = {}
        if data.get("has_state"):
            try:
                with np.load(npz_path, allow_pickle=False) as archive:
                    state = {name: archive[name] for name in archive.files}
            except (OSError, ValueError):
                return None
        return ClipScore(values={k: float(v) for k, v in data["values"].items()}, state=state, info=data.get("info", {}))

    def has(self, clip_id: str, metric_id: str, key: str) -> bool:
        json_path, _ = self._paths(clip_id, metric_id)
        try:
            return json.loads(json_path.read_text()).get("key") == key
        except (OSError, json.JSONDecodeError):
            return False

    def store(self, clip_id: str, metric_id: str, key: str, score: ClipScore, notes: dict, seconds: float) -> None:
        """Write the state first, then the JSON (the JSON is what marks the entry complete)."""
        json_path, npz_path = self._paths(clip_id, metric_id)
        if score.state:
            atomic_write(npz_path, lambda tmp: _save_npz(tmp, score.state))
        payload = {
            "key": key,
            "clip_id": clip_id,
            "metric": metric_id,
            "values": {k: float(v) for k, v in score.values.items()},
            "info": _jsonable(score.info),
            "clip_notes": _jsonable(notes),
            "has_state": bool(score.state),
            "seconds": round(seconds, 4),  # score_clip wall time (shared work counts for the first metric using it)
        }
        atomic_write(json_path, lambda tmp: tmp.write_text(json.dumps(payload, indent=1, sort_keys=True)))

    def entry(self, clip_id: str, metric_id: str, key: str) -> dict | None:
        """The cached JSON entry (values, info, clip_notes) when its key matches, else None."""
        json_path, _ = self._paths(clip_id, metric_id)
        try:
            data = json.loads(json_path.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        return data if data.get("key") == key else None


def _save_npz(path: Path, state: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as handle:
        np.savez(handle, **{name: np.asarray(value) for name, value in state.items()})
