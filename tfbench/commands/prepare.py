"""`tfbench prepare NAME`: turn a raw dataset folder into a prepared Hugging Face dataset.

Heavy imports (datasets, dlib, torch) happen inside the command body only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from tfbench.registry import registry_help


def _split_list(value: Optional[str]) -> tuple[str, ...] | None:
    if not value:
        return None
    return tuple(part.strip() for part in value.split(",") if part.strip())


def register(app: typer.Typer) -> None:
    @app.command("prepare")
    def prepare(
        name: str = typer.Argument(..., help="Recipe: " + registry_help("recipe") + "."),
        raw_dir: Optional[Path] = typer.Option(None, "--raw-dir", help="Raw dataset folder (not needed for sample)."),
        out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default: $TFBENCH_HOME/datasets/NAME)."),
        views: Optional[str] = typer.Option(None, "--views", help="MEAD views, comma separated, or 'all' (default: front)."),
        test_speakers: Optional[str] = typer.Option(None, "--test-speakers", help="Speakers of the test split, comma separated."),
        num_proc: int = typer.Option(1, "--num-proc", min=1, help="Worker processes on this machine."),
        limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Only the first K videos (sorted by id)."),
        num_shards: int = typer.Option(1, "--num-shards", min=1, help="Split the videos into N shards (job arrays)."),
        shard_index: int = typer.Option(0, "--shard-index", min=0, help="Process only this shard (0-based); builds nothing."),
        landmarks: str = typer.Option("dlib", "--landmarks", help="Landmark backend: dlib (offline) or fan (weights fan2d)."),
        tdmm: str = typer.Option("offline", "--tdmm", help="3DMM backend: offline (tfbench landmark model) or deep3d."),
        au: str = typer.Option("offline", "--au", help="AU backend: offline (landmark geometry) or network (LibreFace, weights libreface_au)."),
        size: int = typer.Option(256, "--size", help="Side of the square processed clips, pixels."),
    ) -> None:
        """Prepare dataset NAME: processed clips, caches and a datasets.DatasetDict under --out.

        Re-running resumes: finished videos are not processed again. Videos that cannot be
        processed are listed with their reason in OUT/failures.jsonl.
        """
        from tfbench.data import prepared_root
        from tfbench.recipes import RECIPES
        from tfbench.recipes.base import RecipeOptions
        from tfbench.recipes.build import BuildParams, prepare as run_prepare

        recipe = RECIPES.get(name)
        out_dir = out or prepared_root(name)
        options = RecipeOptions(views=_split_list(views), test_speakers=_split_list(test_speakers))
        done = [0]

        def progress(marker: dict) -> None:
            done[0] += 1
            status = f"{len(marker['clips'])} clip(s)"
            if marker["failures"]:
                status += "; failed: " + "; ".join(f"{f['clip_id']}: {f['reason'][:120]}" for f in marker["failures"])
            typer.echo(f"[{done[0]}] {marker['source_id']}: {status}", err=True)

        summary = run_prepare(
            recipe, raw_dir, out_dir, options=options, size=size, landmarks=landmarks,
            build=BuildParams(tdmm=tdmm, au=au), num_proc=num_proc, limit=limit,
            num_shards=num_shards, shard_index=shard_index, progress=progress,
        )
        typer.echo(f"{summary['sources']} videos: {summary['processed']} processed now, {summary['reused']} reused from the cache")
        typer.echo(f"{summary['clips']} clips, {len(summary['failures'])} failures")
        reasons: dict[str, int] = {}
        for failure in summary["failures"]:
            key = failure["reason"].split(":")[0]
            reasons[key] = reasons.get(key, 0) + 1
        for reason, count in sorted(reasons.items()):
            typer.echo(f"  {count} × {reason}")
        if summary["built"]:
            sizes = ", ".join(f"{split} {n}" for split, n in summary["split_sizes"].items())
            typer.echo(f"dataset: {out_dir / 'dataset'} ({sizes})")
            typer.echo(f"fingerprint: {summary['fingerprint']}")
        else:
            typer.echo(f"shard {shard_index} of {num_shards} cached under {out_dir / 'cache'}; run again without "
                       "--num-shards/--shard-index once every shard is done to build the dataset")
        if summary["failures"] and summary["built"]:
            typer.echo(f"failures: {out_dir / 'failures.jsonl'}")
