"""`tfbench train NAME`: train a method on a prepared dataset with the shared loop."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """``["key=value", ...]`` -> dict (values stay strings; the trainer casts them)."""
    from tfbench.errors import TfbenchError

    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise TfbenchError(f"--set expects KEY=VALUE, got {pair!r}")
        overrides[key.strip()] = value.strip()
    return overrides


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train(
        name: str = typer.Argument(..., help="Model to train (e.g. g4g)."),
        dataset: str = typer.Option(..., "--dataset", help="Prepared dataset folder, or 'sample'."),
        config: str = typer.Option("tiny", "--config", help="'tiny' (CPU demo, minutes) or 'paper' (the paper's sizes)."),
        out: Path = typer.Option(..., "--out", help="Run folder: last.pt, train_log.jsonl, config.json."),
        steps: Optional[int] = typer.Option(None, "--steps", help="Total optimisation steps (default: the config's)."),
        resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint."),
        seed: int = typer.Option(0, "--seed", help="Seed of initialisation and data sampling."),
        set_: List[str] = typer.Option([], "--set", help="Override a config field, KEY=VALUE (repeatable; makes the run non-canonical)."),
        device: str = typer.Option("cpu", "--device", help="torch device."),
        threads: int = typer.Option(1, "--threads", help="CPU threads for torch (recorded; results can differ in the last bits across thread counts; 0: torch's default)."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    ) -> None:
        """Train NAME; checkpoints land in --out/last.pt (resume with --resume)."""
        import torch

        from tfbench.data import open_prepared
        from tfbench.models import MODELS
        from tfbench.train.loop import train as run

        if threads > 0:
            torch.set_num_threads(threads)
        overrides = parse_overrides(set_)
        trainer_class = MODELS.get(name).trainer_class()
        trainer_class.check_ready(config, overrides)
        prepared = open_prepared(dataset)
        provenance = {"dataset": prepared.name, "dataset_fingerprint": prepared.fingerprint,
                      "dataset_root": str(prepared.root), "overrides": overrides,
                      "device": device, "torch_threads": torch.get_num_threads()}
        result = run(lambda: trainer_class(config, prepared, overrides=overrides, device=device, echo=typer.echo),
                     out, steps=steps, resume=resume, seed=seed, provenance=provenance, show_progress=not quiet,
                     echo=typer.echo)
        from tfbench.train.checkpoint import load_checkpoint

        checkpoint = load_checkpoint(result.checkpoint)
        if result.last_step >= result.first_step:
            typer.echo(f"trained steps {result.first_step}-{result.last_step} in {result.wall_time_s:.1f} s")
        typer.echo(f"checkpoint: {result.checkpoint} (sha256 {checkpoint.sha256})")
        if not checkpoint.canonical:
            typer.echo(f"NOT CANONICAL: {checkpoint.notes}")
