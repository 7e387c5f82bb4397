"""G4G's networks (paper section 3), built from a :class:`~tfbench.models.g4g.config.G4GConfig`.

Tensor conventions: images float32 ``[N, C, H, W]`` in [0, 1] with ``H x W`` the face
crop (416 x 320 in the paper); ``N`` counts frames (batch x clip frames flattened).

Data flow of :class:`G4GGenerator` (symbols of the paper):

1. ``E_s`` encodes the masked source ``I_s``, ``E_r`` the five references ``I_r`` (15
   channels), ``E_l`` the landmark sketch ``L_r`` (1 channel); ``E_a`` the mel window ``A``.
2. A 1x1 convolution fuses ``E_s`` and ``E_r`` features and downsamples them: ``ī_s``.
3. Intra-modality alignment: residual blocks whose AdaIN statistics ``σ̇, μ̇`` come from
   fully-connected layers on ``l_r``: ``ī_align``.
4. Inter-modality alignment: projections ``g_v(ī_align)``, ``g_a(a)`` (contrastive loss).
5. AdaAT: per-channel rotation / translation / scale of the reference feature ``F_ref``,
   coefficients from ``[ī_align, a]``; decoder on ``[F_s, F_d]``.
6. Gaussian-smoothed mask compositing into the source face, then the blend net, then the
   same compositing again so pixels outside the mask are the source's.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from tfbench.models.g4g.config import G4GConfig

# ------------------------------------------------------------------ building blocks


class SameBlock2d(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: int = 3) -> None:
        super().__init__(nn.Conv2d(cin, cout, kernel, padding=kernel // 2), nn.BatchNorm2d(cout), nn.ReLU())


class DownBlock2d(nn.Sequential):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.BatchNorm2d(cout), nn.ReLU())


class UpBlock2d(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.body = SameBlock2d(cin, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class ResBlock2d(nn.Module):
    """Pre-activation residual block (BN, ReLU, conv) x 2."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(channels), nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1),
            nn.BatchNorm2d(channels), nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SameBlock1d(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1) -> None:
        super().__init__(nn.Conv1d(cin, cout, kernel, stride=stride, padding=kernel // 2), nn.BatchNorm1d(cout), nn.ReLU())


class ResBlock1d(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm1d(channels), nn.ReLU(), nn.Conv1d(channels, channels, 3, padding=1),
            nn.BatchNorm1d(channels), nn.ReLU(), nn.Conv1d(channels, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def image_encoder(cin: int, base: int, cout: int) -> nn.Sequential:
    """``[N, cin, H, W] -> [N, cout, H/4, W/4]`` (DINet's source / reference encoder)."""
    return nn.Sequential(SameBlock2d(cin, base, 7), DownBlock2d(base, 2 * base), DownBlock2d(2 * base, cout))


# ------------------------------------------------------------------ G4G components


class AdaIN(nn.Module):
    """Eq. (5): ``σ̇ (x - μ(x)) / σ(x) + μ̇`` with ``σ̇, μ̇`` from a linear layer on ``cond``.

    ``σ̇`` is parameterised as ``1 + fc(cond)`` so an untrained layer starts as plain
    instance normalisation.
    """

    def __init__(self, channels: int, cond_dim: int) -> None:
        super().__init__()
        self.fc = nn.Linear(cond_dim, 2 * channels)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        scale, shift = self.fc(cond).chunk(2, dim=1)
        mean = x.mean(dim=(2, 3), keepdim=True)
        std = (x.var(dim=(2, 3), keepdim=True, unbiased=False) + 1e-5).sqrt()
        return (1 + scale[..., None, None]) * (x - mean) / std + shift[..., None, None]


class AdaINResBlock(nn.Module):
    """Residual block with AdaIN normalisation (the intra-modality alignment network)."""

    def __init__(self, channels: int, cond_dim: int) -> None:
        super().__init__()
        self.norm1, self.norm2 = AdaIN(channels, cond_dim), AdaIN(channels, cond_dim)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.norm1(x, cond)))
        out = self.conv2(F.relu(self.norm2(out, cond)))
        return x + out


class AudioEncoder(nn.Module):
    """``E_a``: mel window float32 ``[N, 16, 80]`` (time x mel) -> ``a`` ``[N, d]``."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            SameBlock1d(80, d, 5), ResBlock1d(d), SameBlock1d(d, d, 3, stride=2),
            ResBlock1d(d), SameBlock1d(d, d, 3, stride=2), SameBlock1d(d, d, 3),
        )

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.body(mel.transpose(1, 2)).mean(dim=2)


class AdaAT(nn.Module):
    """Eq. (18): per-channel rotation ``θ^c``, translation ``t^c`` and scale ``s^c`` of a feature map.

    Ranges as DINet: ``s in (0, 2)``, ``θ in (-π, π)``, ``t in (-1, 1)`` (normalised
    coordinates). Each channel is resampled with its own affine grid (bilinear, zeros
    outside).
    """

    def __init__(self, code_dim: int, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.shared = nn.Sequential(nn.Linear(code_dim, code_dim), nn.ReLU())
        self.scale = nn.Linear(code_dim, channels)
        self.rotation = nn.Linear(code_dim, channels)
        self.translation = nn.Linear(code_dim, 2 * channels)

    def forward(self, feature: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        n, c, h, w = feature.shape
        code = self.shared(code)
        scale = 2 * torch.sigmoid(self.scale(code)).reshape(n * c)
        angle = math.pi * torch.tanh(self.rotation(code)).reshape(n * c)
        shift = torch.tanh(self.translation(code)).reshape(n * c, 2)
        cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
        theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
        grid = F.affine_grid(theta, [n * c, 1, h, w], align_corners=False)
        warped = F.grid_sample(feature.reshape(n * c, 1, h, w), grid, align_corners=False)
        return warped.reshape(n, c, h, w)


def gaussian_mouth_mask(config: G4GConfig, height: int | None = None, width: int | None = None) -> torch.Tensor:
    """The Gaussian-smoothed compositing mask, float32 ``[1, 1, H, W]`` in [0, 1].

    Exactly 1 on the whole mouth region (no ground-truth pixel of the hidden region ever
    leaks into the output) and falling off smoothly outside it: a rectangle dilated by
    1/16 of the mouth size, blurred with σ = 1/32 of the mouth size, max'ed with the hard
    rectangle. ``height, width`` rescale the mask to another resolution (paste-back).
    """
    top, left, bottom, right = config.mouth_box
    height, width = height or config.face_height, width or config.face_width
    sy, sx = height / config.face_height, width / config.face_width
    yy = (torch.arange(height, dtype=torch.float32) + 0.5) / sy
    xx = (torch.arange(width, dtype=torch.float32) + 0.5) / sx
    hard = ((yy >= top) & (yy < bottom))[:, None] & ((xx >= left) & (xx < right))[None, :]
    grow, sigma = config.mouth_size / 16, config.mouth_size / 32
    # Dilated rectangle blurred by a Gaussian = product of 1-D error-function ramps.
    ramp_y = 0.5 * (torch.erf((yy - top + grow) / (sigma * math.sqrt(2))) - torch.erf((yy - bottom - grow) / (sigma * math.sqrt(2))))
    ramp_x = 0.5 * (torch.erf((xx - left + grow) / (sigma * math.sqrt(2))) - torch.erf((xx - right - grow) / (sigma * math.sqrt(2))))
    soft = ramp_y[:, None] * ramp_x[None, :]
    return torch.maximum(soft, hard.float())[None, None]


class BlendNet(nn.Module):
    """Fuses the composited face with the masked source into the final face (no residual)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.inp = SameBlock2d(6, channels, 3)
        self.down = nn.Sequential(DownBlock2d(channels, 2 * channels), ResBlock2d(2 * channels), ResBlock2d(2 * channels))
        self.up = UpBlock2d(2 * channels, channels)
        self.out = nn.Sequential(SameBlock2d(2 * channels, channels, 3), nn.Conv2d(channels, 3, 3, padding=1), nn.Sigmoid())

    def forward(self, composite: torch.Tensor, masked_source: torch.Tensor) -> torch.Tensor:
        skip = self.inp(torch.cat([composite, masked_source], 1))
        return self.out(torch.cat([self.up(self.down(skip)), skip], 1))


class G4GGenerator(nn.Module):
    """Everything of G4G that runs at inference, plus the projection heads of the contrastive loss."""

    def __init__(self, config: G4GConfig) -> None:
        super().__init__()
        c, d, base = config.feature_channels, config.align_channels, config.base_channels
        self.config = config
        self.source_encoder = image_encoder(3, base, c)  # E_s
        self.reference_encoder = image_encoder(3 * config.num_references, base, c)  # E_r
        self.landmark_encoder = image_encoder(1, base, c)  # E_l
        self.landmark_head = nn.Linear(c, d)  # l_r in R^d
        self.audio_encoder = AudioEncoder(d)  # E_a
        self.fuse = nn.Conv2d(2 * c, d, kernel_size=1)  # the "1D convolution" concatenating i_s and i_r
        self.align_encoder = nn.Sequential(
            SameBlock2d(d, d, 3), DownBlock2d(d, d), SameBlock2d(d, d, 3), DownBlock2d(d, d), SameBlock2d(d, d, 3), DownBlock2d(d, d),
        )
        self.intra_alignment = nn.ModuleList(AdaINResBlock(d, d) for _ in range(config.adain_blocks))
        self.project_visual = nn.Linear(d, config.embed_dim)  # g_v
        self.project_audio = nn.Linear(d, config.embed_dim)  # g_a
        self.appearance_before = nn.Sequential(*[ResBlock2d(c) for _ in range(config.appearance_blocks)])
        self.adaat = AdaAT(2 * d, c)
        self.appearance_after = nn.Sequential(*[ResBlock2d(c) for _ in range(config.appearance_blocks)])
        self.decoder = nn.Sequential(
            SameBlock2d(2 * c, c // 2, 3), UpBlock2d(c // 2, c // 2), ResBlock2d(c // 2), UpBlock2d(c // 2, c // 2),
            nn.Conv2d(c // 2, 3, 7, padding=3), nn.Sigmoid(),
        )
        self.blend = BlendNet(config.blend_channels)
        self.register_buffer("mask", gaussian_mouth_mask(config), persistent=False)
        top, left, bottom, right = config.mouth_box
        hidden = torch.ones(1, 1, config.face_height, config.face_width)
        hidden[..., top:bottom, left:right] = 0
        self.register_buffer("keep", hidden, persistent=False)

    def mask_source(self, faces: torch.Tensor) -> torch.Tensor:
        """Hide the mouth region (zeros), the lower-half occluded source ``I_s``."""
        return faces * self.keep

    def forward(self, faces: torch.Tensor, references: torch.Tensor, sketch: torch.Tensor, mel: torch.Tensor) -> dict[str, torch.Tensor]:
        """One output face per input frame.

        faces: ``[N, 3, H, W]`` source faces in [0, 1] (unmasked; masked here, and used
        outside the mask for compositing); references: ``[N, 3K, H, W]``; sketch:
        ``[N, 1, H, W]`` landmark sketch in {0, 1}; mel: ``[N, 16, 80]``.
        Returns ``output`` ``[N, 3, H, W]`` plus the features the losses need.
        """
        masked = self.mask_source(faces)
        source_feature = self.source_encoder(masked)  # F_s
        reference_feature = self.reference_encoder(references)  # F_ref
        landmark = self.landmark_head(self.landmark_encoder(sketch).mean(dim=(2, 3)))  # l_r
        audio = self.audio_encoder(mel)  # a
        fused = self.align_encoder(self.fuse(torch.cat([source_feature, reference_feature], 1)))  # ī_s
        aligned = fused
        for block in self.intra_alignment:
            aligned = block(aligned, landmark)  # ī_align
        visual = aligned.mean(dim=(2, 3))
        code = torch.cat([visual, audio], 1)  # F̄_aligned
        deformed = self.appearance_after(self.adaat(self.appearance_before(reference_feature), code))  # F_d
        decoded = self.decoder(torch.cat([source_feature, deformed], 1))
        composite = self.mask * decoded + (1 - self.mask) * faces
        blended = self.blend(composite, masked)
        output = self.mask * blended + (1 - self.mask) * faces
        return {
            "output": output, "decoded": decoded,
            "source_vector": fused.mean(dim=(2, 3)), "landmark_vector": landmark,
            "visual_vector": visual, "audio_vector": audio,
        }


class MomentumProjections(nn.Module):
    """``g'_v, g'_a``: exponential moving averages of the projection heads (negative samples)."""

    def __init__(self, generator: G4GGenerator) -> None:
        super().__init__()
        self.visual = copy.deepcopy(generator.project_visual).requires_grad_(False)
        self.audio = copy.deepcopy(generator.project_audio).requires_grad_(False)

    @torch.no_grad()
    def update(self, generator: G4GGenerator, momentum: float) -> None:
        for mine, online in ((self.visual, generator.project_visual), (self.audio, generator.project_audio)):
            for target, source in zip(mine.parameters(), online.parameters()):
                target.mul_(momentum).add_(source.detach(), alpha=1 - momentum)


class PatchDiscriminator(nn.Module):
    """LS-GAN patch discriminator: ``[N, cin, H, W]`` -> score map ``[N, 1, H/8, W/8]``."""

    def __init__(self, cin: int, channels: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = cin
        for out in (channels, 2 * channels, 4 * channels):
            layers += [nn.Conv2d(width, out, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            width = out
        layers.append(nn.Conv2d(width, 1, 3, padding=1))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
