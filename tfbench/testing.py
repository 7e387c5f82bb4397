"""Helpers for tests and benchmarks: random-initialised networks of the exact architecture in a temp cache.

Results computed with these weights are non-canonical: the file is marked so in the
weights cache, every result records ``canonical: false``, and the leaderboard refuses it.
Never used by tfbench itself (tests and ``benchmarks/`` only).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from tfbench import weights


def install_random_weights(name: str, state_dict_or_module) -> Path:
    """Save a randomly initialised ``state_dict`` (or a module's) as weights ``name``.

    The caller's test must have pointed ``TFBENCH_HOME`` at a temporary folder.
    """
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


def he_init(state: dict) -> dict:
    """He-normal convolutions (4-D and 5-D kernels) and random batch-norm statistics, in place:
    activations keep their scale through deep random networks, so features depend on the
    input (PyTorch's default init lets them fade to a constant)."""
    for name, tensor in state.items():
        if tensor.ndim >= 4:
            torch.nn.init.kaiming_normal_(tensor, nonlinearity="relu")
        elif name.endswith("running_mean"):
            tensor.normal_(0, 0.1)
        elif name.endswith("running_var"):
            tensor.uniform_(0.5, 1.5)
    return state


def random_fid_state(seed: int = 0) -> dict:
    """A random state dict of the FID Inception (pytorch-fid's key layout), He-initialised."""
    from tfbench.nets.inception import build_fid_inception

    torch.manual_seed(seed)
    return he_init(build_fid_inception().state_dict())


def random_syncnet_state(seed: int = 0) -> dict:
    """A SyncNet state dict (syncnet_v2 key layout) with random weights *and* random BatchNorm statistics."""
    from tfbench.nets.syncnet import SyncNet

    torch.manual_seed(seed)
    net = SyncNet()
    for module in net.modules():
        if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)):
            module.running_mean.uniform_(-1.0, 1.0)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return net.state_dict()


class StyleGANVCall(torch.nn.Module):
    """StyleGAN-V's I3D TorchScript call convention around ``core`` (float [B,3,T,224,224] in
    [-1, 1] -> [B,400] logits), to script or trace: ``forward(x, rescale, resize,
    return_features)`` takes uint8 [B,3,T,H,W]; ``rescale`` maps to [-1, 1]; ``resize`` scales
    frames to 224x224 (trilinear, time kept); ``return_features`` gives the logits, else their softmax."""

    def __init__(self, core: torch.nn.Module) -> None:
        super().__init__()
        self.core = core

    def forward(self, x: torch.Tensor, rescale: bool = False, resize: bool = False, return_features: bool = False) -> torch.Tensor:
        x = x.float()
        if rescale:
            x = x / 127.5 - 1.0
        if resize:
            x = torch.nn.functional.interpolate(x, size=(x.shape[2], 224, 224), mode="trilinear", align_corners=False)
        logits = self.core(x)
        return logits if return_features else logits.softmax(dim=1)
