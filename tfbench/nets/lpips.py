"""LPIPS v0.1 (Zhang et al. 2018): ImageNet backbone features + learned linear weights.

Same computation as ``lpips.LPIPS(net=..., version="0.1")`` of the ``lpips`` package:
inputs in [-1, 1] are shifted/scaled to the backbone's input statistics, five ReLU
feature maps are unit-normalised along channels, their squared differences weighted by
1×1 convolutions (the package's ``weights/v0.1/<net>.pth``), averaged over space and
summed over layers. Backbones are torchvision's AlexNet / VGG-16 with ImageNet weights
(weights ``alexnet`` / ``vgg16``), loaded strictly from the weights cache.
"""

from __future__ import annotations

import torch
from torch import nn

from tfbench.errors import InputError, TfbenchError
from tfbench.weights import WeightsSpec, register, weights_path

#: Input statistics of the backbones, as in lpips v0.1 (``ScalingLayer``), for inputs in [-1, 1].
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
#: Per backbone: torchvision constructor name, weights names, and the ``features`` index
#: ranges whose outputs are the five compared ReLU maps.
BACKBONES = {
    "alex": ("alexnet", "alexnet", "lpips_alex_linear", ((0, 2), (2, 5), (5, 8), (8, 10), (10, 12))),
    "vgg": ("vgg16", "vgg16", "lpips_vgg_linear", ((0, 4), (4, 9), (9, 16), (16, 23), (23, 30))),
}
NORM_EPS = 1e-10

register(WeightsSpec(
    name="alexnet",
    filename="alexnet-owt-7be5be79.pth",
    description="torchvision AlexNet (ImageNet), the LPIPS default backbone",
    license="BSD-3-Clause",
    source="download",
    urls=("https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",),
    hash_prefix="7be5be79",
    sha256="7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02",
    size=244408911,
))
register(WeightsSpec(
    name="vgg16",
    filename="vgg16-397923af.pth",
    description="torchvision VGG-16 (ImageNet), the LPIPS VGG backbone",
    license="BSD-3-Clause",
    source="download",
    urls=("https://download.pytorch.org/models/vgg16-397923af.pth",),
    hash_prefix="397923af",
    sha256="397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",
    size=553433881,
))
for _net, _sha, _size in (
    ("alex", "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0", 6009),
    ("vgg", "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868", 7289),
):
    register(WeightsSpec(
        name=f"lpips_{_net}_linear",
        filename=f"{_net}.pth",
        description=f"LPIPS v0.1 linear calibration layers for {_net}",
        license="BSD-2-Clause",
        source="package",
        package="lpips",
        package_path=f"weights/v0.1/{_net}.pth",
        sha256=_sha,
        size=_size,
        install_hint="pip install lpips==0.1.4",
        ))


class LPIPSNetwork(nn.Module):
    """LPIPS distance network; ``forward(a, b)`` -> float32 ``[B]`` distances (≥ 0, lower = more similar).

    ``a``, ``b``: float32 ``[B,3,H,W]`` RGB in [-1, 1]. Build with :func:`load_lpips`.
    """

    def __init__(self, backbone: str = "alex") -> None:
        super().__init__()
        if backbone not in BACKBONES:
            raise InputError(f"LPIPS backbone must be one of {sorted(BACKBONES)}, got {backbone!r}")
        import torchvision

        constructor, _, _, ranges = BACKBONES[backbone]
        self.backbone_name = backbone
        self.backbone = getattr(torchvision.models, constructor)(weights=None)
        self.ranges = ranges
        channels = [self._out_channels(stop) for _, stop in ranges]
        self.linear = nn.ModuleList(nn.Conv2d(c, 1, kernel_size=1, bias=False) for c in channels)
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))

    def _out_channels(self, stop: int) -> int:
        convs = [m for m in list(self.backbone.features)[:stop] if isinstance(m, nn.Conv2d)]
        return convs[-1].out_channels

    def _layer_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        x = (x - self.shift) / self.scale
        for start, stop in self.ranges:
            for index in range(start, stop):
                x = self.backbone.features[index](x)
            outputs.append(x)
        return outputs

    @torch.no_grad()
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.distance(a, b)

    def distance(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``forward`` with gradients (a training loss); the network's own weights stay as loaded."""
        distance = torch.zeros(a.shape[0], device=a.device)
        for feat_a, feat_b, linear in zip(self._layer_features(a), self._layer_features(b), self.linear):
            feat_a = feat_a / (feat_a.square().sum(dim=1, keepdim=True).sqrt() + NORM_EPS)
            feat_b = feat_b / (feat_b.square().sum(dim=1, keepdim=True).sqrt() + NORM_EPS)
            distance = distance + linear((feat_a - feat_b).square()).mean(dim=(2, 3))[:, 0]
        return distance


def weights_names(backbone: str) -> tuple[str, str]:
    """(backbone weights, linear weights) names of ``backbone`` ("alex" or "vgg")."""
    _, backbone_weights, linear_weights, _ = BACKBONES[backbone]
    return backbone_weights, linear_weights


def load_lpips(backbone: str = "alex", device: str = "cpu") -> LPIPSNetwork:
    """LPIPS network with weights from the cache (strict loads); eval mode on ``device``.

    Raises MissingWeightsError naming the fix when a file is missing.
    """
    network = LPIPSNetwork(backbone)
    backbone_weights, linear_weights = weights_names(backbone)
    backbone_state = torch.load(weights_path(backbone_weights), map_location="cpu", weights_only=True)
    network.backbone.load_state_dict(backbone_state, strict=True)
    linear_path = weights_path(linear_weights)
    linear_state = torch.load(linear_path, map_location="cpu", weights_only=True)
    # The package names layer k "lin{k}.model.1.weight" (index 0 is its Dropout).
    expected = {f"lin{k}.model.1.weight" for k in range(5)}
    if set(linear_state) != expected:
        raise TfbenchError(f"{linear_path} is not an LPIPS v0.1 linear-layer file (keys {sorted(linear_state)})")
    network.linear.load_state_dict({f"{k}.weight": linear_state[f"lin{k}.model.1.weight"] for k in range(5)}, strict=True)
    return network.eval().to(device)
