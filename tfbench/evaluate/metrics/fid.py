"""FID (Heusel et al. 2017) with pytorch-fid's protocol, over all frames of a split.

Every generated frame of every clip against every ground-truth frame of the same clips:
pool3 features of the FID Inception-v3 (see :mod:`tfbench.nets.inception`),
mean and unbiased covariance (``numpy.cov``) per side, Fréchet distance computed as
``pytorch_fid.fid_score.calculate_frechet_distance``. A clip's :class:`ClipScore` keeps
its frames' features (float32); :meth:`FID.aggregate` folds them clip by clip into
running float64 statistics, so memory does not grow with the number of clips.
See docs/metrics/fid.md.
"""

from __future__ import annotations

import sys
from typing import Iterable

import numpy as np
from scipy import linalg

from tfbench.errors import InputError, TfbenchError
from tfbench.evaluate.clip import ClipInputs
from tfbench.evaluate.metrics.base import ClipScore, Metric

DEFAULT_BATCH_SIZE = 32
FEATURE_DIM = 2048
#: Diagonal offset pytorch-fid adds when sqrtm of the covariance product is not finite.
SQRTM_EPS = 1e-6


class FeatureStats:
    """Streaming mean and covariance of feature rows, float64 (Chan et al.'s pairwise update).

    ``add(x)`` takes ``[n, D]`` rows; memory is ``O(D²)`` whatever the number of rows.
    Merging per-batch centred sums avoids the cancellation of ``E[xxᵀ] − μμᵀ``.
    """

    def __init__(self) -> None:
        self.count = 0
        self.mean: np.ndarray | None = None
        self.scatter: np.ndarray | None = None  # Σ (x − μ)(x − μ)ᵀ

    def add(self, rows: np.ndarray) -> None:
        rows = np.asarray(rows, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[0] == 0:
            return
        batch_mean = rows.mean(axis=0)
        centred = rows - batch_mean
        batch_scatter = centred.T @ centred
        n = rows.shape[0]
        if self.mean is None:
            self.count, self.mean, self.scatter = n, batch_mean, batch_scatter
            return
        if rows.shape[1] != self.mean.shape[0]:
            raise TfbenchError(f"feature size changed from {self.mean.shape[0]} to {rows.shape[1]} between clips")
        total = self.count + n
        delta = batch_mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.scatter = self.scatter + batch_scatter + np.outer(delta, delta) * (self.count * n / total)
        self.count = total

    def covariance(self, unbiased: bool) -> np.ndarray:
        """Covariance: ``scatter / (n − 1)`` (numpy.cov) if ``unbiased`` else ``scatter / n``."""
        return self.scatter / (self.count - 1 if unbiased else self.count)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance of two Gaussians, as pytorch-fid's ``calculate_frechet_distance``.

    ``‖μ1 − μ2‖² + tr(Σ1) + tr(Σ2) − 2 tr(√(Σ1Σ2))`` with scipy's ``sqrtm``; when the root is
    not finite, 1e-6 is added to both diagonals; an imaginary part above 1e-3 on the
    diagonal raises (pytorch-fid raises ValueError there too).
    """
    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        print(f"fid: singular covariance product; adding {SQRTM_EPS} to the diagonals", file=sys.stderr)
        offset = np.eye(sigma1.shape[0]) * SQRTM_EPS
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise TfbenchError(f"fid: matrix square root has an imaginary component of {np.max(np.abs(covmean.imag)):.3g}")
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


class FID(Metric):
    """Fréchet Inception Distance over all frames of the evaluated clips; lower is better.

    Params: ``batch_size`` (frames per Inception pass, default 32).
    """

    id = "fid"
    version = "1"
    higher_is_better = False
    weights = ("fid_inception",)

    def __init__(self, device: str = "cpu", batch_size: int = DEFAULT_BATCH_SIZE, **unknown) -> None:
        if unknown:
            raise InputError(f"fid: unknown parameter(s) {', '.join(sorted(unknown))}; known: batch_size")
        if int(batch_size) < 1:
            raise InputError(f"fid: batch_size must be ≥ 1, got {batch_size!r}")
        super().__init__(device, batch_size=int(batch_size))
        self.batch_size = int(batch_size)
        self._network = None
        #: Notes from the last :meth:`aggregate` (e.g. too few frames for a full-rank covariance).
        self.aggregate_notes: dict = {}

    @property
    def network(self):
        if self._network is None:
            from tfbench.nets.inception import load_fid_inception

            self._network = load_fid_inception(self.device)
        return self._network

    def features(self, frames: np.ndarray) -> np.ndarray:
        """pool3 features, float32 ``[T, 2048]``, of uint8 ``[T,H,W,3]`` RGB frames (batched)."""
        import torch

        batches = []
        for start in range(0, frames.shape[0], self.batch_size):
            batch = torch.tensor(frames[start:start + self.batch_size]).permute(0, 3, 1, 2).float() / 255.0
            batches.append(self.network(batch.to(self.device)).cpu().numpy().astype(np.float32))
        return np.concatenate(batches)

    def score_clip(self, clip: ClipInputs) -> ClipScore:
        pred, gt = clip.frames("pred"), clip.frames("gt")
        return ClipScore(
            values={},
            state={"pred_features": self.features(pred), "gt_features": self.features(gt)},
            info={"frames_pred": int(pred.shape[0]), "frames_gt": int(gt.shape[0])},
        )

    def aggregate(self, scores: Iterable[ClipScore]) -> dict[str, float | None]:
        pred_stats, gt_stats = FeatureStats(), FeatureStats()
        for score in scores:
            pred_stats.add(score.state["pred_features"])
            gt_stats.add(score.state["gt_features"])
        self.aggregate_notes = {"frames_pred": pred_stats.count, "frames_gt": gt_stats.count}
        if pred_stats.count < 2 or gt_stats.count < 2:
            return {self.id: None}
        smallest = min(pred_stats.count, gt_stats.count)
        if smallest <= FEATURE_DIM:
            warning = (
                f"fid: only {smallest} frames for {FEATURE_DIM}-d features: the covariance is rank-deficient "
                "and FID is biased upwards; compare only numbers computed on the same frames"
            )
            self.aggregate_notes["warning"] = warning
            print(warning, file=sys.stderr)
        distance = frechet_distance(
            pred_stats.mean, pred_stats.covariance(unbiased=True), gt_stats.mean, gt_stats.covariance(unbiased=True)
        )
        return {self.id: distance}

    def protocol_params(self) -> dict:
        return {
            "network": "pytorch-fid InceptionV3 pool3 (2048-d)",
            "resize": "bilinear 299x299, align_corners=False",
            "input_range": "[-1, 1]",
            "frames": "all generated vs all ground-truth frames of the scored clips",
            "covariance": "unbiased (numpy.cov)",
        }
