"""Generate the bad-input corpus of the fault-injection suite from the bundled sample.

No media is stored: every case is made here, with ffmpeg, from one sample clip cut to 1 s and
scaled to 64 x 64. ``make_corpus(out)`` writes ``out/pred/<case>.mp4`` and ``out/gt/<case>.mp4``
(the layout ``tfbench evaluate --pred --gt`` matches by name) and returns each case's
expectation: ``"score"`` (the clip is scored) or a regex the clip's error must match.

Run it by hand to look at the files: ``python tests/make_fault_corpus.py /tmp/corpus``.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np

SAMPLE = Path(__file__).resolve().parents[1] / "tfbench" / "sample_raw" / "W001" / "video" / "front" / "neutral" / "level_1" / "001.mp4"
SIZE = 64
CORRUPT = "corrupt, truncated or not a media file"


def _ffmpeg(*args: str) -> None:
    from tfbench.io._ffmpeg import run_ffmpeg

    result = run_ffmpeg(["-loglevel", "error", "-y", *args])
    if result.returncode != 0:
        raise RuntimeError(result.stderr.decode()[-400:])


def _encode(src: Path, dst: Path, *options: str, video_filter: str = f"scale={SIZE}:{SIZE}", audio: bool = True) -> Path:
    """Re-encode the first second of ``src`` (bit-exact, single thread, so the corpus is reproducible)."""
    _ffmpeg("-i", str(src), "-t", "1", "-vf", video_filter, *options, *(["-c:a", "aac"] if audio else ["-an"]),
            "-threads", "1", "-fflags", "+bitexact", "-flags:v", "+bitexact", "-map_metadata", "-1", str(dst))
    return dst


def damage_frames(good: Path, bad: Path, pieces: int = 8) -> Path:
    """Copy ``good`` with bytes overwritten inside its compressed frames (the container stays intact):
    ``pieces`` runs of 24 bytes spread over the second half of the ``mdat`` box."""
    data = bytearray(good.read_bytes())
    start = data.index(b"mdat") + 4
    end = len(data) if data.rfind(b"moov") < start else data.rfind(b"moov") - 4
    rng = np.random.default_rng(7)
    for position in np.linspace(start + (end - start) // 2, end - 32, pieces).astype(int):
        data[position:position + 24] = rng.integers(0, 256, 24, dtype=np.uint8).tobytes()
    bad.write_bytes(bytes(data))
    return bad


def make_corpus(out: str | Path) -> dict[str, str]:
    """Write the corpus under ``out``; return {case: "score" | error regex}."""
    out = Path(out)
    pred_dir, gt_dir, work = out / "pred", out / "gt", out / "work"
    for folder in (pred_dir, gt_dir, work):
        folder.mkdir(parents=True, exist_ok=True)
    base = _encode(SAMPLE, work / "base.mp4", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart")
    silent = _encode(SAMPLE, work / "silent.mp4", "-c:v", "libx264", "-pix_fmt", "yuv420p", audio=False)
    data = base.read_bytes()
    expect: dict[str, str] = {}

    def case(name: str, expectation: str, pred: Path | bytes | None = None, gt: Path | None = None) -> None:
        target = pred_dir / f"{name}.mp4"
        if isinstance(pred, bytes):
            target.write_bytes(pred)
        elif pred is not None and pred != target:
            shutil.copyfile(pred, target)
        shutil.copyfile(gt or base, gt_dir / f"{name}.mp4")
        expect[name] = expectation

    def encoded(name: str, *options: str, **kwargs) -> Path:
        return _encode(SAMPLE, pred_dir / f"{name}.mp4", *options, **kwargs)

    case("identical", "score", base)
    case("truncated_half", CORRUPT, data[: len(data) // 2])
    case("truncated_tail", f"{CORRUPT}|damaged frame data", data[: int(len(data) * 0.9)])
    case("empty", "file is empty", b"")
    case("garbage", CORRUPT, np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    case("text_named_mp4", CORRUPT, b"this is not a video\n" * 50)
    _ffmpeg("-i", str(base), "-vn", "-c:a", "copy", "-f", "mp4", str(work / "audio_only.mp4"))
    case("audio_only", "no video stream", work / "audio_only.mp4")
    case("no_audio", "score", silent)
    case("blank_no_face", "score", encoded("blank_no_face", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                                           video_filter=f"scale={SIZE}:{SIZE},drawbox=t=fill:c=gray"))
    case("two_faces", "score", encoded("two_faces", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                                       video_filter=f"split[a][b];[a][b]hstack,scale={SIZE}:{SIZE}"))
    case("variable_frame_rate", "score", encoded("variable_frame_rate", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                                                 "-fps_mode", "vfr", video_filter=f"scale={SIZE}:{SIZE},"
                                                 "select='not(between(n,5,9))'"))
    case("odd_size", "size|shape|resolution", encoded("odd_size", "-c:v", "libx264rgb", "-qp", "0",
                                                     video_filter=f"scale={SIZE - 1}:{SIZE - 1}"))
    case("one_frame", "frames|length", encoded("one_frame", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-frames:v", "1"))
    case("ten_frames_short", "frames|length", encoded("ten_frames_short", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                                                      "-frames:v", "15"))
    case("one_frame_short", "score", encoded("one_frame_short", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-frames:v", "24"))
    case("resolution_128", "size|shape|resolution", encoded("resolution_128", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                                                             video_filter="scale=128:128"))
    case("non_ascii_名前_é", "score", base)
    case("fps_60", "score", encoded("fps_60", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-r", "60"))
    case("ten_bit", r"score|\w", encoded("ten_bit", "-c:v", "libx264", "-pix_fmt", "yuv420p10le"))
    case("yuv444", "score", encoded("yuv444", "-c:v", "libx264", "-pix_fmt", "yuv444p"))
    case("rotated", r"score|\w", _rotated(base, work / "rotated.mp4"))
    case("damaged_frames", "damaged frame data", damage_frames(silent, work / "damaged.mp4"))
    case("damaged_ground_truth", "damaged frame data", silent, gt=work / "damaged.mp4")
    moov_last = _encode(SAMPLE, work / "moov_last.mp4", "-c:v", "libx264", "-pix_fmt", "yuv420p")
    case("moov_at_end_cut", CORRUPT, moov_last.read_bytes()[: int(moov_last.stat().st_size * 0.8)])
    (pred_dir / "no_ground_truth.mp4").write_bytes(data)
    expect["no_ground_truth"] = "no ground truth"
    return expect


def _rotated(base: Path, dst: Path) -> Path:
    """``base`` with a 90-degree display-rotation tag (the pixels are stored unrotated)."""
    _ffmpeg("-display_rotation", "90", "-i", str(base), "-c", "copy", str(dst))
    return dst


def damaged_audio(good: Path, bad: Path) -> Path:
    """An audio-only m4a whose AAC packets are damaged inside an intact container."""
    _ffmpeg("-i", str(good), "-vn", "-c:a", "copy", str(bad.with_suffix(".clean.m4a")))
    return damage_frames(bad.with_suffix(".clean.m4a"), bad, pieces=12)


if __name__ == "__main__":
    for name, expectation in make_corpus(sys.argv[1]).items():
        print(f"{name:24s} {expectation}")
