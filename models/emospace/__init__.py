"""The multi-modal emotion-space method (Xu et al., CVPR 2023): emotion from text, image or
audio with an intensity, 512x512 one-shot emotional talking faces. See docs/models/emospace.md."""

from tfbench.models.emospace.model import EmoSpace

__all__ = ["EmoSpace"]
