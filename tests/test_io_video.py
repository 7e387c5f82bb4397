"""tfbench.io.video: timestamp resampling, write/read round trips, bad-file errors."""

import subprocess

from pathlib import Path

import numpy as np
import pytest

from tfbench.errors import EncodeError, InputError, MediaError
from tfbench.io import video as video_io
from tfbench.io._ffmpeg import ffmpeg_exe
from tfbench.io.audio import read_audio
from tfbench.io.video import iter_video_chunks, probe_video, read_video, write_video

GREY_STEP = 3  # frame i of the index-coded video is a flat grey of level 3 * i (i < 86)


def index_coded_frames(count: int, size: int = 32) -> np.ndarray:
    levels = (np.arange(count) * GREY_STEP).astype(np.uint8)
    return np.broadcast_to(levels[:, None, None, None], (count, size, size, 3)).copy()


def frame_indices(frames: np.ndarray) -> np.ndarray:
    return frames[:, :, :, 0].mean(axis=(1, 2)).round().astype(int) // GREY_STEP


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("io_video")


@pytest.fixture(scope="module")
def coded30(media_dir):
    """45 frames at 30 fps (1.5 s), lossless, frame i has grey level 3*i."""
    return write_video(media_dir / "coded30.mp4", index_coded_frames(45), fps=30, lossless=True)


@pytest.fixture(scope="module")
def speech_like(media_dir):
    """50 smooth frames at 25 fps (2 s) + 2.1 s of audio: audio outlasts video on purpose."""
    y, x = np.mgrid[0:64, 0:96]
    frames = np.stack([np.stack([x * 2 + t, y * 3, np.full_like(x, 128)], -1)
                       for t in range(50)]).astype(np.uint8)
    audio = (0.4 * np.sin(2 * np.pi * 300 * np.arange(int(2.1 * 16000)) / 16000)).astype(np.float32)
    path = write_video(media_dir / "speech_like.mp4", frames, fps=25, audio=audio)
    return path, frames, audio


@pytest.fixture(scope="module")
def noise(media_dir):
    """6 frames of uniform noise, 35x21 (odd size), lossless, video only."""
    frames = np.random.default_rng(0).integers(0, 256, (6, 21, 35, 3), dtype=np.uint8)
    return write_video(media_dir / "noise.mp4", frames, fps=25, lossless=True), frames


def test_resample_30_to_25_keeps_the_frame_shown_at_each_instant(coded30):
    video = read_video(coded30, fps=25)
    assert video.fps == 25.0
    assert video.frames.shape == (37, 32, 32, 3)  # floor(1.5 s * 25)
    # output frame k shows instant k/25; source frame i covers [i/30, (i+1)/30)
    expected = np.floor(np.arange(37) * 30 / 25 + 1e-9).astype(int)
    np.testing.assert_array_equal(frame_indices(video.frames), expected)
    np.testing.assert_allclose(video.timestamps, np.arange(37) / 25)


def test_resample_ntsc_29_97_to_25(media_dir):
    path = write_video(media_dir / "ntsc.mp4", index_coded_frames(40), fps=30000 / 1001, lossless=True)
    assert probe_video(path).fps == pytest.approx(30000 / 1001)
    video = read_video(path, fps=25)
    assert len(video.frames) == int(40 * 1001 / 30000 * 25)
    expected = np.floor(np.arange(len(video.frames)) / 25 * 30000 / 1001 + 1e-9).astype(int)
    np.testing.assert_array_equal(frame_indices(video.frames), expected)


def test_native_fps_keeps_every_frame(coded30):
    video = read_video(coded30, fps=None)
    assert video.fps == pytest.approx(30.0)
    np.testing.assert_array_equal(frame_indices(video.frames), np.arange(45))
    np.testing.assert_allclose(video.timestamps, np.arange(45) / 30, atol=1e-6)


@pytest.mark.parametrize("count", [50, 39, 84])  # 39 and 84 end at 1.5599999 s and 3.3599999 s (float32)
def test_same_fps_is_identity_despite_float32_timestamps(media_dir, count):
    path = write_video(media_dir / f"coded25_{count}.mp4", index_coded_frames(count), fps=25, lossless=True)
    np.testing.assert_array_equal(frame_indices(read_video(path, fps=25).frames), np.arange(count))


def test_upsampling_repeats_frames(coded30):
    video = read_video(coded30, fps=60)
    assert len(video.frames) == 90
    np.testing.assert_array_equal(frame_indices(video.frames), np.repeat(np.arange(45), 2))


def test_chunks_concatenate_to_read_video(coded30):
    chunks = list(iter_video_chunks(coded30, fps=25, chunk_frames=8))
    assert [len(c) for c in chunks] == [8, 8, 8, 8, 5]
    np.testing.assert_array_equal(np.concatenate(chunks), read_video(coded30, fps=25).frames)


def test_decoding_ahead_gives_the_same_chunks_and_errors_and_stops(coded30, tmp_path):
    import threading

    ahead = iter_video_chunks(coded30, fps=25, chunk_frames=8, ahead=2)
    chunks = list(ahead)
    assert [len(c) for c in chunks] == [8, 8, 8, 8, 5]
    np.testing.assert_array_equal(np.concatenate(chunks), read_video(coded30, fps=25).frames)
    assert list(ahead) == []  # exhausted, like a generator
    early = iter_video_chunks(coded30, fps=25, chunk_frames=4, ahead=1)
    np.testing.assert_array_equal(next(early), chunks[0][:4])
    early.close()  # the consumer stops early: the decoding thread ends
    assert not any(t.name == "tfbench-decode" for t in threading.enumerate())
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    with pytest.raises(MediaError, match="broken.mp4"):
        next(iter_video_chunks(broken, ahead=2))  # raised in the thread, re-raised where the chunk was expected


