"""Wav2Lip training samples, as ``Dataset.__getitem__`` of the public ``wav2lip_train.py``.

The public preprocessing (``preprocess.py``) saves each frame's S3FD face box, unpadded,
and training resizes it to 96 x 96. Here the face box of frame ``t`` is the prepared
dataset's cached box (``boxes`` column, clip pixels), likewise unpadded and unsmoothed.
Faces (uint8 BGR, 96 x 96) and the clip's log-mel are cached once per clip under
``$TFBENCH_HOME/cache/wav2lip/<cache version>/<dataset fingerprint>/`` and memory-mapped,
so memory does not grow with the dataset.

One sample (``T`` = window, 5): a start frame ``s`` and a "wrong" start frame ``w != s``,
both with ``T`` frames in the clip;

- ``x`` ``[6, T, 96, 96]``: frames ``s..s+T-1`` with their lower half zeroed, then the
  frames ``w..w+T-1`` (the identity reference), BGR in [0, 1];
- ``y`` ``[3, T, 96, 96]``: frames ``s..s+T-1``;
- ``mel`` ``[1, 80, 16]``: the expert's window, mel rows from ``int(80 s / 25)``;
- ``indiv_mels`` ``[T, 1, 80, 16]``: frame ``s+k``'s window starts at ``int(80 (s+k-1) / 25)``
  (``get_segmented_mels``: one frame earlier than the frame; the public code needs ``s >= 1``).

Samples whose windows would run past the audio are not drawn (the public loader redraws).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from tfbench.errors import InputError, TfbenchError
from tfbench.models.wav2lip.networks import FACE_SIZE, MEL_STEPS

#: Bump when the cached arrays change: older caches are then ignored.
CACHE_VERSION = "v1"
FPS = 25.0


def mel_row(frame: int) -> int:
    """``crop_audio_window``'s first mel row of a frame number."""
    return int(80.0 * (frame / FPS))


def face_crops(frames: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """uint8 ``[T, 96, 96, 3]`` BGR: each frame's box (x1, y1, x2, y2, clip pixels, truncated to
    int and clipped to the frame) resized with ``cv2.resize`` (bilinear), as the public code
    reads ``cv2.imread`` crops."""
    import cv2

    height, width = frames.shape[1:3]
    out = np.empty((len(frames), FACE_SIZE, FACE_SIZE, 3), dtype=np.uint8)
    for index, (frame, box) in enumerate(zip(frames, boxes)):
        x1, y1 = max(0, int(box[0])), max(0, int(box[1]))
        x2, y2 = min(width, int(box[2])), min(height, int(box[3]))
        if x2 <= x1 or y2 <= y1:
            raise InputError(f"empty face box {list(box)} in frame {index}")
        out[index] = cv2.resize(np.ascontiguousarray(frame[y1:y2, x1:x2]), (FACE_SIZE, FACE_SIZE))[..., ::-1]
    return out


def _cache_clip(row, clip_path: Path, folder: Path) -> None:
    from tfbench.io.audio import read_audio
    from tfbench.io.features import log_mel
    from tfbench.io.video import read_video

    if row.get("boxes") is None:
        raise InputError("the row has no cached face boxes (column 'boxes'); re-prepare the dataset")
    boxes = np.asarray(row["boxes"], dtype=np.float64).reshape(-1, 4)
    video = read_video(clip_path, fps=FPS)
    count = min(len(video.frames), len(boxes))
    if not np.all(np.isfinite(boxes[:count])):
        raise InputError("some frames have no face box")
    arrays = {"faces": face_crops(video.frames[:count], boxes[:count]), "mel": log_mel(read_audio(clip_path))}
    folder.mkdir(parents=True, exist_ok=True)
    for key, value in arrays.items():
        partial = folder / f"{row['clip_id']}.{key}.tmp.npy"
        np.save(partial, value)
        os.replace(partial, folder / f"{row['clip_id']}.{key}.npy")


class TrainingWindows:
    """The train split of a prepared dataset as Wav2Lip samples (see the module docstring)."""

    def __init__(self, dataset, window: int, split: str = "train", progress=None) -> None:
        from tfbench.weights import tfbench_home

        self.window = window
        folder = tfbench_home() / "cache" / "wav2lip" / CACHE_VERSION / str(dataset.fingerprint)
        self.clips: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = []  # id, faces, mel, valid starts
        self.skipped: list[dict] = []
        for row in dataset.split(split):
            clip_id = row["clip_id"]
            if not (folder / f"{clip_id}.mel.npy").exists():
                if progress:
                    progress(f"caching {clip_id}")
                try:
                    _cache_clip(row, dataset.clip_path(row), folder)
                except TfbenchError as error:  # unreadable media, missing boxes: skip the clip, say so
                    self.skipped.append({"clip_id": clip_id, "reason": str(error)})
                    continue
            faces = np.load(folder / f"{clip_id}.faces.npy", mmap_mode="r")
            mel = np.load(folder / f"{clip_id}.mel.npy", mmap_mode="r")
            starts = self.valid_starts(len(faces), len(mel))
            if len(starts) < 2:
                self.skipped.append({"clip_id": clip_id, "reason": f"{len(faces)} frames: too short for two "
                                     f"{window}-frame windows with their audio"})
                continue
            self.clips.append((clip_id, faces, mel, starts))
        if not self.clips:
            raise InputError(f"no usable training clip in split {split!r} of {dataset.root}: {json.dumps(self.skipped)[:500]}")

    def valid_starts(self, num_frames: int, num_mel: int) -> np.ndarray:
        """Start frames ``s`` whose window, expert mel and per-frame mels all fit (``s >= 1``)."""
        starts = np.arange(1, num_frames - self.window + 1)
        fits = [mel_row(s) + MEL_STEPS <= num_mel and mel_row(s + self.window - 2) + MEL_STEPS <= num_mel for s in starts]
        return starts[np.asarray(fits, dtype=bool)] if len(starts) else starts

    def batch(self, rng: np.random.Generator, batch_size: int) -> dict:
        """``batch_size`` samples stacked: x ``[B,6,T,96,96]``, y ``[B,3,T,96,96]``,
        mel ``[B,1,80,16]``, indiv_mels ``[B,T,1,80,16]`` (float32 torch tensors)."""
        import torch

        samples = [self.sample(rng) for _ in range(batch_size)]
        return {key: torch.from_numpy(np.stack([sample[key] for sample in samples])) for key in samples[0]}

    def sample(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        _, faces, mel, starts = self.clips[int(rng.integers(len(self.clips)))]
        start = int(rng.choice(starts))
        wrong = int(rng.choice(starts[starts != start]))
        t = self.window
        window = np.asarray(faces[start:start + t], dtype=np.float32).transpose(3, 0, 1, 2) / 255.0  # [3,T,H,W]
        reference = np.asarray(faces[wrong:wrong + t], dtype=np.float32).transpose(3, 0, 1, 2) / 255.0
        masked = window.copy()
        masked[:, :, FACE_SIZE // 2:] = 0.0
        mel = np.asarray(mel, dtype=np.float32)
        return {
            "x": np.concatenate([masked, reference], 0),
            "y": window,
            "mel": mel[mel_row(start):mel_row(start) + MEL_STEPS].T[None],
            "indiv_mels": np.stack([mel[mel_row(f - 1):mel_row(f - 1) + MEL_STEPS].T[None] for f in range(start, start + t)]),
        }
