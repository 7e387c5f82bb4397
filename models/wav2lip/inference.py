"""The public inference procedure of Wav2Lip (``inference.py`` of Rudrabha/Wav2Lip), step by step.

Each function names the part of the public script it reproduces; docs/models/wav2lip.md
lists the steps and what differs. Frames are uint8 RGB here; the public script works on
BGR frames from OpenCV, so faces are flipped to BGR just before the network and back after
it (every other step is per channel, so the order does not matter there).
"""

from __future__ import annotations

import numpy as np

from tfbench.errors import FaceError, InputError
from tfbench.models.wav2lip.networks import FACE_SIZE, MEL_STEPS

#: ``--pads`` default of the public script: (top, bottom, left, right) pixels added to each box.
PADS = (0, 10, 0, 0)
#: Frames averaged by ``get_smoothened_boxes`` (``T=5``).
SMOOTH_WINDOW = 5
#: S3FD score a detection needs in the public detector (``sfd_detector.py``: ``x[-1] > 0.5``).
S3FD_THRESHOLD = 0.5
#: Mel frames per second of :func:`tfbench.io.features.log_mel` (16 kHz / hop 200).
MEL_FPS = 80.0


def mel_start(frame_index: int, num_mel: int, fps: float = 25.0) -> int:
    """First mel frame of video frame ``frame_index``: ``int(frame_index * 80 / fps)``, and at
    the end the last 16 mel frames (the public ``mel_chunks`` loop appends
    ``mel[:, len - 16:]`` once a window would run past the end, then stops)."""
    if num_mel < MEL_STEPS:
        raise InputError(f"Wav2Lip needs at least {MEL_STEPS} mel frames (0.2 s of audio), got {num_mel}")
    return min(int(frame_index * (MEL_FPS / fps)), num_mel - MEL_STEPS)


def mel_chunks(mel: np.ndarray, indices: np.ndarray, fps: float = 25.0) -> np.ndarray:
    """float32 ``[len(indices), 1, 80, 16]``: the network's audio input of each video frame.

    ``mel``: float32 ``[n, 80]`` from :func:`tfbench.io.features.log_mel` (time first)."""
    starts = [mel_start(int(index), len(mel), fps) for index in indices]
    return np.stack([mel[start:start + MEL_STEPS].T for start in starts])[:, None].astype(np.float32)


def padded_boxes(rects: np.ndarray, height: int, width: int, pads=PADS) -> np.ndarray:
    """``face_detect``'s padding: int64 ``[T, 4]`` (x1, y1, x2, y2) grown by ``pads``
    (top, bottom, left, right) and clipped to the frame. ``rects``: integer pixel boxes."""
    top, bottom, left, right = pads
    rects = np.asarray(rects, dtype=np.int64).reshape(-1, 4)
    return np.stack([np.maximum(0, rects[:, 0] - left), np.maximum(0, rects[:, 1] - top),
                     np.minimum(width, rects[:, 2] + right), np.minimum(height, rects[:, 3] + bottom)], 1)


def smooth_boxes(boxes: np.ndarray, window: int = SMOOTH_WINDOW) -> np.ndarray:
    """``get_smoothened_boxes``: box ``i`` becomes the mean of boxes ``i .. i+window-1``
    (the last ``window`` boxes near the end), written back in place into the integer array,
    so values are truncated and the tail windows read boxes already smoothed -- exactly as
    the public loop does. Returns a smoothed int64 copy ``[T, 4]``."""
    boxes = np.array(boxes, dtype=np.int64, copy=True)
    count = len(boxes)
    for i in range(count):
        chunk = boxes[count - window:] if i + window > count else boxes[i:i + window]
        boxes[i] = np.mean(chunk, axis=0)  # int assignment truncates, as in the public script
    return boxes


def rects_from_cached(boxes: np.ndarray) -> np.ndarray:
    """A prepared dataset's cached face boxes (float ``[T, 4]`` x1, y1, x2, y2 clip pixels)
    as the detector's integer rectangles: clipped at 0, truncated (``map(int, d)``)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if not np.all(np.isfinite(boxes)):
        raise FaceError("the cached face boxes have missing frames; Wav2Lip needs a face box in every frame")
    return np.clip(boxes, 0, None).astype(np.int64)


def detect_rects(frames: np.ndarray, device: str = "cpu") -> np.ndarray:
    """S3FD face rectangles, int64 ``[T, 4]`` (x1, y1, x2, y2), one per frame.

    The public ``get_detections_for_batch``: S3FD at full resolution, detections with
    score > 0.5 after NMS, the best one kept, clipped at 0 and truncated to int. A frame
    without a face raises FaceError (the public script raises "Face not detected!").
    """
    from tfbench.nets.s3fd import detect_faces, load_s3fd

    net = load_s3fd(device)
    rects = []
    for index, found in enumerate(detect_faces(net, np.ascontiguousarray(frames), conf_threshold=S3FD_THRESHOLD,
                                               scale=1.0, batch_size=1, device=device)):  # full-size frames: one at a time
        if not len(found):
            raise FaceError(f"Wav2Lip: no face detected in frame {index}; it needs a face in every frame")
        best = found[np.argmax(found[:, 4])]
        rects.append(np.clip(best[:4], 0, None).astype(np.int64))
    return np.stack(rects)


def face_boxes(rects: np.ndarray, height: int, width: int, smooth: bool = True) -> np.ndarray:
    """``face_detect`` after detection: pad, then smooth over 5 frames. int64 ``[T, 4]``."""
    boxes = padded_boxes(rects, height, width)
    if np.any(boxes[:, 2] <= boxes[:, 0]) or np.any(boxes[:, 3] <= boxes[:, 1]):
        raise FaceError("Wav2Lip: an empty face box (zero width or height inside the frame)")
    return smooth_boxes(boxes) if smooth else boxes


def network_input(frames: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """``datagen``: float32 ``[T, 6, 96, 96]`` BGR in [0, 1] -- channels 0-2 the face with its
    lower half (rows 48..95) zeroed, 3-5 the same face unmasked (the public script's
    reference is the frame itself). Faces are ``cv2.resize``d (bilinear) to 96 x 96."""
    import cv2

    faces = np.stack([cv2.resize(np.ascontiguousarray(frame[y1:y2, x1:x2]), (FACE_SIZE, FACE_SIZE))
                      for frame, (x1, y1, x2, y2) in zip(frames, boxes)])[..., ::-1]  # RGB -> BGR
    masked = faces.copy()
    masked[:, FACE_SIZE // 2:] = 0
    stacked = np.concatenate([masked, faces], axis=3) / 255.0
    return stacked.transpose(0, 3, 1, 2).astype(np.float32)


def paste_faces(frames: np.ndarray, predictions: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """``main``'s write-back: each prediction (float ``[T, 3, 96, 96]`` BGR in [0, 1]) times
    255, truncated to uint8, ``cv2.resize``d (bilinear) to its box and written over the box
    of a copy of the frame. Returns uint8 ``[T, H, W, 3]`` RGB."""
    import cv2

    out = np.array(frames, dtype=np.uint8, copy=True)
    faces = (predictions.transpose(0, 2, 3, 1)[..., ::-1] * 255.0).astype(np.uint8)  # BGR -> RGB
    for index, (face, (x1, y1, x2, y2)) in enumerate(zip(faces, boxes)):
        out[index, y1:y2, x1:x2] = cv2.resize(np.ascontiguousarray(face), (int(x2 - x1), int(y2 - y1)))
    return out
