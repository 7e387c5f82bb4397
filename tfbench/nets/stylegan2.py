"""StyleGAN2 generator (Karras et al. 2020) in pure torch, in rosinality's state-dict layout.

Module and parameter names, shapes and the forward computation follow
rosinality/stylegan2-pytorch ``model.py`` (``Generator``, ``StyledConv``, ``ToRGB``,
``ModulatedConv2d`` with ``fused=True``, ``EqualLinear``, ``NoiseInjection``,
``ConstantInput``) with the CPU paths of its ``op/`` package written out:
``upfirdn2d_native`` and ``fused_leaky_relu`` (``leaky_relu(x + bias, 0.2) * sqrt(2)``).
So the ``g_ema`` of a rosinality checkpoint, and the ``decoder`` of an e4e checkpoint
(``Generator(1024, 512, 8, channel_multiplier=2)``), load with ``strict=True``.

Input: ``styles`` a list of float ``[B, style_dim]`` z (or w with ``input_is_latent``),
or a float ``[B, n_latent, style_dim]`` w+ with ``input_is_latent``. Output: float
``[B, 3, size, size]``, roughly in [-1, 1] (not clamped).

Weights: ``e4e_ffhq`` and the other StyleGAN checkpoints are method-specific (the
StyleGAN-edit method registers them); this module only defines the architecture.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

BLUR_KERNEL = (1, 3, 3, 1)
LEAKY_SLOPE, LEAKY_GAIN = 0.2, math.sqrt(2)


def fused_leaky_relu(x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """rosinality ``fused_leaky_relu`` (CPU path): ``leaky_relu(x + bias, 0.2) * sqrt(2)``."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return F.leaky_relu(x + bias.view(shape), negative_slope=LEAKY_SLOPE) * LEAKY_GAIN


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1, pad: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Upsample (zero insertion), pad, FIR filter, downsample: rosinality's ``upfirdn2d_native``."""
    pad0, pad1 = pad
    batch, channels, in_h, in_w = x.shape
    kernel_h, kernel_w = kernel.shape
    out = x.reshape(-1, in_h, 1, in_w, 1, 1)
    out = F.pad(out, [0, 0, 0, up - 1, 0, 0, 0, up - 1]).view(-1, in_h * up, in_w * up, 1)
    out = F.pad(out, [0, 0, max(pad0, 0), max(pad1, 0), max(pad0, 0), max(pad1, 0)])
    out = out[:, max(-pad0, 0): out.shape[1] - max(-pad1, 0), max(-pad0, 0): out.shape[2] - max(-pad1, 0), :]
    out = out.permute(0, 3, 1, 2).reshape(-1, 1, in_h * up + pad0 + pad1, in_w * up + pad0 + pad1)
    out = F.conv2d(out, torch.flip(kernel, [0, 1]).view(1, 1, kernel_h, kernel_w))
    out = out.reshape(-1, 1, in_h * up + pad0 + pad1 - kernel_h + 1, in_w * up + pad0 + pad1 - kernel_w + 1)
    out = out.permute(0, 2, 3, 1)[:, ::down, ::down, :]
    out_h = (in_h * up + pad0 + pad1 - kernel_h + down) // down
    out_w = (in_w * up + pad0 + pad1 - kernel_w + down) // down
    return out.reshape(batch, channels, out_h, out_w)


def make_kernel(values) -> torch.Tensor:
    kernel = torch.tensor(values, dtype=torch.float32)
    if kernel.ndim == 1:
        kernel = kernel[None, :] * kernel[:, None]
    return kernel / kernel.sum()


