"""The end of an evaluation run: aggregate each metric over the cached scores, write
``per_clip.csv``, ``failures.jsonl`` and ``result.json``."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from tfbench.errors import TfbenchError
from tfbench.evaluate.cache import _jsonable
from tfbench.evaluate.clip import MAX_LENGTH_DIFF
from tfbench.evaluate.jobs import ClipJob, Failure
from tfbench.evaluate.metrics.base import ClipScore, Metric
from tfbench.fsutil import atomic_write, write_text_atomic
from tfbench.results import MetricResult, ResultRecord, git_state

if TYPE_CHECKING:
    from tfbench.evaluate.runner import Runner

#: Clip notes (see ClipInputs.notes) counted in the summary and recorded with each metric.
DEFAULT_POLICY = {"fps": 25.0, "max_length_diff": MAX_LENGTH_DIFF, "resize_pred": False}
POLICY_NOTES = ("truncated_frames", "resized_pred_from", "pred_native_fps", "gt_native_fps")


def _cached_scores(self: "Runner", jobs: list[ClipJob], metric: Metric, keys: dict[str, dict[str, str]]) -> Iterator[ClipScore]:
    """Stream the cached scores of ``metric`` over ``jobs`` (one clip in memory at a time)."""
    for job in jobs:
        key = keys.get(job.clip_id, {}).get(metric.id)
        score = self.cache.load(job.clip_id, metric.id, key) if key else None
        if score is not None:
            yield score


def _collect(self: "Runner", jobs: list[ClipJob], keys: dict[str, dict[str, str]]) -> tuple[list[dict], dict[str, int], dict[str, int]]:
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


def finish(self: "Runner", jobs: list[ClipJob], weights: dict[str, dict[str, dict]], wall_time: float) -> ResultRecord:
    """Aggregate every metric over the cached scores of ``jobs``; write per_clip.csv, failures.jsonl, result.json.

    Nothing is written when a cache entry stops reading back while this runs (it would make
    the aggregate cover fewer clips than were scored): the error says to run again."""
    corrupt_before = self.corrupt_entries
    keys = {job.clip_id: self._keys(job) for job in jobs if not job.error and job.pred is not None and Path(job.pred).exists()}
    rows, scored, policy = _collect(self, jobs, keys)
    self.policy_counts = policy
    # Only a non-default clip policy goes into the params (leaderboards split columns on params).
    evaluator = {k: v for k, v in self.policy.items() if v != DEFAULT_POLICY[k]}
    notes = "; ".join(filter(None, [self.info.model_notes] + [f"evaluator: {n} clip(s) with {k}" for k, n in sorted(policy.items())]))
    results: dict[str, MetricResult] = {}
    for metric in self.metrics:
        try:
            values = metric.aggregate(_cached_scores(self, jobs, metric, keys))
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
    if self.corrupt_entries != corrupt_before:
        raise TfbenchError(f"cache entries under {self.out / 'clips'} stopped reading back while the run was finishing "
                           "(named above), so nothing was aggregated; run the same command again to rescore them")
    _write_per_clip(self, rows)
    write_text_atomic(self.out / "failures.jsonl", "".join(json.dumps(f.to_dict()) + "\n" for f in self.failures))
    record.save(self.out / "result.json")
    return record


def _write_per_clip(self: "Runner", rows: list[dict]) -> None:
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

    atomic_write(self.out / "per_clip.csv", write)


def _higher_is_better(metric: Metric, output: str) -> bool:
    """Per-output direction: a metric may set ``higher_is_better_by_output`` (e.g. LSE-D is lower-better)."""
    by_output = getattr(metric, "higher_is_better_by_output", None) or {}
    return bool(by_output.get(output, metric.higher_is_better))
