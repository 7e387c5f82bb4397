"""Wav2Lip's networks with the public code's module names (Rudrabha/Wav2Lip ``models/``).

Parameter names match ``models/wav2lip.py``, ``models/syncnet.py`` and ``models/conv.py``
of the public repository, so the published state dicts (``wav2lip.pth``,
``wav2lip_gan.pth``, ``lipsync_expert.pth``) load after the ``module.`` prefix of their
``DataParallel`` training is stripped (:func:`public_state_dict`).

Tensors (B batch):

- face input ``[B, 6, 96, 96]`` in [0, 1], **BGR** channel order (the public code reads
  frames with ``cv2.imread``): channels 0-2 the target frame with its lower half zeroed,
  3-5 the reference frame;
- audio ``[B, 1, 80, 16]``: 80 mel bins x 16 mel frames (0.2 s) of
  :func:`tfbench.io.features.log_mel`, values in [-4, 4];
- output ``[B, 3, 96, 96]`` BGR in [0, 1] (sigmoid).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: Side of the square face crop the network sees, pixels.
FACE_SIZE = 96
#: Mel frames per video frame (0.2 s at 80 mel frames per second) and mel bins.
MEL_STEPS = 16
MEL_BINS = 80


class Conv2d(nn.Module):
    """``conv.Conv2d``: conv + batch norm (+ identity when ``residual``) + ReLU."""

    def __init__(self, cin: int, cout: int, kernel_size, stride, padding, residual: bool = False) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(nn.Conv2d(cin, cout, kernel_size, stride, padding), nn.BatchNorm2d(cout))
        self.act = nn.ReLU()
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv_block(x)
        if self.residual:
            out = out + x
        return self.act(out)


class NoNormConv2d(nn.Module):
    """``conv.nonorm_Conv2d``: conv + LeakyReLU(0.01), no normalisation (discriminator)."""

    def __init__(self, cin: int, cout: int, kernel_size, stride, padding) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(nn.Conv2d(cin, cout, kernel_size, stride, padding))
        self.act = nn.LeakyReLU(0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv_block(x))


class Conv2dTranspose(nn.Module):
    """``conv.Conv2dTranspose``: transposed conv + batch norm + ReLU."""

    def __init__(self, cin: int, cout: int, kernel_size, stride, padding, output_padding: int = 0) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(nn.ConvTranspose2d(cin, cout, kernel_size, stride, padding, output_padding),
                                        nn.BatchNorm2d(cout))
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv_block(x))


def _res(channels: int, count: int) -> list[nn.Module]:
    """``count`` residual 3x3 blocks of ``channels`` channels."""
    return [Conv2d(channels, channels, 3, 1, 1, residual=True) for _ in range(count)]


def _channels(divisor: int):
    """Channel counts of the public architecture divided by ``divisor`` (1: the public sizes)."""
    if divisor < 1 or 16 % divisor:
        raise ValueError(f"width divisor must divide 16, got {divisor}")
    return lambda channels: channels // divisor


def audio_encoder(divisor: int = 1, expert: bool = False) -> nn.Sequential:
    """[B, 1, 80, 16] mel -> [B, 512 / divisor, 1, 1]. The generator's and the expert's are the
    same but for one more residual block at 256 channels in the expert's."""
    c = _channels(divisor)
    return nn.Sequential(
        Conv2d(1, c(32), 3, 1, 1), *_res(c(32), 2),
        Conv2d(c(32), c(64), 3, (3, 1), 1), *_res(c(64), 2),
        Conv2d(c(64), c(128), 3, 3, 1), *_res(c(128), 2),
        Conv2d(c(128), c(256), 3, (3, 2), 1), *_res(c(256), 2 if expert else 1),
        Conv2d(c(256), c(512), 3, 1, 0), Conv2d(c(512), c(512), 1, 1, 0),
    )


