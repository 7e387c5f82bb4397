"""CPNet's inputs: the 224 crop, landmark images, masked frames, density targets and training batches.

- **Crop.** CPNet's frame is the central ``CROP_FRACTION`` (224/256) of tfbench's square,
  face-centred processed clip, resized to ``image_size`` (:class:`CentralCrop`).
  Generated frames are pasted back through a lower-half mask feathered upwards, so
  every pixel the generator was not asked for is the source's.
- **Generator input** of frame t: the landmark images of frames t-3..t+3 (the 68 points
  drawn as polylines, 1 channel each; clamped at the clip's ends) and frame t with its
  lower half set to 0 (3 channels).
- **Density targets** come from the dataset's accessor
  :meth:`tfbench.data.PreparedDataset.density_maps` (25 x 25 kernel, σ = 5 at the paper's
  224-pixel scale, i.e. computed at 256 for the whole clip and cropped), averaged down to
  ``image_size`` and multiplied by ``density_scale``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from tfbench.errors import InputError
from tfbench.models.cpnet.config import CROP_FRACTION, CPNetConfig
from tfbench.models.cpnet.networks import LOWER_FACE

#: Polylines of the 68-point layout (closed, start, stop) drawn into a landmark image.
SKETCH_PARTS = ((False, 0, 17), (False, 17, 22), (False, 22, 27), (False, 27, 31), (False, 31, 36),
                (True, 36, 42), (True, 42, 48), (True, 48, 60), (True, 60, 68))
#: Side of the clip on which density maps are drawn so that the kernel has the paper's size in the 224 crop.
DENSITY_CLIP_SIZE = round(224 / CROP_FRACTION)


@dataclass(frozen=True)
class CentralCrop:
    """The central ``CROP_FRACTION`` square of an ``height x width`` clip, resized to ``size``."""

    height: int
    width: int
    size: int

    @property
    def side(self) -> int:
        return int(round(min(self.height, self.width) * CROP_FRACTION))

    @property
    def origin(self) -> tuple[int, int]:
        """(top, left) of the crop in clip pixels."""
        return (self.height - self.side) // 2, (self.width - self.side) // 2

    def frames(self, frames: np.ndarray) -> np.ndarray:
        """uint8 ``[T, height, width, 3]`` -> uint8 ``[T, size, size, 3]`` (area resampling)."""
        top, left = self.origin
        region = np.asarray(frames)[:, top:top + self.side, left:left + self.side]
        return np.stack([cv2.resize(np.ascontiguousarray(f), (self.size, self.size), interpolation=cv2.INTER_AREA)
                         for f in region])

    def points(self, landmarks: np.ndarray) -> np.ndarray:
        """Clip pixel (x, y) ``[..., 2]`` -> crop pixel (x, y) (pixel centres map to pixel centres)."""
        top, left = self.origin
        scale = self.size / self.side
        return ((np.asarray(landmarks, np.float64) - (left, top) + 0.5) * scale - 0.5).astype(np.float32)

    def paste(self, frames: np.ndarray, generated: np.ndarray) -> np.ndarray:
        """Blend generated crops (uint8 ``[T, size, size, 3]``) into copies of ``frames`` through
        :func:`lower_half_mask`, resized to the crop's side (bicubic)."""
        top, left = self.origin
        mask = cv2.resize(lower_half_mask(self.size), (self.side, self.side), interpolation=cv2.INTER_LINEAR)[..., None]
        out = np.array(frames, dtype=np.uint8, copy=True)
        for index, face in enumerate(generated):
            big = cv2.resize(face, (self.side, self.side), interpolation=cv2.INTER_CUBIC).astype(np.float32)
            region = out[index, top:top + self.side, left:left + self.side].astype(np.float32)
            out[index, top:top + self.side, left:left + self.side] = np.clip(np.rint(mask * big + (1 - mask) * region), 0, 255)
        return out


