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

Around it: :mod:`.jobs` (ClipJob, RunInfo, RunSummary, Failure), :mod:`.cache` (ScoreCache),
:mod:`.selection` (which metrics), :mod:`.aggregate` (result.json, per_clip.csv),
:mod:`.inputs` (jobs from folders or a model), :mod:`.run` (:func:`run_evaluation`, what the
CLI and the Python API call).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Callable

import numpy as np

from tfbench.errors import InputError, MediaError, StorageError, TfbenchError
from tfbench.evaluate.aggregate import DEFAULT_POLICY, POLICY_NOTES, finish  # noqa: F401  (re-exported)
from tfbench.evaluate.cache import CACHE_VERSION, ScoreCache, _jsonable, _metric_fingerprint, _safe_clip_dir  # noqa: F401
from tfbench.evaluate.clip import MAX_LENGTH_DIFF, ClipInputs
from tfbench.evaluate.jobs import ClipJob, Failure, RunInfo, RunSummary  # noqa: F401  (re-exported)
from tfbench.evaluate.metrics.base import Metric
from tfbench.evaluate.selection import available_metrics, resolve_metrics  # noqa: F401  (re-exported)
from tfbench.fsutil import (
    OutputLock, append_text_atomic, remove_stale_temps, reraise_storage, sha256_file, storage_errors, write_bytes_atomic,
    write_json_atomic, write_text_atomic,
)
from tfbench.recipes.clip_cache import shard_of
from tfbench.results import ResultRecord

#: From this many clips on, a one-process run on a multi-core machine says that --workers exists.
HINT_WORKERS_FROM = 8


