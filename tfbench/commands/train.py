"""`tfbench train NAME`: train a method on a prepared dataset with the shared loop.

Single-stage methods write ``--out/last.pt``. Multi-stage methods write
``--out/<stage>/last.pt`` and find the checkpoints a stage builds on there (or take them
from ``--init STAGE=CKPT``); ``--stage all`` (the default) runs every stage in chain
order, each from its predecessors' final checkpoints. Data-parallel:
``torchrun --nproc_per_node N -m tfbench.cli train NAME ...`` (see docs/training.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from tfbench.registry import registry_help
from tfbench.train.config import parse_overrides


def stage_dir(trainer_class, out: Path, stage: str) -> Path:
    """Run folder of ``stage``: ``out`` itself for single-stage methods, else ``out/<stage>``."""
    return Path(out) if len(trainer_class.stages) == 1 else Path(out) / stage


def parse_init(pairs: list[str]) -> dict[str, Path]:
    """``["stage=path", ...]`` -> ``{stage: Path}``."""
    from tfbench.errors import TfbenchError

    inits = {}
    for pair in pairs:
        stage, sep, path = pair.partition("=")
        if not sep or not stage.strip() or not path.strip():
            raise TfbenchError(f"--init expects STAGE=CHECKPOINT, got {pair!r}")
        inits[stage.strip()] = Path(path.strip())
    return inits


def resolve_predecessors(trainer_class, stage: str, out: Path, inits: dict[str, Path]) -> dict:
    """The verified checkpoints ``stage`` builds on: ``--init`` files first, else ``out/<stage>/last.pt``."""
    from tfbench.train.checkpoint import LAST, load_checkpoint
    from tfbench.train.loop import check_predecessors

    predecessors = {}
    for earlier in trainer_class.requires.get(stage, ()):
        path = inits.get(earlier, stage_dir(trainer_class, out, earlier) / LAST)
        predecessors[earlier] = load_checkpoint(path, model=trainer_class.model_name)
    check_predecessors(trainer_class, stage, predecessors)
    return predecessors


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train(
        name: str = typer.Argument(..., help="Model to train: " + registry_help("model") + "."),
        dataset: str = typer.Option(..., "--dataset", help="Prepared dataset folder, or 'sample'."),
        config: str = typer.Option("tiny", "--config", help="'tiny' (CPU demo, minutes) or 'paper' (the paper's sizes)."),
        out: Path = typer.Option(..., "--out", help="Run folder: last.pt (or <stage>/last.pt), train_log.jsonl, config.json."),
        stage: str = typer.Option("all", "--stage", help="Stage to train, or 'all' for the whole chain in order."),
        init: List[str] = typer.Option([], "--init", help="STAGE=CHECKPOINT: an earlier stage's checkpoint to build on (repeatable)."),
        steps: Optional[int] = typer.Option(None, "--steps", help="Optimisation steps of each stage run (default: the config's)."),
        resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint."),
        seed: int = typer.Option(0, "--seed", help="Seed of initialisation and data sampling."),
        set_: List[str] = typer.Option([], "--set", help="Override a config field, KEY=VALUE (repeatable; makes the run non-canonical)."),
        device: str = typer.Option("cpu", "--device", help="torch device ('cuda' = cuda:LOCAL_RANK under torchrun)."),
        threads: int = typer.Option(1, "--threads", help="CPU threads for torch (recorded; results can differ in the last bits across thread counts; 0: torch's default)."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    ) -> None:
        """Train NAME; checkpoints land in --out/last.pt, or --out/<stage>/last.pt for multi-stage methods."""
        import torch

        from tfbench import data
        from tfbench.errors import TfbenchError
        from tfbench.models import MODELS
        from tfbench.train import distributed
        from tfbench.train.checkpoint import load_checkpoint
        from tfbench.train.loop import train as run

        if threads > 0:
            torch.set_num_threads(threads)
        overrides = parse_overrides(set_)
        inits = parse_init(init)
        trainer_class = MODELS.get(name).trainer_class()
        if stage == "all":
            chain = list(trainer_class.stages)
        elif stage in trainer_class.stages:
            chain = [stage]
        else:
            raise TfbenchError(f"model {name!r} has no stage {stage!r}; stages: {', '.join(trainer_class.stages)} (or 'all')")
        unknown = sorted(set(inits) - set(trainer_class.stages))
        if unknown:
            raise TfbenchError(f"--init names unknown stages {unknown}; stages of {name!r}: {', '.join(trainer_class.stages)}")
        for each in chain:
            trainer_class.check_ready(config, overrides, stage=each)
        prepared = data.open_prepared(dataset)
        context = distributed.setup(device)
        device = context.device(device)
        echo = typer.echo if context.is_main else (lambda _: None)
        for each in chain:
            predecessors = resolve_predecessors(trainer_class, each, out, inits)
            total = steps if steps is not None else trainer_class.default_steps_for(config, overrides, stage=each)
            provenance = {"dataset": prepared.name, "dataset_fingerprint": prepared.fingerprint,
                          "dataset_root": str(prepared.root), "overrides": overrides,
                          "device": device, "torch_threads": torch.get_num_threads()}
            if len(trainer_class.stages) > 1:
                echo(f"stage {each!r}" + (f" (builds on {', '.join(predecessors)})" if predecessors else ""))

            def make(each=each, predecessors=predecessors, total=total):
                return trainer_class(config, prepared, stage=each, total_steps=total, predecessors=predecessors,
                                     overrides=overrides, device=device, echo=echo)

            result = run(make, stage_dir(trainer_class, out, each), steps=total, resume=resume, seed=seed,
                         provenance=provenance, show_progress=not quiet, echo=echo, device=device)
            if not context.is_main:
                continue
            checkpoint = load_checkpoint(result.checkpoint)
            if result.last_step >= result.first_step:
                echo(f"trained steps {result.first_step}-{result.last_step} in {result.wall_time_s:.1f} s")
            echo(f"checkpoint: {result.checkpoint} (sha256 {checkpoint.sha256})")
            if not checkpoint.canonical:
                echo(f"NOT CANONICAL: {checkpoint.notes}")
        distributed.barrier(context)
