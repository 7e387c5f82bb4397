"""CPBD (Narvekar & Karam 2011): no-reference sharpness of the generated frames.

Two variants (``variant`` parameter; docs/metrics/cpbd.md has the measured gap):

- ``"pypi"`` (default): equal to the ``cpbd`` PyPI package (1.0.7, ``cpbd/compute.py``
  ``compute``), the implementation talking-face papers run: grey = PIL ``convert("L")``
  (what the package's own reader gives), scikit-image ``canny`` (σ = 1, default
  thresholds) for the edge blocks, the package's Octave-style Sobel (``cpbd/octave.py``
  ``sobel``: squared horizontal-gradient strength above 2·√mean, simple thinning) for
  the width edges, numpy's half-to-even rounding of angles and percents.
- ``"matlab"``: a port of the authors' MATLAB reference ``CPBD_compute.m`` (IVU Lab,
  ASU, 2009-2010), for comparison with numbers computed in MATLAB. Per frame:

1. grey = MATLAB ``rgb2gray`` of the uint8 RGB frame (rounded to uint8), as double;
2. edge blocks: 64×64 blocks holding more than 0.2% (threshold 0.002) Canny edge
   pixels (MATLAB ``edge(I, 'canny')``: σ = √2 derivative-of-Gaussian gradient,
   non-maximum suppression, thresholds from a 64-bin histogram — 70% of pixels are
   not edges, low = 0.4·high — and 8-connected hysteresis);
3. edge widths (Marziliano et al.) at vertical Sobel edges (MATLAB
   ``edge(I, 'Sobel', 2, 'vertical')`` with its thinning) whose gradient direction
   rounds to 0° or ±180°: pixels from the edge to the extrema on both sides, ≤ 101 each;
4. per edge: P(blur) = 1 − exp(−(w / w_JNB)^β), β = 3.6, w_JNB = 5 when the block's
   contrast (max − min) ≤ 50, else 3; P rounded to a percent;
5. CPBD = fraction of edges with P(blur) ≤ 63% (the cumulative probability at the
   just-noticeable-blur point). Frames without edge blocks score 0, as in MATLAB.

Mean over frames, then clips; higher is sharper. See docs/metrics/cpbd.md.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from tfbench.errors import InputError
from tfbench.evaluate.clip import ClipInputs
from tfbench.evaluate.metrics.base import ClipScore, Metric

BLOCK = 64
EDGE_BLOCK_THRESHOLD = 0.002
BETA = 3.6
JNB_LOW_CONTRAST, JNB_HIGH_CONTRAST, CONTRAST_LIMIT = 5.0, 3.0, 50.0
MAX_SIDE_STEPS = 100  # the reference's ``for k = 0:100`` loops
P_BLUR_PERCENT_LIMIT = 63
SOBEL_THRESHOLD = 2.0
CANNY_SIGMA = np.sqrt(2.0)
CANNY_NOT_EDGE_FRACTION = 0.7
CANNY_LOW_RATIO = 0.4
VARIANTS = ("pypi", "matlab")
#: MATLAB rgb2gray weights (first row of the inverse NTSC YIQ matrix).
RGB2GRAY = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])


def matlab_round(x: np.ndarray) -> np.ndarray:
    """MATLAB ``round``: halves away from zero (numpy rounds halves to even)."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def rgb2gray(frame: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2gray`` of uint8 ``[H,W,3]``: rounded grey levels, float64 ``[H,W]`` in 0..255."""
    return np.clip(matlab_round(frame.astype(np.float64) @ RGB2GRAY), 0, 255)


def pil_grey(frame: np.ndarray) -> np.ndarray:
    """PIL ``convert("L")`` of uint8 ``[H,W,3]`` RGB (ITU-R 601-2 luma, PIL's integer rounding), float64 ``[H,W]``."""
    from PIL import Image

    return np.asarray(Image.fromarray(np.ascontiguousarray(frame)).convert("L"), dtype=np.float64)


