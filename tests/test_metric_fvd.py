"""FVD: the TorchScript loader and call convention, windowing, statistics and distance."""

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F

from tfbench.errors import InputError, MissingWeightsError, TfbenchError
from tfbench.evaluate.clip import ClipInputs
from tfbench.evaluate.metrics import METRICS
from tfbench.evaluate.metrics.base import ClipScore
from tfbench.evaluate.metrics.fvd import frame_windows
from tfbench.testing import StyleGANVCall, install_random_file


class TinyI3D(torch.nn.Module):
    """Stand-in with the I3D TorchScript's call signature: uint8 [B,3,T,H,W] -> [B,400]."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv3d(3, 8, kernel_size=(3, 3, 3), stride=(2, 2, 2))
        self.head = torch.nn.Linear(8 * 7, 400)

    def forward(self, x: torch.Tensor, rescale: bool = False, resize: bool = False, return_features: bool = False) -> torch.Tensor:
        x = x.float()
        if rescale:
            x = x / 127.5 - 1.0
        if resize:
            x = F.interpolate(x, size=(x.shape[2], 16, 16), mode="trilinear", align_corners=False)
        x = torch.relu(self.conv(x))  # [B, 8, 7, 7, 7]: time kept apart so frame order matters
        logits = self.head(x.mean(dim=(3, 4)).flatten(1))
        return logits if return_features else logits.softmax(dim=1)


@pytest.fixture()
def tiny_i3d():
    torch.manual_seed(0)
    module = torch.jit.script(TinyI3D().eval())
    install_random_file("fvd_i3d", lambda path: torch.jit.save(module, str(path)))
    return module


def make_video(seed: int, frames: int = 35) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (frames, 24, 20, 3), dtype=np.uint8)


def test_windows_all_and_first():
    video = make_video(0, 35)
    windows = frame_windows(video, "all")
    assert windows.shape == (2, 16, 24, 20, 3)
    np.testing.assert_array_equal(windows[1, 0], video[16])
    assert frame_windows(video, "first").shape == (1, 16, 24, 20, 3)
    with pytest.raises(InputError, match="at least 16 frames"):
        frame_windows(video[:15], "all")
    with pytest.raises(InputError):
        METRICS.get("fvd")(windows="random")


def test_loaded_torchscript_is_called_like_stylegan_v(tiny_i3d):
    pred, gt = make_video(1), make_video(2)
    score = METRICS.get("fvd")(batch_size=1).score_clip(ClipInputs.from_arrays(pred, gt))
    with torch.no_grad():
        # StyleGAN-V: uint8 [B, C, T, H, W] with rescale=True, resize=True, return_features=True
        windows = torch.tensor(frame_windows(pred, "all")).permute(0, 4, 1, 2, 3)
        expected = tiny_i3d(windows, rescale=True, resize=True, return_features=True).numpy()
    assert score.state["pred_features"].shape == (2, 400)
    np.testing.assert_allclose(score.state["pred_features"], expected, rtol=1e-5, atol=1e-6)
    assert score.info == {"windows_pred": 2, "windows_gt": 2}


def test_aggregate_matches_stylegan_v_statistics_and_distance(capsys):
    rng = np.random.default_rng(3)
    dim = 16  # the aggregate works for any feature size; small keeps sqrtm fast
    clips = [
        ClipScore(values={}, state={
            "pred_features": rng.normal(0.3, 1.0, (n, dim)).astype(np.float32),
            "gt_features": rng.normal(0.0, 1.0, (n, dim)).astype(np.float32),
        })
        for n in (20, 30)
    ]

    def raw_stats(rows):  # StyleGAN-V FeatureStats: float64 raw sums, biased covariance
        rows = rows.astype(np.float64)
        mean = rows.sum(0) / len(rows)
        return mean, (rows.T @ rows) / len(rows) - np.outer(mean, mean)

    mu_g, sigma_g = raw_stats(np.concatenate([c.state["pred_features"] for c in clips]))
    mu_r, sigma_r = raw_stats(np.concatenate([c.state["gt_features"] for c in clips]))
    root = scipy.linalg.sqrtm(sigma_g @ sigma_r)
    expected = float(np.real(np.square(mu_g - mu_r).sum() + np.trace(sigma_g + sigma_r - 2 * root)))

    metric = METRICS.get("fvd")()
    result = metric.aggregate(clips)
    assert result["fvd"] == pytest.approx(expected, rel=1e-4)
    assert "only 50 video windows" in metric.aggregate_notes["warning"]
    assert "only 50 video windows" in capsys.readouterr().err
    assert metric.aggregate([]) == {"fvd": None}


def test_missing_or_broken_i3d_file_is_reported():
    video = make_video(4, 16)
    with pytest.raises(MissingWeightsError, match="tfbench weights download fvd_i3d"):
        METRICS.get("fvd")().score_clip(ClipInputs.from_arrays(video, video))
    install_random_file("fvd_i3d", lambda path: path.write_bytes(b"not a torchscript archive"))
    with pytest.raises(TfbenchError, match="not a TorchScript file"):
        METRICS.get("fvd")().score_clip(ClipInputs.from_arrays(video, video))


def test_runner_round_trip_keeps_streaming_state_and_records_the_warning(tiny_i3d, tmp_path):
    from tfbench.evaluate.runner import ClipJob, Runner, RunInfo, resolve_metrics
    from tfbench.io.video import write_video

    jobs = []
    for index in range(2):
        gt = make_video(10 + index, frames=20)
        pred = np.clip(gt.astype(int) + 12, 0, 255).astype(np.uint8)
        paths = {}
        for which, frames in (("pred", pred), ("gt", gt)):
            paths[which] = tmp_path / which / f"clip{index}.mp4"
            paths[which].parent.mkdir(exist_ok=True)
            write_video(paths[which], frames, fps=25.0, lossless=True)
        jobs.append(ClipJob(f"clip{index}", paths["pred"], paths["gt"]))
    info = RunInfo(model="test", dataset="synthetic", split="test", protocol="pred-vs-gt/v1")

    def run():
        metrics = resolve_metrics(["fvd", "psnr"], params={"fvd": {"windows": "first"}})
        return Runner(metrics, tmp_path / "out", info, progress=False).run(jobs)

    first = run()
    second = run()  # every score comes back from the cache, state arrays included
    assert second.scores_reused == 4 and second.scores_computed == 0
    fvd_first, fvd_second = first.record.metrics["fvd"], second.record.metrics["fvd"]
    assert fvd_first.value is not None and fvd_first.value == pytest.approx(fvd_second.value, rel=1e-12)
    assert fvd_first.params["windows"] == "first" and fvd_first.notes["windows_pred"] == 2
    assert "only 2 video windows" in fvd_first.notes["warning"]
    assert fvd_first.weights["fvd_i3d"]["canonical"] is False
    assert first.record.metrics["psnr"].value > 20


# ------------------------------------------------------------------ parity with cd-fvd (PyPI)


class StandInCore(torch.nn.Module):
    """A small random video network, [B,3,T,224,224] float in [-1,1] -> [B,400] (the real I3D
    takes ~7 s per window on a CI core, too slow for the unit suite; both sides get this one)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv3d(3, 16, kernel_size=(3, 7, 7), stride=(2, 8, 8))
        self.head = torch.nn.Linear(16 * 7, 400)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv(x))  # [B, 16, 7, 28, 28]
        return self.head(x.mean(dim=(3, 4)).flatten(1))


