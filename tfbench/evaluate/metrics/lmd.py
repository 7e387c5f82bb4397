"""LMD: landmark distance between generated and ground-truth frames (Chen et al. 2019).

Per frame, 68 landmarks of the prediction and of the ground truth, each set centred on
its own mean (so a global shift of the head does not count); ``d[t, p]`` is the
Euclidean distance of point p in frame t, in pixels of the evaluated frames. Per clip:

- ``lmd``   = mean over frames of the sum of ``d`` over the 20 mouth points (48-67);
- ``m_lmd`` = sum of ``d`` over frames and mouth points / (frames x 20);
- ``f_lmd`` = sum of ``d`` over frames and all 68 points / (frames x 68);

then the mean over clips. A frame where either side has no face is skipped and counted
in ``info``; a clip with no frame left fails with FaceError. See docs/metrics/lmd.md.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from tfbench.errors import FaceError, InputError
from tfbench.evaluate.metrics.base import ClipScore, Metric

MOUTH = slice(48, 68)


def landmark_distances(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-point distances float64 [T,68] between mean-centred landmark sets float [T,68,2]."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    pred = pred - pred.mean(axis=1, keepdims=True)
    gt = gt - gt.mean(axis=1, keepdims=True)
    return np.linalg.norm(pred - gt, axis=2)


def lmd_values(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """``lmd``, ``m_lmd`` and ``f_lmd`` (pixels) of landmark sets float [T,68,2] with no NaN."""
    distances = landmark_distances(pred, gt)
    frames = distances.shape[0]
    mouth_total = distances[:, MOUTH].sum()
    return {
        "lmd": float(mouth_total / frames),
        "m_lmd": float(mouth_total / (frames * 20)),
        "f_lmd": float(distances.sum() / (frames * 68)),
    }


class LMDDlib(Metric):
    """Landmark distance with dlib's 68-point predictor; pixels, lower is better."""

    id = "lmd@dlib"
    backend: ClassVar[str] = "dlib"
    outputs = ("lmd@dlib", "m_lmd@dlib", "f_lmd@dlib")
    version = "1"
    higher_is_better = False
    weights = ("dlib_landmarks68",)
    needs = frozenset({"pred", "gt"})

    def __init__(self, device: str = "cpu", **unknown) -> None:
        if unknown:
            raise InputError(f"{self.id}: unknown parameter(s) {', '.join(sorted(unknown))}; it takes none")
        super().__init__(device)

    def score_clip(self, clip) -> ClipScore:
        pred = clip.landmarks("pred", self.backend)
        gt = clip.landmarks("gt", self.backend)
        pred_found, gt_found = pred.found, gt.found
        usable = pred_found & gt_found
        info = {
            "frames": int(usable.size),
            "frames_scored": int(usable.sum()),
            "frames_no_face_pred": int((~pred_found).sum()),
            "frames_no_face_gt": int((~gt_found).sum()),
            "frames_several_faces_pred": int((pred.num_faces > 1).sum()),
            "frames_several_faces_gt": int((gt.num_faces > 1).sum()),
        }
        if not usable.any():
            raise FaceError(
                f"{self.id}: no frame has a face in both prediction and ground truth "
                f"({info['frames_no_face_pred']} of {info['frames']} prediction frames and "
                f"{info['frames_no_face_gt']} ground-truth frames without a face)"
            )
        values = lmd_values(pred.points[usable], gt.points[usable])
        suffix = f"@{self.backend}"
        return ClipScore(values={name + suffix: value for name, value in values.items()}, info=info)

    def protocol_params(self) -> dict:
        return {
            "landmarks": self.backend,
            "detector": "dlib HOG, upsample 1, largest face",
            "centring": "per frame, mean of the 68 points",
            "mouth_points": "48-67",
            "missing_face": "frame skipped, clip fails if none left",
            "reduction": "lmd: mean over frames of mouth sum; m_lmd/f_lmd: mean per point and frame; then mean over clips",
        }


class LMDFan(LMDDlib):
    """Landmark distance with FAN (face-alignment 2DFAN4) landmarks; pixels, lower is better."""

    id = "lmd@fan"
    backend = "fan"
    outputs = ("lmd@fan", "m_lmd@fan", "f_lmd@fan")
    weights = ("fan2d",)
