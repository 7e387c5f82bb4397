"""The emotion-space method's networks (Xu et al., CVPR 2023, §3.2-3.4).

- :class:`AudioEmotionEncoder`: the learned "CLIP audio encoder" of the AME (Transformer + CLS
  token) mapping a mel window into the CLIP joint space;
- :class:`EAC`: the emotion-aware audio-to-3DMM convertor (eq. 3-4) with the intensity token
  ``sigma = mu * sigma_base``;
- :class:`HEF`: the high-fidelity emotional face generator, a StyleGAN2-style generator whose
  every block warps the source's pyramid features by a flow refined residually, concatenates
  them with a modulated convolution of the previous features and the driving geometry's
  features (eq. 8), and adds a flow and an RGB residual (eq. 9-10);
- :class:`Discriminator`: a StyleGAN2-style residual image discriminator.

Images are float ``[B,3,H,W]`` in [-1, 1]; flows are ``[B,2,H,W]`` offsets in grid_sample's
normalised [-1, 1] units (x first).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

#: 3DMM slices (Deep3DFaceRecon layout) that form z_sty's input (eq. 7).
ID, EXP, TEX, ANGLE, GAMMA, TRANS = (slice(0, 80), slice(80, 144), slice(144, 224), slice(224, 227),
                                     slice(227, 254), slice(254, 257))
#: Mel frames (100 Hz) per video frame (25 fps).
MEL_PER_FRAME = 4
NUM_MELS = 80


class AudioEmotionEncoder(nn.Module):
    """mel float [B, M, 80] (100 Hz) -> unit-norm emotion embedding [B, clip_embed] in CLIP space."""

    def __init__(self, clip_embed: int, dim: int, layers: int, heads: int, max_frames: int = 1024) -> None:
        super().__init__()
        self.proj = nn.Linear(NUM_MELS, dim)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, max_frames + 1, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, dim * 4, dropout=0.0, batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, clip_embed)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        tokens = torch.cat([self.cls.expand(len(mel), -1, -1), self.proj(mel)], dim=1)
        tokens = tokens + self.pos[:, : tokens.shape[1]]
        pooled = self.norm(self.transformer(tokens)[:, 0])
        return F.normalize(self.head(pooled), dim=-1)


def _mlp(inputs: int, hidden: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inputs, hidden), nn.GELU(), nn.Linear(hidden, outputs))


class EAC(nn.Module):
    """Eq. 3-4: (mel [B, 4T, 80], z_emo [B, clip_embed], mu [B]) -> (beta_hat [B,T,64], sigma_hat [B,dim])."""

    def __init__(self, clip_embed: int, dim: int, layers: int, heads: int, max_frames: int = 512) -> None:
        super().__init__()
        self.sigma_base = nn.Parameter(torch.randn(dim) * 0.02)
        self.audio_mlp = _mlp(MEL_PER_FRAME * NUM_MELS, dim, dim)
        self.emotion_mlp = _mlp(clip_embed, dim, dim)
        self.pos = nn.Parameter(torch.randn(1, max_frames + 1, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, dim * 4, dropout=0.0, batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = _mlp(dim, dim, 64)

    def forward(self, mel: torch.Tensor, z_emo: torch.Tensor, mu: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, frames = len(mel), mel.shape[1] // MEL_PER_FRAME
        audio = self.audio_mlp(mel[:, : frames * MEL_PER_FRAME].reshape(batch, frames, MEL_PER_FRAME * NUM_MELS))
        sigma = mu.to(audio.dtype)[:, None, None] * self.sigma_base
        tokens = torch.cat([sigma, audio], dim=1) + self.pos[:, : frames + 1] + self.emotion_mlp(z_emo)[:, None]
        out = self.norm(self.transformer(tokens))
        return self.head(out[:, 1:]), out[:, 0]


class StyleConv(nn.Module):
    """StyleGAN2's modulated 3x3 convolution with demodulation, optional 2x upsampling first,
    noise injection, bias and leaky ReLU (gain sqrt 2). x [B,C,H,W], style [B,S] -> [B,out,H',W']."""

    def __init__(self, in_channels: int, out_channels: int, style_dim: int, upsample: bool) -> None:
        super().__init__()
        self.upsample = upsample
        self.weight = nn.Parameter(torch.randn(1, out_channels, in_channels, 3, 3))
        self.scale = 1 / math.sqrt(in_channels * 9)
        self.modulation = nn.Linear(style_dim, in_channels)
        nn.init.ones_(self.modulation.bias)
        self.noise_strength = nn.Parameter(torch.zeros(1))
        self.bias = nn.Parameter(torch.zeros(1, out_channels, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: bool = True) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        batch, channels, height, width = x.shape
        weight = self.scale * self.weight * self.modulation(style)[:, None, :, None, None]
        weight = weight * torch.rsqrt(weight.pow(2).sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
        out = F.conv2d(x.reshape(1, batch * channels, height, width),
                       weight.reshape(-1, channels, 3, 3), padding=1, groups=batch)
        out = out.reshape(batch, -1, height, width)
        if noise:
            out = out + self.noise_strength * torch.randn(batch, 1, height, width, device=x.device, dtype=x.dtype)
        out = out + self.bias
        return F.leaky_relu(out, 0.2) * math.sqrt(2)


class PyramidEncoder(nn.Module):
    """E_src / E_rd: image [B,3,S,S] -> features at the HEF block resolutions 8, 16, ..., S
    (coarse first), channels ``channels[i]`` at block i."""

    def __init__(self, image_size: int, channels: tuple[int, ...]) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, channels[-1], 3, padding=1), nn.LeakyReLU(0.2))
        self.downs = nn.ModuleList(
            nn.Sequential(nn.Conv2d(channels[i + 1], channels[i], 3, stride=2, padding=1), nn.LeakyReLU(0.2),
                          nn.Conv2d(channels[i], channels[i], 3, padding=1), nn.LeakyReLU(0.2))
            for i in reversed(range(len(channels) - 1))
        )

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        features = [self.stem(image)]
        for down in self.downs:
            features.append(down(features[-1]))
        return features[::-1]


def warp(features: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward warp: features [B,C,H,W] sampled at identity grid + flow [B,2,H,W] (normalised units)."""
    batch, _, height, width = features.shape
    ys = torch.linspace(-1, 1, height, device=features.device, dtype=features.dtype)
    xs = torch.linspace(-1, 1, width, device=features.device, dtype=features.dtype)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)[None]
    return F.grid_sample(features, grid + flow.permute(0, 2, 3, 1), mode="bilinear", padding_mode="border",
                         align_corners=True)


