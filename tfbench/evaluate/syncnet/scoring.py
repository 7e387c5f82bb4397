"""SyncNet scoring exactly as joonson/syncnet_python's ``SyncNetInstance.evaluate``.

Steps (reference lines quoted in ``docs/metrics/lse.md``):

1. audio: float32 [-1, 1] -> int16 as ffmpeg's ``pcm_s16le`` does (``round(x * 32768)``,
   clipped), then ``python_speech_features.mfcc(int16_samples, 16000)`` with its defaults
   (13 coefficients every 10 ms) -- the int16 scale matters (log energies); this is
   :func:`tfbench.io.features.mfcc`;
2. windows: ``n = min(T, floor(N / 640)) - 5`` (the reference drops one window it could
   use); window ``v`` = frames ``v : v+5`` and MFCC steps ``4v : 4v+20``;
3. embeddings of all windows (batched; eval-mode BatchNorm, so batch size does not matter);
4. ``calc_pdist``: audio embeddings zero-padded by ``vshift`` on both sides; for window ``v``
   the L2 distances (``pairwise_distance``, eps 1e-6) to audio windows ``v-15 .. v+15``;
5. mean over windows per offset; LSE-D = min, LSE-C = median - min, AV offset = 15 - argmin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from tfbench.errors import InputError

from tfbench.io.constants import FPS, SAMPLE_RATE
#: Audio samples per video frame at 16 kHz / 25 fps.
SAMPLES_PER_FRAME = 640
#: Frames per SyncNet video window and MFCC steps (10 ms) per window.
WINDOW_FRAMES = 5
WINDOW_MFCC_STEPS = 20
MFCC_STEPS_PER_FRAME = 4
#: Offsets searched: -VSHIFT .. +VSHIFT frames (31 offsets).
VSHIFT = 15
CROP_SIZE = 224


@dataclass(frozen=True)
class SyncScore:
    """One clip's sync scores.

    ``lse_c``: confidence (median - min of the per-offset mean distances; higher is better).
    ``lse_d``: the min mean distance (lower is better). ``av_offset``: frames, ``vshift -
    argmin`` (positive: audio leads video, in the reference's convention). ``mean_distances``:
    float32 [2*vshift+1], offset -vshift .. +vshift. ``num_windows``: 5-frame windows scored.
    """

    lse_c: float
    lse_d: float
    av_offset: int
    mean_distances: np.ndarray
    num_windows: int


def reference_mfcc(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """MFCC as the reference feeds SyncNet: float32 [13, n_steps] (100 Hz), from float32 [N]
    audio in [-1, 1] converted to int16 first (:func:`tfbench.io.features.mfcc`)."""
    from tfbench.io.features import mfcc

    return np.ascontiguousarray(mfcc(audio, sample_rate).T)


def num_sync_windows(num_frames: int, num_samples: int) -> int:
    """Number of 5-frame windows the reference scores: ``min(T, floor(N/640)) - 5``."""
    return min(num_frames, num_samples // SAMPLES_PER_FRAME) - WINDOW_FRAMES


def resize_crops(frames: np.ndarray) -> np.ndarray:
    """uint8 [T,H,W,3] -> uint8 [T,224,224,3] with ``cv2.resize`` defaults (bilinear), as
    Wav2Lip's ``SyncNetInstance_calc_scores.py`` does to every frame. Channel order is kept."""
    import cv2

    if frames.shape[1:3] == (CROP_SIZE, CROP_SIZE):
        return np.ascontiguousarray(frames)
    return np.stack([cv2.resize(frame, (CROP_SIZE, CROP_SIZE)) for frame in frames])


@torch.no_grad()
def sync_embeddings(
    model: torch.nn.Module,
    crops_rgb: np.ndarray,
    mfcc: np.ndarray,
    num_windows: int,
    batch_size: int = 20,
    device: str | torch.device = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lip and audio embeddings of windows ``0 .. num_windows-1``: two float32 [W, 1024] (CPU).

    ``crops_rgb``: uint8 [T,224,224,3] RGB face crops (flipped to BGR here, 0-255 floats);
    ``mfcc``: float32 [13, n_steps]. Only one batch is converted to float at a time.
    """
    lip_features, audio_features = [], []
    mfcc_tensor = torch.from_numpy(np.ascontiguousarray(mfcc))
    for start in range(0, num_windows, batch_size):
        stop = min(num_windows, start + batch_size)
        frames = torch.from_numpy(np.ascontiguousarray(crops_rgb[start : stop + WINDOW_FRAMES - 1, :, :, ::-1]))
        frames = frames.permute(3, 0, 1, 2).float()  # [3, t, 224, 224] BGR
        lips = torch.stack([frames[:, v : v + WINDOW_FRAMES] for v in range(stop - start)])
        audio = torch.stack([
            mfcc_tensor[:, v * MFCC_STEPS_PER_FRAME : v * MFCC_STEPS_PER_FRAME + WINDOW_MFCC_STEPS]
            for v in range(start, stop)
        ]).unsqueeze(1)
        lip_features.append(model.forward_lip(lips.to(device)).cpu())
        audio_features.append(model.forward_audio(audio.to(device)).cpu())
    return torch.cat(lip_features), torch.cat(audio_features)


def offset_distances(lip_features: torch.Tensor, audio_features: torch.Tensor, vshift: int = VSHIFT) -> torch.Tensor:
    """The reference's ``calc_pdist``: float32 [W, 2*vshift+1] distances of each lip window to
    audio windows at offsets -vshift..+vshift; out-of-range audio windows are zero vectors."""
    padded = torch.nn.functional.pad(audio_features, (0, 0, vshift, vshift))
    width = 2 * vshift + 1
    index = torch.arange(len(lip_features)).unsqueeze(1) + torch.arange(width).unsqueeze(0)  # [W, width]
    return torch.nn.functional.pairwise_distance(lip_features.unsqueeze(1), padded[index])


def scores_from_distances(distances: torch.Tensor, vshift: int = VSHIFT) -> SyncScore:
    """LSE-C, LSE-D and AV offset from [W, 2*vshift+1] distances (reference arithmetic, float32)."""
    mean_distances = distances.mean(0)
    minimum, argmin = torch.min(mean_distances, 0)
    confidence = torch.median(mean_distances) - minimum
    return SyncScore(
        lse_c=float(confidence),
        lse_d=float(minimum),
        av_offset=int(vshift - argmin),
        mean_distances=mean_distances.numpy(),
        num_windows=int(distances.shape[0]),
    )


def score_crops(
    model: torch.nn.Module,
    crops_rgb: np.ndarray,
    audio: np.ndarray,
    batch_size: int = 20,
    vshift: int = VSHIFT,
    device: str | torch.device = "cpu",
) -> SyncScore:
    """Score 25 fps face crops against their 16 kHz audio.

    ``crops_rgb``: uint8 [T,224,224,3] RGB; ``audio``: float32 [N] 16 kHz in [-1, 1].
    Raises :class:`InputError` when fewer than 6 frames (and 6*640 samples) are available.
    """
    if crops_rgb.ndim != 4 or crops_rgb.shape[1:] != (CROP_SIZE, CROP_SIZE, 3) or crops_rgb.dtype != np.uint8:
        raise InputError(f"SyncNet needs uint8 [T,224,224,3] crops, got {crops_rgb.dtype} {list(crops_rgb.shape)}")
    windows = num_sync_windows(len(crops_rgb), len(audio))
    if windows < 1:
        raise InputError(
            f"too short for SyncNet: {len(crops_rgb)} frames and {len(audio) / SAMPLE_RATE:.3f} s of audio; "
            f"need at least {WINDOW_FRAMES + 1} frames (0.24 s) of both"
        )
    mfcc = reference_mfcc(audio)
    lips, sounds = sync_embeddings(model, crops_rgb, mfcc, windows, batch_size=batch_size, device=device)
    return scores_from_distances(offset_distances(lips, sounds, vshift), vshift)
