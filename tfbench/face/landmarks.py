"""68-point facial landmarks per frame: dlib's shape predictor or FAN (face-alignment).

One face per frame is expected. Each frame is detected on its own (see
:mod:`tfbench.face.detect`); when several faces are found the largest box is used and
``num_faces`` records how many there were; :func:`check_one_face` is the one policy for
videos where that happens often. A frame without a face gets NaN points and a
NaN box: no point is ever interpolated or carried over from a neighbouring frame, so a
metric can tell a measured point from a missing one.

Points follow the iBUG 300-W 68-point layout (jaw 0-16, brows 17-26, nose 27-35, eyes
36-47, mouth 48-67), ``(x, y)`` in pixels of the frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from tfbench.errors import FaceError, InputError, UnknownNameError
from tfbench.face.detect import (
    DEFAULT_UPSAMPLE,
    SEVERAL_FACES_MAX_FRACTION,
    check_frames,
    detect_faces,
    detector_image,
    faces_counted,
    largest_box,
)
from tfbench.weights import weights_path

BACKENDS = ("dlib", "fan")
NUM_POINTS = 68


def check_one_face(num_faces: np.ndarray, what: str) -> None:
    """tfbench's one several-faces policy (face metrics; the recipes apply the same rule):
    FaceError when more than SEVERAL_FACES_MAX_FRACTION of the frames have several counted
    faces (:func:`tfbench.face.detect.faces_counted`). num_faces: int [T] counted faces per
    frame; what: e.g. ``"gt"`` for the message."""
    num_faces = np.asarray(num_faces)
    several = int((num_faces > 1).sum())
    if several > SEVERAL_FACES_MAX_FRACTION * len(num_faces):
        raise FaceError(
            f"{what}: several faces in {several} of {len(num_faces)} frames; tfbench scores one "
            "face per clip: crop the video to the speaker's face"
        )


@dataclass
class LandmarkResult:
    """Landmarks of a frame sequence.

    points: float32 [T,68,2] pixel (x, y), NaN rows where no face.
    boxes: float32 [T,4] (x1, y1, x2, y2) of the face used, NaN where none.
    num_faces: int64 [T] faces counted (boxes of at least 1/4 the largest one's area;
        0 = none; >1 = the largest is used).
    """

    points: np.ndarray
    boxes: np.ndarray
    num_faces: np.ndarray

    @property
    def found(self) -> np.ndarray:
        """bool [T]: True where the frame has landmarks."""
        return ~np.isnan(self.points[:, 0, 0])

    def __len__(self) -> int:
        return len(self.points)


@lru_cache(maxsize=None)
def _dlib_predictor() -> Any:
    import dlib

    return dlib.shape_predictor(str(weights_path("dlib_landmarks68")))


def dlib_rectangle(box: np.ndarray) -> Any:
    """dlib.rectangle of an (x1, y1, x2, y2) box with exclusive x2/y2."""
    import dlib

    x1, y1, x2, y2 = (int(round(float(value))) for value in box[:4])
    return dlib.rectangle(x1, y1, x2 - 1, y2 - 1)


def dlib_shape_points(shape: Any) -> np.ndarray:
    """float32 [N,2] pixel points of a dlib.full_object_detection."""
    return np.array([(part.x, part.y) for part in shape.parts()], dtype=np.float32)


def face_boxes(
    frames: np.ndarray, detector: str = "dlib", upsample: int = DEFAULT_UPSAMPLE, grey: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Largest face box per frame: (float32 [T,4] with NaN rows where none, int64 [T] face counts).

    grey: what the detector sees (:data:`tfbench.face.detect.GREY_MODES`)."""
    frames = check_frames(frames)
    boxes = np.full((len(frames), 4), np.nan, dtype=np.float32)
    counts = np.zeros(len(frames), dtype=np.int64)
    for index, frame in enumerate(frames):
        found = detect_faces(frame, detector, upsample, grey)
        counts[index] = faces_counted(found)
        box = largest_box(found)
        if box is not None:
            boxes[index] = box[:4]
    return boxes, counts


def detect_landmarks(
    frames: np.ndarray,
    backend: str = "dlib",
    detector: str = "dlib",
    boxes: np.ndarray | None = None,
    upsample: int = DEFAULT_UPSAMPLE,
    grey: str | None = None,
) -> LandmarkResult:
    """68 landmarks for each frame.

    frames: uint8 [T,H,W,3] RGB. backend: ``"dlib"`` (shape_predictor_68, offline) or
    ``"fan"`` (face-alignment 2DFAN4, weights ``fan2d``). detector: face detector for
    frames without a given box (:data:`tfbench.face.detect.BACKENDS`). boxes: optional
    float [T,4] face boxes to use instead of detecting (NaN rows = no face). upsample:
    dlib detector upsampling. grey: what dlib's detector and predictor see
    (:data:`tfbench.face.detect.GREY_MODES`; None = the RGB frame; FAN always gets RGB).
    """
    if backend not in BACKENDS:
        raise UnknownNameError(f"Unknown landmark backend {backend!r}; choose one of {', '.join(BACKENDS)}.")
    frames = check_frames(frames)
    if backend == "fan":
        from tfbench.face.fan import load_fan  # fail on missing weights before detecting

        load_fan()
    if boxes is None:
        boxes, counts = face_boxes(frames, detector, upsample, grey)
    else:
        boxes = np.asarray(boxes, dtype=np.float32)
        if boxes.shape != (len(frames), 4):
            raise InputError(f"boxes must be [T,4] = [{len(frames)},4], got {list(boxes.shape)}")
        counts = (~np.isnan(boxes).any(axis=1)).astype(np.int64)
    has_face = ~np.isnan(boxes).any(axis=1)
    points = np.full((len(frames), NUM_POINTS, 2), np.nan, dtype=np.float32)
    if backend == "dlib":
        predictor = _dlib_predictor()
        for index in np.flatnonzero(has_face):
            frame = np.ascontiguousarray(detector_image(frames[index], grey))
            points[index] = dlib_shape_points(predictor(frame, dlib_rectangle(boxes[index])))
    else:
        from tfbench.face.fan import fan_landmarks

        indices = np.flatnonzero(has_face)
        if len(indices):
            points[indices] = fan_landmarks([frames[i] for i in indices], boxes[indices])
    boxes = boxes.copy()
    boxes[~has_face] = np.nan
    return LandmarkResult(points=points, boxes=boxes, num_faces=counts)
