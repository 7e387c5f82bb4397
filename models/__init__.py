"""Talking-face methods behind one interface (:class:`tfbench.models.base.Generator`).

Names map lazily to ``module:Class`` so listing models imports no torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tfbench.registry import Registry

if TYPE_CHECKING:
    from tfbench.models.base import Generator

MODELS: Registry = Registry("model", entry_point_group="tfbench.models")
MODELS.add("ground_truth", "tfbench.models.baselines:GroundTruth")
MODELS.add("static", "tfbench.models.baselines:StaticFrame")
MODELS.add("g4g", "tfbench.models.g4g:G4G")
MODELS.add("wav2lip", "tfbench.models.wav2lip:Wav2Lip")
MODELS.add("cpnet", "tfbench.models.cpnet:CPNet")
MODELS.add("talkclip", "tfbench.models.talkclip:TalkCLIP")
MODELS.add("styleedit", "tfbench.models.styleedit:StyleEdit")
MODELS.add("emospace", "tfbench.models.emospace:EmoSpace")


def load_model(name: str, checkpoint: str | Path | None = None, device: str = "cpu") -> "Generator":
    """Look ``name`` up (UnknownNameError with suggestions) and load it from ``checkpoint``."""
    return MODELS.get(name).from_checkpoint(Path(checkpoint) if checkpoint is not None else None, device=device)
