"""Phoneme labels per video frame from PocketSphinx phone decoding (offline).

PocketSphinx 5 ships the en-us acoustic model and a phone language model
(``en-us-phone.lm.bin``). Decoding in ``allphone`` mode gives segments of the 39 CMU
phones plus ``SIL`` (and noise fillers like ``+NSN+``) at 100 frames per second. Video
frame ``i`` (at ``fps``) gets the label of the segment covering its centre time
``(i + 0.5) / fps``; times outside every segment are ``SIL``. Labels are English phones
whatever the spoken language. The feature state is reset before every utterance, so
the labels of a clip do not depend on what the process decoded before (tested).
"""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np

SEGMENT_RATE = 100.0  # PocketSphinx frames per second


@lru_cache(maxsize=1)
def _decoder():
    import pocketsphinx

    model = os.path.join(pocketsphinx.get_model_path(), "en-us")
    config = pocketsphinx.Config(
        hmm=os.path.join(model, "en-us"),
        allphone=os.path.join(model, "en-us-phone.lm.bin"),
        lm=None,
        lw=2.0,
        beam=1e-20,
        pbeam=1e-20,
        loglevel="FATAL",
    )
    return pocketsphinx.Decoder(config)


def phone_segments(audio: np.ndarray, sample_rate: int = 16000) -> list[tuple[str, float, float]]:
    """(phone, start_s, end_s) segments of float32 [N] mono audio in [-1, 1] at 16 kHz."""
    if sample_rate != 16000:
        raise ValueError("phone decoding needs 16 kHz audio")
    pcm = (np.clip(np.asarray(audio, dtype=np.float64), -1.0, 1.0) * 32767.0).round().astype("<i2")
    decoder = _decoder()
    decoder.reinit_feat()  # drop the feature state (CMN etc.) of earlier utterances: same audio, same phones
    decoder.start_utt()
    decoder.process_raw(pcm.tobytes(), full_utt=True)
    decoder.end_utt()
    return [
        (segment.word, segment.start_frame / SEGMENT_RATE, (segment.end_frame + 1) / SEGMENT_RATE)
        for segment in decoder.seg()
    ]


def frame_phonemes(segments: list[tuple[str, float, float]], num_frames: int, fps: float = 25.0) -> list[str]:
    """One phone label per video frame: the segment covering the frame's centre time."""
    labels = ["SIL"] * num_frames
    for phone, start, end in segments:
        first = max(int(np.ceil(start * fps - 0.5)), 0)
        last = min(int(np.ceil(end * fps - 0.5)), num_frames)
        for index in range(first, last):
            labels[index] = phone
    return labels
