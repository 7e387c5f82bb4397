"""The interface every method implements, and the request the evaluator fills.

Shapes and units used throughout:

- ``frames``: uint8 ``[T, H, W, 3]`` RGB at ``fps`` frames per second (25 by default);
- ``audio``: float32 ``[N]`` mono at 16 kHz in [-1, 1];
- ``landmarks``: float32 ``[T, 68, 2]`` pixel (x, y) in the frame's coordinates;
- ``coeffs_3dmm``: float32 ``[T, 257]`` in the Deep3DFaceRecon layout.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

#: Inputs a method may declare in ``Generator.needs``.
INPUTS = frozenset({"source_video", "reference_image", "audio", "text", "emotion", "landmarks", "coeffs_3dmm"})


@dataclass
class GenerationRequest:
    """Everything one generated clip may be conditioned on.

    ``num_frames`` frames must be returned at ``fps``. Fields a method did not declare in
    ``needs`` may be None.
    """

    clip_id: str
    num_frames: int
    fps: float = 25.0
    audio: np.ndarray | None = None  # float32 [N] 16 kHz
    source_frames: np.ndarray | None = None  # uint8 [T,H,W,3] RGB (video-driven / self-driven)
    reference_image: np.ndarray | None = None  # uint8 [H,W,3] RGB (identity)
    text: str | None = None
    emotion: str | None = None
    emotion_level: int | None = None
    landmarks: np.ndarray | None = None  # float32 [T,68,2]
    coeffs_3dmm: np.ndarray | None = None  # float32 [T,257]
    extra: dict = field(default_factory=dict)


class Generator(ABC):
    """A talking-face method: built from a checkpoint, turns requests into frames."""

    #: Registry name.
    name: ClassVar[str]
    #: Subset of :data:`INPUTS` that ``generate`` reads.
    needs: ClassVar[frozenset[str]] = frozenset()

    #: sha256 of the checkpoint file, None for models without one (baselines).
    checkpoint_sha256: str | None = None
    #: False when the checkpoint is a demo / partly random / trained without the paper's losses.
    canonical: bool = True
    #: Free-form notes recorded in results (e.g. "demo checkpoint, tiny config").
    notes: str = ""

    @classmethod
    @abstractmethod
    def from_checkpoint(cls, path: Path | None, device: str = "cpu") -> "Generator":
        """Load the method; raises CheckpointError for a missing or foreign checkpoint."""

    @abstractmethod
    def generate(self, request: GenerationRequest) -> np.ndarray:
        """Return uint8 ``[request.num_frames, H, W, 3]`` RGB frames."""

    def check_request(self, request: GenerationRequest) -> None:
        """Raise InputError naming every input in ``needs`` that the request lacks."""
        from tfbench.errors import InputError

        field_of = {"source_video": "source_frames", "emotion": "emotion"}
        missing = [need for need in sorted(self.needs) if getattr(request, field_of.get(need, need)) is None]
        if missing:
            raise InputError(f"model {self.name!r} needs {', '.join(missing)} for clip {request.clip_id!r}")
