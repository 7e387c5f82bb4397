"""Audio features the methods and metrics consume.

* :func:`log_mel` — Wav2Lip's mel spectrogram (``audio.py`` + ``hparams.py`` of
  Rudrabha/Wav2Lip), written without librosa: 80 Slaney mel bands (librosa's default,
  ``htk=False``, area-normalised filters) over the STFT magnitude, 80 frames per second.
* :func:`mel_window` — the 16 mel frames Wav2Lip pairs with one video frame.
* :func:`mfcc` — the SyncNet audio input of joonson/syncnet_python (13 coefficients at 100 Hz).

See docs/io.md for each convention and where it comes from.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from tfbench.errors import InputError
from tfbench.io.constants import SAMPLE_RATE

# Wav2Lip hparams.py
MEL_SAMPLE_RATE = SAMPLE_RATE
N_FFT = 800
HOP_LENGTH = 200  # 16000 / 200 = 80 mel frames per second
NUM_MELS = 80
FMIN = 55.0
FMAX = 7600.0
PREEMPHASIS = 0.97
REF_LEVEL_DB = 20.0
MIN_LEVEL_DB = -100.0
MAX_ABS_VALUE = 4.0
MEL_FRAMES_PER_SECOND = MEL_SAMPLE_RATE / HOP_LENGTH


def _hz_to_slaney_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's Auditory Toolbox mel scale: linear below 1 kHz (3 mels per 200 Hz), log above."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / (200.0 / 3)
    log_step = np.log(6.4) / 27.0
    above = hz >= 1000.0
    return np.where(above, 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / log_step, linear)


def _slaney_mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    log_step = np.log(6.4) / 27.0
    return np.where(mel >= 15.0, 1000.0 * np.exp(log_step * (mel - 15.0)), mel * (200.0 / 3))


@cache
def mel_filterbank(sample_rate: int = MEL_SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = NUM_MELS,
                   fmin: float = FMIN, fmax: float = FMAX) -> np.ndarray:
    """Triangular Slaney mel filters, float64 [n_mels, n_fft//2 + 1], each scaled to unit area
    (``2 / bandwidth``) — the values of ``librosa.filters.mel(..., htk=False, norm="slaney")``."""
    fft_hz = np.linspace(0.0, sample_rate / 2.0, 1 + n_fft // 2)
    edges_hz = _slaney_mel_to_hz(np.linspace(_hz_to_slaney_mel(fmin), _hz_to_slaney_mel(fmax), n_mels + 2))
    widths = np.diff(edges_hz)
    ramps = edges_hz[:, None] - fft_hz[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    filters = np.maximum(0.0, np.minimum(rising, falling))
    return filters * (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]


def _stft_magnitude(signal: np.ndarray, n_fft: int = N_FFT, hop: int = HOP_LENGTH) -> np.ndarray:
    """|STFT|, float64 [frames, n_fft//2 + 1]: periodic Hann window of n_fft samples, centred
    frames with reflect padding (librosa 0.7 ``stft`` defaults, which Wav2Lip used)."""
    pad = n_fft // 2
    if signal.size <= pad:
        raise InputError(f"audio too short for the mel spectrogram: {signal.size} samples, need > {pad}")
    padded = np.pad(signal, pad, mode="reflect")
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)
    count = 1 + (padded.size - n_fft) // hop
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop][:count]
    return np.abs(np.fft.rfft(frames * window, axis=1))


def log_mel(audio: np.ndarray, sample_rate: int = 16000, n_fft: int = N_FFT, hop: int = HOP_LENGTH) -> np.ndarray:
    """Wav2Lip's normalised log-mel spectrogram of mono audio (float [N] in [-1, 1]).

    Returns float32 [1 + N // hop, 80] in [-4, 4] (time first; Wav2Lip stores [80, time]),
    16000 / hop frames per second (default 80): pre-emphasis 0.97, |STFT| (default n_fft 800,
    hop 200, window = n_fft), Slaney mel 55-7600 Hz, 20*log10 (floor -100 dB) minus 20 dB, then
    ``8 * (S + 100) / 100 - 4`` clipped. Other ``n_fft``/``hop`` give the same pipeline at
    another resolution (the emotion-space method uses 1280 / 160, i.e. 100 Hz as PC-AVS).
    """
    if sample_rate != MEL_SAMPLE_RATE:
        raise InputError(f"log_mel follows Wav2Lip and needs {MEL_SAMPLE_RATE} Hz audio, got {sample_rate} Hz; "
                         "resample with tfbench.io.audio.resample_audio first")
    from scipy.signal import lfilter

    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim != 1:
        raise InputError(f"audio must be mono [N], got shape {audio.shape}")
    emphasised = lfilter([1.0, -PREEMPHASIS], [1.0], audio)
    mel = _stft_magnitude(emphasised, n_fft, hop) @ mel_filterbank(n_fft=n_fft).T
    floor = 10.0 ** (MIN_LEVEL_DB / 20.0)
    db = 20.0 * np.log10(np.maximum(floor, mel)) - REF_LEVEL_DB
    scaled = 2.0 * MAX_ABS_VALUE * (db - MIN_LEVEL_DB) / (-MIN_LEVEL_DB) - MAX_ABS_VALUE
    return np.clip(scaled, -MAX_ABS_VALUE, MAX_ABS_VALUE).astype(np.float32)


def mel_window(mel: np.ndarray, frame_index: int, fps: float = 25.0, width: int = 16) -> np.ndarray:
    """The ``width`` mel frames of video frame ``frame_index``: rows ``start .. start+width`` of
    ``mel`` [n, 80] with Wav2Lip's ``start = int(80 * frame_index / fps)``. Rows past the end
    repeat the last mel frame (edge padding). Returns [width, 80], same dtype as ``mel``."""
    mel = np.asarray(mel)
    if mel.ndim != 2 or mel.shape[0] == 0:
        raise InputError(f"mel must be [n_frames, n_mels] with n_frames >= 1, got shape {mel.shape}")
    if frame_index < 0:
        raise InputError(f"frame_index must be >= 0, got {frame_index}")
    start = int(MEL_FRAMES_PER_SECOND * frame_index / fps)
    rows = np.minimum(np.arange(start, start + width), mel.shape[0] - 1)
    return mel[rows]


def mfcc(audio: np.ndarray, sample_rate: int = 16000) -> np.ndarray:
    """SyncNet's audio input: ``python_speech_features.mfcc`` with its defaults (13 coefficients,
    25 ms window, 10 ms step = 100 frames per second, 26 filters, log energy as c0).

    ``audio`` is float [N] in [-1, 1]. syncnet_python reads a 16-bit WAV with
    ``scipy.io.wavfile``, so the samples it feeds are int16 values; the same is done here
    (``round(audio * 32768)`` clipped to int16), which matters for c0. Returns float32 [n, 13].
    """
    import python_speech_features

    audio = np.asarray(audio)
    if audio.ndim != 1 or audio.size == 0:
        raise InputError(f"audio must be mono [N] with N >= 1, got shape {audio.shape}")
    int16_units = np.clip(np.round(audio.astype(np.float64) * 32768.0), -32768, 32767).astype(np.int16)
    return python_speech_features.mfcc(int16_units, sample_rate).astype(np.float32)


__all__ = ["log_mel", "mel_window", "mfcc", "mel_filterbank", "MEL_FRAMES_PER_SECOND"]
