"""Landmark-based editing (LE, §III-B): e4e inversion, pivotal tuning (eq. 4), per-frame latent
optimisation (eq. 5-7) and stitching tuning with a face-parsing mask, for one clip.

Images inside this module are float ``[B, 3, S, S]`` RGB in [-1, 1] (StyleGAN2's range) at
the generator's size ``S``; landmarks are float ``[T, 68, 2]`` pixels of the face crop.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tfbench.models.styleedit.config import StyleEditConfig
from tfbench.errors import TfbenchError

#: FAN heatmap side (64 x 64 per point, eq. 6) and its input side.
HEATMAP_SIZE, FAN_INPUT = 64, 256
#: Frames per batch in inversion, PTI and stitching.
BATCH = 4


class EditingNetworks(nn.Module):
    """The StyleGAN2 generator, the e4e encoder and ``latent_avg`` [n_latent, style_dim]."""

    def __init__(self, generator: nn.Module, encoder: nn.Module, latent_avg: torch.Tensor, encoder_size: int) -> None:
        super().__init__()
        self.generator, self.encoder, self.encoder_size = generator, encoder, encoder_size
        self.register_buffer("latent_avg", latent_avg)

    @classmethod
    def random(cls, cfg: StyleEditConfig) -> "EditingNetworks":
        """Random-initialised networks of ``cfg``'s sizes (the ``tiny`` demo; NON-CANONICAL)."""
        from tfbench.nets.e4e import Encoder4Editing
        from tfbench.nets.stylegan2 import Generator

        generator = Generator(cfg.gan_size, cfg.style_dim, cfg.n_mlp, channels=cfg.channel_table())
        encoder = Encoder4Editing(cfg.n_latent, cfg.encoder_widths, cfg.encoder_units, cfg.encoder_size)
        with torch.no_grad():
            latent_avg = generator.mean_latent(256).repeat(cfg.n_latent, 1)
        return cls(generator, encoder, latent_avg, cfg.encoder_size).eval()

    @classmethod
    def pretrained(cls, device: str = "cpu") -> "EditingNetworks":
        """e4e FFHQ from the weights manager (MissingWeightsError naming the fix)."""
        from tfbench.nets.e4e import load_e4e_ffhq

        encoder, generator, latent_avg = load_e4e_ffhq(device=device)
        return cls(generator, encoder, latent_avg, 256).eval()

    @torch.no_grad()
    def invert(self, faces: torch.Tensor) -> torch.Tensor:
        """e4e pivots: w+ ``[B, n_latent, style_dim]`` of faces ``[B,3,S,S]`` in [-1, 1]."""
        pivots = []
        for start in range(0, len(faces), BATCH):
            batch = F.interpolate(faces[start:start + BATCH], (self.encoder_size, self.encoder_size), mode="area")
            pivots.append(self.encoder(batch) + self.latent_avg)
        return torch.cat(pivots)


def synthesise(generator: nn.Module, w: torch.Tensor) -> torch.Tensor:
    """``G(w; theta)``: images ``[B,3,S,S]`` from w+ ``[B,n_latent,style_dim]``, fixed noise buffers."""
    return generator([w], input_is_latent=True, randomize_noise=False)[0]


class Perceptual(nn.Module):
    """``L_LPIPS`` per sample ``[B]``: LPIPS-alex v0.1 with gradients (paper), or the mean
    squared error (``tiny``: no AlexNet / LPIPS weights offline; stated non-canonical)."""

    def __init__(self, kind: str, device: str = "cpu") -> None:
        super().__init__()
        self.kind = kind
        self.net = None
        if kind == "lpips":
            from tfbench.nets.lpips import load_lpips

            self.net = load_lpips("alex", device=device).requires_grad_(False)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if self.net is None:
            return (a - b).square().flatten(1).mean(1)
        from tfbench.nets.lpips import NORM_EPS

        # the same sum as LPIPSNetwork.forward, without its no_grad (the loss must backpropagate)
        distance = a.new_zeros(a.shape[0])
        for feat_a, feat_b, linear in zip(self.net._layer_features(a), self.net._layer_features(b), self.net.linear):
            feat_a = feat_a / (feat_a.square().sum(1, keepdim=True).sqrt() + NORM_EPS)
            feat_b = feat_b / (feat_b.square().sum(1, keepdim=True).sqrt() + NORM_EPS)
            distance = distance + linear((feat_a - feat_b).square()).mean(dim=(2, 3))[:, 0]
        return distance


