"""Eye-normalised 68-point shapes: the pose-free frame shared by the 3DMM fit and AU estimates.

Each frame's landmarks are mapped by a similarity transform that puts the midpoint of
the two eye centres at the origin, the eye line on the +x axis and the inter-ocular
distance at 1. What remains is shape (identity + expression); the transform itself
(roll angle, inter-ocular distance in pixels, eye-midpoint position) is the 2D pose.
Landmark indices follow dlib/iBUG 68 (0-based).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LEFT_EYE = slice(36, 42)  # the subject's right eye, image left
RIGHT_EYE = slice(42, 48)


@dataclass(frozen=True)
class NormalisedShapes:
    """shapes: float64 [T,68,2] eye-normalised (unit = inter-ocular distance, y down);
    roll: float64 [T] radians (eye line angle, image y down, positive = clockwise on screen);
    interocular: float64 [T] pixels; centre: float64 [T,2] eye midpoint, pixels (x, y)."""

    shapes: np.ndarray
    roll: np.ndarray
    interocular: np.ndarray
    centre: np.ndarray


def normalise_shapes(landmarks: np.ndarray) -> NormalisedShapes:
    """Eye-normalise float [T,68,2] pixel landmarks (no NaN rows allowed)."""
    points = np.asarray(landmarks, dtype=np.float64)
    if points.ndim != 3 or points.shape[1:] != (68, 2):
        raise ValueError(f"landmarks must be [T,68,2], got {points.shape}")
    if not np.all(np.isfinite(points)):
        raise ValueError("landmarks contain NaN; fill or drop missing frames first")
    left = points[:, LEFT_EYE].mean(axis=1)
    right = points[:, RIGHT_EYE].mean(axis=1)
    centre = (left + right) / 2.0
    eye_vector = right - left
    interocular = np.maximum(np.linalg.norm(eye_vector, axis=1), 1e-6)
    roll = np.arctan2(eye_vector[:, 1], eye_vector[:, 0])
    cos, sin = np.cos(-roll), np.sin(-roll)
    rotation = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], axis=1)  # [T,2,2]
    shapes = np.einsum("tij,tkj->tki", rotation, points - centre[:, None]) / interocular[:, None, None]
    return NormalisedShapes(shapes=shapes, roll=roll, interocular=interocular, centre=centre)


def denormalise_shapes(shapes: np.ndarray, roll: np.ndarray, interocular: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Inverse of :func:`normalise_shapes`: float64 [T,68,2] pixel landmarks."""
    cos, sin = np.cos(roll), np.sin(roll)
    rotation = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], axis=1)
    scaled = np.asarray(shapes, dtype=np.float64) * np.asarray(interocular)[:, None, None]
    return np.einsum("tij,tkj->tki", rotation, scaled) + np.asarray(centre)[:, None]