class PixelNorm(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(torch.mean(x ** 2, dim=1, keepdim=True) + 1e-8)


class Upsample(nn.Module):
    def __init__(self, kernel=BLUR_KERNEL, factor: int = 2) -> None:
        super().__init__()
        self.factor = factor
        self.register_buffer("kernel", make_kernel(kernel) * factor ** 2)
        p = self.kernel.shape[0] - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


class Blur(nn.Module):
    def __init__(self, kernel, pad: tuple[int, int], upsample_factor: int = 1) -> None:
        super().__init__()
        kernel = make_kernel(kernel)
        if upsample_factor > 1:
            kernel = kernel * upsample_factor ** 2
        self.register_buffer("kernel", kernel)
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate (weight ``[out, in]`` scaled by ``lr_mul / sqrt(in)``)."""

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True, bias_init: float = 0.0, lr_mul: float = 1.0,
                 activation: str | None = None) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias = nn.Parameter(torch.zeros(out_dim).fill_(bias_init)) if bias else None
        self.activation = activation
        self.scale = (1 / math.sqrt(in_dim)) * lr_mul
        self.lr_mul = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.activation:
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), self.bias * self.lr_mul)
        return F.linear(x, self.weight * self.scale, bias=self.bias * self.lr_mul if self.bias is not None else None)


class ModulatedConv2d(nn.Module):
    """Style-modulated (and demodulated) convolution, grouped per sample (``fused=True`` path)."""

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, style_dim: int, demodulate: bool = True,
                 upsample: bool = False, blur_kernel=BLUR_KERNEL) -> None:
        super().__init__()
        self.kernel_size, self.in_channel, self.out_channel = kernel_size, in_channel, out_channel
        self.upsample, self.demodulate = upsample, demodulate
        if upsample:
            factor = 2
            p = (len(blur_kernel) - factor) - (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2 + factor - 1, p // 2 + 1), upsample_factor=factor)
        self.scale = 1 / math.sqrt(in_channel * kernel_size ** 2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, out_channel, in_channel, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_channel, bias_init=1)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        batch, in_channel, height, width = x.shape
        style = self.modulation(style).view(batch, 1, in_channel, 1, 1)
        weight = self.scale * self.weight * style
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + 1e-8).view(batch, self.out_channel, 1, 1, 1)
        k = self.kernel_size
        if self.upsample:
            weight = weight.transpose(1, 2).reshape(batch * in_channel, self.out_channel, k, k)
            out = F.conv_transpose2d(x.reshape(1, batch * in_channel, height, width), weight, padding=0, stride=2, groups=batch)
            out = self.blur(out.view(batch, self.out_channel, *out.shape[2:]))
        else:
            weight = weight.view(batch * self.out_channel, in_channel, k, k)
            out = F.conv2d(x.reshape(1, batch * in_channel, height, width), weight, padding=self.padding, groups=batch)
            out = out.view(batch, self.out_channel, *out.shape[2:])
        return out


class NoiseInjection(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, image: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        if noise is None:
            noise = image.new_empty(image.shape[0], 1, *image.shape[2:]).normal_()
        return image + self.weight * noise


class ConstantInput(nn.Module):
    def __init__(self, channel: int, size: int = 4) -> None:
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channel, size, size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.input.repeat(x.shape[0], 1, 1, 1)


class FusedLeakyReLU(nn.Module):
    def __init__(self, channel: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channel))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(x, self.bias)


class StyledConv(nn.Module):
    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, style_dim: int, upsample: bool = False,
                 blur_kernel=BLUR_KERNEL, demodulate: bool = True) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channel, out_channel, kernel_size, style_dim, upsample=upsample,
                                    blur_kernel=blur_kernel, demodulate=demodulate)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channel)

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        return self.activate(self.noise(self.conv(x, style), noise=noise))


class ToRGB(nn.Module):
    def __init__(self, in_channel: int, style_dim: int, upsample: bool = True, blur_kernel=BLUR_KERNEL) -> None:
        super().__init__()
        if upsample:
            self.upsample = Upsample(blur_kernel)
        self.conv = ModulatedConv2d(in_channel, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out = self.conv(x, style) + self.bias
        return out + self.upsample(skip) if skip is not None else out


def channel_table(channel_multiplier: int = 2) -> dict[int, int]:
    """Feature channels per resolution (rosinality's ``Generator.channels``)."""
    return {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * channel_multiplier, 128: 128 * channel_multiplier,
            256: 64 * channel_multiplier, 512: 32 * channel_multiplier, 1024: 16 * channel_multiplier}


class Generator(nn.Module):
    """rosinality's ``Generator(size, style_dim, n_mlp, channel_multiplier)``; FFHQ / e4e: (1024, 512, 8, 2).

    ``channels``: optional override of :func:`channel_table` for tiny test configs
    (resolution -> channels); the default is the public table.
    """

    def __init__(self, size: int, style_dim: int, n_mlp: int, channel_multiplier: int = 2, blur_kernel=BLUR_KERNEL,
                 lr_mlp: float = 0.01, channels: dict[int, int] | None = None) -> None:
        super().__init__()
        self.size, self.style_dim = size, style_dim
        self.style = nn.Sequential(PixelNorm(), *[EqualLinear(style_dim, style_dim, lr_mul=lr_mlp, activation="fused_lrelu")
                                                  for _ in range(n_mlp)])
        self.channels = dict(channels) if channels else channel_table(channel_multiplier)
        self.input = ConstantInput(self.channels[4])
        self.conv1 = StyledConv(self.channels[4], self.channels[4], 3, style_dim, blur_kernel=blur_kernel)
        self.to_rgb1 = ToRGB(self.channels[4], style_dim, upsample=False)
        self.log_size = int(math.log(size, 2))
        self.num_layers = (self.log_size - 2) * 2 + 1
        self.convs, self.to_rgbs = nn.ModuleList(), nn.ModuleList()
        self.noises = nn.Module()
        for layer in range(self.num_layers):
            resolution = 2 ** ((layer + 5) // 2)
            self.noises.register_buffer(f"noise_{layer}", torch.randn(1, 1, resolution, resolution))
        in_channel = self.channels[4]
        for i in range(3, self.log_size + 1):
            out_channel = self.channels[2 ** i]
            self.convs.append(StyledConv(in_channel, out_channel, 3, style_dim, upsample=True, blur_kernel=blur_kernel))
            self.convs.append(StyledConv(out_channel, out_channel, 3, style_dim, blur_kernel=blur_kernel))
            self.to_rgbs.append(ToRGB(out_channel, style_dim))
            in_channel = out_channel
        self.n_latent = self.log_size * 2 - 2

    def mean_latent(self, n_latent: int) -> torch.Tensor:
        """Mean w of ``n_latent`` random z (float ``[1, style_dim]``)."""
        return self.style(torch.randn(n_latent, self.style_dim, device=self.input.input.device)).mean(0, keepdim=True)

    def get_latent(self, z: torch.Tensor) -> torch.Tensor:
        return self.style(z)

    def forward(self, styles, return_latents: bool = False, inject_index: int | None = None, truncation: float = 1.0,
                truncation_latent: torch.Tensor | None = None, input_is_latent: bool = False, noise=None,
                randomize_noise: bool = True):
        """``(image float [B,3,size,size], w+ [B,n_latent,style_dim] or None)``, as rosinality.

        Style mixing with two styles needs ``inject_index`` (rosinality draws it from
        Python's ``random``; here it must be given, so results are reproducible).
        """
        if isinstance(styles, torch.Tensor):
            styles = [styles]
        if not input_is_latent:
            styles = [self.style(s) for s in styles]
        if noise is None:
            noise = [None] * self.num_layers if randomize_noise else [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]
        if truncation < 1:
            styles = [truncation_latent + truncation * (style - truncation_latent) for style in styles]
        if len(styles) < 2:
            latent = styles[0] if styles[0].ndim == 3 else styles[0].unsqueeze(1).repeat(1, self.n_latent, 1)
        else:
            if inject_index is None:
                raise ValueError("style mixing needs inject_index")
            latent = torch.cat([styles[0].unsqueeze(1).repeat(1, inject_index, 1),
                                styles[1].unsqueeze(1).repeat(1, self.n_latent - inject_index, 1)], 1)
        out = self.conv1(self.input(latent), latent[:, 0], noise=noise[0])
        skip = self.to_rgb1(out, latent[:, 1])
        i = 1
        for conv1, conv2, noise1, noise2, to_rgb in zip(self.convs[::2], self.convs[1::2], noise[1::2], noise[2::2], self.to_rgbs):
            out = conv1(out, latent[:, i], noise=noise1)
            out = conv2(out, latent[:, i + 1], noise=noise2)
            skip = to_rgb(out, latent[:, i + 2], skip)
            i += 2
        return (skip, latent) if return_latents else (skip, None)
