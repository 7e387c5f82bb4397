"""The emotion-space method's training clips and inputs.

Each clip of the split is read once (frames resized to the HEF size, the 100 Hz mel of its wav,
its 3DMM coefficients and alignment parameters, emotion and level). Audio features follow
§4.1: 80-bin mel at 16 kHz with FFT window 1280 and hop 160 (100 Hz, 4 mel frames per video
frame), through tfbench's Wav2Lip-style normalised log-mel (values in [-4, 4]).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from tfbench.errors import InputError, TfbenchError
from tfbench.models.emospace.networks import MEL_PER_FRAME

MEL_FFT, MEL_HOP = 1280, 160
#: Value of padded mel frames (silence floor of the normalised log-mel).
MEL_FLOOR = -4.0


def mel_100hz(audio: np.ndarray) -> np.ndarray:
    """audio float32 [N] 16 kHz -> float32 [1 + N // 160, 80] normalised log-mel at 100 Hz."""
    from tfbench.io.features import log_mel

    return log_mel(np.asarray(audio, dtype=np.float32), 16000, n_fft=MEL_FFT, hop=MEL_HOP)


def mel_frames(mel: np.ndarray, start: int, count: int) -> np.ndarray:
    """The mel of video frames [start, start + count): float32 [4 * count, 80], floor-padded."""
    out = np.full((MEL_PER_FRAME * count, mel.shape[1]), MEL_FLOOR, dtype=np.float32)
    chunk = mel[MEL_PER_FRAME * start : MEL_PER_FRAME * (start + count)]
    out[: len(chunk)] = chunk
    return out


def resize_frames(frames: np.ndarray, size: int) -> np.ndarray:
    """uint8 [T,H,W,3] -> uint8 [T,size,size,3] (area filter when shrinking)."""
    if frames.shape[1:3] == (size, size):
        return frames
    interpolation = cv2.INTER_AREA if frames.shape[1] > size else cv2.INTER_CUBIC
    return np.stack([cv2.resize(frame, (size, size), interpolation=interpolation) for frame in frames])


def to_tensor(frames: np.ndarray):
    """uint8 [N,H,W,3] -> float [N,3,H,W] in [-1, 1]."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 127.5 - 1


@dataclass
class EmoClip:
    """One clip: frames uint8 [T,S,S,3]; mel float32 [M,80] (100 Hz); coeffs float32 [T,257];
    align float32 [T,5] (pixels of the clip, ``clip_size`` wide)."""

    clip_id: str
    speaker: str
    emotion: str
    level: int
    clip_size: int
    frames: np.ndarray
    mel: np.ndarray
    coeffs: np.ndarray
    align: np.ndarray

    def __len__(self) -> int:
        return len(self.coeffs)


def load_clips(dataset, split: str, image_size: int, min_frames: int, echo=None) -> tuple[list[EmoClip], list[dict]]:
    """Read the split's clips (skipping, with a reason, unreadable or too short ones)."""
    from tfbench.io.audio import read_audio
    from tfbench.io.video import read_video

    clips, skipped = [], []
    rows = dataset.split(split)
    if "coeffs_3dmm" not in rows.column_names:
        raise InputError(f"{dataset.root} has no coeffs_3dmm column; re-prepare it with a current tfbench")
    for row in rows:
        try:
            video = read_video(dataset.clip_path(row)).frames
            audio = read_audio(dataset.audio_path(row))
        except TfbenchError as error:
            skipped.append({"clip_id": row["clip_id"], "reason": str(error)})
            continue
        coeffs = np.asarray(row["coeffs_3dmm"], dtype=np.float32)
        count = min(len(video), len(coeffs))
        if count < min_frames:
            skipped.append({"clip_id": row["clip_id"], "reason": f"{count} frames, fewer than {min_frames}"})
            continue
        clips.append(EmoClip(
            clip_id=row["clip_id"], speaker=row["speaker"], emotion=row["emotion"] or "neutral",
            level=max(1, int(row["level"] or 1)), clip_size=int(row["width"]),
            frames=resize_frames(video[:count], image_size), mel=mel_100hz(audio),
            coeffs=coeffs[:count], align=np.asarray(row["coeffs_3dmm_align"], dtype=np.float32)[:count],
        ))
        if echo:
            echo(f"loaded {row['clip_id']} ({count} frames)")
    if not clips:
        raise InputError(f"no usable training clip in split {split!r} of {dataset.root}: {skipped[:3]}")
    return clips, skipped


def source_candidates(clips: list[EmoClip], driving: EmoClip) -> list[EmoClip]:
    """§3.4: the source face is the same identity with another emotion (any clip of the speaker
    when it has only one emotion)."""
    same = [clip for clip in clips if clip.speaker == driving.speaker]
    other = [clip for clip in same if clip.emotion != driving.emotion]
    return other or same
