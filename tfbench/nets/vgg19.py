"""VGG-19 (Simonyan & Zisserman 2015) features for perceptual losses: torchvision's ImageNet network.

:class:`VGG19Features` returns the activations after ``relu1_1 .. relu5_1`` (torchvision
``features`` indices :data:`RELU_LAYERS`) of ImageNet-normalised input; it is frozen and
always in eval mode. Weights: ``vgg19`` (torchvision's ``vgg19-dcbb9e9d.pth``).
"""

from __future__ import annotations

import torch
from torch import nn

from tfbench.weights import WeightsSpec, register

#: torchvision VGG-19 ``features`` indices of relu1_1, relu2_1, relu3_1, relu4_1, relu5_1.
RELU_LAYERS = (1, 6, 11, 20, 29)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

WEIGHTS = register(WeightsSpec(
    name="vgg19",
    filename="vgg19-dcbb9e9d.pth",
    description="torchvision VGG-19 (ImageNet), perceptual losses in training. "
                "Preprocessing: RGB in [0, 1], ImageNet mean/std",
    license="BSD-3-Clause",
    source="download",
    urls=("https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",),
    hash_prefix="dcbb9e9d",
))


def build_vgg19() -> nn.Module:
    """torchvision's VGG-19 with random weights (the key layout of ``vgg19-dcbb9e9d.pth``)."""
    from torchvision.models import vgg19

    return vgg19(weights=None)


class VGG19Features(nn.Module):
    """Frozen VGG-19 trunk: float ``[N, 3, H, W]`` RGB in [0, 1] -> list of the 5 relu activations.

    ``network``: a torchvision VGG-19 (default: loaded from weights ``vgg19``; a missing
    file raises :class:`~tfbench.errors.MissingWeightsError` naming the fix).
    """

    def __init__(self, network: nn.Module | None = None, layers: tuple[int, ...] = RELU_LAYERS) -> None:
        super().__init__()
        if network is None:
            from tfbench.weights import weights_path

            network = build_vgg19()
            network.load_state_dict(torch.load(weights_path("vgg19"), map_location="cpu", weights_only=True))
        self.layers = tuple(layers)
        self.features = network.features[: self.layers[-1] + 1].eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        x, out = (images - self.mean) / self.std, []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self.layers:
                out.append(x)
        return out

    def train(self, mode: bool = True) -> "VGG19Features":
        return super().train(False)  # always frozen, BN-free, eval
