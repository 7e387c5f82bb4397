"""CPBD: the default equals the ``cpbd`` PyPI package on identical real frames; the
``matlab`` variant: hand-checked widths and scores, and the vectorised steps against
literal ports of the MATLAB reference's loops (CPBD_compute.m, edge thinning, Canny NMS)."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from tfbench.errors import InputError
from tfbench.evaluate.clip import ClipInputs
from tfbench.evaluate.metrics import METRICS
from tfbench.evaluate.metrics.cpbd import (
    canny_edges,
    cpbd_of_grey,
    edge_widths,
    per_frame_cpbd,
    rgb2gray,
    sobel_vertical_edges,
)


def ramp_image(width: int, low: float = 0.0, high: float = 200.0) -> np.ndarray:
    """64x64 grey image: ``low`` left, a linear ramp over ``width`` pixels from column 30, ``high`` right."""
    row = np.full(64, high)
    row[:30] = low
    row[30:30 + width + 1] = np.round(np.linspace(low, high, width + 1))
    return np.tile(row, (64, 1))


def test_ramp_widths_are_measured_by_hand():
    # Ramp of 3 steps (0, 67, 133, 200): the thinned Sobel edge is column 32; the row
    # rises for 1 step on its left and stays flat on its right: width (1+1) + (0+1) = 3.
    image = ramp_image(3)
    edges = sobel_vertical_edges(image)
    widths = edge_widths(edges, image)
    assert set(np.flatnonzero(edges[1:-1].any(axis=0))) == {32}
    assert np.all(widths[1:-1, 32] == 3) and np.count_nonzero(widths) == 62


@pytest.mark.parametrize(
    "ramp, low, expected",
    [
        (1, 0, 1.0),  # width 2, contrast 200: P(blur) 23% <= 63%: sharp
        (3, 0, 1.0),  # width 3 = JNB width: P(blur) 63.2% rounds to 63%: still sharp
        (4, 0, 0.0),  # width 4, contrast 200: P(blur) 94%: blurred
        (4, 160, 1.0),  # width 4, contrast 40 (JNB 5): P(blur) 36%: sharp
    ],
)
def test_single_edge_scores(ramp, low, expected):
    assert cpbd_of_grey(ramp_image(ramp, low=low, high=200.0), "matlab") == expected


def test_flat_frame_has_no_edges_and_scores_zero_like_matlab():
    assert cpbd_of_grey(np.full((64, 64), 90.0), "matlab") == 0.0
    assert cpbd_of_grey(np.full((64, 64), 90.0), "pypi") == 0.0


def test_blur_lowers_cpbd_monotonically():
    rng = np.random.default_rng(0)
    texture = np.round(gaussian_filter(rng.uniform(0, 255, (128, 128)), 0.6))  # edges of every contrast
    for variant in ("matlab", "pypi"):
        scores = [cpbd_of_grey(np.round(gaussian_filter(texture, sigma)), variant) for sigma in (0.01, 0.6, 1.0, 2.0)]
        assert scores[0] > 0.8 and scores[-1] < 0.3
        assert all(a > b for a, b in zip(scores, scores[1:])), (variant, scores)


def test_rgb2gray_matches_matlab_rounding():
    frame = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]]], np.uint8)
    # 0.2989*255 = 76.2, 0.5870*255 = 149.7, 0.1140*255 = 29.1, 10*0.2989+20*0.5870+30*0.1140 = 18.15
    np.testing.assert_array_equal(rgb2gray(frame), [[76, 150, 29, 18]])


# ------------------------------------------------------------------ literal ports, small images


def literal_marziliano(edges, image):
    """Line-by-line port of the reference's marziliano_method (1-based loops kept)."""
    M, N = image.shape
    width_map = np.zeros((M, N))
    Gy, Gx = np.gradient(image)
    angle = np.zeros((M, N))
    for m in range(M):
        for n in range(N):
            if Gx[m, n] != 0:
                angle[m, n] = np.degrees(np.arctan2(Gy[m, n], Gx[m, n]))
    q = 45 * np.sign(angle / 45) * np.floor(np.abs(angle / 45) + 0.5)
    A = lambda m, n: image[m - 1, n - 1]  # noqa: E731  (1-based access as in MATLAB)
    for m in range(2, M):
        for n in range(2, N):
            if not edges[m - 1, n - 1]:
                continue
            if q[m - 1, n - 1] in (180, -180):
                for k in range(101):
                    if n - 2 - k <= 0 or A(m, n - 2 - k) - A(m, n - 1 - k) <= 0:
                        break
                side1 = k + 1
                for k in range(101):
                    if n + 2 + k > N or A(m, n + 2 + k) - A(m, n + 1 + k) >= 0:
                        break
                width_map[m - 1, n - 1] = side1 + k + 1
            if q[m - 1, n - 1] == 0:
                for k in range(101):
                    if n + 2 + k > N or A(m, n + 2 + k) - A(m, n + 1 + k) <= 0:
                        break
                side1 = k + 1
                for k in range(101):
                    if n - 2 - k <= 0 or A(m, n - 2 - k) - A(m, n - 1 - k) >= 0:
                        break
                width_map[m - 1, n - 1] = side1 + k + 1
    return width_map