def octave_sobel_edges(image: np.ndarray) -> np.ndarray:
    """The ``cpbd`` package's Sobel edges (``cpbd/octave.py`` ``sobel``); bool ``[H,W]``.

    Squared horizontal gradient (Sobel/8, ``ndimage.convolve``, reflected borders); values
    at or below ``2 * sqrt(mean)`` of the squared map are zeroed (the package compares the
    squared strength with that threshold); an edge is a strict local maximum along the row
    or the column, zero-padded."""
    kernel = np.array([[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]]) / 8.0
    strength = np.square(ndimage.convolve(image, kernel.T))
    strength[strength <= 2 * np.sqrt(np.mean(strength))] = 0
    zero_column = np.zeros((strength.shape[0], 1))
    zero_row = np.zeros((1, strength.shape[1]))
    along_row = (strength > np.hstack([zero_column, strength[:, :-1]])) & (strength > np.hstack([strength[:, 1:], zero_column]))
    along_column = (strength > np.vstack([zero_row, strength[:-1, :]])) & (strength > np.vstack([strength[1:, :], zero_row]))
    return along_row | along_column


def sobel_vertical_edges(image: np.ndarray) -> np.ndarray:
    """MATLAB ``edge(image, 'Sobel', 2, 'vertical')`` (with thinning); bool ``[H,W]``."""
    kernel_x = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]) / 8.0
    grad_x = np.abs(ndimage.correlate(image, kernel_x, mode="nearest"))
    grad_y = np.abs(ndimage.correlate(image, kernel_x.T, mode="nearest"))
    strength = grad_x * grad_x  # 'vertical': kx = 1, ky = 0
    true_column = np.ones((image.shape[0], 1), bool)
    true_row = np.ones((1, image.shape[1]), bool)
    left_ok = np.hstack([true_column, strength[:, :-1] <= strength[:, 1:]])
    right_ok = np.hstack([strength[:, :-1] > strength[:, 1:], true_column])
    up_ok = np.vstack([true_row, strength[:-1, :] <= strength[1:, :]])
    down_ok = np.vstack([strength[:-1, :] > strength[1:, :], true_row])
    tolerance = 100 * np.finfo(np.float64).eps
    horizontal_max = (grad_x >= grad_y - tolerance) & left_ok & right_ok
    vertical_max = (grad_y >= -tolerance) & up_ok & down_ok  # ky = 0: always passes the direction test
    return (strength > SOBEL_THRESHOLD**2) & (horizontal_max | vertical_max)


