"""What the evaluation runner works on and returns: clip jobs, failures, run info, the summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from tfbench.evaluate.clip import ClipInputs
from tfbench.results import ResultRecord


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
    record: ResultRecord | None  # None for a shard run (a run without shard flags aggregates)
    failures: list[Failure]
    scores_computed: int  # (clip, metric) pairs computed in this run
    scores_reused: int  # (clip, metric) pairs reused from the cache of an earlier run
    out: Path
    per_clip_csv: Path
    result_json: Path
    notes: dict[str, int] = field(default_factory=dict)  # policy counts, e.g. truncated clips
    shard: tuple[int, int] | None = None  # (index, count) of a shard run
