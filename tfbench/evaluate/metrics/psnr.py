"""PSNR: peak signal-to-noise ratio of generated vs ground-truth frames, in dB.

Per frame on uint8 RGB with peak 255, as ``skimage.metrics.peak_signal_noise_ratio(
gt, pred, data_range=255)``; mean over frames, then mean over clips. Identical frames
(MSE 0) have infinite PSNR in skimage; tfbench caps every frame's PSNR at ``max_db``
(100 dB by default) so a clip mean stays finite, and reports how many frames were
capped. See docs/metrics/pixel.md.
"""

from __future__ import annotations

import numpy as np

from tfbench.errors import InputError
from tfbench.evaluate.clip import ClipInputs
from tfbench.evaluate.metrics.base import ClipScore, Metric
from tfbench.evaluate.metrics.mse import clip_mse

PEAK = 255.0
DEFAULT_MAX_DB = 100.0


def frame_psnr(mse: np.ndarray) -> np.ndarray:
    """PSNR in dB (float64) of per-frame MSE values in 0–255² units; +inf where MSE is 0."""
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10((PEAK * PEAK) / mse)


class PSNR(Metric):
    """Peak signal-to-noise ratio on uint8 RGB frames, dB; higher is better.

    Params: ``max_db`` (float, default 100): per-frame ceiling applied to identical or
    near-identical frames.
    """

    id = "psnr"
    version = "1"
    higher_is_better = True

    def __init__(self, device: str = "cpu", max_db: float = DEFAULT_MAX_DB, **unknown) -> None:
        if unknown:
            raise InputError(f"psnr: unknown parameter(s) {', '.join(sorted(unknown))}; known: max_db")
        if not max_db > 0:
            raise InputError(f"psnr: max_db must be a positive number of dB, got {max_db!r}")
        super().__init__(device, max_db=float(max_db))
        self.max_db = float(max_db)

    def score_clip(self, clip: ClipInputs) -> ClipScore:
        mse = clip_mse(clip)
        raw = frame_psnr(mse)
        psnr = np.minimum(raw, self.max_db)
        return ClipScore(
            values={self.id: float(psnr.mean())},
            info={
                "frames": int(psnr.size),
                "frames_capped": int(np.count_nonzero(raw > self.max_db)),
                "frames_identical": int(np.count_nonzero(mse == 0)),
            },
        )

    def protocol_params(self) -> dict:
        return {"max_db": self.max_db, "peak": PEAK, "reduction": "mean over frames, then clips"}
