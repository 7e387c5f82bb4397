"""FVD's I3D: the TorchScript Kinetics-400 I3D that StyleGAN-V's FVD uses (``fvd_i3d``).

The TorchScript file carries its own pre-processing. As in StyleGAN-V
(``src/metrics/frechet_video_distance.py``), it is called on uint8 videos
``[B, 3, T, H, W]`` in [0, 255] with ``rescale=True, resize=True, return_features=True``:
it rescales to [-1, 1], resizes frames to 224×224 and returns the 400-d logits before
the softmax, float32 ``[B, 400]``.
"""

from __future__ import annotations

import numpy as np
import torch

from tfbench.errors import TfbenchError
from tfbench.weights import WeightsSpec, register, weights_path

FEATURE_DIM = 400
DETECTOR_KWARGS = {"rescale": True, "resize": True, "return_features": True}

WEIGHTS = register(WeightsSpec(
    name="fvd_i3d",
    filename="i3d_torchscript.pt",
    description="I3D (Kinetics-400) TorchScript of StyleGAN-V's FVD, 400-d logits",
    license="Apache-2.0",
    source="download",
    urls=("https://www.dropbox.com/s/ge9e5ujwgetktms/i3d_torchscript.pt?dl=1",),
))


class I3DFeatures:
    """Callable wrapper: ``features(videos uint8 [B,T,H,W,3] RGB) -> float32 [B, 400]``."""

    def __init__(self, module: torch.jit.ScriptModule, device: str = "cpu") -> None:
        self.module = module
        self.device = device

    @torch.no_grad()
    def __call__(self, videos: np.ndarray) -> np.ndarray:
        batch = torch.tensor(videos).permute(0, 4, 1, 2, 3).contiguous().to(self.device)  # [B, 3, T, H, W] uint8
        features = self.module(batch, **DETECTOR_KWARGS)
        if features.ndim != 2 or features.shape != (videos.shape[0], FEATURE_DIM):
            raise TfbenchError(f"fvd_i3d returned features of shape {list(features.shape)}, expected [{videos.shape[0]}, {FEATURE_DIM}]")
        return features.float().cpu().numpy()


def load_i3d(device: str = "cpu") -> I3DFeatures:
    """The ``fvd_i3d`` TorchScript on ``device`` (eval mode).

    Raises MissingWeightsError naming the fix when the file is missing, TfbenchError when
    it is not a TorchScript archive.
    """
    path = weights_path("fvd_i3d")
    try:
        module = torch.jit.load(str(path), map_location=device).eval()
    except RuntimeError as error:
        raise TfbenchError(f"{path} is not a TorchScript file ({error}); re-import it with `tfbench weights import fvd_i3d FILE`") from None
    return I3DFeatures(module, device)
