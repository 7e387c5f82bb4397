"""FID: network parity with pytorch-fid (same random weights), statistics and distance parity."""

import numpy as np
import pytest
import torch
from pytorch_fid import inception as pytorch_fid_inception
from pytorch_fid.fid_score import calculate_frechet_distance

from tfbench.errors import MissingWeightsError
from tfbench.evaluate.clip import ClipInputs
from tfbench.evaluate.metrics import METRICS
from tfbench.evaluate.metrics.base import ClipScore
from tfbench.evaluate.metrics.fid import FeatureStats, frechet_distance
from tfbench.testing import install_random_weights, random_fid_state


def test_features_match_pytorch_fid(monkeypatch):
    state = random_fid_state()
    install_random_weights("fid_inception", state)
    monkeypatch.setattr(pytorch_fid_inception, "load_state_dict_from_url", lambda *args, **kwargs: state)
    reference = pytorch_fid_inception.InceptionV3([pytorch_fid_inception.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()

    rng = np.random.default_rng(0)
    frames = np.empty((3, 64, 48, 3), np.uint8)
    frames[0] = rng.integers(0, 256, (64, 48, 3))
    frames[1] = np.linspace(0, 255, 48)[None, :, None]  # horizontal ramp
    frames[2] = 0
    frames[2, :, 24:, 1] = 255  # black | green halves
    ours = METRICS.get("fid")(batch_size=2).features(frames)
    with torch.no_grad():
        expected = reference(torch.tensor(frames).permute(0, 3, 1, 2).float() / 255.0)[0].flatten(1).numpy()
    assert ours.shape == (3, 2048) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    assert np.abs(ours[0] - ours[1]).max() > 0.1 * np.abs(ours).max()  # features depend on the image

    score = METRICS.get("fid")().score_clip(ClipInputs.from_arrays(frames[:1], frames[2:]))
    np.testing.assert_allclose(score.state["pred_features"], ours[:1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(score.state["gt_features"], ours[2:], rtol=1e-5, atol=1e-6)
    assert score.values == {} and score.info == {"frames_pred": 1, "frames_gt": 1}


def test_streaming_statistics_equal_numpy():
    rng = np.random.default_rng(1)
    rows = rng.normal(3.0, 2.0, (50, 6)) + rng.normal(0, 1, 6)
    stats = FeatureStats()
    for block in np.split(rows, [7, 8, 30]):  # uneven blocks, one of a single row
        stats.add(block)
    np.testing.assert_allclose(stats.mean, rows.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(stats.covariance(unbiased=True), np.cov(rows, rowvar=False), rtol=1e-10, atol=1e-12)
    centred = rows - rows.mean(axis=0)
    np.testing.assert_allclose(stats.covariance(unbiased=False), centred.T @ centred / 50, rtol=1e-10, atol=1e-12)


def test_aggregate_equals_pytorch_fid_on_all_frames():
    rng = np.random.default_rng(2)
    dim = 8
    clips = [
        ClipScore(values={}, state={
            "pred_features": rng.normal(0.5, 1.0, (n, dim)).astype(np.float32),
            "gt_features": rng.normal(0.0, 1.2, (n, dim)).astype(np.float32),
        })
        for n in (5, 9, 12)
    ]
    pred = np.concatenate([c.state["pred_features"] for c in clips]).astype(np.float64)
    gt = np.concatenate([c.state["gt_features"] for c in clips]).astype(np.float64)
    expected = calculate_frechet_distance(pred.mean(0), np.cov(pred, rowvar=False), gt.mean(0), np.cov(gt, rowvar=False))
    metric = METRICS.get("fid")()
    result = metric.aggregate(iter(clips))
    assert result["fid"] == pytest.approx(expected, rel=1e-6)
    assert expected > 0.1
    assert metric.aggregate_notes["frames_pred"] == 26 and "warning" in metric.aggregate_notes
    assert metric.aggregate([]) == {"fid": None}


def test_frechet_distance_matches_pytorch_fid_on_near_singular_covariances():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(4, 10))  # rank-4 covariances of 10-d features
    b = rng.normal(size=(4, 10))
    sigma1, sigma2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    mu1, mu2 = a.mean(0), b.mean(0)
    assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(
        calculate_frechet_distance(mu1, sigma1, mu2, sigma2), rel=1e-6
    )
    assert frechet_distance(mu1, sigma1, mu1, sigma1) == pytest.approx(0.0, abs=1e-5)


def test_missing_inception_names_the_fix():
    frames = np.zeros((1, 32, 32, 3), np.uint8)
    with pytest.raises(MissingWeightsError, match="tfbench weights import fid_inception"):
        METRICS.get("fid")().score_clip(ClipInputs.from_arrays(frames, frames))
