"""Checkpoint files: one ``torch.save``d dict that says what it is.

Every checkpoint carries ``format``, ``model`` (registry name), ``config_name`` and the
full ``config`` dict, ``step``, ``tfbench_version``, ``canonical`` and ``notes`` (shown in
results), ``provenance`` (dataset fingerprint, seed, overrides), ``state`` (network,
optimiser and method state dicts), ``stage`` (the training stage, ``"main"`` for
single-stage methods) and ``predecessors`` (stage -> sha256 of the checkpoint each
earlier stage this one builds on; files written before stages existed load with
``"main"`` and ``{}``). Its sha256 is computed from the file when it is
loaded, never stored inside it. Files are written to ``<path>.part`` and renamed, so a
killed run never leaves a half-written checkpoint.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from tfbench import __version__
from tfbench.errors import CheckpointError

FORMAT = "tfbench-checkpoint/1"
#: File name of the latest checkpoint in a training run's output folder.
LAST = "last.pt"


@dataclass
class Checkpoint:
    """A loaded checkpoint. ``sha256`` is the file's hash, computed on load."""

    model: str
    config_name: str
    config: dict
    step: int
    state: dict
    canonical: bool = False
    notes: str = ""
    provenance: dict = field(default_factory=dict)
    tfbench_version: str = __version__
    sha256: str | None = None
    path: Path | None = None
    stage: str = "main"
    predecessors: dict = field(default_factory=dict)

    def to_payload(self) -> dict:
        return {
            "format": FORMAT, "model": self.model, "config_name": self.config_name, "config": self.config,
            "step": self.step, "state": self.state, "canonical": self.canonical, "notes": self.notes,
            "provenance": self.provenance, "tfbench_version": self.tfbench_version,
            "stage": self.stage, "predecessors": self.predecessors,
        }


def save_checkpoint(checkpoint: Checkpoint, path: Path) -> Path:
    """Write ``checkpoint`` atomically to ``path``."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    torch.save(checkpoint.to_payload(), partial)
    os.replace(partial, path)
    return path


def load_checkpoint(path: Path, model: str | None = None, config_name: str | None = None) -> Checkpoint:
    """Read a checkpoint; raise CheckpointError when it is missing, unreadable, or of another model/config."""
    import torch

    from tfbench.weights import sha256_file

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"No checkpoint at {path}. Train one with `tfbench train {model or 'MODEL'} --out DIR`.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # unpickling raises many types
        raise CheckpointError(f"{path} is not a readable tfbench checkpoint ({type(error).__name__}: {str(error)[:200]})") from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a tfbench checkpoint (no format marker {FORMAT!r}).")
    if model is not None and payload["model"] != model:
        raise CheckpointError(f"{path} is a checkpoint of model {payload['model']!r}, not {model!r}.")
    if config_name is not None and payload["config_name"] != config_name:
        raise CheckpointError(
            f"{path} was trained with config {payload['config_name']!r}, not {config_name!r}; "
            f"pass --config {payload['config_name']} or choose another --out."
        )
    return Checkpoint(
        model=payload["model"], config_name=payload["config_name"], config=payload["config"], step=int(payload["step"]),
        state=payload["state"], canonical=bool(payload["canonical"]), notes=str(payload["notes"]),
        provenance=dict(payload.get("provenance", {})), tfbench_version=str(payload["tfbench_version"]),
        sha256=sha256_file(path), path=path, stage=str(payload.get("stage", "main")),
        predecessors=dict(payload.get("predecessors", {})),
    )