def lower_half_mask(size: int) -> np.ndarray:
    """float32 ``[size, size]``: 1 on the lower half (the part the generator does not see), ramping
    linearly to 0 over ``size / 16`` rows above it."""
    rows = np.arange(size, dtype=np.float32)
    ramp = max(1.0, size / 16)
    column = np.clip((rows - (size // 2 - ramp)) / ramp, 0.0, 1.0)
    return np.repeat(column[:, None], size, axis=1)


def landmark_image(points: np.ndarray, size: int) -> np.ndarray:
    """uint8 ``[size, size]`` in {0, 1}: the 68 points ``[68, 2]`` (crop pixels) drawn as polylines;
    empty when any point is NaN (no face in that frame)."""
    canvas = np.zeros((size, size), dtype=np.uint8)
    if not np.all(np.isfinite(points)):
        return canvas
    pixels = np.rint(points).astype(np.int32)
    for closed, start, stop in SKETCH_PARTS:
        cv2.polylines(canvas, [pixels[start:stop]], closed, 1, max(1, size // 112))
    return canvas


def window_indices(t: int, count: int, window: int) -> np.ndarray:
    """Frame indices t-k .. t+k (k = window // 2) clamped to ``[0, count)``."""
    half = window // 2
    return np.clip(np.arange(t - half, t + half + 1), 0, count - 1)


def generator_input(frame: np.ndarray, window_sketches: np.ndarray) -> np.ndarray:
    """float32 ``[window + 3, S, S]`` for frame t: the landmark images of t-k..t+k (uint8
    ``[window, S, S]``, :func:`window_indices`), then frame t (uint8 ``[S, S, 3]``) in [0, 1]
    with rows ``S//2`` and below set to 0."""
    image = np.asarray(frame, dtype=np.float32).transpose(2, 0, 1) / 255.0
    image[:, image.shape[1] // 2:] = 0
    return np.concatenate([np.asarray(window_sketches, dtype=np.float32), image])


def normalise_landmarks(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Eye-normalised landmarks: origin between the eye centres, unit inter-ocular distance, eyes level.

    ``points`` float ``[T, 68, 2]`` -> (normalised ``[T, 68, 2]``, centre ``[T, 2]``, scale ``[T]``,
    rotation ``[T, 2, 2]`` from normalised to pixel axes). NaN frames stay NaN.
    """
    points = np.asarray(points, dtype=np.float64)
    left, right = points[:, 36:42].mean(1), points[:, 42:48].mean(1)
    centre = (left + right) / 2
    axis = right - left
    scale = np.linalg.norm(axis, axis=1)
    cos, sin = axis[:, 0] / scale, axis[:, 1] / scale
    rotation = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)  # [T,2,2]
    local = np.einsum("tji,tkj->tki", rotation, points - centre[:, None]) / scale[:, None, None]
    return local.astype(np.float32), centre, scale, rotation


def with_lower_face(points: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """Replace the :data:`LOWER_FACE` points of ``points`` ``[T, 68, 2]`` (pixels) by ``lower``
    ``[T, 33, 2]`` given in each frame's eye-normalised coordinates."""
    _, centre, scale, rotation = normalise_landmarks(points)
    out = np.array(points, dtype=np.float64, copy=True)
    pixels = np.einsum("tij,tkj->tki", rotation, np.asarray(lower, np.float64)) * scale[:, None, None] + centre[:, None]
    out[:, list(LOWER_FACE)] = pixels
    return out.astype(np.float32)


def density_target(dataset, row_width: int, landmarks: np.ndarray, config: CPNetConfig) -> np.ndarray:
    """float32 ``[T, 1, S, S]``: density maps of clip-pixel ``landmarks`` ``[T, 68, 2]`` at the
    crop's resolution, through the dataset's accessor, times ``density_scale``."""
    maps = dataset.density_maps({"landmarks": np.asarray(landmarks, np.float32), "width": int(row_width)},
                                size=DENSITY_CLIP_SIZE)
    crop = CentralCrop(DENSITY_CLIP_SIZE, DENSITY_CLIP_SIZE, config.image_size)
    top, left = crop.origin
    region = maps[:, top:top + crop.side, left:left + crop.side]
    if crop.side != config.image_size:
        region = np.stack([cv2.resize(m, (config.image_size,) * 2, interpolation=cv2.INTER_AREA) for m in region])
    return (region * config.density_scale)[:, None].astype(np.float32)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 ``[..., H, W, C]`` -> float32 ``[..., C, H, W]`` in [0, 1]."""
    return torch.from_numpy(np.array(images, dtype=np.uint8)).movedim(-1, -3).float() / 255.0


def mel_windows(mel: np.ndarray, frames: np.ndarray, fps: float = 25.0) -> np.ndarray:
    """float32 ``[len(frames), 16, 80]``: Wav2Lip's mel window of each video frame index."""
    from tfbench.io.features import mel_window

    return np.stack([mel_window(mel, int(index), fps=fps) for index in frames]).astype(np.float32)


# ------------------------------------------------------------------ training data


class TrainingClips:
    """The train split of a prepared dataset, sampled in windows for CPNet.

    Clips come from the shared pipeline :class:`tfbench.train.data.TrainingData` at their
    own resolution (memory-mapped); each sampled frame is cropped and resized here, its
    landmark images are drawn and its density map is drawn through the dataset's
    accessor. ``identities``: the speakers of the clips used (CPNet is person-specific).
    """

    def __init__(self, dataset, config: CPNetConfig, split: str = "train", progress=None) -> None:
        from tfbench.train.data import TrainingData

        self.config, self.dataset = config, dataset
        self.data = TrainingData(dataset, split=split, size=None, min_frames=config.temporal_frames, progress=progress)
        self.skipped = list(self.data.skipped)
        self.clips = []
        for clip in self.data.clips:
            landmarks = np.asarray(clip.landmarks) if clip.landmarks is not None else np.full((1, 68, 2), np.nan)
            if not np.isfinite(landmarks.reshape(len(landmarks), -1)).all(1).any():
                self.skipped.append({"clip_id": clip.clip_id, "reason": "no frame with face landmarks"})
            else:
                self.clips.append(clip)
        if not self.clips:
            raise InputError(f"no training clip of split {split!r} in {dataset.root} has landmarks: {self.skipped[:5]}")
        self.identities = sorted({str(clip.labels.get("speaker", "unknown")) for clip in self.clips})

    def lower_face_mean(self) -> np.ndarray:
        """float32 ``[33, 2]``: the mean eye-normalised lower face over every training frame with a face."""
        shapes = [normalise_landmarks(np.asarray(c.landmarks))[0][:, list(LOWER_FACE)] for c in self.clips]
        return np.nanmean(np.concatenate(shapes), axis=0).astype(np.float32)

    def batch(self, rng: np.random.Generator, local: slice | None = None) -> dict[str, torch.Tensor]:
        """The global batch of ``batch_size`` windows of ``temporal_frames`` consecutive frames
        (B, K below) drawn from ``rng``; only the ``local`` slice is materialised.

        inputs ``[B,K,window+3,S,S]``, sketch ``[B,K,1,S,S]`` (frame t's landmark image),
        target ``[B,K,3,S,S]``, density ``[B,K,1,S,S]``, mel ``[B,K,16,80]``, lower
        ``[B,K,33,2]`` (eye-normalised lower-face landmarks, NaN set to 0) and lower_valid ``[B,K]``.
        """
        config = self.config
        picks = []
        for _ in range(config.batch_size):  # uniform over clips, then over start frames
            clip = self.clips[int(rng.integers(len(self.clips)))]
            picks.append((clip, int(rng.integers(clip.num_frames - config.temporal_frames + 1))))
        samples = [self._sample(clip, start) for clip, start in picks[local or slice(None)]]
        return {key: torch.stack([torch.as_tensor(s[key]) for s in samples]) for key in samples[0]}

    def _sample(self, clip, start: int) -> dict[str, np.ndarray]:
        from tfbench.io.features import log_mel

        config, count, size = self.config, clip.num_frames, self.config.image_size
        frames = np.arange(start, start + config.temporal_frames)
        around = np.unique(np.concatenate([window_indices(int(t), count, config.landmark_window) for t in frames]))
        height, width = clip.frames.shape[1:3]
        crop = CentralCrop(height, width, size)
        sketches = {int(index): landmark_image(points, size)  # only the frames the windows read
                    for index, points in zip(around, crop.points(np.asarray(clip.landmarks[around])))}
        faces = crop.frames(np.asarray(clip.frames[frames]))
        landmarks = np.asarray(clip.landmarks[frames], np.float32)
        lower = normalise_landmarks(landmarks)[0][:, list(LOWER_FACE)]
        return {
            "inputs": np.stack([generator_input(face, np.stack([sketches[int(i)] for i in window_indices(
                int(t), count, config.landmark_window)])) for face, t in zip(faces, frames)]),
            "sketch": np.stack([sketches[int(t)] for t in frames]).astype(np.float32)[:, None],
            "target": to_tensor(faces).numpy(),
            "density": density_target(self.dataset, width, landmarks, config),
            "mel": mel_windows(log_mel(np.asarray(clip.audio)), frames),
            "lower": np.nan_to_num(lower).astype(np.float32),
            "lower_valid": np.isfinite(lower.reshape(len(lower), -1)).all(1).astype(np.float32),
        }
