"""`tfbench generate`: one user input -> a playable mp4 of the right length, with audio."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest
import soundfile
import torch
from typer.testing import CliRunner

from test_g4g import FRAMES, SR, _clip, small_overrides, synthetic_prepared
from tfbench.cli import app
from tfbench.errors import InputError
from tfbench.io.audio import read_audio
from tfbench.io.video import probe_video, read_video


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A synthetic face clip (30 frames), its audio as wav, a still image and a too-short wav."""
    folder = tmp_path_factory.mktemp("generate_inputs")
    dataset = synthetic_prepared(folder / "data", clips=1)
    frames, audio, landmarks = _clip(0)
    soundfile.write(folder / "speech.wav", audio, SR)
    soundfile.write(folder / "short.wav", audio[: SR // 2], SR)
    cv2.imwrite(str(folder / "face.png"), cv2.cvtColor(frames[0], cv2.COLOR_RGB2BGR))
    return {"folder": folder, "dataset": dataset, "video": dataset.clip_path(dataset.rows[0]),
            "landmarks": landmarks, "seconds": len(audio) / SR}


@pytest.fixture(scope="module")
def checkpoint(inputs, tmp_path_factory):
    from tfbench.models.g4g.trainer import G4GTrainer
    from tfbench.train.loop import train

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = train(lambda: G4GTrainer("tiny", inputs["dataset"], overrides=small_overrides(), echo=lambda _: None),
                       tmp_path_factory.mktemp("run"), steps=1, show_progress=False, echo=lambda _: None)
    finally:
        torch.set_num_threads(threads)
    return result.checkpoint


def _invoke(*args: str):
    return CliRunner().invoke(app, ["generate", *map(str, args)])


def test_static_from_an_image_has_the_audio_length(inputs, tmp_path):
    out = tmp_path / "static.mp4"
    result = _invoke("static", "--audio", inputs["folder"] / "speech.wav", "--image", inputs["folder"] / "face.png", "--out", out)
    assert result.exit_code == 0, result.output + repr(result.exception)
    info = probe_video(out)
    assert info.num_frames == FRAMES and info.has_audio and info.fps == pytest.approx(25.0)
    audio = read_audio(out)
    assert abs(len(audio) / SR - inputs["seconds"]) < 0.05
    frames = read_video(out).frames
    assert np.abs(frames.astype(int) - frames[-1].astype(int)).mean() < 1  # a still picture (codec noise only)


def test_g4g_from_a_video(inputs, checkpoint, tmp_path, monkeypatch):
    """Landmark detection is the face module's job (tested there); here it returns the clip's
    known landmarks, because dlib finds no face in the synthetic cartoon."""
    import tfbench.face.landmarks as landmarks_module

    class Found:
        points = inputs["landmarks"]

    monkeypatch.setattr(landmarks_module, "detect_landmarks", lambda frames, backend="dlib": Found())
    out = tmp_path / "g4g.mp4"
    result = _invoke("g4g", "--checkpoint", checkpoint, "--audio", inputs["folder"] / "speech.wav",
                     "--video", inputs["video"], "--out", out)
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "NOT CANONICAL" in result.output and "DEMO" in result.output
    info = probe_video(out)
    assert (info.num_frames, info.width, info.height, info.has_audio) == (FRAMES, 64, 64, True)
    # The same source through the same encoder: identical far from the mouth, different on it.
    truth = tmp_path / "truth.mp4"
    assert _invoke("ground_truth", "--audio", inputs["folder"] / "speech.wav", "--video", inputs["video"], "--out", truth).exit_code == 0
    source, generated = read_video(truth).frames.astype(int), read_video(out).frames.astype(int)
    assert np.abs(generated[:, :6] - source[:, :6]).mean() < 1
    assert np.abs(generated[:, 40:56, 24:40] - source[:, 40:56, 24:40]).mean() > 5


def test_audio_shorter_than_the_video_is_refused(inputs, checkpoint, tmp_path):
    out = tmp_path / "short.mp4"
    result = _invoke("ground_truth", "--audio", inputs["folder"] / "short.wav", "--video", inputs["video"], "--out", out)
    assert isinstance(result.exception, InputError) and "audio is 0.50 s but 30 frames" in str(result.exception)
    assert not out.exists()
    result = _invoke("static", "--audio", inputs["folder"] / "speech.wav", "--video", inputs["video"],
                     "--image", inputs["folder"] / "face.png", "--out", out)
    assert isinstance(result.exception, InputError) and "exactly one of --video FILE or --image FILE" in str(result.exception)


def test_cli_errors_exit_2_with_a_message(inputs, tmp_path):
    completed = subprocess.run(
        [sys.executable, "-c", "from tfbench.cli import main; main()", "generate", "g4h", "--audio",
         str(inputs["folder"] / "speech.wav"), "--image", str(inputs["folder"] / "face.png"), "--out", str(tmp_path / "x.mp4")],
        capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 2
    assert "Unknown model 'g4h'" in completed.stderr and "Did you mean 'g4g'" in completed.stderr
