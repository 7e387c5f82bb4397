"""TalkCLIP's training samples, drawn from the shared pipeline :class:`tfbench.train.data.TrainingData`
(memory-mapped clips at the renderer's size).

Per clip (25 fps, ``T`` frames) TalkCLIP reads:

- ``exp`` float32 ``[T, 64]``: 3DMM expression coefficients (slots 80:144);
- ``pose`` float32 ``[T, 9]``: angles (224:227), translation (254:257) and crop
  (``coeffs_3dmm_align[:, 2:5]``), as StyleTalk's ``get_pose_params``;
- ``phonemes`` int64 ``[T]`` (:data:`tfbench.models.request.PHONE_SET` ids);
- ``text``: the row's TA-MEAD-style sentences.

Every sampler draws the whole global batch from ``rng`` and builds only the ``local``
slice (data-parallel training gives each process its part of the same batch).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from tfbench.errors import InputError


def pose_params(coeffs: np.ndarray, align: np.ndarray) -> np.ndarray:
    """float32 [T, 9]: angles, translation (Deep3DFaceRecon slots) and crop = align[:, 2:5]."""
    coeffs = np.asarray(coeffs, dtype=np.float32)
    return np.concatenate([coeffs[:, 224:227], coeffs[:, 254:257], np.asarray(align, dtype=np.float32)[:, 2:5]], 1)


def seq_index(index: int, count: int, radius: int) -> np.ndarray:
    """Frame indices index-radius..index+radius clamped to the clip (StyleTalk obtain_seq_index)."""
    return np.clip(np.arange(index - radius, index + radius + 1), 0, count - 1)


def renderer_windows(exp: np.ndarray, pose: np.ndarray, frames, radius: int) -> np.ndarray:
    """float32 [len(frames), 73, 2r+1]: the renderer's coefficient window around each frame."""
    full = np.concatenate([exp, pose], 1).astype(np.float32)
    return np.stack([full[seq_index(int(i), len(full), radius)].T for i in frames])


