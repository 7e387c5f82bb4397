"""Read one evaluation run folder (what ``tfbench evaluate --out`` wrote) for the report.

Nothing is recomputed: values come from ``per_clip.csv`` and ``result.json``, per-clip
details (``info``, LSE's offset curve, LMD's mouth points, face counts) from the score
cache ``clips/<clip_id>/<metric>.json`` (+ ``.npz``), thumbnails from the previews the
runner stored (``tfbench/evaluate/preview.py``). A cache entry whose values differ from
``per_clip.csv`` (the cache changed after the run) is ignored, and the report says so.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tfbench.errors import InputError
from tfbench.evaluate import preview
from tfbench.results import MetricResult, ResultRecord

#: Face coverage (share of frames with a face on both sides) below which a clip is flagged.
LOW_COVERAGE = 0.9


@dataclass
class Clip:
    """One row of ``per_clip.csv`` with what the cache holds about it."""

    clip_id: str
    values: dict[str, float]  # output id -> value (failed cells absent)
    notes: dict
    error: str
    entries: dict[str, dict] = field(default_factory=dict)  # metric id -> cache JSON (values, info, clip_notes)
    state_files: dict[str, Path] = field(default_factory=dict)  # metric id -> .npz
    preview: dict | None = None  # _preview.json
    preview_jpg: Path | None = None

    def state(self, metric_id: str) -> dict[str, np.ndarray]:
        """The metric's stored arrays for this clip (empty when none)."""
        path = self.state_files.get(metric_id)
        if path is None:
            return {}
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}

    @property
    def coverage(self) -> dict | None:
        """Face coverage: ``{"fraction", "frames", "with_face", "source", ...}`` or None.

        Read, in this order, from a ``face_coverage`` clip note (when the evaluator records
        one), else from the face-based metrics' frame counts (``frames``, ``frames_scored``
        and the ``frames_no_face_*`` counts of LMD, CSIM, EFD): the lowest share wins.
        """
        for entry in self.entries.values():
            note = entry.get("clip_notes", {}).get("face_coverage")
            if isinstance(note, (int, float)):
                return {"fraction": float(note), "source": "clip notes"}
            if isinstance(note, dict) and isinstance(note.get("fraction"), (int, float)):
                return {**note, "fraction": float(note["fraction"]), "source": "clip notes"}
        best = None
        for metric_id, entry in sorted(self.entries.items()):
            info = entry.get("info", {})
            # face metrics record one count set, or one per detection pass keyed by output (LMD)
            passes = [(metric_id, info)] + [(name, counts) for name, counts in info.items() if isinstance(counts, dict)]
            for source, counts in passes:
                frames, scored = counts.get("frames"), counts.get("frames_scored")
                if not frames or scored is None:
                    continue
                found = {
                    "fraction": scored / frames,
                    "frames": frames,
                    "with_face": scored,
                    "no_face_pred": counts.get("frames_no_face_pred", counts.get("frames_no_face")),
                    "no_face_gt": counts.get("frames_no_face_gt"),
                    "source": source,
                }
                if best is None or found["fraction"] < best["fraction"]:
                    best = found
        return best


@dataclass
class Run:
    """One run folder, loaded."""

    root: Path
    record: ResultRecord
    clips: list[Clip]
    outputs: dict[str, str]  # output id (per_clip.csv column) -> metric id (cache file name)
    failures: list[dict]
    identity: dict | None  # run.json (model mode)
    unmatched: list[str]
    stale_entries: list[str]  # "clip/metric" cache entries ignored: they disagree with per_clip.csv

    order: list[str] = field(default_factory=list)  # output ids in per_clip.csv's column order, then the rest

    @property
    def columns(self) -> list[str]:
        """Output ids with at least one per-clip value, in per_clip.csv's order (the run's metric order)."""
        return [output for output in self.order if any(output in clip.values for clip in self.clips)]

    @property
    def metric_ids(self) -> list[str]:
        """Every output of the result, in the run's metric order."""
        return self.order

    def metric(self, output: str) -> MetricResult:
        return self.record.metrics[output]

    def clip(self, clip_id: str) -> Clip:
        return next(clip for clip in self.clips if clip.clip_id == clip_id)

    @property
    def label(self) -> str:
        return f"{self.record.model} ({self.root.name})"


def _number(text: str) -> float | None:
    return None if text == "" else float(text)


def _same(a: float, b: float) -> bool:
    return a == b or (math.isfinite(a) and math.isfinite(b) and abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b)))


def load_run(root: Path) -> Run:
    """Load a run folder; a clear error when it is not one."""
    root = Path(root)
    result_json, per_clip = root / "result.json", root / "per_clip.csv"
    if not result_json.is_file() or not per_clip.is_file():
        raise InputError(
            f"{root} is not a finished evaluation run (needs result.json and per_clip.csv): "
            f"run `tfbench evaluate ... --out {root}` first"
        )
    record = ResultRecord.load(result_json)
    with open(per_clip, newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        header = list(reader.fieldnames or [])
    order = [name for name in header if name in record.metrics]
    order += [name for name in record.metrics if name not in order]
    outputs: dict[str, str] = {}
    clips, stale = [], []
    for row in rows:
        values = {
            name: value
            for name, text in row.items()
            if name not in ("clip_id", "notes", "error") and (value := _number(text or "")) is not None
        }
        clip = Clip(row["clip_id"], values, json.loads(row["notes"]) if row.get("notes") else {}, row.get("error", ""))
        folder = root / "clips" / Path(clip.clip_id)
        if folder.is_dir():
            for path in sorted(folder.glob("*.json")):
                if path.name.startswith("_"):
                    continue
                try:
                    entry = json.loads(path.read_text())
                except (OSError, json.JSONDecodeError):
                    continue
                metric_id = entry.get("metric", path.stem)
                cached = entry.get("values", {})
                if not cached or not all(name in values and _same(float(v), values[name]) for name, v in cached.items()):
                    if cached and any(name in values for name in cached):
                        stale.append(f"{clip.clip_id}/{metric_id}")
                    continue
                clip.entries[metric_id] = entry
                for name in cached:
                    outputs[name] = metric_id
                npz = path.with_suffix(".npz")
                if entry.get("has_state") and npz.is_file():
                    clip.state_files[metric_id] = npz
            meta, jpg = folder / preview.JSON_NAME, folder / preview.JPEG_NAME
            if meta.is_file() and jpg.is_file():
                clip.preview = json.loads(meta.read_text())
                clip.preview_jpg = jpg
        clips.append(clip)
    failures_path = root / "failures.jsonl"
    if failures_path.is_file():
        failures = [json.loads(line) for line in failures_path.read_text().splitlines() if line.strip()]
    else:
        failures = list(record.failures)
    identity = json.loads((root / "run.json").read_text()) if (root / "run.json").is_file() else None
    unmatched_path = root / "unmatched.json"
    unmatched = json.loads(unmatched_path.read_text()).get("gt_without_pred", []) if unmatched_path.is_file() else []
    return Run(root, record, clips, outputs, failures, identity, unmatched, stale, order)
