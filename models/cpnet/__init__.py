"""CPNet (Xu et al.): CLIP-based attention condenser and landmark probability-map guidance for
person-specific landmark-to-face generation. See docs/models/cpnet.md for every choice the paper
leaves open."""

from tfbench.models.cpnet.model import CPNet

__all__ = ["CPNet"]
