"""FVD (Unterthiner et al. 2018) with StyleGAN-V's protocol (Skorokhodov et al. 2022).

Videos are cut into windows of 16 consecutive frames; each window goes through the
I3D TorchScript (uint8, ``rescale=True, resize=True, return_features=True``) to a 400-d
feature; per side, mean and covariance ``E[xxᵀ] − μμᵀ`` (biased, as StyleGAN-V's
``FeatureStats.get_mean_cov``); distance ``‖μg − μr‖² + tr(Σg + Σr − 2√(ΣgΣr))`` with
``scipy.linalg.sqrtm``, real part. Windows: all non-overlapping 16-frame windows of each
clip (default, ``windows="all"``) or only the first (``windows="first"``, StyleGAN-V's
one clip per video). See docs/metrics/fvd.md.
"""

from __future__ import annotations

import sys
from typing import Iterable

import numpy as np
from scipy import linalg

from tfbench.errors import InputError
from tfbench.evaluate.clip import ClipInputs
from tfbench.evaluate.metrics.base import ClipScore, Metric
from tfbench.evaluate.metrics.fid import FeatureStats

WINDOW_FRAMES = 16
FEATURE_DIM = 400
WINDOW_MODES = ("all", "first")
DEFAULT_BATCH_SIZE = 4


def frame_windows(frames: np.ndarray, mode: str) -> np.ndarray:
    """uint8 ``[T,H,W,3]`` -> ``[N, 16, H, W, 3]`` windows: all non-overlapping ones, or the first.

    Trailing frames that do not fill a window are not used. Raises InputError when T < 16.
    """
    count = frames.shape[0] // WINDOW_FRAMES
    if count == 0:
        raise InputError(f"fvd: needs at least {WINDOW_FRAMES} frames per video, got {frames.shape[0]}")
    if mode == "first":
        count = 1
    return frames[: count * WINDOW_FRAMES].reshape(count, WINDOW_FRAMES, *frames.shape[1:])


def frechet_distance_stylegan_v(mu_gen: np.ndarray, sigma_gen: np.ndarray, mu_real: np.ndarray, sigma_real: np.ndarray) -> float:
    """StyleGAN-V's ``compute_fvd`` distance: real part of ``m + tr(Σg + Σr − 2 sqrtm(Σg Σr))``."""
    m = np.square(mu_gen - mu_real).sum()
    root = linalg.sqrtm(np.dot(sigma_gen, sigma_real))
    return float(np.real(m + np.trace(sigma_gen + sigma_real - root * 2)))


class FVD(Metric):
    """Fréchet Video Distance over 16-frame windows; lower is better.

    Params: ``windows`` ("all" non-overlapping windows per clip, default; or "first"),
    ``batch_size`` (windows per I3D pass, default 4).
    """

    id = "fvd"
    version = "1"
    higher_is_better = False
    weights = ("fvd_i3d",)

    def __init__(self, device: str = "cpu", windows: str = "all", batch_size: int = DEFAULT_BATCH_SIZE, **unknown) -> None:
        if unknown:
            raise InputError(f"fvd: unknown parameter(s) {', '.join(sorted(unknown))}; known: windows, batch_size")
        if windows not in WINDOW_MODES:
            raise InputError(f"fvd: windows must be one of {', '.join(WINDOW_MODES)}, got {windows!r}")
        if int(batch_size) < 1:
            raise InputError(f"fvd: batch_size must be ≥ 1, got {batch_size!r}")
        super().__init__(device, windows=windows, batch_size=int(batch_size))
        self.windows = windows
        self.batch_size = int(batch_size)
        self._detector = None
        #: Notes from the last :meth:`aggregate` (window counts, instability warning).
        self.aggregate_notes: dict = {}

    @property
    def detector(self):
        if self._detector is None:
            from tfbench.nets.i3d import load_i3d

            self._detector = load_i3d(self.device)
        return self._detector

    def features(self, frames: np.ndarray) -> np.ndarray:
        """I3D features, float32 ``[N, 400]``, of the 16-frame windows of uint8 ``[T,H,W,3]`` frames."""
        windows = frame_windows(frames, self.windows)
        return np.concatenate([self.detector(windows[i:i + self.batch_size]) for i in range(0, len(windows), self.batch_size)])

    def score_clip(self, clip: ClipInputs) -> ClipScore:
        pred, gt = clip.frames("pred"), clip.frames("gt")
        pred_features, gt_features = self.features(pred), self.features(gt)
        return ClipScore(
            values={},
            state={"pred_features": pred_features, "gt_features": gt_features},
            info={"windows_pred": int(len(pred_features)), "windows_gt": int(len(gt_features))},
        )

    def aggregate(self, scores: Iterable[ClipScore]) -> dict[str, float | None]:
        gen, real = FeatureStats(), FeatureStats()
        for score in scores:
            gen.add(score.state["pred_features"])
            real.add(score.state["gt_features"])
        self.aggregate_notes = {"windows_pred": gen.count, "windows_gt": real.count}
        if gen.count < 2 or real.count < 2:
            return {self.id: None}
        smallest = min(gen.count, real.count)
        if smallest < FEATURE_DIM:
            warning = (
                f"fvd: only {smallest} video windows for {FEATURE_DIM}-d I3D features: the covariance is "
                "rank-deficient and FVD is unstable; compare only numbers computed on the same windows"
            )
            self.aggregate_notes["warning"] = warning
            print(warning, file=sys.stderr)
        distance = frechet_distance_stylegan_v(
            gen.mean, gen.covariance(unbiased=False), real.mean, real.covariance(unbiased=False)
        )
        return {self.id: distance}

    def protocol_params(self) -> dict:
        return {
            "network": "StyleGAN-V I3D TorchScript (Kinetics-400), 400-d logits",
            "detector_kwargs": "rescale=True, resize=True, return_features=True",
            "window_frames": WINDOW_FRAMES,
            "windows": self.windows,
            "covariance": "biased, E[xx^T] - mu mu^T",
        }