class HEF(nn.Module):
    """Eq. 7-10. ``source`` [B,3,S,S], ``geometry`` [B,3,S,S] (3DMM render or landmark sketch),
    ``style_input`` [B, 257 + dim]: see :meth:`style_vector` -> image [B,3,S,S] in ~[-1, 1]
    and the final flow [B,2,S,S]."""

    def __init__(self, image_size: int, blocks: int, channels: tuple[int, ...], encoder_channels: tuple[int, ...],
                 style_dim: int, sigma_dim: int) -> None:
        super().__init__()
        if image_size != 4 * 2 ** blocks or len(channels) != blocks + 1 or len(encoder_channels) != blocks:
            raise ValueError(f"HEF: image_size {image_size} must be 4 * 2**blocks ({blocks} blocks), "
                             f"with blocks + 1 channels and blocks encoder_channels")
        self.blocks = blocks
        self.style = nn.Linear(80 + 64 + 80 + 27 + 6 + sigma_dim, style_dim)  # eq. 7
        self.const = nn.Parameter(torch.randn(1, channels[0], 4, 4))
        self.first = StyleConv(channels[0], channels[0], style_dim, upsample=False)
        self.source_encoder = PyramidEncoder(image_size, encoder_channels)
        self.geometry_encoder = PyramidEncoder(image_size, encoder_channels)
        self.convs = nn.ModuleList()
        self.to_flow = nn.ModuleList()
        self.to_rgb = nn.ModuleList()
        previous = channels[0]
        for i in range(blocks):
            self.convs.append(StyleConv(previous, channels[i + 1], style_dim, upsample=True))
            fused = channels[i + 1] + 2 * encoder_channels[i]
            self.to_flow.append(nn.Conv2d(fused, 2, 3, padding=1))
            self.to_rgb.append(nn.Conv2d(fused, 3, 1))
            previous = fused
        for layer in self.to_flow:
            nn.init.zeros_(layer.weight), nn.init.zeros_(layer.bias)

    @staticmethod
    def style_vector(source_coeffs: torch.Tensor, driving_coeffs: torch.Tensor, sigma_hat: torch.Tensor) -> torch.Tensor:
        """Eq. 7's input [alpha_s, beta_d, delta_s, gamma_s, p_d, sigma_hat] from 257-d coefficients [B,257]."""
        pose = torch.cat([driving_coeffs[:, ANGLE], driving_coeffs[:, TRANS]], dim=1)
        return torch.cat([source_coeffs[:, ID], driving_coeffs[:, EXP], source_coeffs[:, TEX],
                          source_coeffs[:, GAMMA], pose, sigma_hat], dim=1)

    def forward(self, source: torch.Tensor, geometry: torch.Tensor, style_input: torch.Tensor,
                noise: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        batch = len(source)
        z_sty = self.style(style_input)
        source_features = self.source_encoder(source)
        geometry_features = self.geometry_encoder(geometry)
        features = self.first(self.const.expand(batch, -1, -1, -1), z_sty, noise)
        flow = torch.zeros(batch, 2, 4, 4, dtype=source.dtype, device=source.device)
        image = torch.zeros(batch, 3, 4, 4, dtype=source.dtype, device=source.device)
        for i in range(self.blocks):
            up_flow = F.interpolate(flow, scale_factor=2, mode="bilinear", align_corners=False)
            styled = self.convs[i](features, z_sty, noise)
            features = torch.cat([warp(source_features[i], up_flow), styled, geometry_features[i]], dim=1)  # eq. 8
            flow = self.to_flow[i](features) + up_flow  # eq. 9
            image = self.to_rgb[i](features) + F.interpolate(image, scale_factor=2, mode="bilinear",
                                                             align_corners=False)  # eq. 10
        return image, flow


class Discriminator(nn.Module):
    """StyleGAN2-style residual discriminator: image [B,3,S,S] in [-1, 1] -> logits [B]."""

    def __init__(self, image_size: int, max_channels: int) -> None:
        super().__init__()
        levels = int(math.log2(image_size)) - 2  # downsamplings to 4x4
        widths = [min(max_channels, 16 * 2 ** i) for i in range(levels + 1)]
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 1), nn.LeakyReLU(0.2))
        self.blocks = nn.ModuleList()
        for i in range(levels):
            self.blocks.append(nn.ModuleDict({
                "main": nn.Sequential(nn.Conv2d(widths[i], widths[i], 3, padding=1), nn.LeakyReLU(0.2),
                                      nn.Conv2d(widths[i], widths[i + 1], 3, stride=2, padding=1), nn.LeakyReLU(0.2)),
                "skip": nn.Conv2d(widths[i], widths[i + 1], 1, stride=2, bias=False),
            }))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(widths[-1] * 16, widths[-1]), nn.LeakyReLU(0.2),
                                  nn.Linear(widths[-1], 1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.stem(image)
        for block in self.blocks:
            x = (block["main"](x) + block["skip"](x)) / math.sqrt(2)
        return self.head(x).squeeze(1)
