"""Wav2Lip training samples, as ``Dataset.__getitem__`` of the public ``wav2lip_train.py``.

Clips are read through the shared pipeline (:class:`tfbench.train.data.TrainingData`, at
their own size, memory-mapped). The public preprocessing (``preprocess.py``) saves each
frame's S3FD face box, unpadded, and training resizes it to 96 x 96; here the face box of
frame ``t`` is the prepared dataset's cached box (``boxes`` column, clip pixels), likewise
unpadded and unsmoothed, cropped when a sample is drawn.

One sample (``T`` = window, 5): a start frame ``s`` and a "wrong" start frame ``w != s``,
both with ``T`` frames in the clip;

- ``x`` ``[6, T, 96, 96]``: frames ``s..s+T-1`` with their lower half zeroed, then the
  frames ``w..w+T-1`` (the identity reference), BGR in [0, 1];
- ``y`` ``[3, T, 96, 96]``: frames ``s..s+T-1``;
- ``mel`` ``[1, 80, 16]``: the expert's window, mel rows from ``int(80 s / 25)``;
- ``indiv_mels`` ``[T, 1, 80, 16]``: frame ``s+k``'s window starts at ``int(80 (s+k-1) / 25)``
  (``get_segmented_mels``: one frame earlier than the frame; the public code needs ``s >= 1``).

Start frames whose windows would run past the audio are never drawn (the public loader redraws).
"""

from __future__ import annotations

import numpy as np

from tfbench.errors import InputError
from tfbench.io.constants import FPS
from tfbench.models.wav2lip.networks import FACE_SIZE, MEL_STEPS


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


class TrainingWindows:
    """The ``split`` of a prepared dataset as Wav2Lip samples (see the module docstring)."""

    def __init__(self, dataset, window: int, split: str = "train", progress=None) -> None:
        from tfbench.io.features import log_mel
        from tfbench.train.data import TrainingData

        self.window = window
        data = TrainingData(dataset, split=split, size=None, min_frames=window + 2, progress=progress)
        boxes = {str(row["clip_id"]): row.get("boxes") for row in dataset.split(split)}
        self.skipped = list(data.skipped)
        self.clips: list[tuple] = []  # (clip, boxes [T,4], mel [n,80], valid start frames)
        for clip in data.clips:
            clip_boxes = boxes.get(clip.clip_id)
            if clip_boxes is None:
                self.skipped.append({"clip_id": clip.clip_id, "reason": "no cached face boxes (column 'boxes')"})
                continue
            clip_boxes = np.asarray(clip_boxes, dtype=np.float64).reshape(-1, 4)
            if len(clip_boxes) < clip.num_frames or not np.all(np.isfinite(clip_boxes)):
                self.skipped.append({"clip_id": clip.clip_id, "reason": "face boxes missing for some frames"})
                continue
            mel = log_mel(np.asarray(clip.audio, dtype=np.float32))
            starts = self.valid_starts(clip.num_frames, len(mel))
            if len(starts) < 2:
                self.skipped.append({"clip_id": clip.clip_id, "reason": f"{clip.num_frames} frames: too short for "
                                     f"two {window}-frame windows with their audio"})
                continue
            self.clips.append((clip, clip_boxes, mel, starts))
        if not self.clips:
            raise InputError(f"no usable Wav2Lip training clip in split {split!r} of {dataset.root}: {self.skipped[:3]}")

    def valid_starts(self, num_frames: int, num_mel: int) -> np.ndarray:
        """Start frames ``s`` whose window, expert mel and per-frame mels all fit (``s >= 1``)."""
        starts = np.arange(1, num_frames - self.window + 1)
        fits = [mel_row(s) + MEL_STEPS <= num_mel and mel_row(s + self.window - 2) + MEL_STEPS <= num_mel for s in starts]
        return starts[np.asarray(fits, dtype=bool)] if len(starts) else starts

    def batch(self, rng: np.random.Generator, batch_size: int, local: slice | None = None) -> dict:
        """A global batch of ``batch_size`` samples drawn from ``rng`` (only the ``local`` slice is
        read): x ``[B,6,T,96,96]``, y ``[B,3,T,96,96]``, mel ``[B,1,80,16]``, indiv_mels
        ``[B,T,1,80,16]`` (float32 torch tensors)."""
        import torch

        picks = [self._pick(rng) for _ in range(batch_size)][local or slice(None)]
        samples = [self.sample(*pick) for pick in picks]
        return {key: torch.from_numpy(np.stack([sample[key] for sample in samples])) for key in samples[0]}

    def _pick(self, rng: np.random.Generator) -> tuple[int, int, int]:
        index = int(rng.integers(len(self.clips)))
        starts = self.clips[index][3]
        start = int(rng.choice(starts))
        return index, start, int(rng.choice(starts[starts != start]))

    def sample(self, index: int, start: int, wrong: int) -> dict[str, np.ndarray]:
        clip, boxes, mel, _ = self.clips[index]
        t = self.window

        def faces(first: int) -> np.ndarray:  # float32 [3, T, 96, 96] BGR in [0, 1]
            crops = face_crops(np.asarray(clip.frames[first:first + t]), boxes[first:first + t])
            return crops.astype(np.float32).transpose(3, 0, 1, 2) / 255.0

        window = faces(start)
        masked = window.copy()
        masked[:, :, FACE_SIZE // 2:] = 0.0
        return {
            "x": np.concatenate([masked, faces(wrong)], 0),
            "y": window,
            "mel": mel[mel_row(start):mel_row(start) + MEL_STEPS].T[None],
            "indiv_mels": np.stack([mel[mel_row(f - 1):mel_row(f - 1) + MEL_STEPS].T[None] for f in range(start, start + t)]),
        }
