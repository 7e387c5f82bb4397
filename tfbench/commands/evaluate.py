"""`tfbench evaluate`: score videos against ground truth, or run a model on a prepared dataset and score it.

Two modes (see docs/evaluate.md):

- ``--pred DIR --gt DIR``: videos made by any method, matched by relative path (extension
  ignored); audio from the gt file unless ``--audio DIR``.
- ``--model NAME --dataset PATH|sample``: the ``self-reconstruction/v1`` protocol; generated
  clips are written losslessly to ``<out>/generated/`` and scored.

Heavy imports (torch, datasets) happen inside the command body only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm")
AUDIO_EXTENSIONS = (".wav", ".m4a", ".mp3", ".flac", ".aac", ".mp4")


def _index(folder: Path, extensions: tuple[str, ...]) -> dict[str, Path]:
    """{relative path without extension: file} of every file under ``folder`` with one of ``extensions``."""
    from tfbench.errors import InputError

    if not folder.is_dir():
        raise InputError(f"not a folder: {folder}")
    found: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix.lower() in extensions and not path.name.startswith("."):
            key = path.relative_to(folder).with_suffix("").as_posix()
            if key in found:
                raise InputError(f"two files for clip {key!r} in {folder}: {found[key].name} and {path.name}; keep one")
            found[key] = path
    return found


def match_folders(pred: Path, gt: Path, audio: Path | None = None):
    """Clip jobs matching ``pred`` and ``gt`` by relative path, plus the gt clips without a prediction.

    A prediction without a ground truth becomes a failed job; a ground truth without a
    prediction is returned in the second list (listed, not scored).
    """
    from tfbench.errors import InputError
    from tfbench.evaluate.runner import ClipJob

    preds, gts = _index(pred, VIDEO_EXTENSIONS), _index(gt, VIDEO_EXTENSIONS)
    audios = _index(audio, AUDIO_EXTENSIONS) if audio is not None else {}
    if not preds:
        raise InputError(f"no video ({', '.join(VIDEO_EXTENSIONS)}) under {pred}")
    jobs = []
    for clip_id, pred_path in preds.items():
        gt_path = gts.get(clip_id)
        audio_path = audios.get(clip_id, audio / f"{clip_id}.wav") if audio is not None else None
        error = None if gt_path else f"no ground truth for {pred_path.relative_to(pred)} under {gt}"
        jobs.append(ClipJob(clip_id, pred_path, gt_path, audio=audio_path, error=error))
    gt_only = [clip_id for clip_id in gts if clip_id not in preds]
    return jobs, gt_only


def prepared_gt(gt: Path):
    """The prepared dataset ``gt`` belongs to (its root or its ``clips/`` folder), else None.

    Scoring against a prepared dataset records its name and fingerprint, so such results
    can enter a leaderboard; a plain folder of videos has no fingerprint.
    """
    from tfbench.data import open_prepared

    for root in (gt, gt.parent if gt.name == "clips" else None):
        if root is not None and (root / "meta.json").exists() and (root / "dataset").is_dir():
            return open_prepared(root)
    return None


def restrict_to_split(jobs, gt_only: list[str], prepared, split: str):
    """Keep the jobs and unmatched gt clips of ``split``; a prediction of another split fails."""
    from tfbench.errors import InputError

    if split not in prepared.splits:
        raise InputError(f"{prepared.root} has no split {split!r} (splits: {', '.join(prepared.splits)})")
    wanted = set(prepared.split(split)["clip_id"])
    for job in jobs:
        if job.error is None and job.clip_id not in wanted:
            job.error = f"clip {job.clip_id!r} is not in the {split!r} split of {prepared.root}"
    return jobs, [clip_id for clip_id in gt_only if clip_id in wanted]


def parse_params(items: list[str]) -> dict[str, dict]:
    """``["psnr.max_db=80", "lse_c.min_track_frames=50"]`` -> ``{"psnr": {"max_db": 80}, ...}``; values are JSON or strings."""
    from tfbench.errors import InputError

    params: dict[str, dict] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        metric, dot, key = name.rpartition(".")
        if not sep or not dot or not metric or not key:
            raise InputError(f"--param takes METRIC.KEY=VALUE (e.g. psnr.max_db=80), got {item!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        params.setdefault(metric, {})[key] = value
    return params


def choose_metrics(requested: str | None, echo) -> list[str]:
    """Metric ids to run: the requested ones (checked to exist), or every one whose weights are present."""
    from tfbench.evaluate.metrics import METRICS
    from tfbench.evaluate.runner import available_metrics

    if requested:
        ids = [item.strip() for item in requested.split(",") if item.strip()]
        for metric_id in ids:
            METRICS.target(metric_id)  # unknown id -> "did you mean"
        return ids
    from tfbench.weights import status

    ids, left_out = available_metrics()
    for metric_id, why in left_out.items():
        missing = [name for name in METRICS.get(metric_id).weights if status(name).state == "missing"] if "cannot import" not in why else []
        echo(f"[yellow]left out {metric_id}[/]: " + (f"weights not here: {', '.join(missing)}" if missing else why))
    if left_out:
        echo("  get weights with `tfbench weights download NAME` (offline: `tfbench weights import NAME FILE`); "
             "`tfbench weights list` shows every file and where it comes from")
    if not ids:
        from tfbench.errors import TfbenchError

        raise TfbenchError("no metric can run: every registered metric lacks its weights (see above)")
    return ids


def _model_jobs(model_name, checkpoint, dataset, split, limit, out, device, options=None):
    """Jobs, run info and identity of the ``--model`` mode. ``options``: generation options
    (``--set KEY=VALUE``), given to every request and recorded in the run's model name
    (``name[key=value,...]``) and identity, so runs with other options never share scores."""
    from tfbench.data import open_prepared
    from tfbench.evaluate.protocol import SELF_RECONSTRUCTION, self_reconstruction_request
    from tfbench.evaluate.runner import ClipJob, RunInfo, _safe_clip_dir
    from tfbench.models import MODELS

    prepared = open_prepared(str(dataset))
    if split not in prepared.splits:
        from tfbench.errors import InputError

        raise InputError(f"dataset {prepared.name!r} has no split {split!r}; it has {', '.join(prepared.splits)}")
    rows = prepared.split(split)
    count = len(rows) if limit is None else min(limit, len(rows))
    generator = MODELS.get(model_name).from_checkpoint(checkpoint, device=device)

    def generate_for(index: int):
        def generate(clip):
            request = self_reconstruction_request(rows[index], clip, generator.needs, meta=prepared.meta,
                                                  accepts=generator.accepts, options=options)
            generator.check_request(request)
            return generator.generate(request)

        return generate

    light = rows.select(range(count)).select_columns([c for c in ("clip_id", "video") if c in rows.column_names])
    jobs = []
    for index, row in enumerate(light):
        clip_id = str(row["clip_id"])
        generated = _safe_clip_dir(out / "generated", clip_id)
        pred = generated.with_name(generated.name + ".mp4")
        jobs.append(ClipJob(clip_id, pred, prepared.clip_path(row), generate=generate_for(index)))
    recorded_name = model_name + (f"[{','.join(f'{k}={v}' for k, v in sorted(options.items()))}]" if options else "")
    info = RunInfo(
        model=recorded_name,
        dataset=prepared.name,
        split=split,
        protocol=SELF_RECONSTRUCTION,
        dataset_fingerprint=prepared.fingerprint,
        recipe_version=str(prepared.meta.get("recipe_version")) if prepared.meta.get("recipe_version") is not None else None,
        checkpoint_sha256=generator.checkpoint_sha256,
        model_canonical=bool(generator.canonical),
        model_notes=generator.notes,
    )
    identity = {
        "protocol": SELF_RECONSTRUCTION,
        "model": recorded_name,
        "checkpoint_sha256": generator.checkpoint_sha256,
        "dataset_fingerprint": prepared.fingerprint,
        "split": split,
    }
    return jobs, info, identity


def _print_summary(console, summary, gt_only: list[str]) -> None:
    from rich.table import Table

    record = summary.record
    table = Table(title=f"{record.model} on {record.dataset}/{record.split} ({record.protocol})")
    for column in ("metric", "value", "better", "clips", "failed", "weights"):
        table.add_column(column)
    for metric in record.metrics.values():
        value = "—" if metric.value is None else f"{metric.value:.4f}"
        weights = "canonical" if metric.canonical else "[red]NON-CANONICAL[/]"
        table.add_row(metric.id, value, "↑" if metric.higher_is_better else "↓", str(metric.clips_scored),
                      str(metric.clips_failed), weights if metric.weights else "—")
    console.print(table)
    console.print(
        f"{record.clips_total} clips, {record.clips_failed} with a failure; {summary.scores_computed} scores computed, "
        f"{summary.scores_reused} reused from {summary.out / 'clips'}; {record.wall_time_s:.1f} s"
    )
    for key, count in sorted(summary.notes.items()):
        console.print(f"policy: {count} clip(s) with {key} (see per_clip json notes)")
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
        device: str = typer.Option("cpu", "--device", help="Torch device for the metrics' networks."),
        save: bool = typer.Option(False, "--save", help="Also write the result into <leaderboards>/results/ (see docs/leaderboards.md)."),
        leaderboards: Path = typer.Option(Path("leaderboards"), "--leaderboards", help="Leaderboards folder --save writes into."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    ) -> None:
        """Score generated videos against ground truth with reference-exact metrics (resumable)."""
        from rich.console import Console

        from tfbench.errors import InputError
        from tfbench.evaluate.protocol import PRED_VS_GT
        from tfbench.evaluate.runner import Runner, RunInfo, resolve_metrics

        console = Console(stderr=False)
        folder_mode = pred is not None or gt is not None
        if folder_mode == (model is not None):
            raise InputError("give either --pred DIR --gt DIR, or --model NAME --dataset PATH|sample")
        if folder_mode and (pred is None or gt is None):
            raise InputError("--pred and --gt go together")
        if model is not None and dataset is None:
            raise InputError("--model needs --dataset PATH|sample")

        metric_ids = choose_metrics(metrics, console.print)
        metric_objects = resolve_metrics(metric_ids, device=device, params=parse_params(param))
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
            from tfbench.train.config import parse_overrides

            jobs, info, identity = _model_jobs(model, checkpoint, dataset, split, limit, out, device, parse_overrides(set_))
        runner = Runner(
            metric_objects, out, info, max_length_diff=max_length_diff, resize_pred=resize_pred,
            progress=progress, identity=identity,
        )
        summary = runner.run(jobs)
        if gt_only:
            (out / "unmatched.json").write_text(json.dumps({"gt_without_pred": gt_only}, indent=1))
        _print_summary(console, summary, gt_only)
        if save:
            from tfbench.leaderboard import save_result

            console.print(f"saved {save_result(summary.record, leaderboards)}")
        if summary.scores_computed + summary.scores_reused == 0:
            raise typer.Exit(1)
