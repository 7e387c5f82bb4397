"""CSIM: identity preservation as the cosine similarity of face embeddings.

Per clip: the L2-normalised identity embedding ``r`` of the reference frame
(``clip.reference``, ground-truth frame 0 unless given) and ``e_t`` of every generated
frame; CSIM = mean over frames of ``r . e_t`` (in [-1, 1]), then the mean over clips.
``csim@dlib``: dlib ResNet, 128-d, offline. ``csim@arcface``: insightface ArcFace R50,
512-d (the canonical choice; needs ``pip install "tfbench[insightface]"`` and the
``arcface_r50`` weights). Faces are the largest dlib HOG detection per frame; a generated
frame without a face is skipped and counted; a clip whose reference has no face or several
faces, or scoring less than ``min_coverage`` of its generated frames, fails with
FaceError. See docs/metrics/csim.md.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from tfbench.errors import FaceError, TfbenchError
from tfbench.evaluate.metrics.base import ClipScore, FaceMetric


class CSIMDlib(FaceMetric):
    """Cosine similarity of dlib face embeddings to the reference; higher is better."""

    id = "csim@dlib"
    backend: ClassVar[str] = "dlib"
    version = "2"  # v1 scored a reference with several faces and any coverage
    higher_is_better = True
    weights = ("dlib_landmarks68", "dlib_landmarks5", "dlib_face_embedding")
    needs = frozenset({"pred", "reference"})

    def _embeddings(self, clip, which: str) -> np.ndarray:
        """float32 [T,D] embeddings of ``which`` frames (NaN rows = no face), memoised per clip."""
        from tfbench.face.embed import face_embeddings

        def compute() -> np.ndarray:
            boxes = clip.landmarks(which, "dlib").boxes
            return face_embeddings(clip.frames(which), boxes=boxes, backend=self.backend)

        return clip.memo(("face_embeddings", which, self.backend), compute)

    def _reference_embedding(self, clip) -> np.ndarray:
        """float32 [D] embedding of the reference frame; FaceError when it has no face or several."""
        from tfbench.face.embed import face_embeddings
        from tfbench.face.landmarks import check_one_face, face_boxes

        def compute() -> np.ndarray:
            frame = np.asarray(clip.reference)[None]
            boxes, counts = face_boxes(frame)
            check_one_face(counts, "identity reference")
            return face_embeddings(frame, boxes=boxes, backend=self.backend)[0]

        reference = clip.memo(("face_embeddings", "reference", self.backend), compute)
        if np.isnan(reference).any():
            raise FaceError(f"{self.id}: no face found in the identity reference frame")
        return reference

    def score_clip(self, clip) -> ClipScore:
        generated = self._embeddings(clip, "pred")
        reference = self._reference_embedding(clip)
        found = ~np.isnan(generated).any(axis=1)
        info = {"frames": int(found.size), "frames_scored": int(found.sum()), "frames_no_face": int((~found).sum())}
        values = self.coverage_values({self.id: (info["frames_scored"], info["frames"])}, "generated frames without a face")
        similarity = generated[found].astype(np.float64) @ reference.astype(np.float64)
        return ClipScore(values={self.id: float(similarity.mean()), **values}, info=info)

    def protocol_params(self) -> dict:
        return {
            **super().protocol_params(),
            "embedding": self.backend,
            "detector": "dlib HOG, upsample 1, largest face",
            "reference": "clip.reference (gt frame 0 unless given); fails with no face or several",
            "missing_face": "generated frame skipped; clip fails if the reference has none or below min_coverage",
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
