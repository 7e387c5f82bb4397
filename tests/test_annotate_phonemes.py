"""PocketSphinx phone decoding (offline) aligned to 25 fps frames."""

import subprocess

import numpy as np
import soundfile

from tfbench.annotate.phonemes import frame_phonemes, phone_segments


def test_frame_labels_follow_the_segment_under_each_frame_centre():
    segments = [("SIL", 0.0, 0.1), ("HH", 0.1, 0.18), ("AH", 0.18, 0.4)]
    labels = frame_phonemes(segments, num_frames=12, fps=25.0)
    # frame centres: 0.02, 0.06, 0.10, 0.14, 0.18, 0.22, ..., 0.38, 0.42, 0.46
    assert labels[:2] == ["SIL", "SIL"]
    assert labels[2:4] == ["HH", "HH"]
    assert labels[4:10] == ["AH"] * 6
    assert labels[10:] == ["SIL", "SIL"]  # past the last segment


def test_decodes_speech_into_phones(tmp_path):
    wav = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), "hello world"], check=True, capture_output=True)
    audio, rate = soundfile.read(str(wav), dtype="float32")
    from tfbench.io.audio import resample_audio

    audio = resample_audio(audio, rate, 16000)
    segments = phone_segments(audio)
    phones = [phone for phone, _start, _end in segments]
    assert phones[0] == "SIL" and {"L", "OW", "W"} & set(phones)
    ends = np.array([end for _p, _s, end in segments])
    assert np.all(np.diff(ends) > 0) and ends[-1] <= len(audio) / 16000 + 0.02
    noise = np.random.default_rng(0).normal(scale=0.1, size=30000).astype(np.float32)
    phone_segments(noise)
    phone_segments(noise)
    assert phone_segments(audio) == segments  # earlier utterances do not change the result
