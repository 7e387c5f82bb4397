"""Landmark density maps (CPNet §III-C): 25×25 Gaussian, σ = 5, on the landmark dot image."""

import numpy as np
import pytest
from scipy import ndimage

from tfbench.annotate.density import density_maps, dot_image, gaussian_kernel


def test_kernel_is_normalised_25x25_sigma5():
    kernel = gaussian_kernel()
    assert kernel.shape == (25, 25)
    assert kernel.sum() == pytest.approx(1.0, rel=1e-12)
    assert np.unravel_index(kernel.argmax(), kernel.shape) == (12, 12)
    # ratio between the centre and a point 5 px away along x is exp(-1/2) for sigma 5
    assert kernel[12, 17] / kernel[12, 12] == pytest.approx(np.exp(-0.5), rel=1e-9)


def test_matches_independent_convolution_of_the_dot_image():
    rng = np.random.default_rng(0)
    points = rng.uniform(-10, 74, size=(3, 68, 2)).astype(np.float32)  # some fall outside
    maps = density_maps(points, size=64)
    assert maps.shape == (3, 64, 64) and maps.dtype == np.float32
    offsets = np.arange(25) - 12.0
    line = np.exp(-offsets**2 / 50.0)
    kernel = np.outer(line, line) / np.outer(line, line).sum()
    for frame, frame_points in zip(maps, points):
        reference = ndimage.convolve(dot_image(frame_points, 64).astype(np.float64), kernel, mode="constant", cval=0.0)
        np.testing.assert_allclose(frame, reference, rtol=1e-4, atol=1e-7)


def test_interior_point_has_unit_mass_and_peaks_at_its_pixel():
    maps = density_maps(np.array([[30.2, 20.7]]), size=64)
    assert maps.sum() == pytest.approx(1.0, rel=1e-5)
    assert np.unravel_index(maps.argmax(), maps.shape) == (21, 30)


def test_nan_points_are_dropped_and_rescaling_maps_pixel_centres():
    points = np.array([[[31.0, 33.0], [np.nan, np.nan]]])
    small = density_maps(points, size=32, source_size=64)
    assert small.sum() == pytest.approx(1.0, rel=1e-5)
    # (31 + 0.5) * 0.5 - 0.5 = 15.25 -> column 15; (33 + 0.5) * 0.5 - 0.5 = 16.25 -> row 16
    assert np.unravel_index(small[0].argmax(), small[0].shape) == (16, 15)
    near_edge = density_maps(np.array([[1.0, 1.0]]), size=32)
    assert 0.25 < near_edge.sum() < 0.5  # mass outside the image is lost (zero padding)


def test_bad_shape_is_rejected():
    with pytest.raises(ValueError, match=r"\[T,K,2\]"):
        density_maps(np.zeros((4, 68, 3)), size=32)
