"""The one-call evaluation of the Python API: ``tfbench.evaluate(pred=DIR, gt=DIR, metrics=[...])``.

It calls :func:`tfbench.evaluate.run.run_evaluation`, the function behind ``tfbench evaluate
--pred DIR --gt DIR`` (one code path: same matching, same cache, same ``result.json`` and
``per_clip.csv``), and returns the result record with the
per-clip scores as a pandas DataFrame. See docs/api.md.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from tfbench.results import ResultRecord

__all__ = ["EvaluationResult", "evaluate"]


@dataclass
class EvaluationResult(ResultRecord):
    """A :class:`~tfbench.results.ResultRecord` plus what the run left in memory.

    ``per_clip``: pandas DataFrame indexed by ``clip_id``, a column per metric output (NaN
    where the clip failed), ``notes`` (policy notes, JSON) and ``error``. ``out``: the output
    folder (None when the call used a temporary one). ``gt_without_pred``: ground-truth clips
    that had no prediction (listed, not scored). ``to_dict``/``save`` write only the record.
    """

    per_clip: Any = field(default=None, repr=False, compare=False)
    out: Path | None = None
    gt_without_pred: list[str] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict:
        data = super().to_dict()
        for name in ("per_clip", "out", "gt_without_pred"):
            data.pop(name)
        return data


def read_per_clip(path: Path):
    """``per_clip.csv`` as a DataFrame indexed by ``clip_id`` (ids stay strings, empty cells NaN,
    ``notes``/``error`` empty strings where there is nothing)."""
    import pandas

    table = pandas.read_csv(path, dtype={"clip_id": str, "notes": str, "error": str})
    for column in ("notes", "error"):
        table[column] = table[column].fillna("")
    return table.set_index("clip_id")


def evaluate(pred: str | Path, gt: str | Path, metrics: Iterable[str] | None = None, out: str | Path | None = None, *,
             audio: str | Path | None = None, split: str = "test", params: dict[str, dict] | None = None,
             name: str | None = None, dataset_name: str | None = None, resize_pred: bool = False,
             max_length_diff: int = 2, device: str = "cpu", progress: bool = False,
             workers: int | None = None) -> EvaluationResult:
    """Score generated videos against ground truth; ``tfbench evaluate --pred --gt`` in one call.

    ``pred``, ``gt``: folders of videos matched by relative path (extension ignored); ``gt``
    may be a prepared dataset folder (then its ``split`` is scored and its fingerprint
    recorded). ``metrics``: ids (``["psnr", "ssim", "lse"]``); None = every metric whose
    weights are present (a warning lists the others). ``out``: folder for the per-clip cache,
    ``per_clip.csv`` and ``result.json`` (a second call with the same ``out`` reuses every
    cached score); None = a temporary folder, deleted before returning. ``params``:
    ``{metric_id: {key: value}}`` protocol parameters. ``workers``: processes scoring clips
    in parallel (same result; default 1, see docs/evaluate.md "Workers"). ``audio``: folder of driving audio
    (default: each gt file's audio). Clip failures do not raise: they are in
    ``result.failures`` and the ``error`` column of ``result.per_clip``.
    """
    from tfbench.evaluate.run import run_evaluation

    scratch = None if out is not None else tempfile.mkdtemp(prefix="tfbench-evaluate-")
    try:
        evaluation = run_evaluation(
            Path(out if out is not None else scratch), pred=pred, gt=gt, audio=audio, split=split,
            metrics=list(metrics) if metrics is not None else None, params=params, name=name,
            dataset_name=dataset_name, resize_pred=resize_pred, max_length_diff=max_length_diff, device=device,
            progress=progress, workers=workers, echo=lambda line: warnings.warn(line, stacklevel=4))
        summary, gt_only = evaluation.summary, evaluation.gt_only
        record = summary.record
        per_clip = read_per_clip(summary.per_clip_csv)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    recorded = {key: getattr(record, key) for key in record.__dataclass_fields__}
    return EvaluationResult(**recorded, per_clip=per_clip, out=None if out is None else Path(out), gt_without_pred=gt_only)
