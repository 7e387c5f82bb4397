"""Helpers for tests: random-initialised networks of the exact architecture in a temp cache.

Results computed with these weights are non-canonical: the file is marked so in the
weights cache, every result records ``canonical: false``, and the leaderboard refuses it.
Never used outside tests.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from tfbench import weights


def install_random_weights(name: str, state_dict_or_module) -> Path:
    """Save a randomly initialised ``state_dict`` (or a module's) as weights ``name``.

    The caller's test must have pointed ``TFBENCH_HOME`` at a temporary folder.
    """
    import torch

    state = state_dict_or_module.state_dict() if hasattr(state_dict_or_module, "state_dict") else state_dict_or_module
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / weights.get_spec(name).filename
        torch.save(state, source)
        path = weights.install_file(name, source, check_hash=False)
    weights.mark_non_canonical(name)
    return path


def install_random_file(name: str, writer) -> Path:
    """Like :func:`install_random_weights` for non-torch formats: ``writer(path)`` writes the file."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / weights.get_spec(name).filename
        writer(source)
        path = weights.install_file(name, source, check_hash=False)
    weights.mark_non_canonical(name)
    return path
