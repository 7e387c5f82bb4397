"""Facial action unit (AU) intensities per frame, 0–5, from one of two backends.

``offline`` (default) is tfbench's landmark-geometry estimator, not a FACS-trained
detector. Each AU is one signed measure of the eye-normalised shape
(:mod:`tfbench.annotate.shape`, unit = inter-ocular distance, y down):

======  =====================  ============================================================
AU      name                   raw measure (grows as the action grows)
======  =====================  ============================================================
AU1     inner brow raiser      eye inner corners (39, 42) y − inner brow ends (21, 22) y
AU2     outer brow raiser      eye outer corners (36, 45) y − outer brow ends (17, 26) y
AU4     brow lowerer           −(mean eye y − mean brow y) − 0.5 · |x21 − x22|
AU5     upper lid raiser       mean eye opening (37–41, 38–40, 43–47, 44–46)
AU6     cheek raiser           −mean eye opening (eyes narrowed from below; blinks too)
AU12    lip corner puller      upper inner lip (62) y − lip corners (48, 54) y
AU15    lip corner depressor   lip corners y − upper inner lip (62) y
AU20    lip stretcher          mouth width |48 − 54|
AU25    lips part              inner lip gap |62 − 66|
AU26    jaw drop               nose tip (33) to chin (8) distance
======  =====================  ============================================================

Per speaker, each measure is turned into an intensity by
``clip((raw − baseline) / spread, 0, 5)``: baseline = the speaker's mean over its
neutral-emotion frames (all frames when it has none), spread = the standard deviation
over all its frames. So 1.0 means "one standard deviation of this speaker's own range
above its resting face". The statistics are streamed (sums), so memory is constant.

``network`` is LibreFace's DISFA AU-intensity ResNet-18 (:mod:`tfbench.annotate.au_network`):
12 AUs (:data:`NETWORK_AU_NAMES`) on the DISFA 0–5 scale, per frame, from the clip's frames;
it needs the user's ``libreface_au`` weights. :func:`backend_au_names` and
:func:`backend_au_table` give each backend's AU order (``meta.json`` ``au_names``) and the
threshold table its TA-MEAD text uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tfbench.annotate.au_network import AU_NAMES as NETWORK_AU_NAMES
from tfbench.annotate.shape import normalise_shapes

AU_NAMES = ("AU1", "AU2", "AU4", "AU5", "AU6", "AU12", "AU15", "AU20", "AU25", "AU26")
BACKENDS = ("offline", "network")
_AU_TABLES = {"offline": "au_thresholds.csv", "network": "au_thresholds_network.csv"}


def backend_au_names(backend: str) -> tuple[str, ...]:
    """AU names, in column order, of the ``au``/``au_mean`` columns a backend fills."""
    return NETWORK_AU_NAMES if backend == "network" else AU_NAMES


def backend_au_table(backend: str) -> str:
    """File name (in ``tfbench/annotate/data``) of the text thresholds for a backend's intensity scale."""
    return _AU_TABLES[backend]


def _distance(shapes: np.ndarray, a: int, b: int) -> np.ndarray:
    return np.linalg.norm(shapes[:, a] - shapes[:, b], axis=1)


def raw_measures(landmarks: np.ndarray) -> np.ndarray:
    """float64 [T,10] raw geometric measures (order of :data:`AU_NAMES`) of float [T,68,2] landmarks."""
    s = normalise_shapes(landmarks).shapes
    y = s[..., 1]
    eyes_y = y[:, 36:48].mean(axis=1)
    brows_y = y[:, 17:27].mean(axis=1)
    eye_opening = (
        _distance(s, 37, 41) + _distance(s, 38, 40) + _distance(s, 43, 47) + _distance(s, 44, 46)
    ) / 4.0
    upper_lip_y = y[:, 62]  # stays put when the jaw drops
    corners_y = (y[:, 48] + y[:, 54]) / 2.0
    return np.column_stack([
        (y[:, 39] + y[:, 42]) / 2.0 - (y[:, 21] + y[:, 22]) / 2.0,
        (y[:, 36] + y[:, 45]) / 2.0 - (y[:, 17] + y[:, 26]) / 2.0,
        -(eyes_y - brows_y) - 0.5 * np.abs(s[:, 21, 0] - s[:, 22, 0]),
        eye_opening,
        -eye_opening,
        upper_lip_y - corners_y,
        corners_y - upper_lip_y,
        _distance(s, 48, 54),
        _distance(s, 62, 66),
        _distance(s, 33, 8),
    ])


@dataclass
class SpeakerAuNormaliser:
    """Streaming per-speaker baseline and spread of the raw measures."""

    _all: dict[str, list] = field(default_factory=dict)  # speaker -> [count, sum, sum of squares]
    _neutral: dict[str, list] = field(default_factory=dict)  # speaker -> [count, sum]

    def add(self, speaker: str, landmarks: np.ndarray, neutral: bool) -> None:
        raw = raw_measures(landmarks)
        stats = self._all.setdefault(speaker, [0, np.zeros(len(AU_NAMES)), np.zeros(len(AU_NAMES))])
        stats[0] += len(raw)
        stats[1] += raw.sum(axis=0)
        stats[2] += (raw**2).sum(axis=0)
        if neutral:
            base = self._neutral.setdefault(speaker, [0, np.zeros(len(AU_NAMES))])
            base[0] += len(raw)
            base[1] += raw.sum(axis=0)

    def parameters(self, speaker: str) -> tuple[np.ndarray, np.ndarray]:
        """(baseline [10], spread [10]) of ``speaker``."""
        count, total, squares = self._all[speaker]
        mean = total / count
        spread = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
        if speaker in self._neutral:
            base_count, base_total = self._neutral[speaker]
            baseline = base_total / base_count
        else:
            baseline = mean
        return baseline, np.maximum(spread, 1e-6)

    def intensities(self, speaker: str, landmarks: np.ndarray) -> np.ndarray:
        """float32 [T,10] intensities in [0, 5]."""
        baseline, spread = self.parameters(speaker)
        return np.clip((raw_measures(landmarks) - baseline) / spread, 0.0, 5.0).astype(np.float32)


def require_network_backend() -> None:
    """Load the network backend's weights now, so a missing or wrong file fails before any work."""
    from tfbench.annotate.au_network import load_model
    from tfbench.errors import MissingWeightsError

    try:
        load_model()
    except MissingWeightsError as error:
        raise MissingWeightsError(f"{error}\n(--au network needs them; --au offline runs without weights, "
                                  "see docs/datasets/schema.md)") from error
