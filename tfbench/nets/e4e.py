"""e4e (Tov et al. 2021) ``Encoder4Editing`` in pure torch, in the public checkpoint's layout,
and the loader of ``e4e_ffhq_encode.pt`` (encoder + StyleGAN2-FFHQ decoder + ``latent_avg``).

Written from omertov/encoder4editing ``models/encoders/psp_encoders.py`` (``Encoder4Editing``,
``GradualStyleBlock``), ``models/encoders/helpers.py`` (``bottleneck_IR_SE``, ``SEModule``,
``get_blocks(50)``, ``_upsample_add``) and ``models/psp.py`` (``load_weights`` / ``get_keys``:
the file holds ``state_dict`` with ``encoder.*`` and ``decoder.*`` keys — the decoder a
rosinality ``Generator(1024, 512, 8, channel_multiplier=2)`` — plus ``latent_avg`` float
``[18, 512]`` and ``opts``; the input is resized to 256 x 256; codes = encoder output +
latent_avg). Every ``progressive_stage`` delta is used (inference).

Input: float ``[B, 3, S, S]`` RGB in [-1, 1] (e4e's ``Normalize([0.5]*3, [0.5]*3)``).
Output: w+ float ``[B, n_styles, style_dim]`` *before* adding ``latent_avg``.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from tfbench.nets.stylegan2 import EqualLinear, Generator
from tfbench.weights import WeightsSpec, register, weights_path

WEIGHTS = register(WeightsSpec(
    name="e4e_ffhq",
    filename="e4e_ffhq_encode.pt",
    description="e4e FFHQ encoder + rosinality StyleGAN2-FFHQ 1024 decoder + latent_avg (one torch file: "
                "'state_dict' with encoder.* / decoder.* keys, 'latent_avg', 'opts'). Input: 256x256 RGB aligned face in [-1, 1]",
    license="MIT (e4e); StyleGAN2 weights: NVIDIA Source Code License-NC",
    source="download",
    urls=(),
    install_hint="download e4e_ffhq_encode.pt from the omertov/encoder4editing README (Google Drive), then: "
                 "tfbench weights import e4e_ffhq e4e_ffhq_encode.pt",
))

#: IR-SE50 units per stage and stage widths (``get_blocks(50)``).
IR_SE50_UNITS = (3, 4, 14, 3)
IR_SE50_WIDTHS = (64, 128, 256, 512)
#: e4e's coarse / middle style indices (styles < 3 read the 1/16 map, < 7 the 1/8, the rest the 1/4).
COARSE_INDEX, MIDDLE_INDEX = 3, 7


class SEModule(nn.Module):
    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.sigmoid(self.fc2(self.relu(self.fc1(self.avg_pool(x)))))


class BottleneckIRSE(nn.Module):
    """``bottleneck_IR_SE(in_channel, depth, stride)``."""

    def __init__(self, in_channel: int, depth: int, stride: int) -> None:
        super().__init__()
        if in_channel == depth:
            self.shortcut_layer = nn.MaxPool2d(1, stride)
        else:
            self.shortcut_layer = nn.Sequential(nn.Conv2d(in_channel, depth, 1, stride, bias=False), nn.BatchNorm2d(depth))
        self.res_layer = nn.Sequential(
            nn.BatchNorm2d(in_channel), nn.Conv2d(in_channel, depth, 3, 1, 1, bias=False), nn.PReLU(depth),
            nn.Conv2d(depth, depth, 3, stride, 1, bias=False), nn.BatchNorm2d(depth), SEModule(depth, 16))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res_layer(x) + self.shortcut_layer(x)


class GradualStyleBlock(nn.Module):
    def __init__(self, in_c: int, out_c: int, spatial: int) -> None:
        super().__init__()
        self.out_c = out_c
        layers = [nn.Conv2d(in_c, out_c, 3, 2, 1), nn.LeakyReLU()]
        for _ in range(int(math.log2(spatial)) - 1):
            layers += [nn.Conv2d(out_c, out_c, 3, 2, 1), nn.LeakyReLU()]
        self.convs = nn.Sequential(*layers)
        self.linear = EqualLinear(out_c, out_c, lr_mul=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.convs(x).view(-1, self.out_c))


def _upsample_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=y.shape[2:], mode="bilinear", align_corners=True) + y


class Encoder4Editing(nn.Module):
    """e4e's encoder; defaults = the FFHQ IR-SE50 encoder (18 styles of 512 at input 256).

    Tiny test configs pass smaller ``widths`` / ``units`` (last width = style size) and
    ``input_size``; the style blocks read maps at 1/16, 1/8 and 1/4 of ``input_size``.
    """

    def __init__(self, n_styles: int = 18, widths=IR_SE50_WIDTHS, units=IR_SE50_UNITS, input_size: int = 256) -> None:
        super().__init__()
        self.input_layer = nn.Sequential(nn.Conv2d(3, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]),
                                         nn.PReLU(widths[0]))
        blocks, in_channel = [], widths[0]
        for depth, count in zip(widths, units):
            blocks.append(BottleneckIRSE(in_channel, depth, 2))
            blocks += [BottleneckIRSE(depth, depth, 1) for _ in range(count - 1)]
            in_channel = depth
        self.body = nn.Sequential(*blocks)
        ends = [sum(units[:k + 1]) - 1 for k in range(4)]
        self.c1_index, self.c2_index, self.c3_index = ends[1], ends[2], ends[3]
        style = widths[-1]
        self.styles = nn.ModuleList()
        self.style_count = n_styles
        for i in range(n_styles):
            spatial = input_size // 16 if i < COARSE_INDEX else input_size // 8 if i < MIDDLE_INDEX else input_size // 4
            self.styles.append(GradualStyleBlock(style, style, spatial))
        self.latlayer1 = nn.Conv2d(widths[2], style, 1, 1, 0)
        self.latlayer2 = nn.Conv2d(widths[1], style, 1, 1, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_layer(x)
        c1 = c2 = c3 = None
        for index, block in enumerate(self.body):
            x = block(x)
            if index == self.c1_index:
                c1 = x
            elif index == self.c2_index:
                c2 = x
            elif index == self.c3_index:
                c3 = x
        w0 = self.styles[0](c3)
        w = w0.repeat(self.style_count, 1, 1).permute(1, 0, 2)
        features = p2 = c3
        for i in range(1, self.style_count):
            if i == COARSE_INDEX:
                p2 = _upsample_add(c3, self.latlayer1(c2))
                features = p2
            elif i == MIDDLE_INDEX:
                features = _upsample_add(p2, self.latlayer2(c1))
            w = w.clone()
            w[:, i] = w[:, i] + self.styles[i](features)
        return w


def build_e4e_ffhq() -> tuple[Encoder4Editing, Generator]:
    """Random-initialised FFHQ encoder and ``Generator(1024, 512, 8, channel_multiplier=2)`` (the file's layout)."""
    return Encoder4Editing(), Generator(1024, 512, 8, channel_multiplier=2)


def get_keys(payload: dict, name: str) -> dict:
    """e4e's ``get_keys``: the ``name.*`` entries of ``payload["state_dict"]`` (or of ``payload``), prefix removed."""
    state = payload.get("state_dict", payload)
    return {key[len(name) + 1:]: value for key, value in state.items() if key.startswith(name + ".")}


def load_e4e_ffhq(path: Path | None = None, device: str = "cpu") -> tuple[Encoder4Editing, Generator, torch.Tensor]:
    """``(encoder, decoder, latent_avg [18, 512])`` from ``e4e_ffhq_encode.pt`` (strict loads, eval mode).

    Only tensors and plain containers are unpickled (``weights_only=True``); ``opts`` is not read.

    ``path`` defaults to the weights manager's file (MissingWeightsError naming the fix).
    """
    from tfbench.errors import CheckpointError

    path = Path(path) if path is not None else weights_path("e4e_ffhq")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        encoder, decoder = build_e4e_ffhq()
        encoder.load_state_dict(get_keys(payload, "encoder"))
        decoder.load_state_dict(get_keys(payload, "decoder"))
        latent_avg = payload["latent_avg"].float()
        latent_avg = latent_avg.reshape(-1, latent_avg.shape[-1])
    except (KeyError, RuntimeError, TypeError, AttributeError, EOFError) as error:
        raise CheckpointError(f"{path} is not e4e's e4e_ffhq_encode.pt (keys 'encoder', 'decoder', 'latent_avg'): "
                              f"{str(error).splitlines()[0][:200]}") from error
    if latent_avg.shape[0] == 1:
        latent_avg = latent_avg.repeat(encoder.style_count, 1)
    return encoder.eval().to(device), decoder.eval().to(device), latent_avg.to(device)
