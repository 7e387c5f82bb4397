"""G4G's inputs: face crop geometry, landmark sketches, per-clip caches and training batches.

The processed clips of a prepared dataset are already face-tracked square crops. G4G
works on a ``face_height x face_width`` (416 x 320 in the paper) crop of them, placed
from the clip's landmarks so that the 256 x 256 mouth region covers the lower face
(:class:`FaceCrop`). Generated faces are pasted back into the clip through the
Gaussian-smoothed mouth mask at the clip's resolution, so every pixel outside the mask
is the source's.

Training reads clips through the shared pipeline (:mod:`tfbench.train.data`: audio,
landmarks, frames decoded once), caches them at model resolution as ``.npy`` files under
``$TFBENCH_HOME/cache/g4g/<cache version>/<dataset fingerprint>/<H>x<W>/`` and samples
windows with the shared sampler from memory-mapped arrays, so memory does not grow with
the dataset.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from tfbench.errors import InputError, TfbenchError
from tfbench.models.g4g.config import G4GConfig

#: Polylines of the 68-point layout drawn into the landmark sketch (closed, start, stop).
SKETCH_PARTS = ((False, 0, 17), (False, 17, 22), (False, 22, 27), (False, 27, 31), (False, 31, 36),
                (True, 36, 42), (True, 42, 48), (True, 48, 60), (True, 60, 68))
#: MFCC steps per video frame (100 Hz MFCC, 25 fps video) and per SyncNet window (0.2 s).
MFCC_PER_FRAME = 4
MFCC_WINDOW = 20
#: Bump when the cached arrays change (crop geometry, features): old caches are then ignored.
CACHE_VERSION = "v2"  # v2: clips read through tfbench.train.data (audio from the lossless wav)


@dataclass(frozen=True)
class FaceCrop:
    """G4G's face crop of one clip: ``face = scale * (clip - origin)`` in pixels, fixed per clip.

    Placed from the clip's landmarks (median over frames with a face, so it does not
    jitter) such that the mouth region is a square of side the jaw width at the mouth
    (points 4-12), centred on the lips horizontally, its bottom 10% of the side
    below the chin (point 8). Parts of the crop outside the clip repeat the border.
    """

    scale: float
    origin_x: float
    origin_y: float

    @classmethod
    def from_landmarks(cls, landmarks: np.ndarray, config: G4GConfig) -> "FaceCrop":
        """``landmarks``: float ``[T, 68, 2]`` clip pixels, NaN rows where no face."""
        points = np.asarray(landmarks, dtype=np.float64).reshape(-1, 68, 2)
        points = points[np.all(np.isfinite(points.reshape(len(points), -1)), axis=1)]
        if not len(points):
            raise InputError("G4G places its face crop from landmarks, and no frame has any")
        side = float(np.median(np.linalg.norm(points[:, 12] - points[:, 4], axis=1)))
        if not side > 1:
            raise InputError(f"implausible landmarks: jaw width {side:.2f} px")
        centre_x = float(np.median(points[:, 48:68, 0].mean(axis=1)))
        bottom = float(np.median(points[:, 8, 1])) + 0.1 * side
        scale = config.mouth_size / side
        top, left = config.mouth_box[:2]
        return cls(scale, centre_x - side / 2 - left / scale, bottom - side - top / scale)

    def _matrix(self) -> np.ndarray:
        return np.array([[self.scale, 0, -self.scale * self.origin_x], [0, self.scale, -self.scale * self.origin_y]])

    def faces(self, frames: np.ndarray, config: G4GConfig) -> np.ndarray:
        """uint8 ``[T, clip_h, clip_w, 3]`` -> uint8 ``[T, face_h, face_w, 3]`` (bilinear)."""
        size, matrix = (config.face_width, config.face_height), self._matrix()
        return np.stack([cv2.warpAffine(np.ascontiguousarray(frame), matrix, size, flags=cv2.INTER_LINEAR,
                                        borderMode=cv2.BORDER_REPLICATE) for frame in frames])

    def points(self, landmarks: np.ndarray, config: G4GConfig) -> np.ndarray:
        """Clip pixel (x, y) ``[..., 2]`` -> face-crop pixel (x, y); NaN stays NaN."""
        origin = np.array([self.origin_x, self.origin_y])
        return ((np.asarray(landmarks, dtype=np.float64) - origin) * self.scale).astype(np.float32)

    def paste(self, frames: np.ndarray, faces: np.ndarray, config: G4GConfig) -> np.ndarray:
        """Composite generated faces (uint8 ``[T, face_h, face_w, 3]``) into copies of ``frames``
        through the Gaussian-smoothed mouth mask, mapped back to clip pixels (bicubic)."""
        from tfbench.models.g4g.networks import gaussian_mouth_mask

        height, width = frames.shape[1:3]
        inverse = cv2.invertAffineTransform(self._matrix())
        mask = gaussian_mouth_mask(config)[0, 0].numpy()
        mask = cv2.warpAffine(mask, inverse, (width, height), flags=cv2.INTER_LINEAR, borderValue=0)[..., None]
        out = np.array(frames, dtype=np.uint8, copy=True)
        for index, face in enumerate(faces):
            big = cv2.warpAffine(face, inverse, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
            blended = mask * big.astype(np.float32) + (1 - mask) * out[index].astype(np.float32)
            out[index] = np.clip(np.rint(blended), 0, 255)
        return out


def landmark_sketch(points: np.ndarray, config: G4GConfig) -> np.ndarray:
    """The prior landmarks ``L_r``: uint8 ``[face_h, face_w]`` in {0, 1}, 68 points drawn as lines.

    ``points``: float ``[68, 2]`` face-crop pixels; an all-NaN row gives an empty sketch.
    """
    canvas = np.zeros((config.face_height, config.face_width), dtype=np.uint8)
    if not np.all(np.isfinite(points)):
        return canvas
    pixels = np.rint(points).astype(np.int32)
    thickness = max(1, config.mouth_size // 128)
    for closed, start, stop in SKETCH_PARTS:
        cv2.polylines(canvas, [pixels[start:stop]], closed, 1, thickness)
    return canvas


def lips_mask(points: np.ndarray, config: G4GConfig) -> np.ndarray:
    """float32 ``[face_h, face_w]``: the lips' bounding box (points 48-67) grown by 25%;
    the mouth region when the landmarks are missing."""
    mask = np.zeros((config.face_height, config.face_width), dtype=np.float32)
    lips = points[48:68]
    if np.all(np.isfinite(lips)):
        (x0, y0), (x1, y1) = lips.min(0), lips.max(0)
        grow_x, grow_y = 0.25 * (x1 - x0) + 1, 0.25 * (y1 - y0) + 1
        x0, x1 = int(max(0, x0 - grow_x)), int(min(config.face_width, x1 + grow_x + 1))
        y0, y1 = int(max(0, y0 - grow_y)), int(min(config.face_height, y1 + grow_y + 1))
        if x1 > x0 and y1 > y0:
            mask[y0:y1, x0:x1] = 1
            return mask
    top, left, bottom, right = config.mouth_box
    mask[top:bottom, left:right] = 1
    return mask


def reference_indices(num_frames: int, count: int) -> np.ndarray:
    """The ``count`` reference frames used at inference: evenly spaced over the clip."""
    return np.rint(np.linspace(0, num_frames - 1, count)).astype(np.int64)


def first_valid(landmarks: np.ndarray, candidates: np.ndarray) -> int | None:
    """The first index of ``candidates`` whose landmarks are finite, else any finite frame, else None."""
    finite = np.all(np.isfinite(landmarks.reshape(len(landmarks), -1)), axis=1)
    for index in candidates:
        if finite[index]:
            return int(index)
    anywhere = np.flatnonzero(finite)
    return int(anywhere[0]) if len(anywhere) else None


def audio_features(audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(log-mel float32 [n, 80] at 80 Hz, MFCC float32 [m, 13] at 100 Hz) of 16 kHz audio."""
    from tfbench.io.features import log_mel, mfcc

    return log_mel(audio), mfcc(audio)


