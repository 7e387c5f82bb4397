"""Identity embeddings of faces: dlib's ResNet (128-d, offline) and ArcFace (512-d).

``dlib``: dlib's recommended pipeline, as face_recognition runs it: the 5-point shape
predictor (``dlib_landmarks5``) inside the face box, then
``face_recognition_model_v1.compute_face_descriptor`` (150x150 aligned chip, padding
0.25, no jitter) with weights ``dlib_face_embedding``.

``arcface``: insightface's ``w600k_r50`` (buffalo_l) ONNX model, weights ``arcface_r50``,
run with onnxruntime (``pip install "tfbench[insightface]"``). Faces are aligned to
112x112 with insightface's similarity transform onto ``ARCFACE_DST``. insightface takes
its 5 keypoints from its SCRFD detector, which tfbench does not ship; we take them from
the dlib 68 landmarks (eye centres = mean of points 36-41 / 42-47, nose tip 30, mouth
corners 48 and 54). Input: RGB, (x - 127.5) / 127.5, NCHW, as insightface's ArcFaceONNX.

Every embedding is L2-normalised; frames without a face give a NaN row.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from tfbench.errors import InputError, TfbenchError, UnknownNameError
from tfbench.face.detect import check_frames
from tfbench.weights import weights_path

BACKENDS = ("dlib", "arcface")
DIMENSIONS = {"dlib": 128, "arcface": 512}
BATCH_SIZE = 16

#: insightface ``face_align.arcface_dst``: where the 5 keypoints land in the 112x112 crop
#: (image-left eye, image-right eye, nose tip, left mouth corner, right mouth corner).
ARCFACE_DST = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)
ARCFACE_SIZE = 112


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows of float [N,D] divided by their L2 norm (float32)."""
    vectors = np.asarray(vectors, dtype=np.float64)
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


# ---------------------------------------------------------------- dlib


@lru_cache(maxsize=None)
def _dlib_models() -> tuple[Any, Any]:
    import dlib

    predictor = dlib.shape_predictor(str(weights_path("dlib_landmarks5")))
    encoder = dlib.face_recognition_model_v1(str(weights_path("dlib_face_embedding")))
    return predictor, encoder


def _dlib_embeddings(frames: np.ndarray, boxes: np.ndarray, indices: np.ndarray) -> np.ndarray:
    import dlib

    from tfbench.face.landmarks import dlib_rectangle

    predictor, encoder = _dlib_models()
    out = np.empty((len(indices), 128), dtype=np.float32)
    for start in range(0, len(indices), BATCH_SIZE):
        chunk = indices[start:start + BATCH_SIZE]
        images, shapes = [], []
        for index in chunk:
            image = np.ascontiguousarray(frames[index])
            detections = dlib.full_object_detections()
            detections.append(predictor(image, dlib_rectangle(boxes[index])))
            images.append(image)
            shapes.append(detections)
        descriptors = encoder.compute_face_descriptor(images, shapes, 0, 0.25)
        out[start:start + len(chunk)] = np.array([np.array(found[0]) for found in descriptors])
    return out


# ---------------------------------------------------------------- ArcFace


def five_points_from_68(points: np.ndarray) -> np.ndarray:
    """ArcFace's 5 keypoints (float32 [5,2]) from iBUG 68 points float [68,2]."""
    points = np.asarray(points, dtype=np.float32)
    return np.stack([
        points[36:42].mean(axis=0),
        points[42:48].mean(axis=0),
        points[30],
        points[48],
        points[54],
    ]).astype(np.float32)


def arcface_matrix(keypoints: np.ndarray) -> np.ndarray:
    """float64 [2,3] similarity transform taking 5 keypoints [5,2] onto :data:`ARCFACE_DST`
    (insightface ``estimate_norm``: least-squares similarity, Umeyama via scikit-image)."""
    from skimage.transform import SimilarityTransform

    keypoints = np.asarray(keypoints, dtype=np.float32)
    if hasattr(SimilarityTransform, "from_estimate"):
        transform = SimilarityTransform.from_estimate(keypoints, ARCFACE_DST)
    else:  # scikit-image < 0.26
        transform = SimilarityTransform()
        transform.estimate(keypoints, ARCFACE_DST)
    return transform.params[0:2, :]


