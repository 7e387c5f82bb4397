"""CPNet's objectives (paper §III-C, §III-D, eq. 3-8).

Images float32 ``[N, 3, S, S]`` in [0, 1]; density maps ``[N, 1, S, S]``. Every loss
returns a scalar tensor. ``‖a - b‖₂`` of the paper is implemented as the root mean square
of ``a - b`` per frame, averaged over frames: the L2 norm divided by sqrt(S²), so the
values and the weights λ do not change with the resolution (documented choice).
"""

from __future__ import annotations

import torch


def lsgan_real(scores: torch.Tensor) -> torch.Tensor:
    """``E[(D(·) - 1)²]``: the real term of eq. (4)/(6), and the generator's adversarial loss."""
    return ((scores - 1) ** 2).mean()


def lsgan_fake(scores: torch.Tensor) -> torch.Tensor:
    """``E[D(·)²]``: the fake term of eq. (4)/(6)."""
    return (scores ** 2).mean()


def rms(difference: torch.Tensor) -> torch.Tensor:
    """Per-frame root mean square of ``[N, ...]``, averaged over N (our ``‖·‖₂``)."""
    return difference.flatten(1).pow(2).mean(1).add(1e-12).sqrt().mean()


def probability_map_loss(predictor, generated: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Eq. (7) ``L_p = ‖P(s) - P(y)‖₂``; P is not updated by this loss (its parameters get no
    gradient step from the generator's optimiser) and ``P(y)`` is a constant."""
    with torch.no_grad():
        target = predictor(real)
    return rms(predictor(generated) - target)


def predictor_loss(predictor, real: torch.Tensor, generated: torch.Tensor, density: torch.Tensor,
                   lam: float, margin: float) -> tuple[torch.Tensor, dict[str, float]]:
    """Eq. (3) with the push term bounded like a hinge:

    ``l_dmp = ‖P(I) - y_p‖₂ + λ max(0, m - ‖P(I') - P(I)‖₂)``

    which equals the paper's ``‖P(I) - y_p‖₂ - λ‖P(I') - P(I)‖₂`` plus the constant ``λ m``
    while the two predictions are closer than ``m``, and stops pushing beyond ``m`` (the
    unbounded form diverges). ``generated`` is detached: P does not train the generator.
    """
    on_real = predictor(real)
    fit = rms(on_real - density)
    separation = rms(predictor(generated.detach()) - on_real)
    loss = fit + lam * torch.relu(margin - separation)
    return loss, {"p_fit": fit.item(), "p_separation": separation.item()}


class VGGPerceptual(torch.nn.Module):
    """Eq. (5) ``L_r = (1/l) Σ_l ‖φ^l(s) - φ^l(y)‖₁``: the mean absolute difference of VGG-19
    relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 features (ImageNet-normalised inputs),
    averaged over the five layers. ``features``: a frozen callable image ``[N,3,H,W]`` in
    [0, 1] -> list of feature maps (the shared VGG-19 of tfbench.nets)."""

    def __init__(self, features: torch.nn.Module) -> None:
        super().__init__()
        self.features = features

    def forward(self, generated: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            targets = self.features(real)
        outputs = self.features(generated)
        return sum((o - t).abs().mean() for o, t in zip(outputs, targets)) / len(outputs)