def mel_windows(mel: np.ndarray, frames: np.ndarray, fps: float = 25.0) -> np.ndarray:
    """float32 ``[len(frames), 16, 80]``: the mel window of each video frame index."""
    from tfbench.io.features import mel_window

    return np.stack([mel_window(mel, int(index), fps=fps) for index in frames]).astype(np.float32)


def mfcc_window(mfcc: np.ndarray, start_frame: int) -> np.ndarray:
    """float32 ``[13, 20]``: SyncNet's audio input for video frames ``start .. start+4``
    (steps ``4 start : 4 start + 20``, edge-padded past the end)."""
    rows = np.minimum(np.arange(start_frame * MFCC_PER_FRAME, start_frame * MFCC_PER_FRAME + MFCC_WINDOW), len(mfcc) - 1)
    return mfcc[rows].T.astype(np.float32)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 ``[..., H, W, C]`` -> float32 ``[..., C, H, W]`` in [0, 1]."""
    return torch.from_numpy(np.array(images, dtype=np.uint8)).movedim(-1, -3).float() / 255.0


# ------------------------------------------------------------------ training data


@dataclass
class CachedClip:
    """One clip at model resolution (memory-mapped arrays)."""

    clip_id: str
    faces: np.ndarray  # uint8 [T, face_h, face_w, 3]
    landmarks: np.ndarray  # float32 [T, 68, 2] face-crop pixels, NaN where no face
    mel: np.ndarray  # float32 [n, 80]
    mfcc: np.ndarray  # float32 [m, 13]


def _cache_clip(clip, folder: Path, config: G4GConfig) -> None:
    """G4G's arrays of one :class:`tfbench.train.data.TrainingClip` (clip pixels) at crop geometry."""
    landmarks = np.asarray(clip.landmarks, dtype=np.float32)
    crop = FaceCrop.from_landmarks(landmarks, config)
    mel, mfcc = audio_features(np.asarray(clip.audio, dtype=np.float32))
    arrays = {"faces": crop.faces(np.asarray(clip.frames), config), "landmarks": crop.points(landmarks, config),
              "mel": mel, "mfcc": mfcc}
    folder.mkdir(parents=True, exist_ok=True)
    for key, value in arrays.items():
        partial = folder / f"{clip.clip_id}.{key}.tmp.npy"
        np.save(partial, value)
        os.replace(partial, folder / f"{clip.clip_id}.{key}.npy")


