"""tfbench.io.features: Wav2Lip log-mel, mel windows, SyncNet MFCC."""

import numpy as np
import pytest
import python_speech_features
import soundfile
import torch
from scipy.io import wavfile

from tfbench.errors import InputError
from tfbench.io.audio import read_audio
from tfbench.io.features import (
    MEL_FRAMES_PER_SECOND,
    _hz_to_slaney_mel,
    _slaney_mel_to_hz,
    _stft_magnitude,
    log_mel,
    mel_filterbank,
    mel_window,
    mfcc,
)


@pytest.fixture(scope="module")
def speechy():
    """1.3 s of a harmonic tone with a 4 Hz amplitude envelope, float32 in [-1, 1]."""
    t = np.arange(int(1.3 * 16000)) / 16000
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)
    tone = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 6))
    return (0.3 * envelope * tone / np.abs(tone).max()).astype(np.float32)


def test_log_mel_shape_rate_and_range(speechy):
    mel = log_mel(speechy)
    assert MEL_FRAMES_PER_SECOND == 80
    assert mel.shape == (1 + len(speechy) // 200, 80) and mel.dtype == np.float32
    assert mel.min() >= -4 and mel.max() <= 4
    assert mel.max() > 0  # the tone is well above the -100 dB floor


def test_log_mel_of_silence_is_the_floor():
    np.testing.assert_array_equal(log_mel(np.zeros(3200, np.float32)), -4.0)


def test_log_mel_pure_tone_peaks_in_the_band_centred_on_it():
    hz = 1000.0
    tone = (0.5 * np.sin(2 * np.pi * hz * np.arange(16000) / 16000)).astype(np.float32)
    band = log_mel(tone)[10:-10].mean(axis=0).argmax()
    centres = np.linspace(_hz_to_slaney_mel(55.0), _hz_to_slaney_mel(7600.0), 82)[1:-1]
    assert band == np.abs(centres - _hz_to_slaney_mel(hz)).argmin()


def test_log_mel_needs_16k():
    with pytest.raises(InputError, match="16000"):
        log_mel(np.zeros(8000, np.float32), sample_rate=8000)


def test_stft_matches_torch_reflect_padded_periodic_hann(speechy):
    reference = torch.stft(torch.from_numpy(speechy.astype(np.float64)), n_fft=800, hop_length=200,
                           win_length=800, window=torch.hann_window(800, periodic=True, dtype=torch.float64),
                           center=True, pad_mode="reflect", return_complex=True).abs().numpy().T
    np.testing.assert_allclose(_stft_magnitude(speechy.astype(np.float64)), reference, rtol=1e-7, atol=1e-9)


def test_slaney_mel_scale_and_filter_areas():
    assert _hz_to_slaney_mel(1000.0) == pytest.approx(15.0)
    assert _hz_to_slaney_mel(200.0) == pytest.approx(3.0)
    assert _hz_to_slaney_mel(6400.0) == pytest.approx(42.0)  # log region: 27 mels per factor 6.4
    filters = mel_filterbank()
    assert filters.shape == (80, 401)
    assert (filters >= 0).all()
    bin_hz = 8000 / 400
    areas = filters.sum(axis=1) * bin_hz  # Slaney norm: each triangle has unit area in Hz
    np.testing.assert_allclose(areas[20:], 1.0, rtol=0.05)  # up to 5%: triangles sampled at 20 Hz bins
    centres_hz = _slaney_mel_to_hz(np.linspace(_hz_to_slaney_mel(55.0), _hz_to_slaney_mel(7600.0), 82)[1:-1])
    np.testing.assert_array_equal(filters.argmax(axis=1)[20:], np.round(centres_hz / bin_hz).astype(int)[20:])
    assert filters[:, :2].sum() == 0 and filters[:, 381:].sum() == 0  # nothing below 55 Hz / above 7600 Hz


def test_mel_window_follows_wav2lip_indexing_and_pads_the_end():
    mel = np.arange(100, dtype=np.float32)[:, None].repeat(80, axis=1)
    window = mel_window(mel, 3, fps=25)
    assert window.shape == (16, 80)
    np.testing.assert_array_equal(window[:, 0], np.arange(9, 25))  # start = int(80 * 3 / 25) = 9
    tail = mel_window(mel, 30, fps=25)  # start 96: rows 96..99 then the last row repeated
    np.testing.assert_array_equal(tail[:, 0], [96, 97, 98, 99] + [99] * 12)
    with pytest.raises(InputError):
        mel_window(mel, -1)


def test_mfcc_rate_and_equality_with_python_speech_features(speechy):
    features = mfcc(speechy)
    assert features.dtype == np.float32
    assert features.shape == (1 + int(np.ceil((len(speechy) - 400) / 160)), 13)  # 25 ms window, 10 ms step
    int16 = np.clip(np.round(speechy.astype(np.float64) * 32768), -32768, 32767).astype(np.int16)
    np.testing.assert_array_equal(features, python_speech_features.mfcc(int16, 16000).astype(np.float32))


def test_mfcc_equals_syncnet_reference_path_on_a_16bit_wav(tmp_path, speechy):
    """syncnet_python: ``wavfile.read`` of a 16-bit wav -> python_speech_features.mfcc."""
    path = tmp_path / "audio.wav"
    soundfile.write(str(path), speechy, 16000, subtype="PCM_16")
    sample_rate, samples = wavfile.read(str(path))
    reference = python_speech_features.mfcc(samples, sample_rate)
    np.testing.assert_array_equal(mfcc(read_audio(path)), reference.astype(np.float32))
    unscaled = python_speech_features.mfcc(samples / 32768.0, sample_rate)
    assert not np.allclose(unscaled[:, 0], reference[:, 0])  # why the int16 scaling matters
