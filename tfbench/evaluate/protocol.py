"""Evaluation protocols: how a dataset row becomes a generation request.

``self-reconstruction/v1`` — the protocol of ``tfbench evaluate --model``: each test clip
is re-generated from its own inputs and compared with itself.

- audio: the clip's own audio track (float32 16 kHz, from the processed clip file);
- reference image (identity): ground-truth frame 0 of the processed clip;
- source frames: the ground-truth frames (for video-driven / self-driven methods);
- text: the row's first ``text`` sentence; emotion and level: the row's ``emotion`` and
  ``level``; landmarks: the row's cached ``landmarks``; 3DMM: the row's ``coeffs_3dmm`` and
  ``coeffs_3dmm_align`` with their kind from ``meta.json``; phonemes: the row's labels as ids;
- ``num_frames`` = the decoded ground-truth length at 25 fps;
- ``extra["face_boxes"]``: the row's cached face boxes (float32 ``[T,4]`` x1, y1, x2, y2 clip
  pixels) for methods that read the source frames (Wav2Lip crops its face from them).

A request carries only the inputs the method declares in ``Generator.needs``: a method
that does not declare ``source_video`` never sees the ground-truth frames it is scored
against. The frames are the ones the evaluator scores against (decoded once).
"""

from __future__ import annotations

from typing import Any, Mapping

from tfbench.evaluate.clip import ClipInputs
from tfbench.models.base import GenerationRequest
from tfbench.models.request import request_from_row

SELF_RECONSTRUCTION = "self-reconstruction/v1"
PRED_VS_GT = "pred-vs-gt/v1"


def self_reconstruction_request(row: Mapping[str, Any], clip: ClipInputs, needs: frozenset[str],
                                meta: Mapping[str, Any] | None = None, accepts: frozenset[str] = frozenset(),
                                options: dict | None = None) -> GenerationRequest:
    """The :class:`GenerationRequest` of ``row`` under ``self-reconstruction/v1``.

    ``clip``: the row's ground-truth inputs (gt frames uint8 [T,H,W,3] RGB at 25 fps, gt
    audio). ``needs``: the model's declared inputs; others are left None. ``meta``: the
    dataset's ``meta.json`` (says which kind of 3DMM coefficients the rows hold). Built by
    the shared :func:`tfbench.models.request.request_from_row`; ``accepts`` (the model's optional
    inputs) and ``options`` (generation options) pass through.
    """
    return request_from_row(row, needs, frames=lambda: clip.frames("gt"), audio=lambda: clip.audio, fps=clip.fps, meta=meta,
                            accepts=accepts, options=options)
