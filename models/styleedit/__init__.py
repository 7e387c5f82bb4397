"""StyleGAN audio-driven talking-head video editing (Su et al. 2024, arXiv:2407.05577): an
audio-to-landmark module (EVP-style disentangler, alignment network, LSTM predictor) and
landmark-based editing in StyleGAN2's W+ space. See docs/models/styleedit.md."""

from tfbench.models.styleedit.model import StyleEdit

__all__ = ["StyleEdit"]