def literal_sobel_vertical(image):
    """MATLAB edge(I,'Sobel',2,'vertical'): gradients + the per-pixel thinning rule."""
    M, N = image.shape
    padded = np.pad(image, 1, mode="edge")
    bx = np.zeros((M, N))
    by = np.zeros((M, N))
    kx_mask = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]]) / 8
    for r in range(M):
        for c in range(N):
            window = padded[r:r + 3, c:c + 3]
            bx[r, c] = abs((window * kx_mask).sum())
            by[r, c] = abs((window * kx_mask.T).sum())
    b = bx * bx
    e = np.zeros((M, N), bool)
    for r in range(M):
        for c in range(N):
            b1 = True if c == 0 else b[r, c - 1] <= b[r, c]
            b2 = True if c == N - 1 else b[r, c] > b[r, c + 1]
            b3 = True if r == 0 else b[r - 1, c] <= b[r, c]
            b4 = True if r == M - 1 else b[r, c] > b[r + 1, c]
            e[r, c] = b[r, c] > 4 and ((bx[r, c] >= by[r, c] - 100 * np.finfo(float).eps and b1 and b2) or (b3 and b4))
    return e


@pytest.fixture(scope="module")
def small_images():
    rng = np.random.default_rng(5)
    images = [np.round(gaussian_filter(rng.uniform(0, 255, (24, 40)), s)) for s in (0.7, 1.5)]
    images.append(np.kron(rng.integers(0, 2, (3, 5)), np.ones((8, 8))) * 180.0 + 30)
    return images


def test_widths_match_literal_reference_loops(small_images):
    rng = np.random.default_rng(6)
    for image in small_images:
        edges = rng.random(image.shape) < 0.3
        np.testing.assert_array_equal(edge_widths(edges, image), literal_marziliano(edges, image))
        sobel = sobel_vertical_edges(image)
        np.testing.assert_array_equal(sobel, literal_sobel_vertical(image))
        assert sobel.any()


def literal_canny_local_maxima(ix, iy, mag, low):
    """Port of MATLAB's cannyFindLocalMaxima loop (portable version), 0-based."""
    M, N = mag.shape
    E = np.zeros((M, N), bool)
    for r in range(1, M - 1):
        for c in range(1, N - 1):
            g, x, y = mag[r, c], ix[r, c], iy[r, c]
            if not g > low:
                continue
            if (y <= 0 and x > -y) or (y >= 0 and x < -y):
                d = abs(y / x)
                g1 = mag[r, c + 1] * (1 - d) + mag[r - 1, c + 1] * d
                g2 = mag[r, c - 1] * (1 - d) + mag[r + 1, c - 1] * d
            elif (x > 0 and -y >= x) or (x < 0 and -y <= x):
                d = abs(x / y)
                g1 = mag[r - 1, c] * (1 - d) + mag[r - 1, c + 1] * d
                g2 = mag[r + 1, c] * (1 - d) + mag[r + 1, c - 1] * d
            elif (x <= 0 and x > y) or (x >= 0 and x < y):
                d = abs(x / y)
                g1 = mag[r - 1, c] * (1 - d) + mag[r - 1, c - 1] * d
                g2 = mag[r + 1, c] * (1 - d) + mag[r + 1, c + 1] * d
            elif (y < 0 and x <= y) or (y > 0 and x >= y):
                d = abs(y / x)
                g1 = mag[r, c - 1] * (1 - d) + mag[r - 1, c - 1] * d
                g2 = mag[r, c + 1] * (1 - d) + mag[r + 1, c + 1] * d
            else:
                continue
            E[r, c] = g >= g1 and g >= g2
    return E


