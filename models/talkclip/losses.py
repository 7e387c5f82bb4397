"""TalkCLIP's losses (§4.2, eq. 2-4) and the renderer's (PIRenderer ``loss/perceptual.py``).

Expression tensors are float ``[B, L, 64]`` (frames x coefficients).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: SSIM window over time (frames) and its Gaussian sigma: Wang et al. 2004's 11 / 1.5.
SSIM_WINDOW, SSIM_SIGMA = 11, 1.5
#: SSIM constants (K1 L)^2, (K2 L)^2 with K1 0.01, K2 0.03 and dynamic range L = 1
#: (Deep3DFaceRecon expression coefficients are of order 1).
SSIM_C1, SSIM_C2 = 0.01 ** 2, 0.03 ** 2


def ssim_1d(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean SSIM of each coefficient's trajectory over time (Gaussian window, valid part).

    ``[B, L, C]`` -> scalar. The paper does not say how SSIM applies to a coefficient
    sequence; tfbench treats each coefficient as a 1-D signal over the L frames.
    """
    length = pred.shape[1]
    size = min(SSIM_WINDOW, length - (1 - length % 2))  # odd, <= L
    x = torch.arange(size, dtype=pred.dtype, device=pred.device) - size // 2
    kernel = torch.exp(-x ** 2 / (2 * SSIM_SIGMA ** 2))
    kernel = (kernel / kernel.sum()).view(1, 1, size)
    b, _, c = pred.shape
    p, t = pred.transpose(1, 2).reshape(b * c, 1, length), target.transpose(1, 2).reshape(b * c, 1, length)

    def blur(v):
        return F.conv1d(v, kernel)

    mu_p, mu_t = blur(p), blur(t)
    var_p = blur(p * p) - mu_p ** 2
    var_t = blur(t * t) - mu_t ** 2
    cov = blur(p * t) - mu_p * mu_t
    ssim = ((2 * mu_p * mu_t + SSIM_C1) * (2 * cov + SSIM_C2)) / ((mu_p ** 2 + mu_t ** 2 + SSIM_C1) * (var_p + var_t + SSIM_C2))
    return ssim.mean()


def reconstruction_loss(pred: torch.Tensor, target: torch.Tensor, mu: float) -> torch.Tensor:
    """Eq. 2: ``mu * L1 + (1 - mu) * (1 - SSIM)`` over ``delta_{1:L}``."""
    return mu * F.l1_loss(pred, target) + (1 - mu) * (1 - ssim_1d(pred, target))


def cosine_loss(s_t: torch.Tensor, s_v: torch.Tensor) -> torch.Tensor:
    """Eq. 3: ``1 - cos(s_t, s_v)``, mean over the batch."""
    return (1 - F.cosine_similarity(s_t, s_v, dim=-1)).mean()


def hinge_generator(fake_logits: torch.Tensor) -> torch.Tensor:
    return -fake_logits.mean()


def hinge_discriminator(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


def sync_bce(probability: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of D_sync's probabilities (Wav2Lip's expert loss)."""
    return F.binary_cross_entropy(probability.clamp(1e-6, 1 - 1e-6), label)


def sync_windows(exp: torch.Tensor, phones: torch.Tensor, frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every ``frames``-long window of ``exp [B, L, C]`` and ``phones [B, L, W]`` (stride 1)
    -> ``[B*(L-frames+1), frames, C]`` and ``[B*(L-frames+1), frames, W]``."""
    e = exp.unfold(1, frames, 1).permute(0, 1, 3, 2).flatten(0, 1)
    p = phones.unfold(1, frames, 1).permute(0, 1, 3, 2).flatten(0, 1)
    return e, p


class PerceptualLoss(torch.nn.Module):
    """PIRenderer's VGG-19 perceptual loss (``loss/perceptual.py``): relu1_1 ... relu5_1, L1,
    weights 1, ``num_scales`` scales (bilinear x0.5 between), images in [-1, 1] mapped to
    ImageNet statistics; with ``style_weight`` > 0, plus that weight x the L1 of Gram
    matrices (``b c c / (h w c)``) at the first scale."""

    LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")

    def __init__(self, vgg: torch.nn.Module, num_scales: int = 4, style_weight: float = 0.0) -> None:
        super().__init__()
        self.vgg = vgg.eval()
        for p in self.vgg.parameters():
            p.requires_grad_(False)
        self.num_scales, self.style_weight = num_scales, style_weight
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        return _vgg_layers(self.vgg, ((x + 1) / 2 - self.mean) / self.std)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = pred.new_zeros(())
        style = pred.new_zeros(())
        for scale in range(self.num_scales):
            fp, ft = self._features(pred), self._features(target)
            for a, b in zip(fp, ft):
                b = b.detach()
                loss = loss + F.l1_loss(a, b)
                if self.style_weight and scale == 0:
                    style = style + F.l1_loss(_gram(a), _gram(b))
            if scale != self.num_scales - 1:
                pred = F.interpolate(pred, scale_factor=0.5, mode="bilinear", align_corners=False, recompute_scale_factor=True)
                target = F.interpolate(target, scale_factor=0.5, mode="bilinear", align_corners=False, recompute_scale_factor=True)
        return loss + self.style_weight * style


def _gram(x: torch.Tensor) -> torch.Tensor:
    b, c, h, w = x.shape
    f = x.view(b, c, h * w)
    return f.bmm(f.transpose(1, 2)) / (h * w * c)


def _vgg_layers(vgg: torch.nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 of torchvision's ``vgg19().features``
    (indices 1, 6, 11, 20, 29)."""
    features = getattr(vgg, "features", vgg)
    outs = []
    for index, layer in enumerate(features):
        x = layer(x)
        if index in (1, 6, 11, 20, 29):
            outs.append(x)
            if index == 29:
                break
    return outs
