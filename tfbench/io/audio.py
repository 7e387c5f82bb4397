"""Read and resample audio.

Decoding goes through the ffmpeg binary (``-f f32le -ac 1 -ar <rate>``): any container
ffmpeg reads (mp4, m4a, wav, ...) gives float32 mono samples in [-1, 1]. Several channels
are mixed down by ffmpeg's rematrixing normalised to unit gain (``rematrix_maxval=1``: stereo
becomes the mean of left and right, as librosa's ``mono=True`` in Wav2Lip); rate conversion
is ffmpeg's default swresample.
"""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np

from tfbench.errors import InputError, MediaError
from tfbench.io._ffmpeg import check_media, run_ffmpeg


def read_audio(path: str | Path, sample_rate: int = 16000) -> np.ndarray:
    """Decode the first audio stream of ``path`` to float32 [N] mono in [-1, 1] at ``sample_rate`` Hz.

    Raises :class:`MediaError` if the file is missing, corrupt, has no audio stream, or its
    audio packets are damaged (any decoder error in this decode fails it).
    """
    if sample_rate <= 0:
        raise InputError(f"sample_rate must be positive, got {sample_rate}")
    check_media(path, "a")
    try:
        result = run_ffmpeg(["-loglevel", "error", "-i", str(path), "-map", "0:a:0", "-vn",
                             "-af", "aresample=rematrix_maxval=1",
                             "-f", "f32le", "-acodec", "pcm_f32le", "-ac", "1", "-ar", str(sample_rate), "-"],
                            timeout=600)
    except subprocess.TimeoutExpired as error:
        raise MediaError(f"{path}: ffmpeg did not finish decoding the audio in {error.timeout} s") from error
    if result.returncode != 0:
        raise MediaError(f"{path}: cannot decode audio ({result.stderr.decode('utf-8', 'replace').strip()[-300:]})")
    errors = [line for line in result.stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    if errors:  # counted in this one decode: the decoder concealed damaged audio packets
        raise MediaError(f"{path}: damaged audio data: {len(errors)} decoder error(s) (first: {errors[0][:160]}); "
                         "decoders would conceal the damage, so the file is refused")
    audio = np.frombuffer(result.stdout, dtype="<f4").astype(np.float32)
    if audio.size == 0:
        raise MediaError(f"{path}: the audio stream has no samples")
    return np.clip(audio, -1.0, 1.0)


def resample_audio(audio: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample float [N] audio from ``sr_in`` to ``sr_out`` Hz with scipy's polyphase filter
    (``resample_poly``, Kaiser window, beta 5); returns float32 [ceil(N * sr_out / sr_in)]."""
    from scipy.signal import resample_poly

    if sr_in <= 0 or sr_out <= 0:
        raise InputError(f"sample rates must be positive, got {sr_in} -> {sr_out}")
    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim != 1:
        raise InputError(f"audio must be mono [N], got shape {audio.shape}")
    if sr_in == sr_out:
        return audio.astype(np.float32)
    ratio = Fraction(sr_out, sr_in)
    out = resample_poly(audio, ratio.numerator, ratio.denominator)
    return out.astype(np.float32)


__all__ = ["read_audio", "resample_audio"]