def test_canny_non_maximum_suppression_matches_literal_loop(small_images, monkeypatch):
    from scipy import ndimage

    from tfbench.evaluate.metrics import cpbd

    captured = {}
    real_label = ndimage.label

    def spy_label(weak, structure):  # the weak-edge map handed to hysteresis
        captured["weak"] = weak.copy()
        return real_label(weak, structure=structure)

    monkeypatch.setattr(cpbd.ndimage, "label", spy_label)
    for image in small_images:
        edges = canny_edges(image)
        dx, dy = cpbd._smooth_gradient(image)
        mag = np.hypot(dx, dy)
        mag = mag / mag.max()
        counts = np.bincount(np.floor(mag.ravel() * 63 + 0.5).astype(int), minlength=64)
        high = (np.flatnonzero(np.cumsum(counts) > 0.7 * mag.size)[0] + 1) / 64
        expected_weak = literal_canny_local_maxima(dx, dy, mag, 0.4 * high)
        np.testing.assert_array_equal(captured["weak"], expected_weak)
        assert edges.any() and not (edges & ~expected_weak).any()  # hysteresis only removes pixels


def test_canny_finds_a_thin_closed_outline():
    image = np.full((64, 64), 40.0)
    image[16:48, 16:48] = 200.0
    edges = canny_edges(image)
    rows, cols = np.nonzero(edges)
    assert edges.sum() > 100  # the square's outline
    assert rows.min() >= 13 and rows.max() <= 50 and cols.min() >= 13 and cols.max() <= 50
    assert not edges[24:40, 24:40].any() and not edges[:8].any()  # nothing inside or far outside


def test_metric_scores_generated_frames_only():
    sharp = np.stack([ramp_image(1)] * 3, axis=-1).astype(np.uint8)
    blurred = np.stack([ramp_image(4)] * 3, axis=-1).astype(np.uint8)
    metric = METRICS.get("cpbd")(variant="matlab")
    assert metric.needs == frozenset({"pred"})
    score = metric.score_clip(ClipInputs.from_arrays(np.stack([sharp, blurred, sharp])))
    assert score.values["cpbd"] == pytest.approx(2 / 3)
    np.testing.assert_array_equal(per_frame_cpbd(np.stack([sharp, blurred]), "matlab"), [1.0, 0.0])
    with pytest.raises(InputError, match="at least 64x64"):
        per_frame_cpbd(np.zeros((1, 32, 80, 3), np.uint8))


# ------------------------------------------------------------------ default = the PyPI package


def pypi_cpbd():
    """The ``cpbd`` package (1.0.7). Its module imports ``scipy.ndimage.imread`` (removed in
    SciPy 1.2) for its command-line reader only: a stub lets ``cpbd.compute`` import."""
    import scipy.ndimage

    if not hasattr(scipy.ndimage, "imread"):
        scipy.ndimage.imread = None
    import cpbd

    return cpbd


def test_default_equals_the_pypi_package_on_real_frames():
    """Real talking-face frames (the bundled sample) and a blurred copy: tfbench's default
    equals cpbd.compute on the same grey frames; the MATLAB variant differs by >5 %."""
    from pathlib import Path

    import cv2

    import tfbench
    from tfbench.evaluate.metrics.cpbd import pil_grey
    from tfbench.io.video import read_video

    video = Path(tfbench.__file__).parent / "sample_raw/W001/video/front/happy/level_2/001.mp4"
    frames = read_video(video).frames[::25]  # 3 frames, 256x256
    blurred = np.stack([cv2.GaussianBlur(frame, (0, 0), 1.5) for frame in frames])
    package = pypi_cpbd()
    for clip in (frames, blurred):
        expected = np.array([package.compute(pil_grey(frame)) for frame in clip])
        np.testing.assert_allclose(per_frame_cpbd(clip), expected, rtol=0, atol=1e-12)
        metric = METRICS.get("cpbd")()
        assert metric.protocol_params()["variant"] == "pypi"
        assert metric.score_clip(ClipInputs.from_arrays(clip)).values["cpbd"] == pytest.approx(expected.mean(), abs=1e-12)
    sharp = np.array([package.compute(pil_grey(frame)) for frame in frames]).mean()
    assert abs(per_frame_cpbd(frames, "matlab").mean() - sharp) / sharp > 0.05  # the variants really differ


def test_pil_grey_is_what_the_package_reader_gives():
    from PIL import Image

    from tfbench.evaluate.metrics.cpbd import pil_grey

    frame = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    np.testing.assert_array_equal(pil_grey(frame), np.asarray(Image.fromarray(frame).convert("L")))
    with pytest.raises(InputError, match="unknown variant"):
        METRICS.get("cpbd")(variant="canny")
