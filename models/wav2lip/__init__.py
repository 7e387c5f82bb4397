"""Wav2Lip (Prajwal et al., ACM MM 2020, "A Lip Sync Expert Is All You Need"): the public
architecture, checkpoints and inference procedure of Rudrabha/Wav2Lip. See docs/models/wav2lip.md."""

from tfbench.models.wav2lip.model import Wav2Lip

__all__ = ["Wav2Lip"]