def test_probe_video(coded30, speech_like):
    info = probe_video(coded30)
    assert (info.num_frames, info.width, info.height, info.has_audio) == (45, 32, 32, False)
    assert info.fps == pytest.approx(30.0)
    assert info.duration_s == pytest.approx(1.5, abs=1e-3)
    info = probe_video(speech_like[0])
    assert (info.num_frames, info.width, info.height, info.has_audio) == (50, 96, 64, True)


def test_lossless_round_trip_is_bit_exact_even_for_odd_sizes(noise):
    path, frames = noise
    np.testing.assert_array_equal(read_video(path, fps=None).frames, frames)


def test_mp4_round_trip_keeps_frames_fps_and_full_audio(speech_like):
    path, frames, audio = speech_like
    assert probe_video(path).fps == pytest.approx(25.0)
    video = read_video(path, fps=None)
    assert video.frames.shape == frames.shape
    np.testing.assert_allclose(video.timestamps, np.arange(50) / 25, atol=1e-6)
    mse = np.mean((video.frames.astype(float) - frames) ** 2)
    assert 10 * np.log10(255 ** 2 / mse) > 35  # crf 18 on a smooth image
    decoded = read_audio(path)
    assert abs(len(decoded) - len(audio)) <= 16000 / 25  # within one video frame; not cut to the video
    assert np.corrcoef(decoded[:30000], audio[:30000])[0, 1] > 0.99


def test_writing_the_same_input_twice_gives_identical_bytes(media_dir, speech_like):
    _, frames, audio = speech_like
    a = write_video(media_dir / "det_a.mp4", frames[:10], audio=audio[:8000])
    b = write_video(media_dir / "det_b.mp4", frames[:10], audio=audio[:8000])
    assert a.read_bytes() == b.read_bytes()


def test_odd_size_needs_lossless(tmp_path):
    with pytest.raises(InputError, match="even width and height"):
        write_video(tmp_path / "odd.mp4", np.zeros((2, 15, 16, 3), np.uint8))
    assert not (tmp_path / "odd.mp4").exists()


@pytest.mark.parametrize("frames", [np.zeros((2, 16, 16), np.uint8), np.zeros((2, 16, 16, 3), np.float32),
                                    np.zeros((0, 16, 16, 3), np.uint8)])
def test_bad_frames_are_rejected(tmp_path, frames):
    with pytest.raises(InputError):
        write_video(tmp_path / "bad.mp4", frames)


def test_failed_write_keeps_the_old_file_and_leaves_no_partial(tmp_path, monkeypatch):
    target = tmp_path / "clip.mp4"
    target.write_bytes(b"previous result")

    def failing_ffmpeg(args, **kwargs):
        Path(args[-1]).write_bytes(b"half written")  # the encoder's output file, half written
        return subprocess.CompletedProcess(args, 1, b"", b"encoder exploded")

    monkeypatch.setattr(video_io, "run_ffmpeg", failing_ffmpeg)
    with pytest.raises(EncodeError, match="encoder exploded"):
        write_video(target, np.zeros((2, 16, 16, 3), np.uint8))
    assert target.read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def _make_bad_file(kind: str, directory, good) -> str:
    path = directory / f"{kind}.mp4"
    if kind == "missing":
        return str(path)
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("this is not a video\n")
    elif kind == "random_bytes":
        path.write_bytes(np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    elif kind == "truncated_index_first":  # tfbench writes faststart: cut leaves a partial mdat
        data = good.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "truncated_index_last":  # ffmpeg default layout: cut removes the moov index
        copy = directory / "moov_last.mp4"
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(good), "-c", "copy", str(copy)], check=True)
        data = copy.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "corrupt_payload":  # bytes overwritten inside the H.264 packets of a video-only file
        data = bytearray(good.read_bytes())
        middle = len(data) // 2
        data[middle:middle + 64] = np.random.default_rng(2).integers(0, 256, 64, dtype=np.uint8).tobytes()
        path.write_bytes(bytes(data))
    elif kind == "zero_frames":
        path = directory / "zero_frames.y4m"
        path.write_bytes(b"YUV4MPEG2 W64 H48 F25:1 Ip A1:1 C420jpeg\n")
    elif kind == "audio_only":
        path = directory / "audio_only.wav"
        import soundfile

        soundfile.write(str(path), np.zeros(1600, np.float32), 16000)
    return str(path)


BAD_KINDS = ["missing", "empty", "text", "random_bytes", "truncated_index_first", "truncated_index_last",
             "zero_frames", "audio_only"]


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_files_raise_media_error(kind, tmp_path, speech_like):
    path = _make_bad_file(kind, tmp_path, speech_like[0])
    for call in (read_video, probe_video, lambda p: next(iter_video_chunks(p))):
        with pytest.raises(MediaError, match=tmp_path.name):
            call(path)


def test_every_read_catches_damage_inside_compressed_frames(tmp_path, noise):
    """Demuxing cannot see it and the decoder conceals it; the check's decode counts it."""
    path = _make_bad_file("corrupt_payload", tmp_path, noise[0])
    for call in (read_video, probe_video, lambda p: next(iter_video_chunks(p))):
        with pytest.raises(MediaError, match="damaged frame data|corrupt"):
            call(path)
    assert probe_video(noise[0]).num_frames == 6


def test_width_decord_cannot_decode_is_a_clear_error(tmp_path):
    """decord 0.6.0 fails on some small widths (48 px among them): the error says so and what to do."""
    path = tmp_path / "narrow.mp4"
    write_video(path, np.zeros((3, 64, 48, 3), np.uint8), fps=25.0, lossless=True)
    with pytest.raises(MediaError, match="cannot decode frames 48 px wide"):
        read_video(path)
