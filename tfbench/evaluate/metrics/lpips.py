"""LPIPS (Zhang et al. 2018, ``lpips`` package v0.1): learned perceptual distance per frame.

``lpips@alex`` (default backbone of the package) and ``lpips@vgg``. Frames uint8 RGB are
mapped to [-1, 1] as ``x / 127.5 - 1`` (the package's ``im2tensor``), compared at their
own resolution, mean over frames then clips. See docs/metrics/lpips.md.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from tfbench.errors import InputError
from tfbench.evaluate.clip import ClipInputs
from tfbench.evaluate.metrics.base import ClipScore, Metric
from tfbench.nets.lpips import weights_names

DEFAULT_BATCH_SIZE = 16


def to_signed_unit(frames: np.ndarray):
    """uint8 ``[B,H,W,3]`` RGB -> float32 torch ``[B,3,H,W]`` in [-1, 1]."""
    import torch

    return torch.tensor(frames).permute(0, 3, 1, 2).float() / 127.5 - 1.0


class LPIPSAlex(Metric):
    """LPIPS distance with the AlexNet backbone; lower is better.

    Params: ``batch_size`` (frame pairs per network pass, default 16).
    """

    id = "lpips@alex"
    backbone: ClassVar[str] = "alex"
    version = "1"
    higher_is_better = False
    weights = weights_names("alex")

    def __init__(self, device: str = "cpu", batch_size: int = DEFAULT_BATCH_SIZE, **unknown) -> None:
        if unknown:
            raise InputError(f"{self.id}: unknown parameter(s) {', '.join(sorted(unknown))}; known: batch_size")
        if int(batch_size) < 1:
            raise InputError(f"{self.id}: batch_size must be ≥ 1, got {batch_size!r}")
        super().__init__(device, batch_size=int(batch_size))
        self.batch_size = int(batch_size)
        self._network = None

    @property
    def network(self):
        if self._network is None:
            from tfbench.nets.lpips import load_lpips

            self._network = load_lpips(self.backbone, self.device)
        return self._network

    def per_frame(self, pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
        """LPIPS distance per frame pair, float64 ``[T]``; ``pred``, ``gt`` uint8 ``[T,H,W,3]``."""
        if min(pred.shape[1:3]) < 32:
            raise InputError(f"{self.id}: frames must be at least 32x32 pixels, got {pred.shape[2]}x{pred.shape[1]}")
        distances = []
        for start in range(0, pred.shape[0], self.batch_size):
            stop = start + self.batch_size
            a = to_signed_unit(pred[start:stop]).to(self.device)
            b = to_signed_unit(gt[start:stop]).to(self.device)
            distances.append(self.network(a, b).double().cpu().numpy())
        return np.concatenate(distances)

    def score_clip(self, clip: ClipInputs) -> ClipScore:
        values = self.per_frame(clip.frames("pred"), clip.frames("gt"))
        return ClipScore(values={self.id: float(values.mean())}, info={"frames": int(values.size)})

    def protocol_params(self) -> dict:
        return {"backbone": self.backbone, "lpips_version": "0.1", "input": "x/127.5-1", "reduction": "mean over frames, then clips"}


class LPIPSVGG(LPIPSAlex):
    """LPIPS distance with the VGG-16 backbone; lower is better."""

    id = "lpips@vgg"
    backbone = "vgg"
    weights = weights_names("vgg")