def test_fvd_equals_cd_fvd_on_the_same_network(tmp_path):
    """cd-fvd (PyPI, StyleGAN-V's statistics: biased covariance, scipy sqrtm) and tfbench on
    the same videos and the same random network: the same FVD. cd-fvd preprocesses with its
    own code (bilinear resize of each frame to 224, then 2x/255 - 1); tfbench calls the
    TorchScript with rescale=True, resize=True as StyleGAN-V does."""
    from cdfvd import fvd as cd_fvd
    from cdfvd.third_party.i3d.pytorch_i3d import InceptionI3d

    torch.manual_seed(0)
    core = StandInCore().eval()
    with torch.no_grad():
        core.head.weight.mul_(30.0)  # features of a few units, like I3D logits
    module = torch.jit.script(StyleGANVCall(core).eval())
    install_random_file("fvd_i3d", lambda path: torch.jit.save(module, str(path)))
    rng = np.random.default_rng(4)
    base = rng.integers(0, 200, (8, 16, 40, 48, 3))
    gt_windows = (base + rng.integers(0, 56, base.shape)).astype(np.uint8)
    pred_windows = np.clip(base * 0.7 + rng.integers(0, 100, base.shape), 0, 255).astype(np.uint8)

    metric = METRICS.get("fvd")(batch_size=4)
    clips = [ClipInputs.from_arrays(pred_windows[i:i + 2].reshape(32, 40, 48, 3), gt_windows[i:i + 2].reshape(32, 40, 48, 3))
             for i in range(0, 8, 2)]  # 4 clips x 2 windows of 16 consecutive frames
    ours = metric.aggregate(metric.score_clip(clip) for clip in clips)["fvd"]

    ckpt = tmp_path / "i3d.pt"
    torch.save(InceptionI3d(400, in_channels=3).state_dict(), ckpt)  # cd-fvd's loader needs an I3D file...
    reference = cd_fvd.cdfvd("i3d", ckpt_path=str(ckpt), device="cpu", n_fake="full")
    reference.model = core  # ...then scores with the same network as tfbench
    expected = float(reference.compute_fvd(gt_windows, pred_windows))
    assert expected > 1.0
    assert ours == pytest.approx(expected, rel=1e-6)  # measured: 50.034069 vs 50.034073
