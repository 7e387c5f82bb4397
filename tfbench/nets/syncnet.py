"""The SyncNet "S" network of joonson/syncnet_python, loadable from ``syncnet_v2.model``.

Shared by the LSE metrics (``tfbench/evaluate/metrics/lse.py``) and sync losses in training.

Parameter names and shapes are those of the reference (``netcnnaud``, ``netfcaud``,
``netcnnlip``, ``netfclip`` as ``nn.Sequential`` with the same layer indices), so the
reference's weight file -- a ``torch.save``d state dict -- loads as is.

Inputs (no normalisation anywhere, exactly as the reference):

- lips: float32 [N, 3, 5, 224, 224], five consecutive 224x224 face crops, **BGR**, 0-255;
- audio: float32 [N, 1, 13, 20], 13 MFCC coefficients x 20 steps of 10 ms (0.2 s).

Both embeddings are 1024-d and compared with an L2 distance (not normalised).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from tfbench.errors import CheckpointError
from tfbench.weights import WeightsSpec, register

EMBEDDING_DIM = 1024

WEIGHTS = register(WeightsSpec(
    name="syncnet_v2",
    filename="syncnet_v2.model",
    description="SyncNet of joonson/syncnet_python (LSE-C, LSE-D, sync losses). "
                "Preprocessing: none (lips BGR 0-255, 5 x 224 x 224; MFCC 13 x 20)",
    license="MIT (syncnet_python)",
    source="download",
    urls=("http://www.robots.ox.ac.uk/~vgg/software/lipsync/data/syncnet_v2.model",),
))


def _conv_bn_relu_2d(cin: int, cout: int, kernel, padding) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, kernel_size=kernel, padding=padding), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def _conv_bn_relu_3d(cin: int, cout: int, kernel, stride=(1, 1, 1), padding=0) -> list[nn.Module]:
    return [
        nn.Conv3d(cin, cout, kernel_size=kernel, stride=stride, padding=padding),
        nn.BatchNorm3d(cout),
        nn.ReLU(inplace=True),
    ]


def _embedding_head() -> nn.Sequential:
    return nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, EMBEDDING_DIM))


class SyncNet(nn.Module):
    """Two-stream SyncNet: a lip tower over 5 frames and an audio tower over 0.2 s of MFCC."""

    def __init__(self) -> None:
        super().__init__()
        self.netcnnaud = nn.Sequential(
            *_conv_bn_relu_2d(1, 64, (3, 3), (1, 1)),
            nn.MaxPool2d(kernel_size=(1, 1), stride=(1, 1)),
            *_conv_bn_relu_2d(64, 192, (3, 3), (1, 1)),
            nn.MaxPool2d(kernel_size=(3, 3), stride=(1, 2)),
            *_conv_bn_relu_2d(192, 384, (3, 3), (1, 1)),
            *_conv_bn_relu_2d(384, 256, (3, 3), (1, 1)),
            *_conv_bn_relu_2d(256, 256, (3, 3), (1, 1)),
            nn.MaxPool2d(kernel_size=(3, 3), stride=(2, 2)),
            *_conv_bn_relu_2d(256, 512, (5, 4), (0, 0)),
        )
        self.netfcaud = _embedding_head()
        self.netfclip = _embedding_head()
        self.netcnnlip = nn.Sequential(
            *_conv_bn_relu_3d(3, 96, (5, 7, 7), stride=(1, 2, 2)),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2)),
            *_conv_bn_relu_3d(96, 256, (1, 5, 5), stride=(1, 2, 2), padding=(0, 1, 1)),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
            *_conv_bn_relu_3d(256, 256, (1, 3, 3), padding=(0, 1, 1)),
            *_conv_bn_relu_3d(256, 256, (1, 3, 3), padding=(0, 1, 1)),
            *_conv_bn_relu_3d(256, 256, (1, 3, 3), padding=(0, 1, 1)),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2)),
            *_conv_bn_relu_3d(256, 512, (1, 6, 6)),
        )

    def forward_audio(self, mfcc: torch.Tensor) -> torch.Tensor:
        """mfcc: float32 [N, 1, 13, 20] -> audio embeddings float32 [N, 1024]."""
        return self.netfcaud(self.netcnnaud(mfcc).flatten(1))

    def forward_lip(self, lips: torch.Tensor) -> torch.Tensor:
        """lips: float32 [N, 3, 5, 224, 224] BGR 0-255 -> lip embeddings float32 [N, 1024]."""
        return self.netfclip(self.netcnnlip(lips).flatten(1))

    def forward(self, lips: torch.Tensor, mfcc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Both embeddings: (lip [N, 1024], audio [N, 1024])."""
        return self.forward_lip(lips), self.forward_audio(mfcc)


def load_state_file(model: SyncNet, path: Path) -> SyncNet:
    """Load a ``syncnet_v2.model``-style state dict into ``model``.

    The reference (``SyncNetInstance.loadParameters``) copies every tensor of the file into
    the parameter of the same name. The published file predates BatchNorm's
    ``num_batches_tracked`` buffers, so only those may be absent; anything else missing or
    unexpected means the file is not a SyncNet and raises :class:`CheckpointError`.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # unpickling errors have many types
        raise CheckpointError(f"Cannot read SyncNet weights {path}: {error}") from error
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} is not a SyncNet state dict (got {type(state).__name__}).")
    own = model.state_dict()
    unexpected = sorted(set(state) - set(own))
    missing = sorted(key for key in set(own) - set(state) if not key.endswith("num_batches_tracked"))
    wrong_shape = sorted(key for key in set(state) & set(own) if tuple(state[key].shape) != tuple(own[key].shape))
    if unexpected or missing or wrong_shape:
        raise CheckpointError(
            f"{path} does not match the SyncNet architecture: "
            f"missing {missing[:5]}, unexpected {unexpected[:5]}, wrong shape {wrong_shape[:5]}."
        )
    model.load_state_dict(state, strict=False)
    return model


def load_syncnet(device: str | torch.device = "cpu") -> SyncNet:
    """The SyncNet with weights ``syncnet_v2`` from the weights manager, in eval mode, frozen.

    Raises :class:`~tfbench.errors.MissingWeightsError` (naming the fix) when the file is absent.
    """
    from tfbench.weights import weights_path

    model = load_state_file(SyncNet(), weights_path("syncnet_v2"))
    model.eval().requires_grad_(False)
    return model.to(device)
