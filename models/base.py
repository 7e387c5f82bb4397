"""The interface every method implements, and the request the evaluator fills.

Shapes and units used throughout:

- ``frames``: uint8 ``[T, H, W, 3]`` RGB at ``fps`` frames per second (25 by default);
- ``audio``: float32 ``[N]`` mono at 16 kHz in [-1, 1];
- ``landmarks``: float32 ``[T, 68, 2]`` pixel (x, y) in the frame's coordinates, NaN rows
  where no face was found;
- ``coeffs_3dmm``: float32 ``[T, 257]`` in the Deep3DFaceRecon layout.

A method declares in :attr:`Generator.needs` which of :data:`INPUTS` it reads; the
evaluator (``tfbench/evaluate/protocol.py``) fills a :class:`GenerationRequest` from a
dataset row and :meth:`Generator.check_request` rejects a request lacking one of them.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

if TYPE_CHECKING:
    from tfbench.train.loop import Trainer

#: Audio sample rate every method receives (Hz).
SAMPLE_RATE = 16000

#: Inputs a method may declare in ``Generator.needs``.
INPUTS = frozenset({"source_video", "reference_image", "audio", "text", "emotion", "landmarks", "coeffs_3dmm"})

#: Request field holding each input (where the names differ).
_FIELD_OF = {"source_video": "source_frames"}


@dataclass
class GenerationRequest:
    """Everything one generated clip may be conditioned on.

    ``num_frames`` frames must be returned at ``fps``. Fields a method did not declare in
    ``needs`` may be None.
    """

    clip_id: str
    num_frames: int
    fps: float = 25.0
    audio: np.ndarray | None = None  # float32 [N] 16 kHz in [-1, 1]
    source_frames: np.ndarray | None = None  # uint8 [T,H,W,3] RGB (video-driven / self-driven)
    reference_image: np.ndarray | None = None  # uint8 [H,W,3] RGB (identity)
    text: str | None = None
    emotion: str | None = None
    emotion_level: int | None = None
    landmarks: np.ndarray | None = None  # float32 [T,68,2] pixels of source_frames
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

    @classmethod
    def trainer_class(cls) -> type["Trainer"]:
        """The :class:`tfbench.train.loop.Trainer` of this method (``tfbench train NAME``)."""
        from tfbench.errors import TfbenchError

        raise TfbenchError(f"model {cls.name!r} has nothing to train")

    def check_request(self, request: GenerationRequest) -> None:
        """Raise InputError for a missing input in ``needs`` or audio shorter than the video."""
        from tfbench.errors import InputError

        missing = [need for need in sorted(self.needs) if getattr(request, _FIELD_OF.get(need, need)) is None]
        if missing:
            raise InputError(
                f"model {self.name!r} needs {', '.join(missing)} for clip {request.clip_id!r}, "
                "but the request does not provide it"
            )
        if request.num_frames < 1:
            raise InputError(f"clip {request.clip_id!r}: num_frames must be >= 1, got {request.num_frames}")
        if "source_video" in self.needs and len(request.source_frames) < request.num_frames:
            raise InputError(
                f"clip {request.clip_id!r}: {request.num_frames} frames requested but the source video has "
                f"{len(request.source_frames)}"
            )
        if "landmarks" in self.needs and len(request.landmarks) < request.num_frames:
            raise InputError(
                f"clip {request.clip_id!r}: landmarks cover {len(request.landmarks)} frames, "
                f"{request.num_frames} needed"
            )
        if "audio" in self.needs:
            check_audio_covers(request)


def check_audio_covers(request: GenerationRequest) -> None:
    """Raise InputError when ``request.audio`` is shorter than ``num_frames / fps`` seconds.

    Half a frame of slack is allowed (AAC priming and rounding); anything shorter would
    leave the last frames without the audio that drives them.
    """
    from tfbench.errors import InputError

    audio = np.asarray(request.audio)
    if audio.ndim != 1:
        raise InputError(f"clip {request.clip_id!r}: audio must be mono float32 [N], got shape {list(audio.shape)}")
    needed = request.num_frames / request.fps * SAMPLE_RATE
    if len(audio) < math.floor(needed - 0.5 * SAMPLE_RATE / request.fps):
        raise InputError(
            f"clip {request.clip_id!r}: the audio is {len(audio) / SAMPLE_RATE:.2f} s but {request.num_frames} "
            f"frames at {request.fps:g} fps need {needed / SAMPLE_RATE:.2f} s; give audio at least as long as the video"
        )
