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

Stages: a method trained in several stages lists them in :attr:`Trainer.stages` (chain
order) and, in :attr:`Trainer.requires`, the earlier stages each one builds on. The
trainer of stage ``S`` receives the verified checkpoints of ``requires[S]`` as
``predecessors``; their sha256 are written into every checkpoint of ``S``, and a resumed
run refuses predecessors that differ (:func:`check_predecessors`).

Data parallelism: under ``torchrun`` the loop joins the process group
(:mod:`tfbench.train.distributed`), gives the trainer its ``context`` (rank, world
size), and only rank 0 writes files. A trainer keeps the ``context.local(batch)`` slice
of each global batch and calls :meth:`Trainer.reduce_gradients` between ``backward``
and its optimiser step: that is the whole data-parallel hook.
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
from tfbench.train import distributed
from tfbench.train.checkpoint import LAST, Checkpoint, load_checkpoint, save_checkpoint

LOG = "train_log.jsonl"


class Trainer(ABC):
    """One method's optimisation state. Subclasses build networks, data and optimisers in ``__init__``.

    ``tfbench train`` constructs it as ``TrainerClass(config_name, dataset, stage=str,
    total_steps=int, predecessors={stage: Checkpoint}, overrides=dict, device=str,
    echo=callable)``: ``dataset`` is a :class:`tfbench.data.PreparedDataset` (read it with
    :mod:`tfbench.train.data`), ``overrides`` the ``--set KEY=VALUE`` pairs (strings; cast
    them with :func:`tfbench.train.config.apply_overrides`), ``total_steps`` the number
    of steps the run will take (for schedules and ramps), ``predecessors`` the verified
    checkpoints of ``requires[stage]``. It calls :meth:`check_ready` first, before the
    dataset is opened, and :meth:`default_steps_for` when ``--steps`` is not given.
    """

    #: Registry name of the model this trainer produces checkpoints for.
    model_name: ClassVar[str]
    #: Training stages in chain order; the last one's checkpoint is what ``from_checkpoint`` loads.
    stages: ClassVar[tuple[str, ...]] = ("main",)
    #: stage -> earlier stages whose checkpoints it builds on.
    requires: ClassVar[dict[str, tuple[str, ...]]] = {}
    #: Weights names any config of this trainer may load (``tfbench weights list`` shows "<model> training").
    weights: ClassVar[tuple[str, ...]] = ()

    #: Resolved config (JSON-able) and its name ("tiny", "paper").
    config: dict
    config_name: str
    #: Default number of steps and checkpoint interval of the config.
    default_steps: int
    checkpoint_every: int
    #: Whether checkpoints of this trainer reproduce the paper's training; and why not.
    canonical: bool
    notes: str
    #: The stage this trainer runs, the run's total step count, and the checkpoints it builds on.
    stage: str = "main"
    total_steps: int | None = None
    predecessors: dict[str, Checkpoint] = {}
    #: Set by the loop before the first step: this process's rank / world size.
    context: distributed.Context = distributed.SINGLE

    @classmethod
    def check_ready(cls, config_name: str, overrides: dict | None = None, stage: str = "main") -> None:
        """Raise before any work when the config is unknown or a weights file it needs is missing."""

    @classmethod
    def default_steps_for(cls, config_name: str, overrides: dict | None = None, stage: str = "main") -> int | None:
        """The config's default step count for ``stage`` (None: known only after construction)."""
        return None

    @abstractmethod
    def step(self, step: int, rng: np.random.Generator) -> dict[str, float]:
        """One optimisation step; returns the losses (floats) to log.

        Draw the *global* batch from ``rng`` and keep ``self.context.local(batch_size)``;
        call :meth:`reduce_gradients` after ``backward`` and before the optimiser steps.
        """

    @abstractmethod
    def state_dict(self) -> dict:
        """Networks, optimisers and any method state needed to resume."""

    @abstractmethod
    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned."""

    def reduce_gradients(self, *modules) -> None:
        """The data-parallel hook: average the gradients of ``modules`` (nn.Modules or parameter
        iterables) over processes. A no-op in a single process."""
        parameters = []
        for module in modules:
            parameters.extend(module.parameters() if hasattr(module, "parameters") else module)
        distributed.average_gradients(parameters, self.context)


def check_predecessors(trainer_class: type[Trainer], stage: str, predecessors: dict[str, Checkpoint]) -> None:
    """Raise CheckpointError unless ``predecessors`` are exactly the checkpoints ``stage`` builds on.

    Each must be of the trainer's model and of the stage it stands for, and where a
    predecessor itself names an earlier stage also given here, the sha256 must agree (one
    chain, not a mix of runs).
    """
    if stage not in trainer_class.stages:
        raise TfbenchError(f"model {trainer_class.model_name!r} has no stage {stage!r}; stages: {', '.join(trainer_class.stages)}")
    needed = tuple(trainer_class.requires.get(stage, ()))
    missing = [name for name in needed if name not in predecessors]
    extra = sorted(set(predecessors) - set(needed))
    if missing or extra:
        raise CheckpointError(f"stage {stage!r} builds on {list(needed) or 'no earlier stage'}; "
                              f"missing {missing}, not used {extra}. Train the earlier stages first or pass --init STAGE=CKPT.")
    for name, checkpoint in predecessors.items():
        if checkpoint.model != trainer_class.model_name or checkpoint.stage != name:
            raise CheckpointError(f"{checkpoint.path} is stage {checkpoint.stage!r} of model {checkpoint.model!r}, "
                                  f"not stage {name!r} of {trainer_class.model_name!r}")
        for earlier, sha in checkpoint.predecessors.items():
            if earlier in predecessors and predecessors[earlier].sha256 != sha:
                raise CheckpointError(f"{checkpoint.path} (stage {name!r}) was trained on a stage {earlier!r} checkpoint "
                                      f"with sha256 {sha[:12]}…, but {predecessors[earlier].path} has "
                                      f"{str(predecessors[earlier].sha256)[:12]}…; use checkpoints of one chain.")


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
    device: str = "cpu",
) -> TrainResult:
    """Run (or resume) training into ``out_dir``; returns where the last checkpoint is.

    ``make_trainer`` is called after seeding so initialisation is reproducible. Refuses to
    overwrite an existing run unless ``resume`` is set; ``resume`` on an empty folder
    starts from scratch. ``steps`` defaults to the trainer's ``total_steps``, else its
    ``default_steps``. ``device`` picks the process-group backend under torchrun (gloo
    for CPU, nccl for CUDA).
    """
    import torch

    context = distributed.setup(device)
    out_dir = Path(out_dir)
    last = out_dir / LAST
    if last.exists() and not resume:
        raise TfbenchError(f"{out_dir} already holds a training run ({last}); pass --resume to continue it or choose another --out.")
    torch.manual_seed(seed)
    trainer = make_trainer()
    trainer.context = context
    if not context.is_main:
        echo = _silent
    total = steps if steps is not None else (trainer.total_steps or trainer.default_steps)
    stage = getattr(trainer, "stage", "main")
    predecessors = {name: checkpoint.sha256 for name, checkpoint in (trainer.predecessors or {}).items()}
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
        if checkpoint.stage != stage:
            raise CheckpointError(f"{last} is a checkpoint of stage {checkpoint.stage!r}, not {stage!r}.")
        if checkpoint.predecessors != predecessors:
            raise CheckpointError(f"{last} was trained on other earlier-stage checkpoints ({checkpoint.predecessors}) "
                                  f"than the ones given now ({predecessors}); resume with the same ones.")
        trainer.load_state_dict(checkpoint.state)
        done = checkpoint.step
        if context.is_main:
            _trim_log(out_dir / LOG, done)
        echo(f"resuming {trainer.model_name} ({trainer.config_name}) from step {done} of {total}")
    distributed.check_same_state(trainer.state_dict(), context)
    distributed.barrier(context)  # every rank has read last.pt before rank 0 may replace it
    if done >= total:
        echo(f"{last} is already at step {done} (of {total}): nothing to train")
        return TrainResult(last, done + 1, done, 0.0, {})
    if context.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "config.json").write_text(json.dumps({"config_name": trainer.config_name, **trainer.config}, indent=2) + "\n")
    if not trainer.canonical:
        echo(f"note: {trainer.notes}")
    provenance = {**(provenance or {}), "seed": seed}
    if context.enabled:
        provenance["world_size"] = context.world_size

    def save(step: int) -> Path:
        checkpoint = Checkpoint(model=trainer.model_name, config_name=trainer.config_name, config=trainer.config,
                                step=step, state=trainer.state_dict(), canonical=trainer.canonical,
                                notes=trainer.notes, provenance=provenance, stage=stage, predecessors=predecessors)
        return save_checkpoint(checkpoint, last)

    started, losses, step = time.perf_counter(), {}, done
    progress = _progress(show_progress and context.is_main)
    try:
        with progress, (open(out_dir / LOG, "a") if context.is_main else _NoLog()) as log:
            task = progress.add_task(f"{trainer.model_name} {trainer.config_name}", total=total, completed=done, losses="")
            for step in range(done + 1, total + 1):
                tick = time.perf_counter()
                torch.manual_seed(seed + step)
                losses = distributed.average_floats(trainer.step(step, np.random.default_rng([seed, step])), context)
                log.write(json.dumps({"step": step, **losses, "seconds": round(time.perf_counter() - tick, 4)}) + "\n")
                log.flush()
                shown = " ".join(f"{key}={value:.4f}" for key, value in losses.items() if key == "total" or key.startswith("g_"))
                progress.update(task, completed=step, losses=shown)
                if step % trainer.checkpoint_every == 0 or step == total:
                    if context.is_main:
                        save(step)
                    distributed.barrier(context)
    except KeyboardInterrupt:
        saved = load_checkpoint(last).step if last.exists() else 0
        echo(f"interrupted at step {step}; the last checkpoint ({last}) is at step {saved}: continue with --resume")
        raise
    return TrainResult(last, done + 1, total, time.perf_counter() - started, losses)


def _silent(_: str) -> None:
    pass


class _NoLog:
    """The log file of ranks other than 0: writes nothing."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass

    def write(self, _: str) -> None:
        pass

    def flush(self) -> None:
        pass


def _progress(enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TimeRemainingColumn(), TextColumn("{task.fields[losses]}"), disable=not enabled,
    )
