"""PSNR / SSIM / MSE: per-frame parity with scikit-image, reductions and edge cases."""

import numpy as np
import pytest
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio, structural_similarity

from tfbench.errors import InputError
from tfbench.evaluate.clip import ClipInputs
from tfbench.evaluate.metrics import METRICS
from tfbench.evaluate.metrics.mse import per_frame_mse
from tfbench.evaluate.metrics.psnr import frame_psnr
from tfbench.evaluate.metrics.ssim import per_frame_ssim


@pytest.fixture(scope="module")
def frame_pairs():
    """Ground truth with structure + predictions at several noise levels (uint8, 13 frames of 40x52)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:40, 0:52]
    base = np.stack([(xx * 4) % 256, (yy * 6) % 256, ((xx + yy) * 3) % 256], axis=-1)
    gt = np.stack([np.roll(base, t, axis=1) for t in range(13)]).astype(np.uint8)
    noise = rng.normal(0, 1, gt.shape) * np.linspace(0, 40, 13)[:, None, None, None]
    pred = np.clip(gt + noise, 0, 255).astype(np.uint8)
    pred[0] = gt[0]  # one identical frame
    return pred, gt


def test_per_frame_values_match_skimage(frame_pairs):
    pred, gt = frame_pairs
    mse = per_frame_mse(pred, gt)
    ssim = per_frame_ssim(pred, gt)
    psnr = frame_psnr(mse)
    for t in range(1, len(gt)):
        assert mse[t] == pytest.approx(mean_squared_error(gt[t], pred[t]), rel=1e-12)
        assert psnr[t] == pytest.approx(peak_signal_noise_ratio(gt[t], pred[t], data_range=255), rel=1e-12)
        assert ssim[t] == pytest.approx(structural_similarity(gt[t], pred[t], channel_axis=-1), abs=1e-6)
    assert ssim[0] == pytest.approx(1.0, abs=1e-12)
    assert np.all(np.diff(ssim[1:]) < 0), "SSIM must fall as noise grows"


def test_gaussian_window_matches_skimage_wang_et_al_settings(frame_pairs):
    pred, gt = frame_pairs
    ssim = per_frame_ssim(pred, gt, window="gaussian")
    for t in range(len(gt)):
        expected = structural_similarity(
            gt[t], pred[t], channel_axis=-1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255
        )
        assert ssim[t] == pytest.approx(expected, abs=1e-6)
    assert np.abs(ssim - per_frame_ssim(pred, gt)).max() > 1e-3  # a different protocol, visibly
    metric = METRICS.get("ssim")(window="gaussian")
    assert metric.protocol_params()["covariance"] == "population"
    with pytest.raises(InputError):
        METRICS.get("ssim")(window="box")


def test_clip_scores_are_means_over_frames(frame_pairs):
    pred, gt = frame_pairs
    clip = ClipInputs.from_arrays(pred, gt)
    mse_score = METRICS.get("mse")().score_clip(clip)
    ssim_score = METRICS.get("ssim")().score_clip(clip)
    psnr_score = METRICS.get("psnr")().score_clip(clip)
    expected_mse = np.mean([mean_squared_error(g, p) for g, p in zip(gt, pred)])
    expected_ssim = np.mean([structural_similarity(g, p, channel_axis=-1) for g, p in zip(gt, pred)])
    finite = [peak_signal_noise_ratio(g, p, data_range=255) for g, p in zip(gt[1:], pred[1:])]
    expected_psnr = (100.0 + sum(finite)) / len(gt)  # frame 0 is identical: capped at 100 dB
    assert mse_score.values["mse"] == pytest.approx(expected_mse, rel=1e-9)
    assert ssim_score.values["ssim"] == pytest.approx(expected_ssim, abs=1e-6)
    assert psnr_score.values["psnr"] == pytest.approx(expected_psnr, rel=1e-9)
    assert psnr_score.info == {"frames": 13, "frames_capped": 1, "frames_identical": 1}


def test_identical_clip_psnr_equals_the_cap_and_aggregate_is_clip_mean(frame_pairs):
    pred, gt = frame_pairs
    psnr = METRICS.get("psnr")(max_db=60.0)
    same = psnr.score_clip(ClipInputs.from_arrays(gt.copy(), gt))
    noisy = psnr.score_clip(ClipInputs.from_arrays(pred, gt))
    assert same.values["psnr"] == 60.0
    assert psnr.aggregate([same, noisy])["psnr"] == pytest.approx((60.0 + noisy.values["psnr"]) / 2)
    assert psnr.protocol_params()["max_db"] == 60.0
    with pytest.raises(InputError):
        METRICS.get("psnr")(max_db=0)
    with pytest.raises(InputError, match="unknown parameter.*maxdb"):  # a typo must not be ignored
        METRICS.get("psnr")(maxdb=80)


def test_tiny_frames_are_rejected_clearly():
    frames = np.zeros((2, 5, 5, 3), np.uint8)
    with pytest.raises(InputError, match="at least 7x7"):
        METRICS.get("ssim")().score_clip(ClipInputs.from_arrays(frames, frames))


def test_mse_is_shared_through_the_clip_memo(frame_pairs):
    pred, gt = frame_pairs
    clip = ClipInputs.from_arrays(pred, gt)
    METRICS.get("mse")().score_clip(clip)
    memoised = clip.memo("pixel/per_frame_mse", lambda: pytest.fail("MSE was computed twice"))
    assert memoised.shape == (13,)
