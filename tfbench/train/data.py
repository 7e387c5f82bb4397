"""The training-data pipeline every method shares: clips of a prepared dataset as
memory-mapped arrays, and deterministic windows / batches drawn from a numpy Generator.

:class:`TrainingData` reads each clip of a split once (video frames resized to
``size x size``, 16 kHz audio, landmarks scaled to that size, 3DMM coefficients and
their alignment, phoneme ids) into ``.npy`` files under
``$TFBENCH_HOME/cache/train/<CACHE_VERSION>/<dataset fingerprint>/<split>/<size>/`` and
memory-maps them afterwards, so memory does not grow with the dataset (the OS pages
frames in and out). With ``cache_frames=False`` the frames are not stored: a method that
keeps its own cache at model geometry (G4G's face crops) decodes them once through
:attr:`TrainingClip.frames` (a :class:`LazyVideo`). A clip that cannot be read, or that
the method's ``check`` rejects, is skipped with its reason in :attr:`TrainingData.skipped`
(it is not cached, so a fixed file is read next time).

Sampling: :meth:`TrainingData.sample_windows` draws ``(clip, start)`` pairs with
``rng`` only, so the same ``numpy.random.default_rng([seed, step])`` gives the same
windows on every process; :meth:`TrainingData.batch` draws the global batch and
materialises only the caller's ``local`` slice (data-parallel training).

Shapes of a window of ``L`` frames (``A = 640`` audio samples per frame at 25 fps):
``frames`` uint8 ``[L, S, S, 3]`` RGB; ``audio`` float32 ``[L * A]`` in [-1, 1] (zero
padded past the end); ``landmarks`` float32 ``[L, 68, 2]`` pixels of the resized frames
(NaN where no face); ``coeffs_3dmm`` float32 ``[L, 257]``; ``coeffs_3dmm_align`` float32
``[L, 5]`` (in the clip's original pixels); ``phonemes`` int64 ``[L]``
(:data:`tfbench.models.request.PHONE_SET`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from tfbench.errors import InputError, TfbenchError
from tfbench.io.constants import FPS, SAMPLE_RATE

#: Bump when the cached arrays change: old caches are then ignored.
CACHE_VERSION = "v1"
#: Audio samples per video frame.
SAMPLES_PER_FRAME = int(SAMPLE_RATE / FPS)
#: Per-frame arrays a clip may have (the dataset columns they come from).
ARRAYS = ("frames", "audio", "landmarks", "coeffs_3dmm", "coeffs_3dmm_align", "phonemes")


class LazyVideo:
    """The frames of a clip file, decoded (and resized) on each access, never kept in memory:
    ``len()`` without decoding, ``video[a:b]`` / ``np.asarray(video)`` -> uint8 ``[n, S, S, 3]``."""

    def __init__(self, path: Path, num_frames: int, size: int | None) -> None:
        self.path, self.num_frames, self.size = Path(path), int(num_frames), size

    def __len__(self) -> int:
        return self.num_frames

    def __getitem__(self, index) -> np.ndarray:
        return _read_frames(self.path, self.size)[: self.num_frames][index]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        frames = self[:]
        return frames.astype(dtype) if dtype is not None else frames


def _read_frames(path: Path, size: int | None) -> np.ndarray:
    """uint8 ``[T, S, S, 3]`` RGB frames of a clip at 25 fps, resized (area) to ``size`` if given."""
    from tfbench.io.video import read_video

    return _resize(read_video(path, fps=FPS).frames, size)


def _resize(frames: np.ndarray, size: int | None) -> np.ndarray:
    import cv2

    if size and frames.shape[1:3] != (size, size):
        frames = np.stack([cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA) for frame in frames])
    return np.ascontiguousarray(frames, dtype=np.uint8)


@dataclass
class TrainingClip:
    """One clip of the split: memory-mapped arrays (None where the dataset lacks the column)
    and its labels."""

    clip_id: str
    frames: np.ndarray | LazyVideo  # uint8 [T, S, S, 3] RGB
    audio: np.ndarray  # float32 [N] 16 kHz
    landmarks: np.ndarray | None  # float32 [T, 68, 2] pixels at size S
    coeffs_3dmm: np.ndarray | None  # float32 [T, 257]
    coeffs_3dmm_align: np.ndarray | None  # float32 [T, 5]
    phonemes: np.ndarray | None  # int64 [T]
    labels: dict = field(default_factory=dict)  # text (list of str), emotion, level, speaker, view

    @property
    def num_frames(self) -> int:
        return len(self.frames)

    def window(self, start: int, length: int) -> dict[str, np.ndarray]:
        """Frames ``start .. start+length`` of every array this clip has (see the module doc)."""
        stop = start + length
        if start < 0 or stop > self.num_frames:
            raise InputError(f"clip {self.clip_id!r}: window {start}..{stop} outside its {self.num_frames} frames")
        out = {"frames": np.asarray(self.frames[start:stop])}
        audio = np.zeros(length * SAMPLES_PER_FRAME, dtype=np.float32)
        piece = np.asarray(self.audio[start * SAMPLES_PER_FRAME: stop * SAMPLES_PER_FRAME])
        audio[: len(piece)] = piece
        out["audio"] = audio
        for key in ("landmarks", "coeffs_3dmm", "coeffs_3dmm_align", "phonemes"):
            value = getattr(self, key)
            if value is not None:
                out[key] = np.asarray(value[start:stop])
        return out


class TrainingData:
    """The ``split`` of a prepared dataset at ``size x size`` pixels (None: the clips' own size).

    ``min_frames``: clips shorter than this are skipped (e.g. the training window).
    ``check``: ``check(clip) -> reason | None``, the method's own reasons to skip a clip.
    ``cache_frames``: store the frames (default) or decode them on access (:class:`LazyVideo`).
    ``progress``: called with one line per clip being cached.
    """

    def __init__(self, dataset, *, split: str = "train", size: int | None = None, min_frames: int = 1,
                 check: Callable[[TrainingClip], str | None] | None = None, cache_frames: bool = True,
                 progress: Callable[[str], None] | None = None) -> None:
        from tfbench.models.request import tdmm_kind
        from tfbench.weights import tfbench_home

        self.dataset = dataset
        self.split = split
        self.size = size
        #: "offline_pca" / "deep3d" / None: what the 3DMM arrays are.
        self.coeffs_3dmm_kind = tdmm_kind(getattr(dataset, "meta", None))
        rows = dataset.split(split)
        self.cache_frames = cache_frames
        self.folder = (tfbench_home() / "cache" / "train" / CACHE_VERSION / str(dataset.fingerprint) / split
                       / ((f"{size}" if size else "native") + ("" if cache_frames else "-noframes")))
        self.clips: list[TrainingClip] = []
        self.skipped: list[dict] = []
        for row in rows:
            clip_id = str(row["clip_id"])
            try:
                if not (self.folder / f"{clip_id}.done").exists():
                    if progress:
                        progress(f"caching {clip_id}")
                    self._cache(row)
                clip = self._open(row)
            except TfbenchError as error:  # unreadable media, bad annotations: skip the clip, say so
                self.skipped.append({"clip_id": clip_id, "reason": str(error)})
                continue
            problem = f"{clip.num_frames} frames, fewer than {min_frames}" if clip.num_frames < min_frames else None
            problem = problem or (check(clip) if check else None)
            if problem:
                self.skipped.append({"clip_id": clip_id, "reason": problem})
                continue
            self.clips.append(clip)
        if not self.clips:
            raise InputError(f"no usable training clip in split {split!r} of {dataset.root}: {self.skipped[:3]}")

    def __len__(self) -> int:
        return len(self.clips)

    # ------------------------------------------------------------------ cache

    def _cache(self, row) -> None:
        from tfbench.io.audio import read_audio
        from tfbench.io.video import read_video
        from tfbench.models.request import phoneme_ids

        frames = read_video(self.dataset.clip_path(row), fps=FPS).frames
        width = frames.shape[2]
        frames = _resize(frames, self.size)
        audio_path = self.dataset.audio_path(row) if row.get("audio") else self.dataset.clip_path(row)
        audio = read_audio(audio_path, sample_rate=SAMPLE_RATE).astype(np.float32)
        count = len(frames)
        scale = self.size / width if self.size else 1.0
        arrays = {"audio": audio, "num_frames": np.array(count)}
        if self.cache_frames:
            arrays["frames"] = frames
        for key, dtype in (("landmarks", np.float32), ("coeffs_3dmm", np.float32), ("coeffs_3dmm_align", np.float32)):
            if row.get(key) is not None:
                value = np.asarray(row[key], dtype=dtype)
                if len(value) != count:
                    raise InputError(f"clip {row['clip_id']!r}: {key} cover {len(value)} frames but the clip decodes "
                                     f"to {count}; re-prepare the dataset")
                arrays[key] = value.reshape(count, 68, 2) * scale if key == "landmarks" else value
        if row.get("phonemes") is not None:
            arrays["phonemes"] = phoneme_ids(row["phonemes"])[:count]
        self.folder.mkdir(parents=True, exist_ok=True)
        for key, value in arrays.items():
            partial = self.folder / f"{row['clip_id']}.{key}.tmp.npy"
            np.save(partial, value)
            os.replace(partial, self.folder / f"{row['clip_id']}.{key}.npy")
        (self.folder / f"{row['clip_id']}.done").write_text("")

    def _open(self, row) -> TrainingClip:
        clip_id = str(row["clip_id"])

        def load(key: str):
            path = self.folder / f"{clip_id}.{key}.npy"
            return np.load(path, mmap_mode="r") if path.exists() else None

        labels = {key: row.get(key) for key in ("text", "emotion", "level", "speaker", "view") if row.get(key) is not None}
        arrays = {key: load(key) for key in ARRAYS if key != "frames"}
        frames = load("frames") if self.cache_frames else LazyVideo(self.dataset.clip_path(row), int(load("num_frames")), self.size)
        return TrainingClip(clip_id, frames=frames, **arrays, labels=labels)

    # ------------------------------------------------------------------ sampling

    def sample_windows(self, rng: np.random.Generator, count: int, length: int) -> list[tuple[int, int]]:
        """``count`` ``(clip index, start frame)`` pairs of ``length``-frame windows, uniform
        over clips then over start frames; clips shorter than ``length`` are never drawn."""
        usable = [index for index, clip in enumerate(self.clips) if clip.num_frames >= length]
        if not usable:
            raise InputError(f"no training clip has {length} frames")
        picks = []
        for _ in range(count):
            index = usable[int(rng.integers(len(usable)))]
            picks.append((index, int(rng.integers(self.clips[index].num_frames - length + 1))))
        return picks

    def batch(self, rng: np.random.Generator, batch_size: int, length: int, local: slice | None = None) -> dict:
        """A global batch of ``batch_size`` windows drawn from ``rng``; only the ``local`` slice
        (default: all) is read. Arrays are stacked ``[B, ...]``; ``clip_index`` int64 ``[B]``
        and ``start`` int64 ``[B]`` say where each window comes from. Keys present in only
        some clips are left out."""
        picks = self.sample_windows(rng, batch_size, length)[local or slice(None)]
        windows = [self.clips[index].window(start, length) for index, start in picks]
        keys = set.intersection(*(set(window) for window in windows)) if windows else set()
        out = {key: np.stack([window[key] for window in windows]) for key in sorted(keys)}
        out["clip_index"] = np.array([index for index, _ in picks], dtype=np.int64)
        out["start"] = np.array([start for _, start in picks], dtype=np.int64)
        return out

    def request(self, index: int, needs: frozenset[str], options: dict | None = None):
        """The self-reconstruction :class:`~tfbench.models.base.GenerationRequest` of clip
        ``index`` at this pipeline's size (the builder ``evaluate --model`` uses)."""
        from tfbench.models.request import build_request

        clip = self.clips[index]
        return build_request(
            clip.clip_id, needs, num_frames=clip.num_frames, audio=lambda: np.asarray(clip.audio),
            source_frames=lambda: np.asarray(clip.frames), reference_image=lambda: np.asarray(clip.frames[0]),
            text=(clip.labels.get("text") or [None])[0] if isinstance(clip.labels.get("text"), (list, tuple)) else clip.labels.get("text"),
            emotion=clip.labels.get("emotion"), level=clip.labels.get("level"), landmarks=clip.landmarks,
            coeffs_3dmm=clip.coeffs_3dmm, coeffs_3dmm_kind=self.coeffs_3dmm_kind,
            coeffs_3dmm_align=clip.coeffs_3dmm_align, phonemes=clip.phonemes, options=options,
        )
