"""The training loop every method shares: seeding, checkpoints, resume, progress and loss log.

A method provides a :class:`Trainer` (``Generator.trainer_class()``); :func:`train` runs
it for a number of optimisation steps. A killed run (Ctrl-C, out of memory, machine
lost) resumes from its last checkpoint with ``resume=True``. Determinism: network initialisation follows
``torch.manual_seed(seed)``, and step ``k`` draws its data from
``numpy.random.default_rng([seed, k])`` after ``torch.manual_seed(seed + k)``, so a run
resumed from a checkpoint continues exactly as the uninterrupted run would have.

Output folder: ``last.pt`` (the latest checkpoint, see :mod:`tfbench.train.checkpoint`),
``train_log.jsonl`` (one JSON line per step: ``step``, every loss, ``seconds``) and
``config.json`` (the resolved config).
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ClassVar

import numpy as np

from tfbench.errors import CheckpointError, TfbenchError
from tfbench.train.checkpoint import LAST, Checkpoint, load_checkpoint, save_checkpoint

LOG = "train_log.jsonl"


class Trainer(ABC):
    """One method's optimisation state. Subclasses build networks, data and optimisers in ``__init__``.

    ``tfbench train`` constructs it as ``TrainerClass(config_name, dataset, overrides=dict,
    device=str, echo=callable)`` where ``dataset`` is a :class:`tfbench.data.PreparedDataset`
    and ``overrides`` the ``--set KEY=VALUE`` pairs (strings); it calls :meth:`check_ready`
    first, before the dataset is opened.
    """

    #: Registry name of the model this trainer produces checkpoints for.
    model_name: ClassVar[str]

    #: Resolved config (JSON-able) and its name ("tiny", "paper").
    config: dict
    config_name: str
    #: Default number of steps and checkpoint interval of the config.
    default_steps: int
    checkpoint_every: int
    #: Whether checkpoints of this trainer reproduce the paper's training; and why not.
    canonical: bool
    notes: str

    @classmethod
    def check_ready(cls, config_name: str, overrides: dict | None = None) -> None:
        """Raise before any work when the config is unknown or a weights file it needs is missing."""

    @abstractmethod
    def step(self, step: int, rng: np.random.Generator) -> dict[str, float]:
        """One optimisation step; returns the losses (floats) to log."""

    @abstractmethod
    def state_dict(self) -> dict:
        """Networks, optimisers and any method state needed to resume."""

    @abstractmethod
    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned."""


@dataclass
class TrainResult:
    checkpoint: Path
    first_step: int  # first step run by this call (1-based)
    last_step: int
    wall_time_s: float
    last_losses: dict[str, float]


def _trim_log(path: Path, last_step: int) -> None:
    """Drop log lines after ``last_step`` (written by a killed run after its last checkpoint)."""
    if not path.exists():
        return
    kept = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= last_step]
    path.write_text("".join(line + "\n" for line in kept))


def train(
    make_trainer: Callable[[], Trainer],
    out_dir: Path,
    *,
    steps: int | None = None,
    resume: bool = False,
    seed: int = 0,
    provenance: dict | None = None,
    show_progress: bool = True,
    echo: Callable[[str], None] = print,
) -> TrainResult:
    """Run (or resume) training into ``out_dir``; returns where the last checkpoint is.

    ``make_trainer`` is called after seeding so initialisation is reproducible. Refuses to
    overwrite an existing run unless ``resume`` is set; ``resume`` on an empty folder
    starts from scratch.
    """
    import torch

    out_dir = Path(out_dir)
    last = out_dir / LAST
    if last.exists() and not resume:
        raise TfbenchError(f"{out_dir} already holds a training run ({last}); pass --resume to continue it or choose another --out.")
    torch.manual_seed(seed)
    trainer = make_trainer()
    total = steps if steps is not None else trainer.default_steps
    if total < 1:
        raise TfbenchError(f"--steps must be >= 1, got {total}")
    done = 0
    if last.exists():
        checkpoint = load_checkpoint(last, model=trainer.model_name, config_name=trainer.config_name)
        if checkpoint.config != trainer.config:
            changed = sorted(k for k in set(checkpoint.config) | set(trainer.config) if checkpoint.config.get(k) != trainer.config.get(k))
            raise CheckpointError(f"{last} was trained with a different {trainer.config_name!r} config (fields {changed}); "
                                  "resume with the same options or choose another --out.")
        if checkpoint.provenance.get("seed", seed) != seed:
            raise CheckpointError(f"{last} was trained with --seed {checkpoint.provenance['seed']}, not {seed}.")
        trainer.load_state_dict(checkpoint.state)
        done = checkpoint.step
        _trim_log(out_dir / LOG, done)
        echo(f"resuming {trainer.model_name} ({trainer.config_name}) from step {done} of {total}")
    if done >= total:
        echo(f"{last} is already at step {done} (of {total}): nothing to train")
        return TrainResult(last, done + 1, done, 0.0, {})
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(json.dumps({"config_name": trainer.config_name, **trainer.config}, indent=2) + "\n")
    if not trainer.canonical:
        echo(f"note: {trainer.notes}")
    provenance = {**(provenance or {}), "seed": seed}

    def save(step: int) -> Path:
        checkpoint = Checkpoint(model=trainer.model_name, config_name=trainer.config_name, config=trainer.config,
                                step=step, state=trainer.state_dict(), canonical=trainer.canonical,
                                notes=trainer.notes, provenance=provenance)
        return save_checkpoint(checkpoint, last)

    started, losses, step = time.perf_counter(), {}, done
    progress = _progress(show_progress)
    try:
        with progress:
            task = progress.add_task(f"{trainer.model_name} {trainer.config_name}", total=total, completed=done, losses="")
            with open(out_dir / LOG, "a") as log:
                for step in range(done + 1, total + 1):
                    tick = time.perf_counter()
                    torch.manual_seed(seed + step)
                    losses = trainer.step(step, np.random.default_rng([seed, step]))
                    log.write(json.dumps({"step": step, **losses, "seconds": round(time.perf_counter() - tick, 4)}) + "\n")
                    log.flush()
                    shown = " ".join(f"{key}={value:.4f}" for key, value in losses.items() if key == "total" or key.startswith("g_"))
                    progress.update(task, completed=step, losses=shown)
                    if step % trainer.checkpoint_every == 0 or step == total:
                        save(step)
    except KeyboardInterrupt:
        saved = load_checkpoint(last).step if last.exists() else 0
        echo(f"interrupted at step {step}; the last checkpoint ({last}) is at step {saved}: continue with --resume")
        raise
    return TrainResult(last, done + 1, total, time.perf_counter() - started, losses)


def _progress(enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TimeRemainingColumn(), TextColumn("{task.fields[losses]}"), disable=not enabled,
    )
