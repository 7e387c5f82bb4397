"""`tfbench evaluate`: score videos against ground truth, or run a model on a prepared dataset and score it.

A thin layer over :func:`tfbench.evaluate.run.run_evaluation` (see docs/evaluate.md): it
parses the options, calls that function and prints the summary. Heavy imports (torch,
datasets) happen inside the command body only.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import List, Optional

import typer


def _print_summary(console, summary, gt_only: list[str]) -> None:
    from rich.table import Table

    record = summary.record
    table = Table(title=f"{record.model} on {record.dataset}/{record.split} ({record.protocol})")
    for column in ("metric", "value", "better", "clips", "failed", "weights"):
        table.add_column(column)
    for metric in record.metrics.values():
        value = "—" if metric.value is None else f"{metric.value:.4f}"
        statuses = {entry.get("status") for entry in metric.weights.values()}
        weights = "canonical" if metric.canonical else "[yellow]UNVERIFIED[/]" if statuses <= {"canonical", "unverified"} else "[red]NON-CANONICAL[/]"
        table.add_row(metric.id, value, "↑" if metric.higher_is_better else "↓", str(metric.clips_scored),
                      str(metric.clips_failed), weights if metric.weights else "—")
    console.print(table)
    console.print(
        f"{record.clips_total} clips, {record.clips_failed} with a failure; {summary.scores_computed} scores computed, "
        f"{summary.scores_reused} reused from {summary.out / 'clips'}; {record.wall_time_s:.1f} s"
    )
    for key, count in sorted(summary.notes.items()):
        console.print(f"policy: {count} clip(s) with {key} (see per_clip json notes)")
    coverage = {name: counts for metric in record.metrics.values() for name, counts in metric.notes.get("coverage", {}).items()}
    for name, counts in sorted(coverage.items()):  # face metrics: frames with a face / frames, over scored clips
        if counts.get("fraction") is not None:
            console.print(f"face coverage: {name} scored {counts['frames_scored']} of {counts['frames']} frames ({counts['fraction']:.1%})")
    if not record.canonical:
        console.print("[yellow]This result is non-canonical (test weights or a non-canonical model): not for a leaderboard.[/]")
    if not record.model_canonical and record.model_notes:
        console.print(f"[yellow]model {record.model}: {record.model_notes}[/]", highlight=False)
    if gt_only:
        shown = ", ".join(gt_only[:10]) + (" …" if len(gt_only) > 10 else "")
        console.print(f"[yellow]{len(gt_only)} ground-truth clip(s) have no prediction and were not scored[/]: {shown}")
    if summary.failures:
        console.print(f"[red]{len(summary.failures)} failure(s)[/] (all in {summary.out / 'failures.jsonl'}):")
        for failure in summary.failures[:20]:
            where = "/".join(part for part in (failure.clip_id, failure.metric) if part)
            console.print(f"  {where} [{failure.stage}] {failure.error}", highlight=False, markup=False)
        if len(summary.failures) > 20:
            console.print(f"  … {len(summary.failures) - 20} more")
    console.print(f"wrote {summary.result_json} and {summary.per_clip_csv}")


def parse_fps(value: str) -> float | str:
    """``--fps``: a positive number, or "native" (no resampling)."""
    from tfbench.errors import InputError

    if value.strip().lower() == "native":
        return "native"
    try:
        rate = float(value)
    except ValueError:
        rate = 0.0
    if not rate > 0:
        raise InputError(f"--fps takes a positive number or 'native', got {value!r}")
    return rate


def register(app: typer.Typer) -> None:
    @app.command("evaluate")
    def evaluate(
        out: Path = typer.Option(..., "--out", help="Output folder: per-clip cache, per_clip.csv, result.json (reused to resume)."),
        pred: Optional[Path] = typer.Option(None, "--pred", help="Folder of generated videos (matched to --gt by relative path)."),
        gt: Optional[Path] = typer.Option(None, "--gt", help="Folder of ground-truth videos."),
        audio: Optional[Path] = typer.Option(None, "--audio", help="Folder of driving audio (default: the gt file's audio)."),
        model: Optional[str] = typer.Option(None, "--model", help="Model to run on --dataset (self-reconstruction protocol)."),
        checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="Checkpoint file of --model."),
        dataset: Optional[str] = typer.Option(None, "--dataset", help="Prepared dataset folder, or 'sample'."),
        split: str = typer.Option("test", "--split", help="Split of --dataset."),
        limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Only the first K clips of the split."),
        metrics: Optional[str] = typer.Option(None, "--metrics", help="Comma-separated metric ids (default: all whose weights are present)."),
        param: List[str] = typer.Option([], "--param", help="Metric parameter METRIC.KEY=VALUE (repeatable)."),
        set_: List[str] = typer.Option([], "--set", help="Generation option of --model, KEY=VALUE (e.g. modality=image; repeatable; recorded)."),
        name: Optional[str] = typer.Option(None, "--name", help="Method name recorded with --pred (default: the --pred folder's name)."),
        dataset_name: Optional[str] = typer.Option(None, "--dataset-name", help="Dataset name recorded with --gt (default: the --gt folder's name)."),
        resize_pred: bool = typer.Option(False, "--resize-pred", help="Resize predictions to the ground truth's size instead of failing the clip."),
        max_length_diff: int = typer.Option(2, "--max-length-diff", min=0, help="Frames by which pred and gt may differ (both truncated to the shorter)."),
        fps: str = typer.Option("25", "--fps", help="Frame rate videos are resampled to (by timestamp), or 'native': every frame, no resampling (pred and gt must share a rate; LSE needs 25)."),
        device: str = typer.Option("cpu", "--device", help="Torch device for the metrics' networks."),
        save: bool = typer.Option(False, "--save", help="Also write the result into <leaderboards>/results/ (see docs/leaderboards.md)."),
        leaderboards: Path = typer.Option(Path("leaderboards"), "--leaderboards", help="Leaderboards folder --save writes into."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
        num_shards: int = typer.Option(1, "--num-shards", min=1, help="Split the clips into N shards (job arrays, several GPUs)."),
        shard_index: int = typer.Option(0, "--shard-index", min=0, help="Score only this shard (0-based) into --out; aggregates nothing."),
        workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Processes scoring clips in parallel, same result as one (default 1: measure first, docs/evaluate.md Workers)."),
    ) -> None:
        """Score generated videos against ground truth with reference-exact metrics (resumable)."""
        from rich.console import Console

        from tfbench.evaluate.run import run_evaluation
        from tfbench.evaluate.selection import parse_params
        from tfbench.train.config import parse_overrides

        console = Console(stderr=False)
        evaluation = run_evaluation(
            out, pred=pred, gt=gt, audio=audio, model=model, checkpoint=checkpoint, dataset=dataset, split=split,
            limit=limit, metrics=metrics, params=parse_params(param), name=name, dataset_name=dataset_name,
            resize_pred=resize_pred, max_length_diff=max_length_diff, fps=parse_fps(fps), device=device, progress=progress,
            num_shards=num_shards, shard_index=shard_index, options=parse_overrides(set_), workers=workers,
            echo=lambda line: console.print(line, highlight=False),
        )
        summary = evaluation.summary
        if summary.record is None:
            console.print(
                f"shard {shard_index} of {num_shards}: {summary.scores_computed} scores computed, {summary.scores_reused} "
                f"reused, {len(summary.failures)} failure(s); cached under {summary.out / 'clips'}. Run the same command "
                "without --num-shards/--shard-index once every shard is done to merge and aggregate.", highlight=False)
            if summary.scores_computed + summary.scores_reused == 0 and summary.failures:
                raise typer.Exit(1)
            return
        _print_summary(console, summary, evaluation.gt_only)
        console.print(f"see it: tfbench report {shlex.quote(str(out))}  (an HTML report of this run)", markup=False, highlight=False, soft_wrap=True)
        if save:
            from tfbench.leaderboard import save_result

            console.print(f"saved {save_result(summary.record, leaderboards)}")
        if summary.scores_computed + summary.scores_reused == 0:
            raise typer.Exit(1)
