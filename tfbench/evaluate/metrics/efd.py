"""EFD: emotion feature distance between generated and ground-truth frames.

Per frame t with a face on both sides: ``d_t = || f(pred_t) - f(gt_t) ||_2`` where f is

- ``efd@fer``: fer's 7-class softmax (probabilities summing to 1; ``d_t`` in [0, sqrt 2]);
- ``efd@fan``: Emotion-FAN's 512-d ResNet-18 features, each divided by its L2 norm
  (``d_t`` in [0, 2]; the unit scaling makes the value independent of feature magnitude).

Per clip the mean of ``d_t`` over scored frames, then the mean over clips. Faces are the
largest dlib HOG detection per frame (shared with LMD through ``clip.landmarks``). A frame
without a face on either side is skipped and counted; a clip with no frame left fails
with FaceError. See docs/metrics/efd.md.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from tfbench.errors import FaceError, InputError
from tfbench.evaluate.metrics.base import ClipScore, Metric


def feature_distances(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-frame L2 distance float64 [T] between feature rows float [T,D]."""
    return np.linalg.norm(np.asarray(pred, dtype=np.float64) - np.asarray(gt, dtype=np.float64), axis=1)


class EFDFer(Metric):
    """Emotion feature distance with fer's 7-class softmax; lower is better."""

    id = "efd@fer"
    backend: ClassVar[str] = "fer"
    version = "1"
    higher_is_better = False
    weights = ("dlib_landmarks68", "fer_emotion")
    needs = frozenset({"pred", "gt"})

    def __init__(self, device: str = "cpu", **unknown) -> None:
        if unknown:
            raise InputError(f"{self.id}: unknown parameter(s) {', '.join(sorted(unknown))}; it takes none")
        super().__init__(device)

    def features(self, frames: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """float [T,D] emotion features, NaN rows where there is no face."""
        from tfbench.face.emotion import fer_probabilities

        return fer_probabilities(frames, boxes)

    def _clip_features(self, clip, which: str) -> np.ndarray:
        def compute() -> np.ndarray:
            return self.features(clip.frames(which), clip.landmarks(which, "dlib").boxes)

        return clip.memo(("emotion_features", which, self.backend), compute)

    def score_clip(self, clip) -> ClipScore:
        pred = self._clip_features(clip, "pred")
        gt = self._clip_features(clip, "gt")
        pred_found = ~np.isnan(pred).any(axis=1)
        gt_found = ~np.isnan(gt).any(axis=1)
        usable = pred_found & gt_found
        info = {
            "frames": int(usable.size),
            "frames_scored": int(usable.sum()),
            "frames_no_face_pred": int((~pred_found).sum()),
            "frames_no_face_gt": int((~gt_found).sum()),
        }
        if not usable.any():
            raise FaceError(f"{self.id}: no frame has a face in both prediction and ground truth")
        distances = feature_distances(pred[usable], gt[usable])
        return ClipScore(values={self.id: float(distances.mean())}, info=info)

    def protocol_params(self) -> dict:
        return {
            "features": "fer 7-class softmax (64x64 grey, fer's crop)",
            "distance": "L2 per frame",
            "detector": "dlib HOG, upsample 1, largest face",
            "missing_face": "frame skipped, clip fails if none left",
            "reduction": "mean over frames, then clips",
        }


class EFDFan(EFDFer):
    """Emotion feature distance with Emotion-FAN ResNet-18 features; lower is better."""

    id = "efd@fan"
    backend = "fan"
    weights = ("dlib_landmarks68", "emotion_fan")

    def features(self, frames: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        from tfbench.face.emotion import emotion_fan_features

        features = emotion_fan_features(frames, boxes).astype(np.float64)
        return features / np.linalg.norm(features, axis=1, keepdims=True)

    def protocol_params(self) -> dict:
        return {
            **super().protocol_params(),
            "features": "Emotion-FAN ResNet-18 avg-pool 512-d, L2-normalised (224x224 RGB [0,1] squared face box)",
        }
