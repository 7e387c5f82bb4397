"""G4G (Zhang et al., arXiv:2402.18122): high-fidelity talking faces with fine-grained
intra- and inter-modal alignment. See docs/models/g4g.md for every choice the paper leaves open."""

from tfbench.models.g4g.model import G4G

__all__ = ["G4G"]
