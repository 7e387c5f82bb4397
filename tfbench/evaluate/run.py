"""One function behind ``tfbench evaluate`` and the Python API: :func:`run_evaluation`.

It chooses the metrics, builds the clip jobs of the chosen protocol (``pred-vs-gt/v1`` for
folders of videos, ``self-reconstruction/v1`` for ``model`` + ``dataset``), runs the
:class:`~tfbench.evaluate.runner.Runner` into ``out`` and returns its summary. The CLI only
parses options and prints; see docs/evaluate.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from tfbench.errors import InputError
from tfbench.evaluate.jobs import RunInfo, RunSummary
from tfbench.fsutil import write_json_atomic


@dataclass
class Evaluation:
    """What :func:`run_evaluation` returns: the runner's summary and the ground-truth clips
    that had no prediction (listed, not scored)."""

    summary: RunSummary
    gt_only: list[str] = field(default_factory=list)


def run_evaluation(
    out: str | Path,
    *,
    pred: str | Path | None = None,
    gt: str | Path | None = None,
    audio: str | Path | None = None,
    model: str | None = None,
    checkpoint: str | Path | None = None,
    dataset: str | Path | None = None,
    split: str = "test",
    limit: int | None = None,
    metrics: str | Sequence[str] | None = None,
    params: dict[str, dict] | None = None,
    name: str | None = None,
    dataset_name: str | None = None,
    resize_pred: bool = False,
    max_length_diff: int = 2,
    fps: float | str = 25.0,
    device: str = "cpu",
    progress: bool = True,
    num_shards: int = 1,
    shard_index: int = 0,
    options: dict | None = None,
    workers: int | None = None,
    echo: Callable[[str], None] = print,
) -> Evaluation:
    """Score ``pred`` against ``gt`` (folders of videos), or run ``model`` on ``dataset`` and score it.

    ``metrics``: ids (comma-separated string or a list); None = every metric whose weights
    are present (the others are named through ``echo``). ``params``: ``{metric_id: {key:
    value}}`` protocol parameters. ``fps``: the rate videos are resampled to, or ``"native"``
    (every decoded frame). Results land in ``out`` (per-clip cache, per_clip.csv,
    failures.jsonl, result.json); a rerun with the same ``out`` resumes. With ``num_shards``
    > 1 only the clips of shard ``shard_index`` are scored into ``out`` and nothing is
    aggregated (``summary.record`` is None); a run without shard flags then scores whatever
    is missing and aggregates, giving what one run gives (docs/datasets/scaling.md). ``options``:
    generation options of ``model`` (``--set``), recorded in the run's model name.
    ``workers``: processes scoring clips in parallel (same result as one); None = 1, the
    fastest on the 2-vCPU machines measured in docs/benchmarks.md (pass more where cores are real).
    """
    from tfbench.evaluate.inputs import match_folders, model_jobs, prepared_gt, restrict_to_split
    from tfbench.evaluate.protocol import PRED_VS_GT
    from tfbench.evaluate.runner import Runner
    from tfbench.evaluate.selection import choose_metrics, resolve_metrics

    out = Path(out)
    pred, gt, audio = (Path(p) if p is not None else None for p in (pred, gt, audio))
    folder_mode = pred is not None or gt is not None
    if folder_mode == (model is not None):
        raise InputError("give either --pred DIR --gt DIR, or --model NAME --dataset PATH|sample")
    if folder_mode and (pred is None or gt is None):
        raise InputError("--pred and --gt go together")
    if model is not None and dataset is None:
        raise InputError("--model needs --dataset PATH|sample")

    requested = metrics if metrics is None or isinstance(metrics, str) else ",".join(metrics)
    metric_ids = choose_metrics(requested, echo)
    metric_objects = resolve_metrics(metric_ids, device=device, params=params or {})
    gt_only: list[str] = []
    identity = None
    if folder_mode:
        prepared = prepared_gt(gt)
        jobs, gt_only = match_folders(pred, prepared.root / "clips" if prepared else gt, audio)
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
    else:
        jobs, info, identity = model_jobs(model, checkpoint, dataset, split, limit, out, device, options)
    runner = Runner(
        metric_objects, out, info, fps=fps, max_length_diff=max_length_diff, resize_pred=resize_pred,
        progress=progress, identity=identity, num_shards=num_shards, shard_index=shard_index, notify=echo,
        workers=1 if workers is None else workers,
    )

    def write_unmatched() -> None:  # once the run owns out, before scoring (never after a result is written)
        if gt_only and num_shards == 1:
            write_json_atomic(out / "unmatched.json", {"gt_without_pred": gt_only})

    summary = runner.run(jobs, on_start=write_unmatched)
    return Evaluation(summary, gt_only)
