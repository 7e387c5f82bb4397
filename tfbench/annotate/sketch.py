"""Landmark sketches: the 68 points drawn as polylines (face contour, brows, nose, eyes, lips).

Methods that take geometry as an image (G4G's prior landmarks, the emotion-space method's
E_rd input in its ``tiny`` config, CPNet's landmark images) draw it here, so one layout is used.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Polylines of the 68-point iBUG layout: (closed, start, stop).
SKETCH_PARTS = ((False, 0, 17), (False, 17, 22), (False, 22, 27), (False, 27, 31), (False, 31, 36),
                (True, 36, 42), (True, 42, 48), (True, 48, 60), (True, 60, 68))


def landmark_sketch(points: np.ndarray, height: int, width: int, thickness: int = 1) -> np.ndarray:
    """points float [68, 2] pixels (x, y) -> uint8 [height, width] in {0, 1}; any NaN -> empty sketch."""
    canvas = np.zeros((height, width), dtype=np.uint8)
    if not np.all(np.isfinite(points)):
        return canvas
    pixels = np.rint(points).astype(np.int32)
    for closed, start, stop in SKETCH_PARTS:
        cv2.polylines(canvas, [pixels[start:stop]], closed, 1, thickness)
    return canvas
