"""Tiny raw dataset trees for recipe tests: espeak-ng speech + the scikit-image astronaut face
with its jaw moved by the speech envelope, written in each dataset's raw layout.

Everything is small (240×320 frames, 1–2 s) so a tree is built in a few seconds.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
CANVAS = (240, 320)  # height, width
HEAD = 200  # head image side, pixels
MOUTH_Y, CHIN_Y, MOUTH_X = 98, 135, (70, 135)  # in the head image


@lru_cache(maxsize=1)
def head_image() -> np.ndarray:
    """uint8 [200,200,3] RGB: the astronaut's head (face ~70 px) from scikit-image."""
    import cv2
    import skimage.data

    crop = skimage.data.astronaut()[20:276, 92:348]
    return cv2.resize(crop, (HEAD, HEAD), interpolation=cv2.INTER_AREA)


def speech(text: str, seconds: float | None = None) -> np.ndarray:
    """float32 [N] 16 kHz espeak-ng speech of ``text``, optionally padded/cut to ``seconds``."""
    import soundfile

    from tfbench.io.audio import resample_audio

    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-s", "190", "-w", str(wav), text], check=True, capture_output=True)
        audio, rate = soundfile.read(str(wav), dtype="float32")
    audio = resample_audio(audio, rate, SAMPLE_RATE).astype(np.float32)
    audio = np.clip(audio * 0.9, -1, 1)
    if seconds is not None:
        wanted = int(round(seconds * SAMPLE_RATE))
        audio = np.pad(audio, (0, max(0, wanted - len(audio))))[:wanted]
    return audio


def talking_frames(audio: np.ndarray, fps: float, seconds: float, heads: int = 1, tint: float = 1.0,
                   flip: bool = False, canvas: tuple[int, int] = CANVAS) -> np.ndarray:
    """uint8 [T,H,W,3]: ``heads`` astronaut heads whose jaw opens with the audio envelope."""
    count = int(round(seconds * fps))
    head = head_image()
    if flip:
        head = head[:, ::-1]
    head = np.clip(head.astype(np.float32) * tint, 0, 255).astype(np.uint8)
    height, width = canvas
    frames = np.full((count, height, width, 3), 90, dtype=np.uint8)
    frames[..., 2] = 120
    window = int(SAMPLE_RATE / fps)
    for index in range(count):
        piece = audio[index * window:(index + 1) * window]
        envelope = float(np.sqrt(np.mean(piece**2))) if len(piece) else 0.0
        opening = int(round(min(1.0, envelope * 8.0) * 9))
        face = head.copy()
        if opening:
            x0, x1 = MOUTH_X
            face[MOUTH_Y + opening:CHIN_Y + opening, x0:x1] = head[MOUTH_Y:CHIN_Y, x0:x1]
            face[MOUTH_Y:MOUTH_Y + opening, x0 + 20:x1 - 20] = (60, 25, 30)
        shift = int(round(3 * np.sin(2 * np.pi * index / fps)))
        for k in range(heads):
            left = (width - heads * HEAD) // (heads + 1) * (k + 1) + k * HEAD + shift
            top = (height - HEAD) // 2
            left = int(np.clip(left, 0, width - HEAD))
            frames[index, top:top + HEAD, left:left + HEAD] = face
    return frames


def write_audio_file(path: Path, audio: np.ndarray) -> Path:
    """AAC .m4a (or .wav by suffix) of float32 16 kHz audio."""
    import imageio_ffmpeg

    path.parent.mkdir(parents=True, exist_ok=True)
    codec = ["-c:a", "aac", "-b:a", "96k"] if path.suffix in (".m4a", ".mp4", ".aac") else []
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "f32le", "-ar",
                    str(SAMPLE_RATE), "-ac", "1", "-i", "-", *codec, str(path)],
                   input=np.asarray(audio, dtype="<f4").tobytes(), check=True)
    return path


def write_clip(video: Path, *, text: str = "Hello there, nice day.", seconds: float = 1.4, fps: float = 30.0,
               audio_file: Path | None = None, audio_seconds: float | None = None, with_track: bool = True,
               heads: int = 1, face: bool = True, tint: float = 1.0, flip: bool = False,
               canvas: tuple[int, int] = CANVAS) -> None:
    """A talking-head mp4 (its own audio track unless ``with_track`` is False) and optionally a
    separate audio file of ``audio_seconds`` (default: the video's length)."""
    from tfbench.io.video import write_video

    audio = speech(text, seconds)
    frames = talking_frames(audio, fps, seconds, heads=heads, tint=tint, flip=flip, canvas=canvas)
    if not face:
        frames = np.random.default_rng(0).integers(0, 255, frames.shape, dtype=np.uint8)
    write_video(video, frames, fps=fps, audio=audio if with_track else None)
    if audio_file is not None:
        write_audio_file(audio_file, speech(text, audio_seconds or seconds))