def _no_landmarks(clip) -> str | None:
    if clip.landmarks is None or first_valid(np.asarray(clip.landmarks), np.arange(clip.num_frames)) is None:
        return "no frame with landmarks"
    return None


class TrainingClips:
    """The train split of a prepared dataset, read by the shared pipeline
    (:class:`tfbench.train.data.TrainingData`, clip pixels, frames not stored there) and
    cached at G4G's crop geometry; windows are drawn by the shared sampler."""

    def __init__(self, dataset, config: G4GConfig, split: str = "train", progress=None) -> None:
        from tfbench.train.data import TrainingData
        from tfbench.weights import tfbench_home

        self.config = config
        self.data = TrainingData(dataset, split=split, min_frames=config.clip_frames, check=_no_landmarks,
                                 cache_frames=False, progress=progress)
        folder = (tfbench_home() / "cache" / "g4g" / CACHE_VERSION / str(dataset.fingerprint)
                  / f"{config.face_height}x{config.face_width}")
        self.clips: list[CachedClip] = []
        self.skipped: list[dict] = list(self.data.skipped)
        usable = []
        for clip in self.data.clips:
            if not (folder / f"{clip.clip_id}.mfcc.npy").exists():
                if progress:
                    progress(f"caching {clip.clip_id} at {config.face_height}x{config.face_width}")
                try:
                    _cache_clip(clip, folder, config)
                except TfbenchError as error:  # implausible landmarks, unreadable media: skip the clip, say so
                    self.skipped.append({"clip_id": clip.clip_id, "reason": str(error)})
                    continue
            arrays = {key: np.load(folder / f"{clip.clip_id}.{key}.npy", mmap_mode="r") for key in ("faces", "landmarks", "mel", "mfcc")}
            self.clips.append(CachedClip(clip.clip_id, **arrays))
            usable.append(clip)
        self.data.clips = usable  # the shared sampler draws from the clips G4G could cache (same order)
        if not self.clips:
            raise InputError(f"no usable training clip in split {split!r} of {dataset.root}: {self.skipped[:3]}")

    def batch(self, rng: np.random.Generator, local: slice | None = None) -> dict[str, torch.Tensor]:
        """``batch_size`` samples of ``clip_frames`` consecutive frames each (only the ``local`` slice is read).

        Shapes (B batch, T clip frames, K references): faces ``[B,T,3,H,W]``, references
        ``[B,3K,H,W]``, sketch ``[B,1,H,W]``, mel ``[B,T,16,80]``, masks ``[B,T,3,H,W]``
        (face, mouth region, lips box), mfcc ``[B,13,20]``, mfcc_unsynced ``[B,N,13,20]``.
        """
        config = self.config
        windows = self.data.sample_windows(rng, config.batch_size, config.clip_frames)
        extras = [self._draw_extras(self.clips[index], start, rng) for index, start in windows]
        picked = list(zip(windows, extras))[local or slice(None)]
        samples = [self._sample(self.clips[index], start, *extra) for (index, start), extra in picked]
        return {key: torch.stack([torch.as_tensor(sample[key]) for sample in samples]) for key in samples[0]}

    def _draw_extras(self, clip: CachedClip, start: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Reference frames and unsynced audio windows of one sample (drawn for the global batch)."""
        config, count, t = self.config, len(clip.faces), self.config.clip_frames
        references = rng.choice(count, size=config.num_references, replace=count < config.num_references)
        far = [s for s in range(count - t + 1) if abs(s - start) >= t] or [s for s in range(count - t + 1) if s != start] or [start]
        unsynced = rng.choice(far, size=config.sync_negatives, replace=len(far) < config.sync_negatives)
        return references, unsynced

    def _sample(self, clip: CachedClip, start: int, references: np.ndarray, unsynced: np.ndarray) -> dict[str, np.ndarray]:
        config, t = self.config, self.config.clip_frames
        frames = np.arange(start, start + t)
        landmarks = np.asarray(clip.landmarks)
        sketch_frame = first_valid(landmarks, references)
        top, left, bottom, right = config.mouth_box
        mouth = np.zeros((config.face_height, config.face_width), dtype=np.float32)
        mouth[top:bottom, left:right] = 1
        masks = np.stack([np.stack([np.ones_like(mouth), mouth, lips_mask(landmarks[i], config)]) for i in frames])
        refs = np.asarray(clip.faces[np.sort(references)])
        return {
            "faces": to_tensor(np.asarray(clip.faces[start:start + t])).numpy(),
            "references": to_tensor(refs).reshape(-1, config.face_height, config.face_width).numpy(),
            "sketch": landmark_sketch(landmarks[sketch_frame], config)[None].astype(np.float32),
            "mel": mel_windows(np.asarray(clip.mel), frames),
            "masks": masks,
            "mfcc": mfcc_window(np.asarray(clip.mfcc), start),
            "mfcc_unsynced": np.stack([mfcc_window(np.asarray(clip.mfcc), int(s)) for s in unsynced]),
        }
