"""`tfbench evaluate --fps native`: every decoded frame, no resampling, recorded in the result."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tfbench.errors import InputError
from tfbench.evaluate.clip import ClipInputs
from tfbench.evaluate.metrics.psnr import PSNR
from tfbench.evaluate.runner import ClipJob, Runner, RunInfo
from tfbench.io.video import read_video, write_video


def _video(seed: int, frames: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (frames, 32, 32, 3), dtype=np.uint8)


def test_native_rate_keeps_every_frame(tmp_path):
    gt = write_video(tmp_path / "gt.mp4", _video(0, 15), fps=30.0, lossless=True)  # 0.5 s at 30 fps
    pred = write_video(tmp_path / "pred.mp4", _video(1, 15), fps=30.0, lossless=True)
    resampled = ClipInputs.from_files("c", pred, gt)
    assert resampled.frames("gt").shape[0] == 12 and resampled.frame_rate == 25.0
    native = ClipInputs.from_files("c", pred, gt, fps=None)
    np.testing.assert_array_equal(native.frames("gt"), read_video(gt, fps=None).frames)
    assert native.frames("pred").shape[0] == 15 and native.frame_rate == pytest.approx(30.0)
    assert native.notes == {"native_fps": pytest.approx(30.0)}


def test_native_rate_refuses_videos_at_different_rates(tmp_path):
    gt = write_video(tmp_path / "gt.mp4", _video(0, 15), fps=30.0, lossless=True)
    pred = write_video(tmp_path / "pred.mp4", _video(1, 12), fps=25.0, lossless=True)
    with pytest.raises(InputError, match="native frame rates differ .*--fps 25"):
        ClipInputs.from_files("c", pred, gt, fps=None).frames("pred")


def test_runner_and_cli_record_native(tmp_path):
    from tfbench.commands.evaluate import parse_fps

    assert parse_fps("native") == "native" and parse_fps("30") == 30.0
    with pytest.raises(InputError, match="positive number or 'native'"):
        parse_fps("fast")
    gt = write_video(tmp_path / "gt" / "a.mp4", _video(0, 15), fps=30.0, lossless=True)
    pred = write_video(tmp_path / "pred" / "a.mp4", _video(1, 15), fps=30.0, lossless=True)
    info = RunInfo(model="m", dataset="d", split="test", protocol="pred-vs-gt/v1")
    summary = Runner([PSNR()], tmp_path / "out", info, fps="native", progress=False).run([ClipJob("a", pred, gt)])
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["metrics"]["psnr"]["params"]["evaluator"] == {"fps": "native"}
    frames_p, frames_g = read_video(pred, fps=None).frames, read_video(gt, fps=None).frames
    mse = ((frames_p.astype(float) - frames_g.astype(float)) ** 2).reshape(15, -1).mean(axis=1)
    assert summary.record.metrics["psnr"].value == pytest.approx(np.mean(10 * np.log10(255.0**2 / mse)), rel=1e-9)
