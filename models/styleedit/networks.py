"""The audio-to-landmark (AL) module: EVP-style emotion disentangler, alignment network
(cross-attention, eq. 1) and the LSTM + MLP landmark predictor; and their features.

Shapes: ``mfcc`` float32 ``[B, W, 12]`` one 28-frame (W) window of 12 MFCCs per video
frame; landmarks are float ``[..., 68, 2]`` in *normalised* units (see
:func:`normalise_landmarks`).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from tfbench.models.styleedit.config import EMOTIONS, StyleEditConfig

#: MFCC hop (10 ms) per video frame (40 ms) at 25 fps.
MFCC_PER_FRAME = 4
NUM_MFCC = 12


def mfcc_windows(audio: np.ndarray, num_frames: int, window: int = 28, fps: float = 25.0) -> np.ndarray:
    """float32 ``[num_frames, window, 12]``: EVP's features (python_speech_features ``mfcc``,
    16 kHz, 25 ms / 10 ms, 13 cepstra without the 0th), standardised per coefficient over the
    clip, one ``window``-frame slice centred on each video frame (edges repeated)."""
    from python_speech_features import mfcc

    audio = np.asarray(audio, dtype=np.float32)
    needed = int(math.ceil((num_frames / fps + 0.05) * 16000))
    if len(audio) < needed:
        audio = np.pad(audio, (0, needed - len(audio)))
    coeffs = mfcc(audio, 16000, winlen=0.025, winstep=0.01, numcep=NUM_MFCC + 1)[:, 1:].astype(np.float32)
    coeffs = (coeffs - coeffs.mean(0)) / (coeffs.std(0) + 1e-5)
    per_frame = 100.0 / fps
    centres = np.round(np.arange(num_frames) * per_frame + per_frame / 2).astype(int)
    index = np.clip(centres[:, None] + np.arange(window)[None] - window // 2, 0, len(coeffs) - 1)
    return coeffs[index]


def normalise_landmarks(points: np.ndarray, size: float) -> np.ndarray:
    """Pixel landmarks ``[..., 68, 2]`` of a ``size``-pixel frame -> ``(p / size - 0.5) * 2``
    (the frame spans [-1, 1]); the AL module works in these units."""
    return (np.asarray(points, dtype=np.float32) / float(size) - 0.5) * 2.0


def denormalise_landmarks(points: np.ndarray, size: float) -> np.ndarray:
    return (np.asarray(points, dtype=np.float32) / 2.0 + 0.5) * float(size)


class MFCCEncoder(nn.Module):
    """Conv encoder of one MFCC window ``[B, W, 12]`` -> ``[B, out_dim]`` (EVP's Ct_encoder /
    EmotionNet pattern: conv-BN-ReLU blocks, pooling, then fully connected)."""

    def __init__(self, channels: int, out_dim: int) -> None:
        super().__init__()
        c = channels
        self.convs = nn.Sequential(
            nn.Conv2d(1, c, 3, 1, 1), nn.BatchNorm2d(c), nn.ReLU(),
            nn.Conv2d(c, 2 * c, 3, (2, 1), 1), nn.BatchNorm2d(2 * c), nn.ReLU(),
            nn.Conv2d(2 * c, 4 * c, 3, 2, 1), nn.BatchNorm2d(4 * c), nn.ReLU(),
        )
        self.fc = nn.Sequential(nn.Linear(4 * c * 7 * 6, 4 * out_dim), nn.ReLU(), nn.Linear(4 * out_dim, out_dim))

    def forward(self, mfcc: torch.Tensor) -> torch.Tensor:
        return self.fc(self.convs(mfcc[:, None]).flatten(1))


class MFCCDecoder(nn.Module):
    """``[B, content + emotion]`` -> reconstructed MFCC window ``[B, 28, 12]`` (EVP's deconv Decoder)."""

    def __init__(self, channels: int, in_dim: int) -> None:
        super().__init__()
        self.c = 4 * channels
        self.fc = nn.Sequential(nn.Linear(in_dim, self.c * 7 * 6), nn.ReLU())
        self.deconvs = nn.Sequential(
            nn.ConvTranspose2d(self.c, 2 * channels, 4, 2, 1), nn.BatchNorm2d(2 * channels), nn.ReLU(),
            nn.ConvTranspose2d(2 * channels, channels, (4, 3), (2, 1), (1, 1)), nn.BatchNorm2d(channels), nn.ReLU(),
            nn.Conv2d(channels, 1, 3, 1, 1),
        )

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.deconvs(self.fc(code).view(-1, self.c, 7, 6))[:, 0]


class Disentangler(nn.Module):
    """Cross-reconstructed emotion disentanglement (EVP): content encoder, emotion encoder,
    MFCC decoder and an emotion classifier on the emotion embedding."""

    def __init__(self, cfg: StyleEditConfig) -> None:
        super().__init__()
        self.content = MFCCEncoder(cfg.conv_channels, cfg.content_dim)
        self.emotion = MFCCEncoder(cfg.conv_channels, cfg.emotion_dim)
        self.decoder = MFCCDecoder(cfg.conv_channels, cfg.content_dim + cfg.emotion_dim)
        self.classifier = nn.Linear(cfg.emotion_dim, len(EMOTIONS))

    def decode(self, content: torch.Tensor, emotion: torch.Tensor) -> torch.Tensor:
        return self.decoder(torch.cat([content, emotion], 1))


class AlignmentNetwork(nn.Module):
    """Eq. 1: ``CA(x_pred, x_orig) = softmax(Q K^T / sqrt(t)) V`` with Q from the predicted
    landmarks' tokens, K = V from the original landmarks' tokens, then a dense layer.

    Tokens: one per landmark point, ``t``-dimensional (a linear embedding of (x, y) plus a
    learned point embedding). Output: aligned landmarks ``[B, 68, 2]`` = the predicted
    points plus the dense layer's offsets (residual; our choice).
    """

    def __init__(self, token_dim: int) -> None:
        super().__init__()
        self.embed_pred = nn.Linear(2, token_dim)
        self.embed_orig = nn.Linear(2, token_dim)
        self.point = nn.Parameter(torch.randn(68, token_dim) * 0.02)
        self.w_q = nn.Linear(token_dim, token_dim, bias=False)
        self.w_k = nn.Linear(token_dim, token_dim, bias=False)
        self.w_v = nn.Linear(token_dim, token_dim, bias=False)
        self.dense = nn.Sequential(nn.Linear(2 * token_dim, token_dim), nn.ReLU(), nn.Linear(token_dim, 2))
        self.scale = 1.0 / math.sqrt(token_dim)

    def forward(self, x_pred: torch.Tensor, x_orig: torch.Tensor) -> torch.Tensor:
        query_tokens = self.embed_pred(x_pred) + self.point
        key_tokens = self.embed_orig(x_orig) + self.point
        attention = torch.softmax(self.w_q(query_tokens) @ self.w_k(key_tokens).transpose(1, 2) * self.scale, dim=-1)
        attended = attention @ self.w_v(key_tokens)
        return x_pred + self.dense(torch.cat([attended, query_tokens], -1))


class LandmarkPredictor(nn.Module):
    """LSTM + two-layer MLP: per-frame ``[B, T, content + emotion]`` -> 68-point displacements
    ``[B, T, 68, 2]`` (normalised units) from the clip's mean landmarks."""

    def __init__(self, cfg: StyleEditConfig) -> None:
        super().__init__()
        self.lstm = nn.LSTM(cfg.content_dim + cfg.emotion_dim, cfg.lstm_hidden, cfg.lstm_layers, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(cfg.lstm_hidden, cfg.lstm_hidden), nn.ReLU(), nn.Linear(cfg.lstm_hidden, 136))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.lstm(features)
        return self.mlp(hidden).view(*features.shape[:2], 68, 2)


class AudioToLandmark(nn.Module):
    """The whole AL module at test time: audio windows + the source clip's landmarks ->
    aligned target landmarks (normalised units)."""

    def __init__(self, cfg: StyleEditConfig) -> None:
        super().__init__()
        self.disentangler = Disentangler(cfg)
        self.alignment = AlignmentNetwork(cfg.token_dim)
        self.predictor = LandmarkPredictor(cfg)

    def features(self, mfcc: torch.Tensor) -> torch.Tensor:
        """``[B, T, W, 12]`` -> ``[B, T, content + emotion]``."""
        flat = mfcc.flatten(0, 1)
        code = torch.cat([self.disentangler.content(flat), self.disentangler.emotion(flat)], 1)
        return code.view(*mfcc.shape[:2], -1)

    def forward(self, mfcc: torch.Tensor, original: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """``mfcc`` ``[B,T,W,12]``, ``original`` landmarks ``[B,T,68,2]``, ``reference`` (the
        clip's mean landmarks) ``[B,68,2]`` -> aligned ``[B,T,68,2]``."""
        predicted = reference[:, None] + self.predictor(self.features(mfcc))
        b, t = predicted.shape[:2]
        return self.alignment(predicted.flatten(0, 1), original.flatten(0, 1)).view(b, t, 68, 2)


def warp_landmarks(points: torch.Tensor, generator: torch.Generator, noise: float, affine: float) -> torch.Tensor:
    """``warping(l)`` of eq. 2: a random affine jitter (scale / shear up to ``affine``) about the
    shape's centre plus per-point Gaussian jitter of std ``noise``, so the exact expression of
    ``l`` cannot leak through the alignment network. ``points`` ``[N, 68, 2]``."""
    n = points.shape[0]
    matrix = torch.eye(2).expand(n, 2, 2) + (torch.rand(n, 2, 2, generator=generator) * 2 - 1) * affine
    centre = points.mean(1, keepdim=True)
    jitter = torch.randn(points.shape, generator=generator) * noise
    return (points - centre) @ matrix.transpose(1, 2) + centre + jitter


def simulated_view(points: np.ndarray) -> np.ndarray:
    """The ``tiny`` fallback second camera view (NON-CANONICAL): a fixed geometric transform of
    normalised landmarks ``[..., 68, 2]`` standing in for MEAD's 30-degree side camera —
    horizontal foreshortening by cos(30 deg) about the shape centre, a 5-degree roll and a shift of
    (0.1, -0.05)."""
    points = np.asarray(points, dtype=np.float32)
    centre = points.mean(-2, keepdims=True)
    roll = np.deg2rad(5.0)
    rotation = np.array([[np.cos(roll), -np.sin(roll)], [np.sin(roll), np.cos(roll)]], np.float32)
    squash = np.diag([np.cos(np.deg2rad(30.0)), 1.0]).astype(np.float32)
    return ((points - centre) @ (rotation @ squash).T + centre + np.float32([0.1, -0.05])).astype(np.float32)
