"""FID Inception-v3: the TensorFlow FID network as ported by pytorch-fid, to 2048-d pool3.

torchvision's Inception-v3 layout (1008 classes, no auxiliary head) with the blocks
that differ in the TF graph replaced: average pools that ignore padding
(``count_include_pad=False``) in Mixed_5b–5d, 6b–6e and 7b, and a max pool in the
pooling branch of Mixed_7c. The module names equal torchvision's, so the pytorch-fid
file ``pt_inception-2015-12-05-6726825d.pth`` loads with ``strict=True``.

Input: float32 ``[B,3,H,W]`` RGB in [0, 1]; resized to 299×299 (bilinear,
``align_corners=False``), scaled to [-1, 1] (``2x - 1``), as ``pytorch_fid.InceptionV3``.
Output: float32 ``[B, 2048]`` pool3 features.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.inception import Inception3, InceptionA, InceptionC, InceptionE

from tfbench.weights import WeightsSpec, register, weights_path

INPUT_SIZE = 299

WEIGHTS = register(WeightsSpec(
    name="fid_inception",
    filename="pt_inception-2015-12-05-6726825d.pth",
    description="Inception-v3 of TF FID, ported by pytorch-fid (pool3, 2048-d)",
    license="Apache-2.0",
    source="download",
    urls=("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",),
    hash_prefix="6726825d",
))


def _average_pool_ignoring_padding(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class FIDInceptionA(InceptionA):
    """InceptionA whose pooling branch averages over valid pixels only (TF semantics)."""

    def _forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        branch5x5 = self.branch5x5_2(self.branch5x5_1(x))
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        branch_pool = self.branch_pool(_average_pool_ignoring_padding(x))
        return [self.branch1x1(x), branch5x5, branch3x3dbl, branch_pool]


class FIDInceptionC(InceptionC):
    """InceptionC whose pooling branch averages over valid pixels only (TF semantics)."""

    def _forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        branch7x7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        branch7x7dbl = x
        for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            branch7x7dbl = layer(branch7x7dbl)
        branch_pool = self.branch_pool(_average_pool_ignoring_padding(x))
        return [self.branch1x1(x), branch7x7, branch7x7dbl, branch_pool]


class FIDInceptionE(InceptionE):
    """InceptionE with TF's pooling: padding-free average (Mixed_7b) or max pool (Mixed_7c)."""

    def __init__(self, in_channels: int, pool: str) -> None:
        super().__init__(in_channels)
        self.pool = pool  # "avg" or "max"

    def _forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        branch3x3 = self.branch3x3_1(x)
        branch3x3 = torch.cat([self.branch3x3_2a(branch3x3), self.branch3x3_2b(branch3x3)], 1)
        branch3x3dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        branch3x3dbl = torch.cat([self.branch3x3dbl_3a(branch3x3dbl), self.branch3x3dbl_3b(branch3x3dbl)], 1)
        if self.pool == "max":
            pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        else:
            pooled = _average_pool_ignoring_padding(x)
        return [self.branch1x1(x), branch3x3, branch3x3dbl, self.branch_pool(pooled)]


def build_fid_inception() -> Inception3:
    """Untrained FID Inception-v3 with pytorch-fid's module names (weights not loaded)."""
    net = Inception3(num_classes=1008, aux_logits=False, init_weights=False)
    net.Mixed_5b = FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = FIDInceptionE(1280, pool="avg")
    net.Mixed_7c = FIDInceptionE(2048, pool="max")
    return net


class FIDInceptionV3(nn.Module):
    """Pool3 feature extractor: ``forward(x [B,3,H,W] in [0,1]) -> [B,2048]``."""

    def __init__(self, inception: Inception3) -> None:
        super().__init__()
        net = inception
        self.layers = nn.Sequential(
            net.Conv2d_1a_3x3, net.Conv2d_2a_3x3, net.Conv2d_2b_3x3, nn.MaxPool2d(kernel_size=3, stride=2),
            net.Conv2d_3b_1x1, net.Conv2d_4a_3x3, nn.MaxPool2d(kernel_size=3, stride=2),
            net.Mixed_5b, net.Mixed_5c, net.Mixed_5d, net.Mixed_6a, net.Mixed_6b, net.Mixed_6c, net.Mixed_6d, net.Mixed_6e,
            net.Mixed_7a, net.Mixed_7b, net.Mixed_7c, nn.AdaptiveAvgPool2d((1, 1)),
        )

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        x = 2 * x - 1
        return self.layers(x).flatten(1)


def load_fid_inception(device: str = "cpu") -> FIDInceptionV3:
    """FID Inception with the ``fid_inception`` weights (strict load), eval mode on ``device``.

    Raises MissingWeightsError naming the fix when the file is missing.
    """
    inception = build_fid_inception()
    state = torch.load(weights_path("fid_inception"), map_location="cpu", weights_only=True)
    inception.load_state_dict(state, strict=True)
    return FIDInceptionV3(inception).eval().to(device)
