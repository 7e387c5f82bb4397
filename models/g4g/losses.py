"""G4G's training objectives (paper section 3.3, eq. 19-24).

Images are float32 ``[N, 3, H, W]`` in [0, 1]. Every loss returns a scalar tensor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tfbench.nets.vgg19 import RELU_LAYERS as VGG_LAYERS


def attribute_loss(source_vector: torch.Tensor, landmark_vector: torch.Tensor) -> torch.Tensor:
    """Eq. (19) L_v: ``1 - cos(ī_s, l_r)``, mean over frames. Inputs ``[N, d]``."""
    return (1 - F.cosine_similarity(source_vector, landmark_vector, dim=1)).mean()


class VGGPerceptual(nn.Module):
    """Eq. (20) L_p: L1 between VGG-19 features of output and ground truth at two scales.

    Per layer the L1 norm is divided by the layer's ``C x H x W`` (a mean), summed over the
    ``N = 5`` layers, divided by ``2N`` (two scales). Features: :class:`tfbench.nets.vgg19.VGG19Features`
    (weights ``vgg19``, ImageNet-normalised input, frozen).
    """

    def __init__(self) -> None:
        super().__init__()
        from tfbench.nets.vgg19 import VGG19Features

        self.vgg = VGG19Features()

    def _features(self, images: torch.Tensor) -> list[torch.Tensor]:
        return self.vgg(images)

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        total = output.new_zeros(())
        for scale in (1.0, 0.5):
            o = output if scale == 1.0 else F.interpolate(output, scale_factor=scale, mode="bilinear", align_corners=False)
            t = target if scale == 1.0 else F.interpolate(target, scale_factor=scale, mode="bilinear", align_corners=False)
            for fo, ft in zip(self._features(o), self._features(t.detach())):
                total = total + (fo - ft).abs().mean()
        return total / (2 * len(VGG_LAYERS))

    def train(self, mode: bool = True) -> "VGGPerceptual":
        return super().train(False)  # always frozen, BN-free, eval


def lsgan_generator(fake_scores: torch.Tensor) -> torch.Tensor:
    """LS-GAN L_G: ``mean((D(fake) - 1)^2)``."""
    return ((fake_scores - 1) ** 2).mean()


def lsgan_discriminator(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """LS-GAN L_D: ``(mean((D(real) - 1)^2) + mean(D(fake)^2)) / 2``."""
    return 0.5 * (((real_scores - 1) ** 2).mean() + (fake_scores ** 2).mean())


def multiscale_reconstruction(output: torch.Tensor, target: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Eq. (22) L_r with the multi-scale mask supervision: masked L1 per scale, averaged.

    ``masks``: ``[N, S, H, W]`` in {0, 1}, one mask per scale (whole face, mouth region,
    lips box). Each scale's L1 is normalised by its mask area, so small regions count as
    much as the whole face.
    """
    error = (output - target).abs().mean(dim=1, keepdim=True)  # [N,1,H,W]
    per_scale = (error * masks).sum(dim=(2, 3)) / masks.sum(dim=(2, 3)).clamp(min=1.0)
    return per_scale.mean()


def diagonal_contrastive(queries: torch.Tensor, keys: torch.Tensor, temperature: float) -> torch.Tensor:
    """Cross-entropy over the score matrix ``q_i · k_j / τ`` with the diagonal as positives.

    ``queries``: ``[N, D]``; ``keys``: ``[M, D]`` with ``M >= N``, row ``i`` of ``keys``
    being the positive of query ``i`` and the rest negatives. Features are L2-normalised.
    """
    scores = F.normalize(queries, dim=1) @ F.normalize(keys, dim=1).T / temperature
    return F.cross_entropy(scores, torch.arange(len(queries), device=queries.device))


def inter_modality_loss(visual: torch.Tensor, audio: torch.Tensor, visual_momentum: torch.Tensor,
                        audio_momentum: torch.Tensor, temperature: float) -> torch.Tensor:
    """Eq. (6)-(10) L_con: symmetric InfoNCE of ``g_v(ī_align)`` vs ``g'_a(a)`` and ``g_a(a)`` vs ``g'_v(ī_align)``."""
    return 0.5 * (diagonal_contrastive(visual, audio_momentum, temperature)
                  + diagonal_contrastive(audio, visual_momentum, temperature))


def sync_loss(syncnet: nn.Module, faces: torch.Tensor, mfcc_synced: torch.Tensor, mfcc_unsynced: torch.Tensor,
              temperature: float) -> torch.Tensor:
    """Eq. (23): contrastive loss through the frozen SyncNet expert.

    faces: ``[B, T=5, 3, H, W]`` generated faces in [0, 1]; mfcc_synced: ``[B, 13, 20]``;
    mfcc_unsynced: ``[B, K, 13, 20]`` windows of the same clips at other offsets. Faces are
    resized to 224 x 224, turned to BGR 0-255 (SyncNet's input convention). Video-to-audio:
    each window against all synced windows of the batch and every unsynced window;
    audio-to-video: each synced window against every video of the batch.
    """
    b, t = faces.shape[:2]
    frames = F.interpolate(faces.flatten(0, 1), size=(224, 224), mode="bilinear", align_corners=False)
    lips = (frames.flip(1) * 255.0).view(b, t, 3, 224, 224).permute(0, 2, 1, 3, 4)  # [B,3,T,224,224] BGR
    video = syncnet.forward_lip(lips)
    audio_inputs = torch.cat([mfcc_synced, mfcc_unsynced.flatten(0, 1)], 0).unsqueeze(1)  # [B + B*K, 1, 13, 20]
    audio = syncnet.forward_audio(audio_inputs)
    video_to_audio = diagonal_contrastive(video, audio, temperature)
    audio_to_video = diagonal_contrastive(audio[:b], video, temperature)
    return 0.5 * (video_to_audio + audio_to_video)
