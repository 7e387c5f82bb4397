"""A clip's preview for ``tfbench report``: a few thumbnails taken while the frames are decoded.

The report shows frame strips (ground truth | generated | absolute difference) of the
worst and best clips, but must not decode a video again to do so. So while a clip's
frames are in memory for scoring, the runner stores, next to the clip's cached scores:

- ``_preview.jpg``: a grid of ``PREVIEW_FRAMES`` evenly spaced frames (columns) by rows
  ``gt``, ``pred``, ``absdiff`` (rows absent when there is no ground truth). ``absdiff`` is
  the per-pixel mean over RGB of ``|pred - gt|`` computed at full resolution, then
  shrunk like the frames, stored as grey 0-255 (0 = identical), not amplified.
  Thumbnails are ``PREVIEW_HEIGHT`` px high (the frames' own height when smaller), JPEG
  quality ``JPEG_QUALITY``: about 40-80 kB per clip.
- ``_preview.json``: the frame indices, the frame size and thumbnail size, the row
  order, and the clip's input files (so the report can make the playable side-by-side
  videos of the worst clips, reading each file once).

The leading underscore keeps the names apart from metric ids (``<metric>.json``).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

PREVIEW_FRAMES = 5
PREVIEW_HEIGHT = 160
JPEG_QUALITY = 88
JPEG_NAME = "_preview.jpg"
JSON_NAME = "_preview.json"


def preview_indices(num_frames: int, count: int = PREVIEW_FRAMES) -> list[int]:
    """``count`` evenly spaced frame indices in ``[0, num_frames)`` (fewer for short clips)."""
    return sorted({int(round(i)) for i in np.linspace(0, num_frames - 1, min(count, num_frames))})


def _shrink(image: np.ndarray, height: int, width: int) -> np.ndarray:
    import cv2

    if image.shape[:2] == (height, width):
        return np.ascontiguousarray(image)
    return cv2.resize(np.ascontiguousarray(image), (width, height), interpolation=cv2.INTER_AREA)


def make_preview(
    pred: np.ndarray, gt: np.ndarray | None, files: dict[str, Path | None], fps: float
) -> tuple[bytes, dict]:
    """(JPEG bytes, metadata) of one clip's preview.

    ``pred`` / ``gt``: uint8 [T,H,W,3] RGB, the frames exactly as scored (after the clip
    policies); ``files``: the clip's input paths by role (``pred``, ``gt``, ``audio``).
    """
    from PIL import Image

    count, height, width = pred.shape[:3]
    indices = preview_indices(count)
    tile_h = min(PREVIEW_HEIGHT, height)
    tile_w = max(1, int(round(width * tile_h / height)))
    rows = {"pred": [_shrink(pred[i], tile_h, tile_w) for i in indices]}
    if gt is not None:
        rows["gt"] = [_shrink(gt[i], tile_h, tile_w) for i in indices]
        diffs = [np.abs(pred[i].astype(np.int16) - gt[i].astype(np.int16)).mean(axis=2) for i in indices]
        rows["absdiff"] = [np.repeat(_shrink(d.astype(np.float32), tile_h, tile_w)[..., None], 3, axis=2) for d in diffs]
    order = [name for name in ("gt", "pred", "absdiff") if name in rows]
    grid = np.concatenate([np.concatenate(rows[name], axis=1) for name in order], axis=0)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(np.round(grid), 0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    meta = {
        "frames": int(count),
        "frame_size": [int(height), int(width)],
        "tile_size": [int(tile_h), int(tile_w)],
        "indices": indices,
        "rows": order,
        "fps": float(fps),
        "files": {role: (str(Path(path).resolve()) if path is not None else None) for role, path in files.items()},
    }
    return buffer.getvalue(), meta