def align_arcface(frame: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """uint8 [112,112,3] aligned face (insightface ``norm_crop``: warpAffine, black border)."""
    import cv2

    return cv2.warpAffine(frame, arcface_matrix(keypoints), (ARCFACE_SIZE, ARCFACE_SIZE), borderValue=0.0)


def arcface_blob(crops: np.ndarray) -> np.ndarray:
    """float32 [N,3,112,112] network input from uint8 [N,112,112,3] RGB crops."""
    return ((crops.astype(np.float32) - 127.5) / 127.5).transpose(0, 3, 1, 2).copy()


def _arcface_session() -> Any:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise TfbenchError(
            "The arcface embedding (csim@arcface) needs onnxruntime, which is not installed. "
            'Fix:\n  pip install "tfbench[insightface]"'
        ) from None
    path = weights_path("arcface_r50")
    return _onnx_session(str(path), path.stat().st_mtime_ns)


@lru_cache(maxsize=2)
def _onnx_session(path: str, mtime_ns: int) -> Any:
    """Created once per (file, modification time)."""
    import onnxruntime

    return onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])


def _arcface_embeddings(frames: np.ndarray, boxes: np.ndarray, indices: np.ndarray) -> np.ndarray:
    from tfbench.face.landmarks import detect_landmarks

    session = _arcface_session()
    input_name = session.get_inputs()[0].name
    out = np.empty((len(indices), 512), dtype=np.float32)
    for start in range(0, len(indices), BATCH_SIZE):
        chunk = indices[start:start + BATCH_SIZE]
        images = np.stack([frames[index] for index in chunk])
        marks = detect_landmarks(images, "dlib", boxes=boxes[chunk])
        crops = np.stack([align_arcface(image, five_points_from_68(points)) for image, points in zip(images, marks.points)])
        out[start:start + len(chunk)] = session.run(None, {input_name: arcface_blob(crops)})[0]
    return out


# ---------------------------------------------------------------- entry point


def face_embeddings(
    frames: np.ndarray,
    boxes: np.ndarray | None = None,
    backend: str = "dlib",
    detector: str = "dlib",
) -> np.ndarray:
    """L2-normalised identity embedding of the face in each frame.

    frames: uint8 [T,H,W,3] RGB. boxes: float [T,4] face boxes (x1, y1, x2, y2), NaN rows
    = no face; None detects the largest face per frame with ``detector``. Returns float32
    [T,D] (dlib D = 128, arcface D = 512), NaN rows where there is no face.
    """
    if backend not in BACKENDS:
        raise UnknownNameError(f"Unknown face embedding {backend!r}; choose one of {', '.join(BACKENDS)}.")
    frames = check_frames(frames)
    if backend == "arcface":
        _arcface_session()  # fail on a missing package or weights before any detection
    else:
        _dlib_models()
    if boxes is None:
        from tfbench.face.landmarks import face_boxes

        boxes, _ = face_boxes(frames, detector)
    boxes = np.asarray(boxes, dtype=np.float32)
    if boxes.shape != (len(frames), 4):
        raise InputError(f"boxes must be [T,4] = [{len(frames)},4], got {list(boxes.shape)}")
    indices = np.flatnonzero(~np.isnan(boxes).any(axis=1))
    embeddings = np.full((len(frames), DIMENSIONS[backend]), np.nan, dtype=np.float32)
    if len(indices):
        compute = _dlib_embeddings if backend == "dlib" else _arcface_embeddings
        embeddings[indices] = l2_normalise(compute(frames, boxes, indices))
    return embeddings
