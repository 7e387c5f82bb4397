"""MSE: mean squared error between generated and ground-truth frames.

Per frame on uint8 RGB, in squared 0–255 units (``skimage.metrics.mean_squared_error``
on the uint8 arrays), mean over frames, then mean over clips. See docs/metrics/pixel.md.
"""

from __future__ import annotations

import numpy as np

from tfbench.errors import InputError
from tfbench.evaluate.clip import ClipInputs
from tfbench.evaluate.metrics.base import ClipScore, Metric

#: Frames per vectorised step; bounds the float64 working memory.
CHUNK_FRAMES = 16


def per_frame_mse(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Squared error per frame, float64 ``[T]`` in 0–255² units.

    ``pred``, ``gt``: uint8 ``[T,H,W,3]``. Equals ``skimage.metrics.mean_squared_error``
    on each frame pair (same float64 arithmetic).
    """
    values = np.empty(pred.shape[0], dtype=np.float64)
    for start in range(0, pred.shape[0], CHUNK_FRAMES):
        stop = start + CHUNK_FRAMES
        difference = pred[start:stop].astype(np.float64) - gt[start:stop].astype(np.float64)
        values[start:stop] = np.mean(np.square(difference), axis=(1, 2, 3), dtype=np.float64)
    return values


def clip_mse(clip: ClipInputs) -> np.ndarray:
    """Per-frame MSE of ``clip``'s pred vs gt, computed once per clip and shared with PSNR."""
    return clip.memo("pixel/per_frame_mse", lambda: per_frame_mse(clip.frames("pred"), clip.frames("gt")))


class MSE(Metric):
    """Mean squared error on uint8 RGB frames (0–255² units); lower is better."""

    id = "mse"
    version = "1"
    higher_is_better = False

    def __init__(self, device: str = "cpu", **unknown) -> None:
        if unknown:
            raise InputError(f"mse: unknown parameter(s) {', '.join(sorted(unknown))}; it takes none")
        super().__init__(device)

    def score_clip(self, clip: ClipInputs) -> ClipScore:
        values = clip_mse(clip)
        return ClipScore(values={self.id: float(values.mean())}, info={"frames": int(values.size)})

    def protocol_params(self) -> dict:
        return {"units": "uint8^2", "reduction": "mean over frames, then clips"}
