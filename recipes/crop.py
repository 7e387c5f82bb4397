"""Stages 1 and 2 of processing a source: face detection on a small copy, the face track,
and the fixed square crop of a clip (see :mod:`tfbench.recipes.process` for the whole flow)."""

from __future__ import annotations

import math

import numpy as np

from tfbench.recipes.base import DETECT_MAX_SIDE, FPS, ClipFailure, ClipParams


def _detect_scale(height: int, width: int) -> tuple[float, int]:
    """(scale factor, HOG upsample) so the detected copy's longer side is at most 640 px."""
    scale = min(1.0, DETECT_MAX_SIDE / max(height, width))
    upsample = 1 if min(height, width) * scale < 360 else 0
    return scale, upsample


def detect_in_frame(frame: np.ndarray) -> np.ndarray:
    """float32 [K,5] dlib HOG faces of a uint8 [H,W,3] frame, in its pixels (detected on a ≤640 px copy)."""
    import cv2

    from tfbench.face.detect import detect_faces

    scale, upsample = _detect_scale(*frame.shape[:2])
    small = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else frame
    boxes = detect_faces(small, "dlib", upsample)
    boxes[:, :4] /= scale
    return boxes


def working_scale(face_side: float, params: ClipParams) -> float:
    """Scale at which frames are kept in memory: the clip's crop (``crop_scale`` × face side)
    then still has at least 1.25 × ``size`` pixels, so the final resize only shrinks.

    Where that scale is 1/2 or less, it is raised to the nearest 1/k (k = 2, 3, …) not below
    it: OpenCV's area resize at an integer factor is a plain k×k average and 3–17× faster
    than at any other scale (one 1080p frame: 0.85 ms at 1/2, 14 ms at 0.42), for at most
    2.25× the memory of the exact scale (docs/datasets/scaling.md)."""
    needed = min(1.0, 1.25 * params.size / (params.crop_scale * max(face_side, 1.0)))
    factor = math.floor(1.0 / needed)
    return 1.0 / factor if factor >= 2 else needed


def expected_frames(duration_s: float) -> int:
    """Frames :func:`tfbench.io.video.read_video` returns at 25 fps: floor(duration × 25) (its
    documented rule, with its 0.1 ms slack)."""
    return int(np.floor((duration_s + 1e-4) * FPS))


def _faces_counted(boxes: np.ndarray) -> int:
    """Faces at least a quarter the area of the largest one: tfbench's one several-faces rule."""
    from tfbench.face.detect import faces_counted

    return faces_counted(boxes)


def face_track(found: dict[int, np.ndarray], first: int, end: int, params: ClipParams) -> np.ndarray:
    """float64 [end-first, 4] largest-face box per frame (source pixels), interpolated between
    detections. Raises :class:`ClipFailure` for no face / several faces."""
    sampled = sorted(i for i in found if first <= i < end)
    with_face = [i for i in sampled if len(found[i])]
    missing = 1.0 - len(with_face) / max(len(sampled), 1)
    if not with_face or missing > params.max_missing_face:
        raise ClipFailure(f"no face: none found in {missing:.0%} of the checked frames")
    several = np.mean([_faces_counted(found[i]) > 1 for i in sampled])
    if several > params.max_multi_face:
        raise ClipFailure(f"several faces: more than one face in {several:.0%} of the checked frames")
    from tfbench.face.detect import largest_box

    boxes = np.stack([largest_box(found[i])[:4] for i in with_face]).astype(np.float64)
    frames = np.arange(first, end)
    return np.column_stack([np.interp(frames, with_face, boxes[:, k]) for k in range(4)])


def fixed_crop(track: np.ndarray, crop_scale: float) -> tuple[int, int, int]:
    """(x0, y0, side) of the square crop, integer source pixels (may extend past the frame)."""
    sides = np.maximum(track[:, 2] - track[:, 0], track[:, 3] - track[:, 1])
    face = float(np.median(sides))
    centre_x = float(np.median((track[:, 0] + track[:, 2]) / 2.0))
    centre_y = float(np.median((track[:, 1] + track[:, 3]) / 2.0)) - 0.1 * face
    side = int(round(crop_scale * face))
    return int(round(centre_x - side / 2.0)), int(round(centre_y - side / 2.0)), side


def crop_frame(frame: np.ndarray, x0: int, y0: int, side: int, size: int) -> np.ndarray:
    """uint8 [size,size,3]: the square (x0, y0, side) of ``frame`` (edge pixels repeated
    outside it), resized with area averaging (shrinking) or bilinear (enlarging)."""
    import cv2

    height, width = frame.shape[:2]
    pad = max(0, -x0, -y0, x0 + side - width, y0 + side - height)
    if pad:
        frame = cv2.copyMakeBorder(frame, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    square = frame[y0 + pad : y0 + pad + side, x0 + pad : x0 + pad + side]
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(square, (size, size), interpolation=interpolation)


def _rescale(frame: np.ndarray, scale: float) -> np.ndarray:
    """``frame`` resized by ``scale`` (area averaging); the same array when ``scale`` is 1.

    At ``scale`` = 1/k each kept pixel is the mean of a k×k block of source pixels: the last
    ``width % k`` columns and ``height % k`` rows are left out, so source pixel x maps to
    x / k exactly and OpenCV takes its integer-factor path."""
    import cv2

    if scale >= 1.0:
        return frame
    height, width = frame.shape[:2]
    factor = round(1.0 / scale)
    if abs(factor * scale - 1.0) < 1e-9 and height >= factor and width >= factor:
        frame = frame[: height - height % factor, : width - width % factor]
        return cv2.resize(frame, (frame.shape[1] // factor, frame.shape[0] // factor), interpolation=cv2.INTER_AREA)
    size = (max(1, int(round(width * scale))), max(1, int(round(height * scale))))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