def _smooth_gradient(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB canny's derivative-of-Gaussian gradient (σ = √2, replicate borders): (dx, dy)."""
    extent = int(np.ceil(4 * CANNY_SIGMA))
    x = np.arange(-extent, extent + 1, dtype=np.float64)
    gauss = np.exp(-(x**2) / (2 * CANNY_SIGMA**2)) / (np.sqrt(2 * np.pi) * CANNY_SIGMA)
    gauss /= gauss.sum()
    deriv = np.gradient(gauss)
    deriv[deriv > 0] /= deriv[deriv > 0].sum()
    deriv[deriv < 0] /= np.abs(deriv[deriv < 0].sum())
    dx = ndimage.convolve1d(ndimage.convolve1d(image, gauss, axis=0, mode="nearest"), deriv, axis=1, mode="nearest")
    dy = ndimage.convolve1d(ndimage.convolve1d(image, gauss, axis=1, mode="nearest"), deriv, axis=0, mode="nearest")
    return dx, dy


def canny_edges(image: np.ndarray) -> np.ndarray:
    """MATLAB ``edge(image, 'canny')`` with default thresholds and σ; bool ``[H,W]``."""
    dx, dy = _smooth_gradient(image)
    magnitude = np.hypot(dx, dy)
    if magnitude.max() > 0:
        magnitude = magnitude / magnitude.max()
    counts = np.bincount(np.floor(magnitude.ravel() * 63 + 0.5).astype(int), minlength=64)  # imhist(mag, 64)
    high = (np.argmax(np.cumsum(counts) > CANNY_NOT_EDGE_FRACTION * magnitude.size) + 1) / 64
    low = CANNY_LOW_RATIO * high

    # Non-maximum suppression on interior pixels, interpolating along the gradient
    # (the four direction sectors of MATLAB's cannyFindLocalMaxima, tested in order).
    m = magnitude
    c = m[1:-1, 1:-1]
    ix, iy = dx[1:-1, 1:-1], dy[1:-1, 1:-1]
    north, south, west, east = m[:-2, 1:-1], m[2:, 1:-1], m[1:-1, :-2], m[1:-1, 2:]
    north_east, north_west, south_east, south_west = m[:-2, 2:], m[:-2, :-2], m[2:, 2:], m[2:, :-2]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio_yx = np.abs(iy / ix)
        ratio_xy = np.abs(ix / iy)
    sectors = [
        (((iy <= 0) & (ix > -iy)) | ((iy >= 0) & (ix < -iy)), ratio_yx, (east, north_east), (west, south_west)),
        (((ix > 0) & (-iy >= ix)) | ((ix < 0) & (-iy <= ix)), ratio_xy, (north, north_east), (south, south_west)),
        (((ix <= 0) & (ix > iy)) | ((ix >= 0) & (ix < iy)), ratio_xy, (north, north_west), (south, south_east)),
        (((iy < 0) & (ix <= iy)) | ((iy > 0) & (ix >= iy)), ratio_yx, (west, north_west), (east, south_east)),
    ]
    local_max = np.zeros_like(c, dtype=bool)
    undecided = c > low
    for in_sector, ratio, (a1, b1), (a2, b2) in sectors:
        chosen = undecided & in_sector
        undecided &= ~in_sector
        with np.errstate(invalid="ignore"):  # inf/nan ratios only occur outside the sector
            neighbour1 = a1 * (1 - ratio) + b1 * ratio
            neighbour2 = a2 * (1 - ratio) + b2 * ratio
        local_max |= chosen & (c >= neighbour1) & (c >= neighbour2)
    weak = np.zeros_like(m, dtype=bool)
    weak[1:-1, 1:-1] = local_max

    # Hysteresis: keep the 8-connected weak-edge components touching a strong pixel.
    labels, _ = ndimage.label(weak, structure=np.ones((3, 3), bool))
    strong_labels = np.unique(labels[weak & (m > high)])
    return np.isin(labels, strong_labels[strong_labels > 0])


def _run_lengths(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: how many consecutive True start at j going right, and end at j going left.

    Array form of counting along each row: the distance from j to the next False at or
    after j (the row's end counts as False), and from the last False at or before j."""
    width = mask.shape[1]
    columns = np.arange(width, dtype=np.int64)
    next_false = np.where(mask, width, columns)
    next_false = np.minimum.accumulate(next_false[:, ::-1], axis=1)[:, ::-1]
    last_false = np.maximum.accumulate(np.where(mask, -1, columns), axis=1)
    return next_false - columns, columns - last_false


def edge_widths(edges: np.ndarray, image: np.ndarray, rounding=matlab_round, any_angle_guard: bool = False) -> np.ndarray:
    """Marziliano edge widths as the reference's ``marziliano_method``; float64 ``[H,W]``, 0 off-edge.

    Only interior edge pixels whose gradient angle rounds (to 45°, with ``rounding``) to 0°
    or ±180° are measured: on each side, 1 + the number of steps over which the row keeps
    rising (resp. falling) away from the edge, at most 100 steps. ``any_angle_guard``: no
    width at all when every angle is 0 (the ``cpbd`` package's ``if np.any(edge_angles)``).
    """
    height, width = image.shape
    grad_y, grad_x = np.gradient(image)
    with np.errstate(divide="ignore", invalid="ignore"):
        angle = np.where(grad_x != 0, np.arctan2(grad_y, grad_x) * (180 / np.pi), 0.0)
    if any_angle_guard and not np.any(angle):
        return np.zeros((height, width))
    quantized = 45 * rounding(angle / 45)
    measured = np.zeros_like(edges, dtype=bool)
    measured[1:-1, 1:-1] = edges[1:-1, 1:-1]
    rising = measured & (quantized == 0)
    falling = measured & ((quantized == 180) | (quantized == -180))

    step = image[:, 1:] - image[:, :-1]  # step[:, j] = A[:, j+1] - A[:, j]
    up_right, up_left = _run_lengths(step > 0)
    down_right, down_left = _run_lengths(step < 0)

    def side(runs: np.ndarray, offset: int, at: np.ndarray) -> np.ndarray:
        """min(runs[r, c + offset], 100) + 1 at the pixels ``at`` (runs outside the row count 0)."""
        rows, columns = np.nonzero(at)
        columns = columns + offset
        valid = (columns >= 0) & (columns < width - 1)
        counts = np.zeros(rows.size, np.int64)
        counts[valid] = runs[rows[valid], columns[valid]]
        return np.minimum(counts, MAX_SIDE_STEPS) + 1

    widths = np.zeros((height, width))
    widths[rising] = side(up_right, 1, rising) + side(up_left, -2, rising)
    widths[falling] = side(down_left, -2, falling) + side(down_right, 1, falling)
    return widths


def cpbd_of_grey(image: np.ndarray, variant: str = "pypi") -> float:
    """CPBD of one grey image (float64 ``[H,W]``, values 0..255, H and W ≥ 64); in [0, 1]."""
    if variant == "pypi":
        from skimage.feature import canny as skimage_canny

        canny = skimage_canny(image)
        widths = edge_widths(octave_sobel_edges(image), image, rounding=np.round, any_angle_guard=True)
        to_percent = np.round
    else:
        canny = canny_edges(image)
        widths = edge_widths(sobel_vertical_edges(image), image)
        to_percent = matlab_round
    # The 64x64 blocks as one array [rows, 64, cols, 64] (the reference loops over them;
    # only the count of edges at or below the limit matters, so their order does not).
    rows, cols = image.shape[0] // BLOCK, image.shape[1] // BLOCK

    def blocks(a: np.ndarray) -> np.ndarray:
        return a[:rows * BLOCK, :cols * BLOCK].reshape(rows, BLOCK, cols, BLOCK)

    edge_block = np.count_nonzero(blocks(canny), axis=(1, 3)) > BLOCK * BLOCK * EDGE_BLOCK_THRESHOLD
    grey_blocks = blocks(image)
    contrast = grey_blocks.max(axis=(1, 3)) - grey_blocks.min(axis=(1, 3))
    jnb = np.where(contrast <= CONTRAST_LIMIT, JNB_LOW_CONTRAST, JNB_HIGH_CONTRAST)
    block_widths = blocks(widths)
    measured = (block_widths != 0) & edge_block[:, None, :, None]
    jnb_per_edge = np.broadcast_to(jnb[:, None, :, None], block_widths.shape)[measured]
    p_blur = 1 - np.exp(-np.abs(block_widths[measured] / jnb_per_edge) ** BETA)
    edges = to_percent(p_blur * 100)
    if edges.size == 0:
        return 0.0
    return float(np.count_nonzero(edges <= P_BLUR_PERCENT_LIMIT) / edges.size)


def per_frame_cpbd(frames: np.ndarray, variant: str = "pypi") -> np.ndarray:
    """CPBD per frame, float64 ``[T]`` in [0, 1]; ``frames`` uint8 ``[T,H,W,3]`` RGB, H and W ≥ 64."""
    if variant not in VARIANTS:
        raise InputError(f"cpbd: unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    if min(frames.shape[1:3]) < BLOCK:
        raise InputError(f"cpbd: frames must be at least {BLOCK}x{BLOCK} pixels, got {frames.shape[2]}x{frames.shape[1]}")
    grey = pil_grey if variant == "pypi" else rgb2gray
    return np.array([cpbd_of_grey(grey(frame), variant) for frame in frames])


REFERENCES = {
    "pypi": "cpbd 1.0.7 (PyPI) cpbd/compute.py compute: PIL grey, skimage canny blocks, Octave-style Sobel widths",
    "matlab": "CPBD_compute.m (Narvekar & Karam): MATLAB rgb2gray, Canny edge blocks, vertical Sobel (threshold 2) widths",
}


class CPBD(Metric):
    """Sharpness of the generated frames (default: the ``cpbd`` PyPI package); higher is sharper, in [0, 1]."""

    id = "cpbd"
    version = "2"  # v1 was the MATLAB port (now variant="matlab")
    higher_is_better = True
    needs = frozenset({"pred"})

    def __init__(self, device: str = "cpu", variant: str = "pypi", **unknown) -> None:
        if unknown:
            raise InputError(f"cpbd: unknown parameter(s) {', '.join(sorted(unknown))}; it takes only variant")
        if variant not in VARIANTS:
            raise InputError(f"cpbd: unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
        super().__init__(device)
        self.variant = variant

    def score_clip(self, clip: ClipInputs) -> ClipScore:
        values = per_frame_cpbd(clip.frames("pred"), self.variant)
        return ClipScore(values={self.id: float(values.mean())}, info={"frames": int(values.size)})

    def protocol_params(self) -> dict:
        return {
            "variant": self.variant,
            "reference": REFERENCES[self.variant],
            "frames": "generated",
            "block": BLOCK,
            "edge_block_threshold": EDGE_BLOCK_THRESHOLD,
            "beta": BETA,
            "jnb_width": "5 if block contrast <= 50 else 3",
            "p_blur_limit_percent": P_BLUR_PERCENT_LIMIT,
        }
