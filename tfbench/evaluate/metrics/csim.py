"""CSIM: identity preservation as the cosine similarity of face embeddings.

Per clip: the L2-normalised identity embedding ``r`` of the reference frame
(``clip.reference``, ground-truth frame 0 unless given) and ``e_t`` of every generated
frame; CSIM = mean over frames of ``r . e_t`` (in [-1, 1]), then the mean over clips.
``csim@dlib``: dlib ResNet, 128-d, offline. ``csim@arcface``: insightface ArcFace R50,
512-d (the canonical choice; needs ``pip install "tfbench[insightface]"`` and the
``arcface_r50`` weights). Faces are the largest dlib HOG detection per frame; a generated
frame without a face is skipped and counted; a clip whose reference has no face, or with
no generated frame left, fails with FaceError. See docs/metrics/csim.md.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from tfbench.errors import FaceError, InputError, TfbenchError
from tfbench.evaluate.metrics.base import ClipScore, Metric


class CSIMDlib(Metric):
    """Cosine similarity of dlib face embeddings to the reference; higher is better."""

    id = "csim@dlib"
    backend: ClassVar[str] = "dlib"
    version = "1"
    higher_is_better = True
    weights = ("dlib_landmarks68", "dlib_landmarks5", "dlib_face_embedding")
    needs = frozenset({"pred", "reference"})

    def __init__(self, device: str = "cpu", **unknown) -> None:
        if unknown:
            raise InputError(f"{self.id}: unknown parameter(s) {', '.join(sorted(unknown))}; it takes none")
        super().__init__(device)

    def _embeddings(self, clip, which: str) -> np.ndarray:
        """float32 [T,D] embeddings of ``which`` frames (NaN rows = no face), memoised per clip."""
        from tfbench.face.embed import face_embeddings

        def compute() -> np.ndarray:
            boxes = clip.landmarks(which, "dlib").boxes
            return face_embeddings(clip.frames(which), boxes=boxes, backend=self.backend)

        return clip.memo(("face_embeddings", which, self.backend), compute)

    def score_clip(self, clip) -> ClipScore:
        from tfbench.face.embed import face_embeddings

        reference = clip.memo(
            ("face_embeddings", "reference", self.backend),
            lambda: face_embeddings(np.asarray(clip.reference)[None], backend=self.backend)[0],
        )
        if np.isnan(reference).any():
            raise FaceError(f"{self.id}: no face found in the identity reference frame")
        generated = self._embeddings(clip, "pred")
        found = ~np.isnan(generated).any(axis=1)
        info = {"frames": int(found.size), "frames_scored": int(found.sum()), "frames_no_face": int((~found).sum())}
        if not found.any():
            raise FaceError(f"{self.id}: no face found in any of the {found.size} generated frames")
        similarity = generated[found].astype(np.float64) @ reference.astype(np.float64)
        return ClipScore(values={self.id: float(similarity.mean())}, info=info)

    def protocol_params(self) -> dict:
        return {
            "embedding": self.backend,
            "detector": "dlib HOG, upsample 1, largest face",
            "reference": "clip.reference (gt frame 0 unless given)",
            "missing_face": "generated frame skipped; clip fails if the reference or every frame has none",
            "reduction": "mean cosine over frames, then mean over clips",
        }


class CSIMArcFace(CSIMDlib):
    """Cosine similarity of ArcFace (insightface w600k_r50) embeddings; higher is better."""

    id = "csim@arcface"
    backend = "arcface"
    weights = ("dlib_landmarks68", "arcface_r50")

    def __init__(self, device: str = "cpu", **params) -> None:
        import importlib.util

        super().__init__(device, **params)  # refuses unknown parameters first
        if importlib.util.find_spec("onnxruntime") is None:
            raise TfbenchError('csim@arcface needs onnxruntime, which is not installed. Fix:\n  pip install "tfbench[insightface]"')

    def protocol_params(self) -> dict:
        return {**super().protocol_params(), "alignment": "5 points from dlib 68 -> insightface arcface_dst, 112x112"}