def fan_heatmap_network(device: str = "cpu") -> Callable[[torch.Tensor], torch.Tensor]:
    """FAN (``fan2d``) as a differentiable ``images [B,3,S,S] in [-1,1] -> heatmaps [B,68,64,64]``:
    the aligned face crop is resized to FAN's 256 x 256 input in [0, 1]."""
    from tfbench.face.fan import load_fan

    net = load_fan().to(device)
    for parameter in net.parameters():  # only the latents are optimised
        parameter.requires_grad_(False)

    def heatmaps(images: torch.Tensor) -> torch.Tensor:
        batch = F.interpolate((images + 1) / 2, (FAN_INPUT, FAN_INPUT), mode="bilinear", align_corners=False)
        out = net(batch)
        return out[-1] if isinstance(out, (list, tuple)) else out

    return heatmaps


def target_heatmaps(points: torch.Tensor, image_size: int, sigma: float) -> torch.Tensor:
    """Gaussian heatmaps ``[B, 68, 64, 64]`` (peak 1, std ``sigma`` heatmap pixels) of crop-pixel
    landmarks ``[B, 68, 2]`` of a ``image_size`` crop: the FAN-space target of eq. 6."""
    centres = points * (HEATMAP_SIZE / image_size) - 0.5
    grid = torch.arange(HEATMAP_SIZE, dtype=points.dtype, device=points.device)
    dx = (grid.view(1, 1, 1, -1) - centres[..., 0, None, None]) ** 2
    dy = (grid.view(1, 1, -1, 1) - centres[..., 1, None, None]) ** 2
    return torch.exp(-(dx + dy) / (2 * sigma ** 2))