class Runner:
    """Scores clip jobs with metrics into ``out``; see the module docstring."""

    def __init__(
        self,
        metrics: list[Metric],
        out: Path,
        info: RunInfo,
        *,
        fps: float | str = 25.0,
        max_length_diff: int = MAX_LENGTH_DIFF,
        resize_pred: bool = False,
        progress: bool = True,
        identity: dict | None = None,
        num_shards: int = 1,
        shard_index: int = 0,
        notify: Callable[[str], None] | None = None,
        workers: int = 1,
    ) -> None:
        if not metrics:
            raise TfbenchError("no metric to compute")
        ids = [metric.id for metric in metrics]
        if len(set(ids)) != len(ids):
            raise TfbenchError(f"metric listed twice: {ids}")
        self.metrics = metrics
        self.out = Path(out)
        self.info = info
        self.policy = {"fps": "native" if fps == "native" else float(fps), "max_length_diff": int(max_length_diff), "resize_pred": bool(resize_pred)}
        self._clip_fps = None if fps == "native" else float(fps)  # "native": every decoded frame, no resampling
        self.progress = progress
        if num_shards < 1 or not 0 <= shard_index < num_shards:
            raise InputError(f"--shard-index must be in 0..{num_shards - 1}, got {shard_index}")
        self.shard = (shard_index, num_shards) if num_shards > 1 else None
        self.notify = notify or (lambda line: print(line, file=sys.stderr))
        self.corrupt_entries = 0
        self.cache = ScoreCache(self.out, self._corrupt_entry)
        self.failures: list[Failure] = []
        self.scored_now = 0
        self.from_cache = 0
        self.policy_counts: dict[str, int] = {}
        self.identity = identity
        self._hashes: dict[Path, tuple[int, int, str]] = {}
        if workers < 1:
            raise InputError(f"--workers must be at least 1, got {workers}")
        self.workers = workers  # > 1: clips scored in worker processes (tfbench.evaluate.workers)

    def _corrupt_entry(self, line: str) -> None:
        self.corrupt_entries += 1
        self.notify(line)

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
                records[metric.id][name] = {"sha256": record.sha256, "canonical": record.canonical, "status": record.status}
        return records

    def check_identity(self) -> None:
        """Refuse an ``out`` folder holding generated clips of another model, checkpoint or dataset."""
        if self.identity is None:
            return
        path = self.out / "run.json"
        identity = _jsonable(self.identity)
        try:
            previous = json.loads(path.read_text()) if path.exists() else None
        except ValueError as error:
            self.notify(f"corrupt {path} ({error}); writing it again")
            previous = None
        if previous is not None:
            if previous != identity:
                changed = sorted(k for k in set(previous) | set(identity) if previous.get(k) != identity.get(k))
                raise TfbenchError(
                    f"{self.out} holds a run with other {', '.join(changed)} ({path}); "
                    f"use another --out, or delete that folder to start over"
                )
            return
        write_json_atomic(path, identity)

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
        """Record a failure of ``job``; a storage error is not the clip's: it stops the run instead."""
        if isinstance(error, BaseException):
            reraise_storage(error, self.out)
            text = str(error) if isinstance(error, TfbenchError) else f"{type(error).__name__}: {error}"
            if not isinstance(error, TfbenchError):
                self._log_traceback(job.clip_id, metric, error)
        else:
            text = error
        self.failures.append(Failure(job.clip_id, metric, stage, text))

    def _log_traceback(self, clip_id: str, metric: str | None, error: BaseException) -> None:
        """Unexpected exceptions (bugs) keep their traceback in ``<out>/tracebacks.log``."""
        append_text_atomic(self.out / "tracebacks.log",
                           f"--- clip {clip_id} metric {metric}\n" + "".join(traceback.format_exception(error)))

    def _check_generated(self, pred: Path) -> None:
        """A generated clip is a cache entry: when it does not decode cleanly, name it, remove it
        (it is generated again). The check is the one every read makes, memoised per file."""
        from tfbench.io._ffmpeg import check_media

        try:
            check_media(pred, "v", decode=True)
        except MediaError as error:
            self._corrupt_entry(f"corrupt cache entry {pred}: {str(error).removeprefix(str(pred) + ': ')[:160]}; "
                                "generating it again")
            pred.unlink(missing_ok=True)

    def _generate(self, job: ClipJob) -> ClipInputs | None:
        """Model mode: decode gt once, generate, write the prediction losslessly; return the clip inputs."""
        from tfbench.io.video import write_video

        gt_only = ClipInputs.from_files(job.clip_id, None, job.gt, audio=job.audio, fps=self._clip_fps)
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
            write_video(job.pred, frames, fps=gt_only.frame_rate or DEFAULT_POLICY["fps"], audio=audio, lossless=True)
        except Exception as error:  # noqa: BLE001
            self._fail(job, None, "generate", error)
            return None
        finally:
            gt_only.release()
        return ClipInputs(
            job.clip_id, pred=frames, gt=gt_frames, audio=audio if audio is not None else (job.audio or job.gt),
            fps=self._clip_fps, resize_pred=self.policy["resize_pred"], max_length_diff=self.policy["max_length_diff"],
        )

    def _score(self, job: ClipJob) -> None:
        if job.error:
            self._fail(job, None, "match", job.error)
            return
        if job.generate is None and (job.pred is None or not Path(job.pred).exists()):
            self._fail(job, None, "match", f"prediction file missing: {job.pred}")
            return
        if job.generate is not None and job.pred is not None and Path(job.pred).exists():
            self._check_generated(Path(job.pred))
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
                job.clip_id, job.pred, job.gt, audio=job.audio, fps=self._clip_fps,
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
            write_bytes_atomic(folder / preview.JPEG_NAME, jpeg)
            write_text_atomic(folder / preview.JSON_NAME, json.dumps(meta, indent=1, sort_keys=True))
        except StorageError:
            raise  # a full or read-only disk stops the run (docs/reliability.md)
        except Exception as error:  # noqa: BLE001 — a missing preview only thins the report
            self._log_traceback(job.clip_id, "preview", error)

    # ------------------------------------------------------------------ run

    def run(self, jobs: list[ClipJob], on_start: Callable[[], None] | None = None) -> RunSummary:
        """Score ``jobs`` (this shard's share of them when sharded) and, unless sharded, aggregate.

        ``on_start()`` runs once the run owns ``out``, before scoring (e.g. to write a listing
        beside the results). The run owns ``out`` while it works (:class:`~tfbench.fsutil.OutputLock`; shard runs
        share it with each other only). A storage error stops it with
        :class:`~tfbench.fsutil.StorageError` before anything is aggregated."""
        started = time.perf_counter()
        seen: set[str] = set()
        duplicates = sorted({job.clip_id for job in jobs if job.clip_id in seen or seen.add(job.clip_id)})
        if duplicates:
            raise InputError(f"clip ids must be unique; repeated: {', '.join(duplicates[:10])}")
        weights = self.check_weights()
        with OutputLock(self.out, shard=self.shard), storage_errors(self.out):
            if self.shard is None:  # this run owns the whole folder: temporary files of killed runs go
                removed = remove_stale_temps(self.out)
                if removed:
                    self.notify(f"removed {len(removed)} temporary file(s) left by an interrupted run in {self.out}")
            self.check_identity()
            if on_start is not None:
                on_start()
            mine = jobs if self.shard is None else [j for j in jobs if shard_of(j.clip_id, self.shard[1]) == self.shard[0]]
            with _progress(self.progress, len(mine)) as advance:
                from tfbench.evaluate.workers import can_pickle_metrics, score_in_workers, usable_cores

                cores = usable_cores()
                if self.workers == 1 and cores > 1 and len(mine) >= HINT_WORKERS_FROM and not any(job.generate for job in mine):
                    self.notify(f"scoring {len(mine)} clips in one process; --workers {cores} uses all {cores} cores "
                                "with the same result (docs/evaluate.md, Workers)")

                if self.workers > 1 and len(mine) > 1 and not any(job.generate for job in mine) and can_pickle_metrics(self.metrics):
                    score_in_workers(self, mine, min(self.workers, len(mine)), advance)  # same result, in job order
                else:  # one process (model mode too: the generator holds the model)
                    for job in mine:
                        try:
                            self._score(job)
                        except Exception as error:  # noqa: BLE001 — last resort: never lose the run
                            self._fail(job, None, "score", error)
                        advance(job.clip_id)
            record = None
            if self.shard is None:
                record = self._finish(jobs, weights, time.perf_counter() - started)
            else:
                index, count = self.shard
                write_json_atomic(self.out / "shards" / f"{index:05d}-of-{count:05d}.json", {
                    "clips": [job.clip_id for job in mine], "failures": [f.to_dict() for f in self.failures]})
        return RunSummary(
            record=record,
            failures=self.failures,
            scores_computed=self.scored_now,
            scores_reused=self.from_cache,
            out=self.out,
            per_clip_csv=self.out / "per_clip.csv",
            result_json=self.out / "result.json",
            notes=dict(self.policy_counts),
            shard=self.shard,
        )

    def _finish(self, jobs: list[ClipJob], weights: dict[str, dict[str, dict]], wall_time: float) -> ResultRecord:
        return finish(self, jobs, weights, wall_time)


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
