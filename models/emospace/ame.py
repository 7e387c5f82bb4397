"""The Aligned Multi-modal Emotion encoder (§3.2): frozen CLIP text and image towers and the
learned CLIP-space audio encoder, each giving a unit-norm embedding [N, clip_embed]."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from tfbench.models.emospace.config import EmoSpaceConfig
from tfbench.models.emospace.networks import AudioEmotionEncoder


class AME(nn.Module):
    """``clip``: an open_clip CLIP model (frozen, never trained here); ``audio``: trained."""

    def __init__(self, config: EmoSpaceConfig, clip: nn.Module) -> None:
        super().__init__()
        self.clip = clip.eval().requires_grad_(False)
        self.clip_from_cache = isinstance(config.clip, str)  # the real ViT-B/32 (weights cache), not a random tiny tower
        self.audio = AudioEmotionEncoder(config.clip_embed, config.audio_dim, config.audio_layers, config.audio_heads)

    def train(self, mode: bool = True) -> "AME":
        super().train(mode)
        self.clip.eval()  # frozen towers stay in eval mode
        return self

    def checkpoint_state(self) -> dict:
        """What a checkpoint stores: the trained audio encoder, plus the CLIP towers when they
        are random tiny ones (the real ViT-B/32 is the user's weights file, not copied)."""
        return {key: value for key, value in self.state_dict().items()
                if not (self.clip_from_cache and key.startswith("clip."))}

    def load_checkpoint_state(self, state: dict) -> None:
        """Inverse of :meth:`checkpoint_state` (strict: a tiny tower must be in ``state``)."""
        if self.clip_from_cache and not any(key.startswith("clip.") for key in state):
            self.audio.load_state_dict({key[len("audio."):]: value for key, value in state.items()})
            return
        self.load_state_dict(state)

    @torch.no_grad()
    def encode_text(self, prompts: list[str]) -> torch.Tensor:
        from tfbench.nets.clip import tokenize

        device = next(self.clip.parameters()).device
        return F.normalize(self.clip.encode_text(tokenize(prompts).to(device)).float(), dim=-1)

    @torch.no_grad()
    def encode_image(self, frames: np.ndarray) -> torch.Tensor:
        """frames uint8 [N,H,W,3] RGB."""
        from tfbench.nets.clip import preprocess_images

        device = next(self.clip.parameters()).device
        size = int(self.clip.visual.image_size[0] if isinstance(self.clip.visual.image_size, (tuple, list))
                   else self.clip.visual.image_size)
        return F.normalize(self.clip.encode_image(preprocess_images(frames, size=size).to(device)).float(), dim=-1)

    def encode_audio(self, mel: torch.Tensor) -> torch.Tensor:
        """mel float [N, M, 80] at 100 Hz."""
        return self.audio(mel)
