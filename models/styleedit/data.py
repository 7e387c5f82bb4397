"""Training data of the AL module: per clip, MFCC windows, normalised landmarks, emotion,
and the view / same-sentence pairs (:mod:`models.styleedit.pairing`) with their frame alignment.

Landmarks come through the shared pipeline (:class:`tfbench.train.data.TrainingData`,
scaled to ``LANDMARK_FRAME`` pixels, frames not stored) and are normalised so the frame
spans [-1, 1]; frames without a face take the nearest detected frame's points.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from tfbench.models.styleedit.config import EMOTIONS, StyleEditConfig
from tfbench.models.styleedit.networks import mfcc_windows, normalise_landmarks, simulated_view
from tfbench.models.styleedit.pairing import emotion_pairs, view_pairs
from tfbench.errors import InputError

#: Side (pixels) the landmarks are scaled to before normalisation.
LANDMARK_FRAME = 256


@dataclass
class ALClip:
    clip_id: str
    mfcc: np.ndarray  # float32 [T, W, 12]
    landmarks: np.ndarray  # float32 [T, 68, 2] normalised
    emotion: int  # index into EMOTIONS
    labels: dict


def fill_missing(points: np.ndarray) -> np.ndarray | None:
    """Replace NaN frames of ``[T, 68, 2]`` by the nearest frame with a face; None if none has one."""
    valid = np.flatnonzero(np.isfinite(points).all(axis=(1, 2)))
    if not len(valid):
        return None
    nearest = valid[np.abs(np.arange(len(points))[:, None] - valid[None]).argmin(1)]
    return points[nearest]


def dtw_path(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dynamic-time-warping path between feature sequences ``a [N, D]`` and ``b [M, D]``
    (Euclidean cost, steps (1,0), (0,1), (1,1)): int64 ``[K, 2]`` index pairs, monotone.

    The accumulated cost is filled one anti-diagonal at a time (each depends only on the
    two before it), so a clip pair costs O(N + M) numpy operations.
    """
    cost = np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1))
    n, m = cost.shape
    total = np.full((n + 1, m + 1), np.inf)
    total[0, 0] = 0.0
    for diagonal in range(2, n + m + 1):
        i = np.arange(max(1, diagonal - m), min(n, diagonal - 1) + 1)
        j = diagonal - i
        total[i, j] = cost[i - 1, j - 1] + np.minimum(np.minimum(total[i - 1, j], total[i, j - 1]), total[i - 1, j - 1])
    path, i, j = [], n, m
    while i > 0 and j > 0:
        path.append((i - 1, j - 1))
        step = np.argmin([total[i - 1, j - 1], total[i - 1, j], total[i, j - 1]])
        i, j = (i - 1, j - 1) if step == 0 else (i - 1, j) if step == 1 else (i, j - 1)
    return np.array(path[::-1], dtype=np.int64)


class ALData:
    """Clips of the training split plus the pairs each stage needs.

    ``emotion_pairs``: ``(i, j, path)`` with the DTW frame alignment of clip i to clip j
    (computed only ``with_paths``: the ``evp`` stage);
    ``view_pairs``: ``(i, j)`` same recording, two views (frames aligned by index), or,
    when the dataset has a single view and ``simulate_views`` is set, ``(i, -1)``: the
    second view is :func:`simulated_view` of clip i (the tiny fallback, non-canonical).
    ``notes``: what fallback was used.
    """

    def __init__(self, dataset, cfg: StyleEditConfig, *, simulate_views: bool, with_paths: bool = True,
                 progress: Callable[[str], None] | None = None) -> None:
        from tfbench.train.data import TrainingData

        data = TrainingData(dataset, split="train", size=LANDMARK_FRAME, min_frames=cfg.sequence_frames,
                            cache_frames=False, progress=progress,
                            check=lambda clip: None if clip.landmarks is not None else "no landmarks column")
        self.skipped = list(data.skipped)
        self.notes: list[str] = []
        self.clips: list[ALClip] = []
        for clip in data.clips:
            points = fill_missing(np.asarray(clip.landmarks, dtype=np.float32))
            if points is None:
                self.skipped.append({"clip_id": clip.clip_id, "reason": "no frame has a face"})
                continue
            emotion = str(clip.labels.get("emotion") or "neutral")
            self.clips.append(ALClip(clip.clip_id, mfcc_windows(np.asarray(clip.audio), clip.num_frames, cfg.mfcc_window),
                                     normalise_landmarks(points, LANDMARK_FRAME),
                                     EMOTIONS.index(emotion) if emotion in EMOTIONS else 0,
                                     {"clip_id": clip.clip_id, **clip.labels}))
        if not self.clips:
            raise InputError(f"no usable training clip (skipped: {self.skipped[:3]})")
        rows = [clip.labels for clip in self.clips]
        pairs = emotion_pairs(rows, key="text")
        if not pairs:
            pairs = emotion_pairs(rows, key="number")
            if pairs:
                self.notes.append("same-sentence pairs by clip number (no matching transcripts)")
        self.emotion_pairs: list[tuple[int, int, np.ndarray]] = []
        paths: dict[tuple[int, int], np.ndarray] = {}
        for i, j in pairs if with_paths else ():  # (j, i) reuses the path of (i, j), swapped
            path = paths[(j, i)][:, ::-1] if (j, i) in paths else dtw_path(self.clips[i].mfcc.mean(1), self.clips[j].mfcc.mean(1))
            paths[(i, j)] = path
            self.emotion_pairs.append((i, j, path))
        self.has_emotion_pairs = bool(pairs)
        self.view_pairs: list[tuple[int, int]] = view_pairs(rows)
        if not self.view_pairs and simulate_views:
            self.view_pairs = [(i, -1) for i in range(len(self.clips))]
            self.notes.append("second camera view SIMULATED by a fixed geometric transform of the landmarks")

    def second_view(self, i: int, j: int) -> np.ndarray:
        """Landmarks ``[T, 68, 2]`` of the other view of pair ``(i, j)``."""
        return simulated_view(self.clips[i].landmarks) if j < 0 else self.clips[j].landmarks