def to_image_tensor(frames: np.ndarray):
    """uint8 [N,H,W,3] -> float [N,3,H,W] in [-1, 1]."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 127.5 - 1


class TalkCLIPData:
    """The train split at ``size`` x ``size``, clips of at least ``min_frames`` frames with 3DMM
    coefficients and phonemes (others are listed in ``skipped``)."""

    def __init__(self, dataset, size: int, min_frames: int, split: str = "train",
                 progress: Callable[[str], None] | None = None) -> None:
        from tfbench.train.data import TrainingData

        self.data = TrainingData(dataset, split=split, size=size, min_frames=min_frames, progress=progress)
        self.skipped = list(self.data.skipped)
        self.clips, self.exp, self.pose, self.phones, self.texts = [], [], [], [], []
        for clip in self.data.clips:
            if clip.coeffs_3dmm is None or clip.coeffs_3dmm_align is None or clip.phonemes is None:
                self.skipped.append({"clip_id": clip.clip_id, "reason": "no 3DMM coefficients or phonemes"})
                continue
            coeffs = np.asarray(clip.coeffs_3dmm, dtype=np.float32)
            self.clips.append(clip)
            self.exp.append(coeffs[:, 80:144].copy())
            self.pose.append(pose_params(coeffs, clip.coeffs_3dmm_align))
            self.phones.append(np.asarray(clip.phonemes, dtype=np.int64))
            texts = clip.labels.get("text") or []
            self.texts.append([t for t in texts if t] or [""])
        if not self.clips:
            raise InputError(f"no training clip of {dataset.root} has 3DMM coefficients and phonemes")

    def mean_pose(self) -> np.ndarray:
        """float32 [9]: mean pose + crop over all training frames (used when a request has none)."""
        return np.concatenate(self.pose).mean(0).astype(np.float32)

    def coeff_stats(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-dimension mean and std (floored at 1e-3) of the renderer's 73 input coefficients."""
        full = np.concatenate([np.concatenate([e, p], 1) for e, p in zip(self.exp, self.pose)])
        return full.mean(0).astype(np.float32), np.maximum(full.std(0), 1e-3).astype(np.float32)

    def _picks(self, rng: np.random.Generator, count: int, length: int) -> list[tuple[int, int]]:
        usable = [i for i, e in enumerate(self.exp) if len(e) >= length]
        if not usable:
            raise InputError(f"no training clip has {length} frames")
        picks = []
        for _ in range(count):
            index = usable[int(rng.integers(len(usable)))]
            picks.append((index, int(rng.integers(len(self.exp[index]) - length + 1))))
        return picks

    def generator_batch(self, rng: np.random.Generator, batch: int, length: int, window: int, style_max: int,
                        local: slice | None = None) -> dict:
        """Stage 1/2 samples: ``length`` consecutive frames of a clip.

        ``phones`` int64 [B, L, 2w+1] (the clip's phoneme windows, SIL-padded at its ends);
        ``exp`` float32 [B, L, 64] ground truth; ``style`` float32 [B, S, 64] + ``style_pad``
        bool [B, S] (True = padding): the same clip's expressions, up to ``style_max`` frames
        from a random start; ``texts``: one of the clip's sentences each.
        """
        from tfbench.models.talkclip.networks import phoneme_windows

        picks = self._picks(rng, batch, length)
        style_starts = [int(rng.integers(max(len(self.exp[i]) - style_max, 0) + 1)) for i, _ in picks]
        text_picks = [int(rng.integers(len(self.texts[i]))) for i, _ in picks]
        out = {"phones": [], "exp": [], "style": [], "style_pad": [], "texts": []}
        for (index, start), s_start, t in list(zip(picks, style_starts, text_picks))[local or slice(None)]:
            exp = self.exp[index]
            out["phones"].append(phoneme_windows(self.phones[index], window)[start:start + length])
            out["exp"].append(exp[start:start + length])
            s_len = min(len(exp), style_max)
            style = np.zeros((style_max, exp.shape[1]), np.float32)
            style[:s_len] = exp[s_start:s_start + s_len]
            out["style"].append(style)
            out["style_pad"].append(np.arange(style_max) >= s_len)
            out["texts"].append(self.texts[index][t])
        return {key: (value if key == "texts" else np.stack(value)) for key, value in out.items()}

    def sync_batch(self, rng: np.random.Generator, batch: int, frames: int, window: int,
                   local: slice | None = None) -> dict:
        """D_sync pretraining: per sample an in-sync pair (label 1) and an off-sync pair (label 0:
        the same expressions with the phonemes of a window of the same clip at least ``frames``
        frames away, or of another clip when the clip is too short). ``exp`` [2B, F, 64],
        ``phones`` [2B, F, 2w+1], ``label`` float32 [2B]."""
        from tfbench.models.talkclip.networks import phoneme_windows

        picks = self._picks(rng, batch, frames)
        negatives = []
        for index, start in picks:
            far = [s for s in range(len(self.exp[index]) - frames + 1) if abs(s - start) >= frames]
            if far:
                negatives.append((index, far[int(rng.integers(len(far)))]))
            else:
                negatives.append(self._picks(rng, 1, frames)[0])
        exp, phones, labels = [], [], []
        for (index, start), (n_index, n_start) in list(zip(picks, negatives))[local or slice(None)]:
            exp += [self.exp[index][start:start + frames]] * 2
            phones.append(phoneme_windows(self.phones[index], window)[start:start + frames])
            phones.append(phoneme_windows(self.phones[n_index], window)[n_start:n_start + frames])
            labels += [1.0, 0.0]
        return {"exp": np.stack(exp), "phones": np.stack(phones), "label": np.array(labels, np.float32)}

    def renderer_batch(self, rng: np.random.Generator, batch: int, radius: int, local: slice | None = None) -> dict:
        """PIRenderer pairs: a source and a target frame of one clip. ``source``/``target`` uint8
        [B, S, S, 3]; ``source_coeffs``/``target_coeffs`` float32 [B, 73, 2r+1]."""
        picks = []
        for _ in range(batch):
            index = int(rng.integers(len(self.clips)))
            a, b = (int(v) for v in rng.integers(len(self.exp[index]), size=2))
            picks.append((index, a, b))
        out = {"source": [], "target": [], "source_coeffs": [], "target_coeffs": []}
        for index, a, b in picks[local or slice(None)]:
            frames = self.clips[index].frames
            out["source"].append(np.asarray(frames[a]))
            out["target"].append(np.asarray(frames[b]))
            out["source_coeffs"].append(renderer_windows(self.exp[index], self.pose[index], [a], radius)[0])
            out["target_coeffs"].append(renderer_windows(self.exp[index], self.pose[index], [b], radius)[0])
        return {key: np.stack(value) for key, value in out.items()}
