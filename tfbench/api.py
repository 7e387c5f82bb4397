"""The one-call evaluation of the Python API: ``tfbench.evaluate(pred=DIR, gt=DIR, metrics=[...])``.

It runs the evaluator's :class:`~tfbench.evaluate.runner.Runner` on the clips matched by
relative path, exactly as ``tfbench evaluate --pred DIR --gt DIR`` (same matching, same
cache, same ``result.json`` and ``per_clip.csv``), and returns the result record with the
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

__all__ = ["EvaluationResult", "evaluate", "run_pred_vs_gt"]


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


def run_pred_vs_gt(pred: Path, gt: Path, out: Path, metric_ids: list[str], *, audio: Path | None = None,
                   split: str = "test", params: dict[str, dict] | None = None, name: str | None = None,
                   dataset_name: str | None = None, resize_pred: bool = False, max_length_diff: int = 2,
                   device: str = "cpu", progress: bool = True):
    """Score the ``pred`` folder against the ``gt`` folder into ``out`` (the ``pred-vs-gt/v1`` protocol).

    Returns ``(RunSummary, gt_without_pred)``. A ``gt`` that is a prepared dataset (its root
    or its ``clips/``) scores its ``split`` and records its name and fingerprint.
    """
    # Folder matching lives with the CLI today; the evaluate package will hold it (issue 19 report).
    from tfbench.commands.evaluate import match_folders, prepared_gt, restrict_to_split
    from tfbench.evaluate.protocol import PRED_VS_GT
    from tfbench.evaluate.runner import Runner, RunInfo, resolve_metrics

    pred, gt = Path(pred), Path(gt)
    metric_objects = resolve_metrics(metric_ids, device=device, params=params)
    prepared = prepared_gt(gt)
    jobs, gt_only = match_folders(pred, prepared.root / "clips" if prepared else gt, Path(audio) if audio else None)
    if prepared is not None:
        jobs, gt_only = restrict_to_split(jobs, gt_only, prepared, split)
    info = RunInfo(
        model=name or pred.resolve().name,
        dataset=dataset_name or (prepared.name if prepared else gt.resolve().name),
        split=split,
        protocol=PRED_VS_GT,
        dataset_fingerprint=prepared.fingerprint if prepared else None,
        recipe_version=prepared.meta.get("recipe_version") if prepared else None,
        model_canonical=True,
        model_notes=f"{len(gt_only)} ground-truth clip(s) without a prediction were not scored" if gt_only else "",
    )
    runner = Runner(metric_objects, Path(out), info, max_length_diff=max_length_diff, resize_pred=resize_pred,
                    progress=progress)
    return runner.run(jobs), gt_only


def _default_metrics() -> list[str]:
    from tfbench.evaluate.runner import available_metrics

    ids, left_out = available_metrics()
    if left_out:
        warnings.warn(f"left out (weights not here): {', '.join(left_out)}; get them with `tfbench weights "
                      "download NAME` or `tfbench weights import NAME FILE`", stacklevel=3)
    return ids


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
             max_length_diff: int = 2, device: str = "cpu", progress: bool = False) -> EvaluationResult:
    """Score generated videos against ground truth; ``tfbench evaluate --pred --gt`` in one call.

    ``pred``, ``gt``: folders of videos matched by relative path (extension ignored); ``gt``
    may be a prepared dataset folder (then its ``split`` is scored and its fingerprint
    recorded). ``metrics``: ids (``["psnr", "ssim", "lse"]``); None = every metric whose
    weights are present (a warning lists the others). ``out``: folder for the per-clip cache,
    ``per_clip.csv`` and ``result.json`` (a second call with the same ``out`` reuses every
    cached score); None = a temporary folder, deleted before returning. ``params``:
    ``{metric_id: {key: value}}`` protocol parameters. ``audio``: folder of driving audio
    (default: each gt file's audio). Clip failures do not raise: they are in
    ``result.failures`` and the ``error`` column of ``result.per_clip``.
    """
    metric_ids = list(metrics) if metrics is not None else _default_metrics()
    scratch = None if out is not None else tempfile.mkdtemp(prefix="tfbench-evaluate-")
    try:
        summary, gt_only = run_pred_vs_gt(
            Path(pred), Path(gt), Path(out if out is not None else scratch), metric_ids, audio=audio, split=split,
            params=params, name=name, dataset_name=dataset_name, resize_pred=resize_pred,
            max_length_diff=max_length_diff, device=device, progress=progress)
        record = summary.record
        per_clip = read_per_clip(summary.per_clip_csv)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    recorded = {key: getattr(record, key) for key in record.__dataclass_fields__}
    return EvaluationResult(**recorded, per_clip=per_clip, out=None if out is None else Path(out), gt_without_pred=gt_only)
