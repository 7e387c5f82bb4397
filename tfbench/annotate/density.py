"""Landmark density maps (CPNet §III-C), derived deterministically on access.

A density map is the landmark *dot image* (1.0 at each landmark's rounded pixel)
convolved with a 25×25 Gaussian kernel of σ = 5 (kernel normalised to sum 1, zero
padding outside the image). Each landmark therefore contributes unit mass, minus what
falls outside the image.

The maps are not stored in prepared datasets: at 256×256 float16 they cost 128 KiB per
frame, 9.4 MiB per 75-frame clip and ~280 GiB for 30k MEAD clips, while recomputing them
from the stored landmarks takes about a millisecond per frame (docs/datasets/schema.md).
"""

from __future__ import annotations

import numpy as np

KERNEL_SIZE = 25
SIGMA = 5.0


def gaussian_kernel(size: int = KERNEL_SIZE, sigma: float = SIGMA) -> np.ndarray:
    """float64 [size,size] Gaussian, centred, summing to 1."""
    offsets = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    line = np.exp(-(offsets**2) / (2.0 * sigma**2))
    kernel = np.outer(line, line)
    return kernel / kernel.sum()


def dot_image(points: np.ndarray, size: int) -> np.ndarray:
    """float32 [size,size] with 1.0 added at each point's rounded pixel.

    ``points``: float [K,2] pixel (x, y) in a ``size``×``size`` image. Points that are NaN
    or fall outside the image are dropped.
    """
    image = np.zeros((size, size), dtype=np.float32)
    valid = np.all(np.isfinite(points), axis=1)
    cols = np.rint(points[valid, 0]).astype(np.int64)
    rows = np.rint(points[valid, 1]).astype(np.int64)
    inside = (cols >= 0) & (cols < size) & (rows >= 0) & (rows < size)
    np.add.at(image, (rows[inside], cols[inside]), 1.0)
    return image


def density_maps(
    landmarks: np.ndarray,
    size: int = 256,
    source_size: int | None = None,
    kernel_size: int = KERNEL_SIZE,
    sigma: float = SIGMA,
) -> np.ndarray:
    """Density maps of a landmark sequence.

    landmarks: float [T,68,2] (or [68,2]) pixel (x, y) in a ``source_size`` square image
    (defaults to ``size``: the processed clip's own pixels). Points are rescaled by
    ``size / source_size`` before drawing.
    Returns float32 [T,size,size] (or [size,size]); each in-image landmark adds mass 1.
    """
    import cv2

    points = np.asarray(landmarks, dtype=np.float64)
    single = points.ndim == 2
    if single:
        points = points[None]
    if points.ndim != 3 or points.shape[-1] != 2:
        raise ValueError(f"landmarks must be [T,K,2] or [K,2], got shape {points.shape}")
    scale = size / float(source_size or size)
    offsets = np.arange(kernel_size, dtype=np.float64) - (kernel_size - 1) / 2.0
    line = np.exp(-(offsets**2) / (2.0 * sigma**2))
    line = (line / line.sum()).astype(np.float32)  # outer(line, line) == gaussian_kernel(): separable
    # The pixel grid maps centre-to-centre: x' = (x + 0.5) * scale - 0.5.
    scaled = (points + 0.5) * scale - 0.5
    maps = np.empty((len(points), size, size), dtype=np.float32)
    for index, frame_points in enumerate(scaled):
        maps[index] = cv2.sepFilter2D(
            dot_image(frame_points, size), cv2.CV_32F, line, line, borderType=cv2.BORDER_CONSTANT
        )
    return maps[0] if single else maps