def fan_loss(predicted: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. 6 per sample ``[B]``: ``sum_i a_i sqrt(sum_pixels (H1_i - H2_i)^2)`` over the 68 points
    (``a_i`` = ``weights`` [68], default 1)."""
    per_point = ((predicted - target).square().flatten(2).sum(-1) + 1e-12).sqrt()
    if weights is not None:
        per_point = per_point * weights
    return per_point.sum(-1)


@dataclass
class EditLog:
    """What the editing did (recorded for tests and notes): per-frame objective before and
    after its latent optimisation, PTI and stitching losses, seconds per stage."""

    latent_first: list[float] = field(default_factory=list)
    latent_last: list[float] = field(default_factory=list)
    pti: list[float] = field(default_factory=list)
    stitch: list[float] = field(default_factory=list)
    seconds: dict = field(default_factory=dict)


class BudgetExceeded(TfbenchError):
    """The clip took longer than its time budget."""


class Editor:
    """Runs LE on one clip: ``edit(faces, targets, masks) -> edited crops``.

    ``heatmaps``: FAN as ``images -> [B,68,64,64]`` (None: the FAN loss is left out);
    ``perceptual``: :class:`Perceptual`; ``seed`` fixes PTI's frame order and locality
    samples; ``time_budget`` seconds (0 = none) raises :class:`BudgetExceeded`;
    ``progress(stage, done, total)`` is called as work advances.
    """

    def __init__(self, nets: EditingNetworks, cfg: StyleEditConfig, perceptual: Perceptual,
                 heatmaps: Callable[[torch.Tensor], torch.Tensor] | None, *, seed: int = 0, time_budget: float = 0.0,
                 progress: Callable[[str, int, int], None] | None = None, clip_id: str = "") -> None:
        self.nets, self.cfg, self.perceptual, self.heatmaps = nets, cfg, perceptual, heatmaps
        self.seed, self.time_budget, self.clip_id = int(seed), float(time_budget), clip_id
        self.progress = progress or (lambda stage, done, total: None)
        self.log = EditLog()
        self.started = time.perf_counter()

    def _check_budget(self, where: str) -> None:
        spent = time.perf_counter() - self.started
        if self.time_budget and spent > self.time_budget:
            raise BudgetExceeded(f"clip {self.clip_id!r}: {spent:.0f} s spent, over its time budget of "
                                 f"{self.time_budget:g} s ({where}); raise it with --set time_budget=SECONDS (0 = none)")

    # ------------------------------------------------------------------ eq. 4

    def pivotal_tuning(self, faces: torch.Tensor, pivots: torch.Tensor, generator: torch.Generator) -> nn.Module:
        """PTI: a copy of G tuned so ``G(w_i)`` reconstructs ``f_i``: LPIPS + lambda_L2 L2 +
        lambda_R locality regularisation (PTI's ``calc_loss`` / ``Space_Regulizer``)."""
        cfg = self.cfg
        original = self.nets.generator
        tuned = copy.deepcopy(original).train().requires_grad_(True)
        optimizer = torch.optim.Adam(tuned.parameters(), lr=cfg.pti_lr)
        for step in range(cfg.pti_steps):
            index = torch.randperm(len(faces), generator=generator)[:BATCH]
            w, target = pivots[index], faces[index]
            image = synthesise(tuned, w)
            loss = (cfg.lambda_pti_lpips * self.perceptual(image, target).mean()
                    + cfg.lambda_pti_l2 * F.mse_loss(image, target))
            if cfg.lambda_locality:
                z = torch.randn(1, original.style_dim, generator=generator).to(w.device)
                with torch.no_grad():
                    w_z = original.style(z)[:, None].expand(1, w.shape[1], -1)
                    direction = w_z - w[:1]
                    w_r = w[:1] + cfg.locality_alpha * direction / direction.norm()
                    old = synthesise(original, w_r)
                new = synthesise(tuned, w_r)
                loss = loss + cfg.lambda_locality * (F.mse_loss(new, old) + self.perceptual(new, old).mean())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            self.log.pti.append(loss.item())
            self.progress("pivotal tuning", step + 1, cfg.pti_steps)
            self._check_budget("pivotal tuning")
        return tuned.eval().requires_grad_(False)

    # ------------------------------------------------------------------ eq. 5-7

    def objective(self, generator: nn.Module, w: torch.Tensor, face: torch.Tensor, target: torch.Tensor | None,
                  previous: torch.Tensor | None) -> torch.Tensor:
        """Eq. 5 for one frame: ``l_LPIPS L_LPIPS(x_i, f_i) + l_fan L_fan + l_smooth ||w_{i-1} - w_i||^2``."""
        cfg = self.cfg
        image = synthesise(generator, w)
        loss = cfg.lambda_lpips * self.perceptual(image, face).sum()
        if self.heatmaps is not None and target is not None:
            loss = loss + cfg.lambda_fan * fan_loss(self.heatmaps(image), target).sum()
        if previous is not None:
            loss = loss + cfg.lambda_smooth * (previous - w).square().sum()
        return loss

    def optimise_latents(self, generator: nn.Module, faces: torch.Tensor, pivots: torch.Tensor,
                         targets: torch.Tensor) -> torch.Tensor:
        """Per-frame latent optimisation in frame order (generator fixed): w+ ``[T, n_latent, style]``.

        ``targets``: target landmarks ``[T, 68, 2]`` in crop pixels (their heatmaps are FAN's target).
        """
        cfg = self.cfg
        size = faces.shape[-1]
        heat = target_heatmaps(targets, size, cfg.fan_sigma) if self.heatmaps is not None else None
        latents, previous = [], None
        for i in range(len(faces)):
            w = pivots[i:i + 1].clone().requires_grad_(True)
            optimizer = torch.optim.Adam([w], lr=cfg.latent_lr)
            for step in range(cfg.latent_steps):
                loss = self.objective(generator, w, faces[i:i + 1], heat[i:i + 1] if heat is not None else None, previous)
                if step == 0:
                    self.log.latent_first.append(loss.item())
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            with torch.no_grad():
                self.log.latent_last.append(self.objective(
                    generator, w, faces[i:i + 1], heat[i:i + 1] if heat is not None else None, previous).item())
            previous = w.detach()
            latents.append(previous)
            self.progress("latent optimisation", i + 1, len(faces))
            self._check_budget(f"latent optimisation, frame {i + 1} of {len(faces)}")
        return torch.cat(latents)

    # ------------------------------------------------------------------ stitching (STIT)

    def stitching_tuning(self, generator: nn.Module, faces: torch.Tensor, latents: torch.Tensor, masks: torch.Tensor,
                         borders: torch.Tensor, rng: torch.Generator) -> nn.Module:
        """``L_r = L1(G(w)*b, f*b) + lambda_m L1(G(w)*m, G(w; theta_orig)*m)``, tuning a copy of G."""
        cfg = self.cfg
        tuned = copy.deepcopy(generator).train().requires_grad_(True)
        optimizer = torch.optim.Adam(tuned.parameters(), lr=cfg.stitch_lr)
        for step in range(cfg.stitch_steps):
            index = torch.randperm(len(faces), generator=rng)[:BATCH]
            w, m, b = latents[index], masks[index], borders[index]
            with torch.no_grad():
                before = synthesise(generator, w)
            image = synthesise(tuned, w)
            loss = F.l1_loss(image * b, faces[index] * b) + cfg.lambda_mask * F.l1_loss(image * m, before * m)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            self.log.stitch.append(loss.item())
            self.progress("stitching tuning", step + 1, cfg.stitch_steps)
            self._check_budget("stitching tuning")
        return tuned.eval().requires_grad_(False)

    def edit(self, faces: torch.Tensor, targets: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole LE pipeline. ``faces`` ``[T,3,S,S]`` in [-1,1]; ``targets`` ``[T,68,2]`` crop
        pixels; ``masks`` float ``[T,1,S,S]`` in {0,1} (face region of the original crops).
        Returns ``(edited [T,3,S,S] in [-1,1], blend [T,1,S,S] in [0,1])``."""
        import cv2

        cfg = self.cfg
        rng = torch.Generator().manual_seed(self.seed)
        tick = time.perf_counter()
        pivots = self.nets.invert(faces)
        self.log.seconds["inversion"] = time.perf_counter() - tick
        tick = time.perf_counter()
        tuned = self.pivotal_tuning(faces, pivots, rng) if cfg.pti_steps else self.nets.generator
        self.log.seconds["pti"] = time.perf_counter() - tick
        tick = time.perf_counter()
        latents = self.optimise_latents(tuned, faces, pivots, targets)
        self.log.seconds["latents"] = time.perf_counter() - tick
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * cfg.border_dilation + 1,) * 2)
        dilated = torch.from_numpy(np.stack([cv2.dilate(m[0].numpy().astype(np.uint8), kernel) for m in masks.cpu()])
                                   ).float()[:, None].to(masks.device)
        borders = dilated - masks
        tick = time.perf_counter()
        stitched = self.stitching_tuning(tuned, faces, latents, masks, borders, rng) if cfg.stitch_steps else tuned
        self.log.seconds["stitching"] = time.perf_counter() - tick
        with torch.no_grad():
            edited = torch.cat([synthesise(stitched, latents[s:s + BATCH]) for s in range(0, len(latents), BATCH)])
        blur = 2 * max(1, cfg.border_dilation // 2) + 1
        blend = torch.from_numpy(np.stack([cv2.GaussianBlur(d[0].numpy(), (blur, blur), 0) for d in dilated.cpu()])
                                 )[:, None].to(faces.device).clamp(0, 1)
        return edited.clamp(-1, 1), blend
