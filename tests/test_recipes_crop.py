"""The crop stage's working scale (recipes/crop.py): 1/k where it allows halving, and the
1/k resize is the k×k block mean, so source pixel x sits at x / k in the kept frame."""

import numpy as np
import pytest

from tfbench.recipes.base import ClipParams
from tfbench.recipes.crop import _rescale, working_scale

PARAMS = ClipParams(recipe="mead", recipe_version="1", size=256, crop_scale=1.8)


@pytest.mark.parametrize("face_side, expected", [(420.0, 1 / 2), (600.0, 1 / 3), (1000.0, 1 / 5)])
def test_small_working_scales_snap_to_one_over_k_not_below_the_needed_scale(face_side, expected):
    needed = 1.25 * PARAMS.size / (PARAMS.crop_scale * face_side)
    scale = working_scale(face_side, PARAMS)
    assert scale == pytest.approx(expected)
    assert needed <= scale < 2.25 * needed  # the crop keeps its pixels; memory grows at most 2.25×


def test_working_scales_above_one_half_stay_exact():
    face_side = 250.0  # needed 0.71: snapping would keep full frames (2× the memory)
    assert working_scale(face_side, PARAMS) == pytest.approx(1.25 * 256 / (1.8 * face_side))
    assert working_scale(100.0, PARAMS) == 1.0  # small faces: frames kept as they are


@pytest.mark.parametrize("height, width, factor", [(1080, 1920, 2), (361, 643, 3), (720, 1281, 2)])
def test_one_over_k_rescale_is_the_rounded_block_mean(height, width, factor):
    frame = np.random.default_rng(factor).integers(0, 256, (height, width, 3), dtype=np.uint8)
    kept = _rescale(frame, 1.0 / factor)
    rows, cols = height // factor, width // factor
    assert kept.shape == (rows, cols, 3)  # the last height % k rows and width % k columns are left out
    blocks = frame[: rows * factor, : cols * factor].reshape(rows, factor, cols, factor, 3).astype(np.float64)
    mean = blocks.mean(axis=(1, 3))
    assert np.abs(kept - mean).max() <= 0.5 + 1e-9
