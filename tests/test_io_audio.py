"""tfbench.io.audio: decoding any container to 16 kHz mono float32, and resampling."""

import numpy as np
import pytest
import soundfile

from tfbench.errors import InputError, MediaError
from tfbench.io._ffmpeg import run_ffmpeg
from tfbench.io.audio import read_audio, resample_audio
from tfbench.io.video import write_video


def dominant_hz(audio: np.ndarray, sample_rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.fft.rfftfreq(len(audio), 1 / sample_rate)[spectrum.argmax()])


def sine(hz: float, seconds: float, sample_rate: int, amplitude: float = 0.5) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * hz * np.arange(int(seconds * sample_rate)) / sample_rate)).astype(np.float32)


def test_stereo_44k_wav_becomes_16k_mono_with_the_same_pitch(tmp_path):
    left, right = sine(440, 1.0, 44100), sine(440, 1.0, 44100, amplitude=0.3)
    path = tmp_path / "stereo.wav"
    soundfile.write(str(path), np.stack([left, right], axis=1), 44100)
    soundfile.write(str(tmp_path / "mean.wav"), (left + right) / 2, 44100)
    audio = read_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - 16000) <= 1
    assert dominant_hz(audio, 16000) == pytest.approx(440, abs=2)
    np.testing.assert_allclose(audio, read_audio(tmp_path / "mean.wav"), atol=1e-4)  # mean of L and R, not ffmpeg's +3 dB sum


def test_int16_wav_decodes_to_exact_sample_values(tmp_path):
    values = np.array([0, 1, -1, 16384, -32768, 32767] * 100, dtype=np.int16)
    path = tmp_path / "pcm16.wav"
    soundfile.write(str(path), values, 16000, subtype="PCM_16")
    np.testing.assert_array_equal(read_audio(path), values / np.float32(32768))


def test_aac_m4a_keeps_length_and_pitch(tmp_path):
    wav, m4a = tmp_path / "tone.wav", tmp_path / "tone.m4a"
    soundfile.write(str(wav), sine(1000, 2.0, 16000), 16000)
    assert run_ffmpeg(["-v", "error", "-i", str(wav), "-c:a", "aac", str(m4a)]).returncode == 0
    audio = read_audio(m4a)
    assert abs(len(audio) - 32000) <= 640  # within one 25 fps video frame
    assert dominant_hz(audio, 16000) == pytest.approx(1000, abs=2)


def test_other_sample_rates(tmp_path):
    path = tmp_path / "tone.wav"
    soundfile.write(str(path), sine(300, 1.0, 16000), 16000)
    audio = read_audio(path, sample_rate=8000)
    assert abs(len(audio) - 8000) <= 1
    assert dominant_hz(audio, 8000) == pytest.approx(300, abs=2)


@pytest.mark.parametrize(("sr_in", "sr_out"), [(44100, 16000), (16000, 48000), (22050, 16000)])
def test_resample_audio_keeps_frequency_and_duration(sr_in, sr_out):
    out = resample_audio(sine(1000, 1.0, sr_in), sr_in, sr_out)
    assert out.dtype == np.float32
    assert len(out) == int(np.ceil(sr_in * sr_out / sr_in))
    assert dominant_hz(out, sr_out) == pytest.approx(1000, abs=2)
    middle = out[sr_out // 4: 3 * sr_out // 4]
    assert np.sqrt(np.mean(middle ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)


def test_resample_audio_rejects_bad_input():
    with pytest.raises(InputError):
        resample_audio(np.zeros((10, 2)), 16000, 8000)
    with pytest.raises(InputError):
        resample_audio(np.zeros(10), 0, 8000)


def test_video_without_audio_track_raises(tmp_path):
    path = write_video(tmp_path / "silent.mp4", np.zeros((3, 16, 16, 3), np.uint8))
    with pytest.raises(MediaError, match="no audio stream"):
        read_audio(path)


@pytest.mark.parametrize("content", [None, b"", b"not audio at all"])
def test_missing_empty_or_garbage_file_raises(tmp_path, content):
    path = tmp_path / "bad.m4a"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(MediaError, match="bad.m4a"):
        read_audio(path)
