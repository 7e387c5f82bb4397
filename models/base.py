"""The interface every method implements, and the request the evaluator fills.

Shapes and units used throughout:

- ``frames``: uint8 ``[T, H, W, 3]`` RGB at ``fps`` frames per second (25 by default);
- ``audio``: float32 ``[N]`` mono at 16 kHz in [-1, 1];
- ``landmarks``: float32 ``[T, 68, 2]`` pixel (x, y) in the frame's coordinates, NaN rows
  where no face was found;
- ``coeffs_3dmm``: float32 ``[T, 257]`` in the Deep3DFaceRecon layout, of the kind
  ``coeffs_3dmm_kind`` says: ``"offline_pca"`` (tfbench's landmark-PCA fit, ``--tdmm
  offline``) or ``"deep3d"`` (Deep3DFaceRecon / BFM 2009, ``--tdmm deep3d``);
- ``coeffs_3dmm_align``: float32 ``[T, 5]`` the alignment parameters of those coefficients;
- ``phonemes``: int64 ``[T]`` one phone id 0..40 per video frame
  (:data:`tfbench.models.request.PHONE_SET`).

A method declares in :attr:`Generator.needs` which of :data:`INPUTS` it reads; the
evaluator (``tfbench/evaluate/protocol.py``) fills a :class:`GenerationRequest` from a
dataset row and :meth:`Generator.check_request` rejects a request lacking one of them.
Requests are built in one place, :mod:`tfbench.models.request`, for ``evaluate
--model``, ``generate`` and training data alike.
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

from tfbench.io.constants import SAMPLE_RATE  # noqa: F401  (re-exported: audio rate every method receives, Hz)

#: Inputs a method may declare in ``Generator.needs``.
INPUTS = frozenset({"source_video", "reference_image", "audio", "text", "emotion", "landmarks", "coeffs_3dmm",
                    "coeffs_3dmm_align", "phonemes", "emotion_image", "pose_video"})

#: Request field holding each input (where the names differ).
_FIELD_OF = {"source_video": "source_frames", "pose_video": "pose_frames"}


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
    coeffs_3dmm_kind: str | None = None  # "offline_pca" | "deep3d" (what coeffs_3dmm / _align are)
    coeffs_3dmm_align: np.ndarray | None = None  # float32 [T,5]
    phonemes: np.ndarray | None = None  # int64 [T] phone ids 0..40 (tfbench.models.request.PHONE_SET)
    emotion_image: np.ndarray | None = None  # uint8 [H,W,3] RGB emotion reference
    pose_frames: np.ndarray | None = None  # uint8 [T',H,W,3] RGB video whose head pose to follow
    #: Generation options (modality, prompt, level, iterations, seed, ...), recorded in results.
    options: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)


class Generator(ABC):
    """A talking-face method: built from a checkpoint, turns requests into frames."""

    #: Registry name.
    name: ClassVar[str]
    #: Subset of :data:`INPUTS` that ``generate`` reads.
    needs: ClassVar[frozenset[str]] = frozenset()
    #: Optional inputs from :data:`INPUTS`: filled when the caller has them, never required
    #: (e.g. a method whose emotion may come from a label, a sentence or an image).
    accepts: ClassVar[frozenset[str]] = frozenset()
    #: The 3DMM coefficient kind the method was built for ("deep3d" for BFM methods), None: any.
    needs_3dmm_kind: ClassVar[str | None] = None
    #: Weights names (tfbench.weights) ``generate`` loads (listed in ``tfbench weights list``).
    weights: ClassVar[tuple[str, ...]] = ()

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
    def tiny_test_checkpoint(cls, tmp_dir: Path) -> Path | None:
        """A checkpoint of a tiny random configuration written into ``tmp_dir``, for the
        conformance tests (``tests/test_conformance_models.py``): seconds to build and to run,
        marked non-canonical. None for a model that takes no checkpoint."""
        return None

    @classmethod
    def trainer_class(cls) -> type["Trainer"]:
        """The :class:`tfbench.train.loop.Trainer` of this method (``tfbench train NAME``)."""
        from tfbench.errors import TfbenchError

        raise TfbenchError(f"model {cls.name!r} has nothing to train")

    def check_dataset(self, dataset, split: str) -> str | None:
        """Called by ``evaluate --model`` before it runs ``split`` of the prepared ``dataset``.

        Returns a note when the scores would not follow the method's protocol (e.g. a
        person-specific checkpoint on identities it was not trained on): the result is then
        non-canonical and carries the note. Raise TfbenchError to refuse. Default: None.
        """
        return None

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
        wants_3dmm = self.needs & {"coeffs_3dmm", "coeffs_3dmm_align"}
        if wants_3dmm and self.needs_3dmm_kind and request.coeffs_3dmm_kind != self.needs_3dmm_kind:
            raise InputError(
                f"model {self.name!r} needs {self.needs_3dmm_kind} 3DMM coefficients, but clip {request.clip_id!r} has "
                f"{request.coeffs_3dmm_kind or 'unlabelled'} ones; prepare the dataset with `--tdmm {self.needs_3dmm_kind}`"
            )
        for need, per_frame in (("coeffs_3dmm", request.coeffs_3dmm), ("coeffs_3dmm_align", request.coeffs_3dmm_align),
                                ("phonemes", request.phonemes)):
            if need in self.needs and len(per_frame) < request.num_frames:
                raise InputError(f"clip {request.clip_id!r}: {need} cover {len(per_frame)} frames, {request.num_frames} needed")


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