SENTENCES = ("Hello there, nice day.", "She sells sea shells.", "Good morning to you all.", "Look at the blue sky.")


def mead_tree(root: Path, speakers=("M003", "W011"), groups=(("neutral", 1), ("happy", 2)), clips: int = 1,
              seconds: float = 1.4) -> Path:
    """A MEAD-layout tree: speakers × (emotion, level) × clips front-view videos with m4a audio."""
    for s, speaker in enumerate(speakers):
        for emotion, level in groups:
            for n in range(1, clips + 1):
                name = f"{n:03d}"
                video = root / speaker / "video" / "front" / emotion / f"level_{level}" / f"{name}.mp4"
                audio = root / speaker / "audio" / emotion / f"level_{level}" / f"{name}.m4a"
                write_clip(video, text=SENTENCES[(s + n + level) % len(SENTENCES)], seconds=seconds,
                           audio_file=audio, flip=bool(s % 2), tint=1.0 - 0.15 * s)
    return root


def add_mead_bad_clips(root: Path, speaker: str = "M003") -> dict[str, str]:
    """Add one broken clip per failure kind under ``speaker``'s angry/level_1; returns
    {clip id: expected reason prefix}."""
    base = root / speaker / "video" / "front" / "angry" / "level_1"
    audio_dir = root / speaker / "audio" / "angry" / "level_1"
    expected = {}

    def clip_id(name: str) -> str:
        return f"{speaker}_front_angry_level_1_{name}"

    write_clip(base / "101.mp4", face=False, audio_file=audio_dir / "101.m4a")
    expected[clip_id("101")] = "no face"
    write_clip(base / "102.mp4", heads=2, canvas=(240, 480), audio_file=audio_dir / "102.m4a")
    expected[clip_id("102")] = "several faces"
    write_clip(base / "103.mp4", with_track=False)
    expected[clip_id("103")] = "no audio"
    write_clip(base / "104.mp4", seconds=0.5, audio_file=audio_dir / "104.m4a")
    expected[clip_id("104")] = "too short"
    write_clip(base / "105.mp4", seconds=1.2, audio_file=audio_dir / "105.m4a", audio_seconds=2.5)
    expected[clip_id("105")] = "audio/video length mismatch"
    good = base / "106.mp4"
    write_clip(good)
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 3])
    expected[clip_id("106")] = "unreadable"
    return expected


def lrs2_tree(root: Path, folders=("5535415699068794046", "6330311066473698535"), clips: int = 1,
              lists: bool = True) -> Path:
    """An LRS2-layout tree (mvlrs_v1/main/<folder>/<nnnnn>.mp4 + .txt, 160×160, 25 fps) with
    train.txt / test.txt lists (first folder train, second test) when ``lists``."""
    names = []
    for f, folder in enumerate(folders):
        for n in range(1, clips + 1):
            name = f"{n:05d}"
            text = SENTENCES[(f + n) % len(SENTENCES)]
            video = root / "mvlrs_v1" / "main" / folder / f"{name}.mp4"
            write_clip(video, text=text, seconds=1.2, fps=25.0, canvas=(200, 200), flip=bool(f))
            words = text.upper().replace(",", "").replace(".", "")
            (video.with_suffix(".txt")).write_text(f"Text:  {words}\nConf:  4\n\nWORD START END ASDSCORE\n")
            names.append((f, f"{folder}/{name}"))
    if lists:
        (root / "train.txt").write_text("".join(n + "\n" for f, n in names if f == 0))
        (root / "test.txt").write_text("".join(n + " NF\n" for f, n in names if f == 1))
    return root


def hdtf_tree(root: Path) -> Path:
    """An HDTF-layout tree: one WDA video of 3.2 s with two annotated intervals, plus a listed
    video that was not downloaded."""
    write_clip(root / "videos" / "WDA_Astro_000.mp4", text="Hello there, nice day. Look at the blue sky.",
               seconds=3.2, fps=25.0)
    (root / "WDA_video_url.txt").write_text(
        "WDA_Astro_000 https://example.invalid/a\nWDA_Missing_000 https://example.invalid/b\n")
    (root / "WDA_annotion_time.txt").write_text("WDA_Astro_000.mp4 00:00-00:01.6 00:01.6-00:03.2\nWDA_Missing_000.mp4 00:00-00:10\n")
    return root


def copy_tree(source: Path, dest: Path) -> Path:
    shutil.copytree(source, dest)
    return dest
