"""Shared networks, each beside its weights spec (as torchvision's weights enums).

Metrics (``tfbench/evaluate``) and methods (``models/``) import networks from here, never
from each other. Each module defines the network(s), a ``WEIGHTS`` spec (or several,
registered with :func:`tfbench.weights.register`: url, sha256, size, licence,
preprocessing in the description) and a loader that takes the file from the weights
manager, so a missing file raises an error naming the fix and nothing falls back to
random weights.
"""

from __future__ import annotations

import importlib

#: Modules of this package that register weights specs (imported by ``tfbench.weights.specs``).
MODULES = ("bisenet", "clip", "e4e", "hsemotion", "i3d", "inception", "lpips", "s3fd", "syncnet", "vgg19")


def register_all() -> None:
    """Import every network module so its weights specs are registered."""
    for name in MODULES:
        importlib.import_module(f"tfbench.nets.{name}")
