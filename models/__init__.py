"""Talking-face methods behind one interface (:class:`tfbench.models.base.Generator`).

Names map lazily to ``module:Class`` so listing models imports no torch.
"""

from tfbench.registry import Registry

MODELS: Registry = Registry("model", entry_point_group="tfbench.models")
MODELS.add("ground_truth", "tfbench.models.baselines:GroundTruth")
MODELS.add("static", "tfbench.models.baselines:StaticFrame")
MODELS.add("g4g", "tfbench.models.g4g:G4G")