class Wav2LipGenerator(nn.Module):
    """``models.wav2lip.Wav2Lip``: U-Net face encoder/decoder conditioned on a speech embedding.

    ``divisor`` > 1 divides every channel count (the ``tiny`` training config); 1 is the
    public network.

    ``forward(mel [B,1,80,16] or [B,T,1,80,16], faces [B,6,96,96] or [B,6,T,96,96])`` ->
    ``[B,3,96,96]`` or ``[B,3,T,96,96]`` BGR in [0, 1].
    """

    def __init__(self, divisor: int = 1) -> None:
        super().__init__()
        c = _channels(divisor)
        self.face_encoder_blocks = nn.ModuleList([
            nn.Sequential(Conv2d(6, c(16), 7, 1, 3)),  # 96
            nn.Sequential(Conv2d(c(16), c(32), 3, 2, 1), *_res(c(32), 2)),  # 48
            nn.Sequential(Conv2d(c(32), c(64), 3, 2, 1), *_res(c(64), 3)),  # 24
            nn.Sequential(Conv2d(c(64), c(128), 3, 2, 1), *_res(c(128), 2)),  # 12
            nn.Sequential(Conv2d(c(128), c(256), 3, 2, 1), *_res(c(256), 2)),  # 6
            nn.Sequential(Conv2d(c(256), c(512), 3, 2, 1), *_res(c(512), 1)),  # 3
            nn.Sequential(Conv2d(c(512), c(512), 3, 1, 0), Conv2d(c(512), c(512), 1, 1, 0)),  # 1
        ])
        self.audio_encoder = audio_encoder(divisor, expert=False)
        self.face_decoder_blocks = nn.ModuleList([
            nn.Sequential(Conv2d(c(512), c(512), 1, 1, 0)),  # 1
            nn.Sequential(Conv2dTranspose(c(1024), c(512), 3, 1, 0), *_res(c(512), 1)),  # 3
            nn.Sequential(Conv2dTranspose(c(1024), c(512), 3, 2, 1, 1), *_res(c(512), 2)),  # 6
            nn.Sequential(Conv2dTranspose(c(768), c(384), 3, 2, 1, 1), *_res(c(384), 2)),  # 12
            nn.Sequential(Conv2dTranspose(c(512), c(256), 3, 2, 1, 1), *_res(c(256), 2)),  # 24
            nn.Sequential(Conv2dTranspose(c(320), c(128), 3, 2, 1, 1), *_res(c(128), 2)),  # 48
            nn.Sequential(Conv2dTranspose(c(160), c(64), 3, 2, 1, 1), *_res(c(64), 2)),  # 96
        ])
        self.output_block = nn.Sequential(Conv2d(c(80), c(32), 3, 1, 1), nn.Conv2d(c(32), 3, 1, 1, 0), nn.Sigmoid())

    def forward(self, mel: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
        sequence = faces.dim() > 4
        if sequence:  # [B,T,1,80,16] and [B,6,T,H,W] -> frame-major batches, as the public code
            batch, steps = mel.shape[:2]
            mel = torch.cat([mel[:, t] for t in range(steps)], 0)
            faces = torch.cat([faces[:, :, t] for t in range(steps)], 0)
        skips = []
        x = faces
        for block in self.face_encoder_blocks:
            x = block(x)
            skips.append(x)
        x = self.audio_encoder(mel)
        for block in self.face_decoder_blocks:
            x = torch.cat((block(x), skips.pop()), 1)
        out = self.output_block(x)
        if sequence:
            out = torch.stack(torch.split(out, batch, 0), 2)
        return out


class SyncNetColor(nn.Module):
    """``models.syncnet.SyncNet_color``: Wav2Lip's lip-sync expert.

    ``forward(mel [B,1,80,16], faces [B,15,48,96])`` (5 frames' lower halves stacked on the
    channel axis, BGR in [0, 1]) -> (audio, face) embeddings ``[B, 512]``, L2-normalised.
    """

    def __init__(self) -> None:
        super().__init__()
        self.face_encoder = nn.Sequential(
            Conv2d(15, 32, 7, 1, 3),
            Conv2d(32, 64, 5, (1, 2), 1), *_res(64, 2),
            Conv2d(64, 128, 3, 2, 1), *_res(128, 3),
            Conv2d(128, 256, 3, 2, 1), *_res(256, 2),
            Conv2d(256, 512, 3, 2, 1), *_res(512, 2),
            Conv2d(512, 512, 3, 2, 1), Conv2d(512, 512, 3, 1, 0), Conv2d(512, 512, 1, 1, 0),
        )
        self.audio_encoder = audio_encoder(expert=True)

    def forward(self, mel: torch.Tensor, faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        audio = F.normalize(self.audio_encoder(mel).flatten(1), p=2, dim=1)
        face = F.normalize(self.face_encoder(faces).flatten(1), p=2, dim=1)
        return audio, face


class QualityDiscriminator(nn.Module):
    """``models.wav2lip.Wav2Lip_disc_qual``: real/fake probability of the lower half of a face.

    ``forward(faces [B,3,96,96] or [B,3,T,96,96])`` -> ``[B*T, 1]`` in (0, 1).
    """

    def __init__(self, divisor: int = 1) -> None:
        super().__init__()
        c = _channels(divisor)
        self.face_encoder_blocks = nn.ModuleList([
            nn.Sequential(NoNormConv2d(3, c(32), 7, 1, 3)),  # 48x96
            nn.Sequential(NoNormConv2d(c(32), c(64), 5, (1, 2), 2), NoNormConv2d(c(64), c(64), 5, 1, 2)),  # 48
            nn.Sequential(NoNormConv2d(c(64), c(128), 5, 2, 2), NoNormConv2d(c(128), c(128), 5, 1, 2)),  # 24
            nn.Sequential(NoNormConv2d(c(128), c(256), 5, 2, 2), NoNormConv2d(c(256), c(256), 5, 1, 2)),  # 12
            nn.Sequential(NoNormConv2d(c(256), c(512), 3, 2, 1), NoNormConv2d(c(512), c(512), 3, 1, 1)),  # 6
            nn.Sequential(NoNormConv2d(c(512), c(512), 3, 2, 1), NoNormConv2d(c(512), c(512), 3, 1, 1)),  # 3
            nn.Sequential(NoNormConv2d(c(512), c(512), 3, 1, 0), NoNormConv2d(c(512), c(512), 1, 1, 0)),  # 1
        ])
        self.binary_pred = nn.Sequential(nn.Conv2d(c(512), 1, 1, 1, 0), nn.Sigmoid())

    def forward(self, faces: torch.Tensor) -> torch.Tensor:
        if faces.dim() > 4:
            faces = torch.cat([faces[:, :, t] for t in range(faces.shape[2])], 0)
        x = faces[:, :, faces.shape[2] // 2:]
        for block in self.face_encoder_blocks:
            x = block(x)
        return self.binary_pred(x).view(len(x), -1)


def public_state_dict(payload) -> dict[str, torch.Tensor]:
    """The generator/expert state dict inside a public Wav2Lip file.

    The public files are ``{'state_dict': ..., 'optimizer': ..., 'global_step': ...,
    'global_epoch': ...}`` with keys prefixed ``module.`` (``nn.DataParallel``); the
    public loader strips every ``'module.'`` occurrence (``k.replace('module.', '')``),
    and so does this. A bare state dict is accepted too.
    """
    state = payload.get("state_dict", payload) if isinstance(payload, dict) else payload
    if not isinstance(state, dict):
        raise TypeError(f"expected a state dict, got {type(state).__name__}")
    return {key.replace("module.", ""): value for key, value in state.items()}
