"""Evaluation protocols: how a dataset row becomes a generation request.

``self-reconstruction/v1`` — the protocol of ``tfbench evaluate --model``: each test clip
is re-generated from its own inputs and compared with itself.

- audio: the clip's own audio track (float32 16 kHz, from the processed clip file);
- reference image (identity): ground-truth frame 0 of the processed clip;
- source frames: the ground-truth frames (for video-driven / self-driven methods);
- text: the row's first ``text`` sentence; emotion and level: the row's ``emotion`` and
  ``level``; landmarks: the row's cached ``landmarks``; 3DMM: the row's ``coeffs_3dmm``
  when the dataset has that column;
- ``num_frames`` = the decoded ground-truth length at 25 fps;
- ``extra["face_boxes"]``: the row's cached face boxes (float32 ``[T,4]`` x1, y1, x2, y2 clip
  pixels) for methods that read the source frames (Wav2Lip crops its face from them).

A request carries only the inputs the method declares in ``Generator.needs``: a method
that does not declare ``source_video`` never sees the ground-truth frames it is scored
against. The frames are the ones the evaluator scores against (decoded once).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from tfbench.errors import InputError
from tfbench.evaluate.clip import ClipInputs
from tfbench.models.base import GenerationRequest

SELF_RECONSTRUCTION = "self-reconstruction/v1"
PRED_VS_GT = "pred-vs-gt/v1"


def _optional_array(row: Mapping[str, Any], column: str, dtype: type) -> np.ndarray | None:
    value = row.get(column)
    if value is None:
        return None
    return np.asarray(value, dtype=dtype)


def self_reconstruction_request(row: Mapping[str, Any], clip: ClipInputs, needs: frozenset[str]) -> GenerationRequest:
    """The :class:`GenerationRequest` of ``row`` under ``self-reconstruction/v1``.

    ``clip``: the row's ground-truth inputs (gt frames uint8 [T,H,W,3] RGB at 25 fps, gt
    audio). ``needs``: the model's declared inputs; others are left None.
    """
    gt = clip.frames("gt")
    request = GenerationRequest(clip_id=str(row["clip_id"]), num_frames=int(gt.shape[0]), fps=clip.fps)
    if "audio" in needs:
        request.audio = clip.audio
    if "source_video" in needs:
        request.source_frames = gt
    if "reference_image" in needs:
        request.reference_image = gt[0]
    if "text" in needs:
        texts = row.get("text") or []
        request.text = texts[0] if isinstance(texts, (list, tuple)) and texts else (texts or None)
    if "emotion" in needs:
        request.emotion = row.get("emotion")
        request.emotion_level = int(row["level"]) if row.get("level") is not None else None
    if "landmarks" in needs:
        request.landmarks = _optional_array(row, "landmarks", np.float32)
        if request.landmarks is not None and request.landmarks.shape[0] != gt.shape[0]:
            raise InputError(
                f"clip {row['clip_id']!r}: the row has landmarks for {request.landmarks.shape[0]} frames but the "
                f"clip decodes to {gt.shape[0]}; re-prepare the dataset"
            )
    if "coeffs_3dmm" in needs:
        request.coeffs_3dmm = _optional_array(row, "coeffs_3dmm", np.float32)
    request.extra = {key: row[key] for key in ("speaker", "view", "split") if row.get(key) is not None}
    if "source_video" in needs and row.get("boxes") is not None:  # the source frames' cached face boxes
        request.extra["face_boxes"] = np.asarray(row["boxes"], dtype=np.float32)  # [T,4] x1,y1,x2,y2 pixels
    return request
