"""The per-clip score cache of an evaluation run: ``<out>/clips/<clip_id>/<metric>.json`` (+ ``.npz``).

Cache key of one (clip, metric): sha256 of the metric id, version and protocol parameters,
the sha256 of the pred / gt / audio files' contents, and the clip policies (see
:meth:`tfbench.evaluate.runner.Runner._keys`).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from tfbench.errors import InputError
from tfbench.evaluate.metrics.base import ClipScore, Metric
from tfbench.fsutil import atomic_write, is_storage_error, storage_errors, write_text_atomic

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
    """``<out>/clips/<clip_id>/<metric>.json`` (+ ``.npz``): one ClipScore with its cache key.

    An entry that cannot be read back (truncated or corrupt JSON or npz, a JSON without the
    fields an entry has) is named through ``notify`` in one line, removed, and treated as
    absent, so the clip is scored again. Storage errors raise
    :class:`~tfbench.fsutil.StorageError`; they never make an entry look absent.
    """

    def __init__(self, out: Path, notify: Callable[[str], None] = print) -> None:
        self.root = Path(out) / "clips"
        self.notify = notify

    def _paths(self, clip_id: str, metric_id: str) -> tuple[Path, Path]:
        folder = _safe_clip_dir(self.root, clip_id)
        return folder / f"{metric_id}.json", folder / f"{metric_id}.npz"

    def _corrupt(self, path: Path, error: BaseException, *also: Path) -> None:
        self.notify(f"corrupt cache entry {path}: {type(error).__name__}: {str(error)[:120]}; recomputing it")
        for file in (path, *also):
            file.unlink(missing_ok=True)

    def entry(self, clip_id: str, metric_id: str, key: str) -> dict | None:
        """The cached JSON entry (values, info, clip_notes) when its key matches, else None."""
        json_path, npz_path = self._paths(clip_id, metric_id)
        with storage_errors(json_path):
            try:
                data = json.loads(json_path.read_text())
                if not isinstance(data, dict) or not isinstance(data["values"], dict):
                    raise ValueError("not a cache entry")
            except FileNotFoundError:
                return None
            except (ValueError, KeyError, UnicodeDecodeError) as error:
                self._corrupt(json_path, error, npz_path)
                return None
        return data if data.get("key") == key else None

    def has(self, clip_id: str, metric_id: str, key: str) -> bool:
        """Whether a readable entry with ``key`` is cached (its npz state is checked as well)."""
        return self.load(clip_id, metric_id, key) is not None

    def load(self, clip_id: str, metric_id: str, key: str) -> ClipScore | None:
        """The cached score when its key matches and it reads back intact, else None."""
        data = self.entry(clip_id, metric_id, key)
        if data is None:
            return None
        json_path, npz_path = self._paths(clip_id, metric_id)
        state: dict[str, np.ndarray] = {}
        if data.get("has_state"):
            with storage_errors(npz_path):
                try:
                    with np.load(npz_path, allow_pickle=False) as archive:
                        state = {name: archive[name] for name in archive.files}
                except OSError as error:
                    if is_storage_error(error):
                        raise
                    self._corrupt(npz_path, error, json_path)
                    return None
                except (ValueError, EOFError, zipfile.BadZipFile) as error:
                    self._corrupt(npz_path, error, json_path)
                    return None
        return ClipScore(values={k: float(v) for k, v in data["values"].items()}, state=state, info=data.get("info", {}))

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
        write_text_atomic(json_path, json.dumps(payload, indent=1, sort_keys=True))


def _save_npz(path: Path, state: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as handle:
        np.savez(handle, **{name: np.asarray(value) for name, value in state.items()})
