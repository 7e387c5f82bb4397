"""The evaluation runner: one decode per clip, every metric on it, a resumable per-clip cache.

For each clip job the runner builds one :class:`~tfbench.evaluate.clip.ClipInputs`
(generating the prediction first in model mode), decodes what the metrics need once,
runs every metric's ``score_clip`` on it, writes each :class:`ClipScore` atomically to
``<out>/clips/<clip_id>/<metric>.json`` (+ ``.npz`` for aggregate state) and drops the
clip's arrays before the next clip, so memory is bounded by one clip plus the metrics'
networks. A failure is recorded as ``{clip_id, metric, stage, error}`` and the run goes
on. A killed run started again with the same ``--out`` reuses every cached score whose
cache key still matches and scores only the rest. At the end each metric aggregates its
cached scores in a stream; ``per_clip.csv`` and ``result.json`` are written.

Cache key of one (clip, metric): sha256 of the metric id, version and protocol
parameters, the sha256 of the pred / gt / audio files' contents (or of the arrays'
bytes), and the clip policies (fps, length tolerance, resize). Content hashes, not
mtimes, so copying a folder keeps its cache and changing a file always rescores it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from tfbench.errors import InputError, TfbenchError
from tfbench.evaluate.clip import MAX_LENGTH_DIFF, ClipInputs
from tfbench.evaluate.metrics import METRICS
from tfbench.evaluate.metrics.base import ClipScore, Metric
from tfbench.results import MetricResult, ResultRecord, git_state
from tfbench.weights import sha256_file

#: Bump when the cache layout or key changes; older caches are then rescored.
CACHE_VERSION = "1"
#: Clip notes (see ClipInputs.notes) counted in the summary and recorded with each metric.
DEFAULT_POLICY = {"fps": 25.0, "max_length_diff": MAX_LENGTH_DIFF, "resize_pred": False}
POLICY_NOTES = ("truncated_frames", "resized_pred_from", "pred_native_fps", "gt_native_fps")


@dataclass
class ClipJob:
    """One clip to score.

    ``pred`` / ``gt`` / ``audio``: file paths (None when absent). ``error``: set when the
    job cannot run at all (e.g. a prediction without a ground truth); it becomes a
    failure row. ``generate``: model mode — called with the gt-only ``ClipInputs`` when
    ``pred`` does not exist yet; returns uint8 ``[T,H,W,3]`` frames that the runner writes
    losslessly to ``pred`` and scores.
    """

    clip_id: str
    pred: Path | None
    gt: Path | None
    audio: Path | None = None
    error: str | None = None
    generate: Callable[[ClipInputs], np.ndarray] | None = None


@dataclass
class Failure:
    clip_id: str | None
    metric: str | None
    stage: str  # "match", "generate", "decode", "inputs", "score", "aggregate"
    error: str

    def to_dict(self) -> dict:
        return {"clip_id": self.clip_id, "metric": self.metric, "stage": self.stage, "error": self.error}


@dataclass
class RunInfo:
    """Provenance written into the ResultRecord."""

    model: str
    dataset: str
    split: str
    protocol: str
    dataset_fingerprint: str | None = None
    recipe_version: str | None = None
    checkpoint_sha256: str | None = None
    model_canonical: bool = True
    model_notes: str = ""


@dataclass
class RunSummary:
    record: ResultRecord
    failures: list[Failure]
    scores_computed: int  # (clip, metric) pairs computed in this run
    scores_reused: int  # (clip, metric) pairs reused from the cache of an earlier run
    out: Path
    per_clip_csv: Path
    result_json: Path
    notes: dict[str, int] = field(default_factory=dict)  # policy counts, e.g. truncated clips


# ---------------------------------------------------------------------- metrics


def resolve_metrics(ids: Iterable[str], device: str = "cpu", params: dict[str, dict] | None = None) -> list[Metric]:
    """Instantiate metrics by registry id (``params[id]`` go to the constructor).

    Every metric's weights are checked first, so a missing file stops here, before any
    network is built, with one error naming each fix.
    """
    from tfbench.weights import require

    params = params or {}
    classes = [METRICS.get(metric_id) for metric_id in ids]
    unknown = sorted(set(params) - set(ids))
    if unknown:
        raise InputError(f"--param given for metric(s) not run: {', '.join(unknown)}")
    require(sorted({name for cls in classes for name in cls.weights}))
    return [cls(device=device, **params.get(metric_id, {})) for metric_id, cls in zip(ids, classes)]


def available_metrics() -> tuple[list[str], dict[str, str]]:
    """(ids whose weights are present, {id: why left out, with the fix}) over the registry."""
    from tfbench.errors import MissingWeightsError
    from tfbench.weights import require

    present, left_out = [], {}
    for metric_id in METRICS.names():
        try:
            cls = METRICS.get(metric_id)
            require(cls.weights)
        except MissingWeightsError as error:
            left_out[metric_id] = str(error)
            continue
        except ImportError as error:
            left_out[metric_id] = f"cannot import: {error}"
            continue
        present.append(metric_id)
    return present, left_out


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


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(handle)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
            _atomic_write(npz_path, lambda tmp: _save_npz(tmp, score.state))
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
        _atomic_write(json_path, lambda tmp: tmp.write_text(json.dumps(payload, indent=1, sort_keys=True)))

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


# ---------------------------------------------------------------------- the runner


class Runner:
    """Scores clip jobs with metrics into ``out``; see the module docstring."""

    def __init__(
        self,
        metrics: list[Metric],
        out: Path,
        info: RunInfo,
        *,
        fps: float = 25.0,
        max_length_diff: int = MAX_LENGTH_DIFF,
        resize_pred: bool = False,
        progress: bool = True,
        identity: dict | None = None,
    ) -> None:
        if not metrics:
            raise TfbenchError("no metric to compute")
        ids = [metric.id for metric in metrics]
        if len(set(ids)) != len(ids):
            raise TfbenchError(f"metric listed twice: {ids}")
        self.metrics = metrics
        self.out = Path(out)
        self.info = info
        self.policy = {"fps": float(fps), "max_length_diff": int(max_length_diff), "resize_pred": bool(resize_pred)}
        self.progress = progress
        self.cache = ScoreCache(self.out)
        self.failures: list[Failure] = []
        self.scored_now = 0
        self.from_cache = 0
        self.policy_counts: dict[str, int] = {}
        self.identity = identity
        self._hashes: dict[Path, tuple[int, int, str]] = {}

    # ------------------------------------------------------------------ checks

    def check_weights(self) -> dict[str, dict[str, dict]]:
        """Fail before any work when a weights file is missing; return each metric's weights records."""
        from tfbench.weights import require, weights_record

        require(sorted({name for metric in self.metrics for name in metric.weights}))
        records = {}
        for metric in self.metrics:
            records[metric.id] = {}
            for name in metric.weights:
                record = weights_record(name)
                records[metric.id][name] = {"sha256": record.sha256, "canonical": record.canonical}
        return records

    def check_identity(self) -> None:
        """Refuse an ``out`` folder holding generated clips of another model, checkpoint or dataset."""
        if self.identity is None:
            return
        path = self.out / "run.json"
        identity = _jsonable(self.identity)
        if path.exists():
            previous = json.loads(path.read_text())
            if previous != identity:
                changed = sorted(k for k in set(previous) | set(identity) if previous.get(k) != identity.get(k))
                raise TfbenchError(
                    f"{self.out} holds a run with other {', '.join(changed)} ({path}); "
                    f"use another --out, or delete that folder to start over"
                )
            return
        self.out.mkdir(parents=True, exist_ok=True)
        _atomic_write(path, lambda tmp: tmp.write_text(json.dumps(identity, indent=1, sort_keys=True)))

    # ------------------------------------------------------------------ keys

    def _file_hash(self, path: Path | None) -> str | None:
        """sha256 of a file's content, memoised by (size, mtime) for this run."""
        if path is None or not Path(path).exists():
            return None
        path = Path(path)
        stat = path.stat()
        cached = self._hashes.get(path)
        if cached is None or cached[:2] != (stat.st_size, stat.st_mtime_ns):
            cached = (stat.st_size, stat.st_mtime_ns, sha256_file(path))
            self._hashes[path] = cached
        return cached[2]

    def _keys(self, job: ClipJob) -> dict[str, str]:
        inputs = {
            "pred": self._file_hash(job.pred),
            "gt": self._file_hash(job.gt),
            "audio": self._file_hash(job.audio),
            "policy": self.policy,
            "cache": CACHE_VERSION,
        }
        keys = {}
        for metric in self.metrics:
            blob = json.dumps({"metric": _metric_fingerprint(metric), "inputs": inputs}, sort_keys=True, default=str)
            keys[metric.id] = hashlib.sha256(blob.encode()).hexdigest()
        return keys

    # ------------------------------------------------------------------ one clip

    def _fail(self, job: ClipJob, metric: str | None, stage: str, error: BaseException | str) -> None:
        if isinstance(error, BaseException):
            text = str(error) if isinstance(error, TfbenchError) else f"{type(error).__name__}: {error}"
            if not isinstance(error, TfbenchError):
                self._log_traceback(job.clip_id, metric, error)
        else:
            text = error
        self.failures.append(Failure(job.clip_id, metric, stage, text))

    def _log_traceback(self, clip_id: str, metric: str | None, error: BaseException) -> None:
        """Unexpected exceptions (bugs) keep their traceback in ``<out>/tracebacks.log``."""
        with open(self.out / "tracebacks.log", "a") as handle:
            handle.write(f"--- clip {clip_id} metric {metric}\n")
            handle.write("".join(traceback.format_exception(error)))

    def _generate(self, job: ClipJob) -> ClipInputs | None:
        """Model mode: decode gt once, generate, write the prediction losslessly; return the clip inputs."""
        from tfbench.io.video import write_video

        gt_only = ClipInputs.from_files(job.clip_id, None, job.gt, audio=job.audio, fps=self.policy["fps"])
        try:
            gt_frames = gt_only.frames("gt")
        except Exception as error:  # noqa: BLE001 — recorded, the run goes on
            self._fail(job, None, "decode", error)
            return None
        try:
            frames = np.asarray(job.generate(gt_only))
            if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
                raise InputError(f"model returned {frames.dtype} {list(frames.shape)}, expected uint8 [T,H,W,3]")
            try:
                audio = gt_only.audio  # read once: muxed into the generated file and reused for scoring
            except TfbenchError:
                audio = None  # metrics that need audio fail for this clip with the reason
            # lossless, so a resumed run decodes exactly these frames; write_video is atomic
            write_video(job.pred, frames, fps=self.policy["fps"], audio=audio, lossless=True)
        except Exception as error:  # noqa: BLE001
            self._fail(job, None, "generate", error)
            return None
        finally:
            gt_only.release()
        return ClipInputs(
            job.clip_id, pred=frames, gt=gt_frames, audio=audio if audio is not None else (job.audio or job.gt),
            fps=self.policy["fps"], resize_pred=self.policy["resize_pred"], max_length_diff=self.policy["max_length_diff"],
        )

    def _score(self, job: ClipJob) -> None:
        if job.error:
            self._fail(job, None, "match", job.error)
            return
        if job.generate is None and (job.pred is None or not Path(job.pred).exists()):
            self._fail(job, None, "match", f"prediction file missing: {job.pred}")
            return
        keys = self._keys(job) if job.pred is not None and Path(job.pred).exists() else None
        todo = [m for m in self.metrics if keys is None or not self.cache.has(job.clip_id, m.id, keys[m.id])]
        self.from_cache += len(self.metrics) - len(todo)
        if not todo:
            return
        if keys is None:  # model mode, prediction not generated yet
            clip = self._generate(job)
            if clip is None:
                return
            keys = self._keys(job)
            todo = [m for m in self.metrics if not self.cache.has(job.clip_id, m.id, keys[m.id])]
        else:
            clip = ClipInputs.from_files(
                job.clip_id, job.pred, job.gt, audio=job.audio, fps=self.policy["fps"],
                resize_pred=self.policy["resize_pred"], max_length_diff=self.policy["max_length_diff"],
            )
        try:
            self._run_metrics(job, clip, todo, keys)
        finally:
            clip.release()

    def _run_metrics(self, job: ClipJob, clip: ClipInputs, todo: list[Metric], keys: dict[str, str]) -> None:
        needs = set().union(*(metric.needs for metric in todo))
        try:  # decode once, up front, so decoding errors are attributed to the clip, not a metric
            for which in ("pred", "gt"):
                if clip.has(which):
                    clip.frames(which)
        except Exception as error:  # noqa: BLE001
            self._fail(job, None, "decode", error)
            return
        self._store_preview(job, clip)
        if "audio" in needs and clip.has("audio"):
            try:
                clip.audio
            except Exception as error:  # noqa: BLE001
                for metric in todo:
                    if "audio" in metric.needs:
                        self._fail(job, metric.id, "inputs", error)
                todo = [metric for metric in todo if "audio" not in metric.needs]
        for metric in todo:
            try:
                clip.require(metric.needs)
                started = time.perf_counter()
                score = metric.score_clip(clip)
                seconds = time.perf_counter() - started
                missing = [name for name in metric.output_ids() if name not in score.values and not score.state]
                if missing:
                    raise InputError(f"metric {metric.id!r} returned no value for {missing}")
                self.cache.store(job.clip_id, metric.id, keys[metric.id], score, clip.notes, seconds)
                self.scored_now += 1
            except Exception as error:  # noqa: BLE001 — recorded per clip and metric; the run goes on
                self._fail(job, metric.id, "score", error)

    def _store_preview(self, job: ClipJob, clip: ClipInputs) -> None:
        """Thumbnails and input paths for ``tfbench report`` (tfbench/evaluate/preview.py); never fails the clip."""
        from tfbench.evaluate import preview

        try:
            gt = clip.frames("gt") if clip.has("gt") else None
            jpeg, meta = preview.make_preview(clip.frames("pred"), gt, {"pred": job.pred, "gt": job.gt, "audio": job.audio}, clip.fps)
            folder = _safe_clip_dir(self.cache.root, job.clip_id)
            _atomic_write(folder / preview.JPEG_NAME, lambda tmp: tmp.write_bytes(jpeg))
            _atomic_write(folder / preview.JSON_NAME, lambda tmp: tmp.write_text(json.dumps(meta, indent=1, sort_keys=True)))
        except Exception as error:  # noqa: BLE001 — a missing preview only thins the report
            self._log_traceback(job.clip_id, "preview", error)

    # ------------------------------------------------------------------ run

    def run(self, jobs: list[ClipJob]) -> RunSummary:
        started = time.perf_counter()
        seen: set[str] = set()
        duplicates = sorted({job.clip_id for job in jobs if job.clip_id in seen or seen.add(job.clip_id)})
        if duplicates:
            raise InputError(f"clip ids must be unique; repeated: {', '.join(duplicates[:10])}")
        weights = self.check_weights()
        self.check_identity()
        self.out.mkdir(parents=True, exist_ok=True)
        with _progress(self.progress, len(jobs)) as advance:
            for job in jobs:
                try:
                    self._score(job)
                except Exception as error:  # noqa: BLE001 — last resort: never lose the run
                    self._fail(job, None, "score", error)
                advance(job.clip_id)
        record = self._finish(jobs, weights, time.perf_counter() - started)
        return RunSummary(
            record=record,
            failures=self.failures,
            scores_computed=self.scored_now,
            scores_reused=self.from_cache,
            out=self.out,
            per_clip_csv=self.out / "per_clip.csv",
            result_json=self.out / "result.json",
            notes=dict(self.policy_counts),
        )

    def _cached_scores(self, jobs: list[ClipJob], metric: Metric, keys: dict[str, dict[str, str]]) -> Iterator[ClipScore]:
        """Stream the cached scores of ``metric`` over ``jobs`` (one clip in memory at a time)."""
        for job in jobs:
            key = keys.get(job.clip_id, {}).get(metric.id)
            score = self.cache.load(job.clip_id, metric.id, key) if key else None
            if score is not None:
                yield score

    def _collect(self, jobs: list[ClipJob], keys: dict[str, dict[str, str]]) -> tuple[list[dict], dict[str, int], dict[str, int]]:
        """One pass over the cache: per-clip rows (values + policy notes), clips scored per metric, policy counts."""
        errors: dict[str, list[str]] = {}
        for failure in self.failures:
            if failure.clip_id is not None:
                where = failure.stage + (f"/{failure.metric}" if failure.metric else "")
                errors.setdefault(failure.clip_id, []).append(f"{where}: {failure.error}")
        rows, scored, policy = [], {metric.id: 0 for metric in self.metrics}, {}
        for job in jobs:
            row: dict[str, Any] = {"clip_id": job.clip_id}
            notes: dict = {}
            for metric in self.metrics:
                key = keys.get(job.clip_id, {}).get(metric.id)
                entry = self.cache.entry(job.clip_id, metric.id, key) if key else None
                if entry is None:
                    continue
                scored[metric.id] += 1
                row.update(entry["values"])
                notes.update(entry.get("clip_notes", {}))
            for name in notes:
                if name in POLICY_NOTES:
                    policy[name] = policy.get(name, 0) + 1
            row["notes"] = json.dumps(notes, sort_keys=True) if notes else ""
            row["error"] = " | ".join(errors.get(job.clip_id, []))
            rows.append(row)
        return rows, scored, policy

    def _finish(self, jobs: list[ClipJob], weights: dict[str, dict[str, dict]], wall_time: float) -> ResultRecord:
        keys = {job.clip_id: self._keys(job) for job in jobs if not job.error and job.pred is not None and Path(job.pred).exists()}
        rows, scored, policy = self._collect(jobs, keys)
        self.policy_counts = policy
        # Only a non-default clip policy goes into the params (leaderboards split columns on params).
        evaluator = {k: v for k, v in self.policy.items() if v != DEFAULT_POLICY[k]}
        notes = "; ".join(filter(None, [self.info.model_notes] + [f"evaluator: {n} clip(s) with {k}" for k, n in sorted(policy.items())]))
        results: dict[str, MetricResult] = {}
        for metric in self.metrics:
            try:
                values = metric.aggregate(self._cached_scores(jobs, metric, keys))
            except Exception as error:  # noqa: BLE001
                message = str(error) if isinstance(error, TfbenchError) else f"{type(error).__name__}: {error}"
                self.failures.append(Failure(None, metric.id, "aggregate", message))
                values = {name: None for name in metric.output_ids()}
            for output in metric.output_ids():
                value = values.get(output)
                if value is not None and not np.isfinite(value):
                    self.failures.append(Failure(None, metric.id, "aggregate", f"{output} is {value}; recorded as no value"))
                    value = None
                results[output] = MetricResult(
                    id=output,
                    value=None if value is None else float(value),
                    version=metric.version,
                    higher_is_better=_higher_is_better(metric, output),
                    clips_scored=scored[metric.id],
                    clips_failed=len(jobs) - scored[metric.id],
                    weights=weights[metric.id],
                    params={**_jsonable(metric.protocol_params()), **({"evaluator": evaluator} if evaluator else {})},
                    notes=_jsonable(getattr(metric, "aggregate_notes", {})),
                )
        failed_clips = sum(1 for row in rows if row["error"] or any(
            not self.cache.has(row["clip_id"], m.id, keys.get(row["clip_id"], {}).get(m.id, "")) for m in self.metrics))
        commit, dirty = git_state()
        record = ResultRecord(
            model=self.info.model,
            dataset=self.info.dataset,
            split=self.info.split,
            protocol=self.info.protocol,
            metrics=results,
            dataset_fingerprint=self.info.dataset_fingerprint,
            recipe_version=self.info.recipe_version,
            checkpoint_sha256=self.info.checkpoint_sha256,
            model_canonical=self.info.model_canonical,
            model_notes=notes,
            clips_total=len(jobs),
            clips_failed=failed_clips,
            failures=[failure.to_dict() for failure in self.failures],
            git_commit=commit,
            git_dirty=dirty,
            wall_time_s=round(wall_time, 3),
        )
        self._write_per_clip(rows)
        _atomic_write(self.out / "failures.jsonl", lambda tmp: tmp.write_text("".join(json.dumps(f.to_dict()) + "\n" for f in self.failures)))
        record.save(self.out / "result.json")
        return record

    def _write_per_clip(self, rows: list[dict]) -> None:
        """``per_clip.csv``: a row per clip, a column per value; failed cells empty, errors in ``error``."""
        columns: list[str] = []
        for metric in self.metrics:
            columns.extend(name for name in metric.output_ids() if name not in columns)
        extra = sorted({name for row in rows for name in row} - set(columns) - {"clip_id", "notes", "error"})

        def write(tmp: Path) -> None:
            with open(tmp, "w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=["clip_id", *columns, *extra, "notes", "error"], restval="")
                writer.writeheader()
                writer.writerows(rows)

        _atomic_write(self.out / "per_clip.csv", write)


def _higher_is_better(metric: Metric, output: str) -> bool:
    """Per-output direction: a metric may set ``higher_is_better_by_output`` (e.g. LSE-D is lower-better)."""
    by_output = getattr(metric, "higher_is_better_by_output", None) or {}
    return bool(by_output.get(output, metric.higher_is_better))


class _progress:
    """A rich progress bar over clips (silent when disabled)."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled = enabled
        self.total = total
        self.bar = None

    def __enter__(self) -> Callable[[str], None]:
        if not self.enabled:
            return lambda clip_id: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.bar = Progress(
            TextColumn("[bold]evaluate"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
            TextColumn("{task.description}"), transient=False,
        )
        self.bar.__enter__()
        task = self.bar.add_task("", total=self.total)
        return lambda clip_id: self.bar.update(task, advance=1, description=clip_id)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)
