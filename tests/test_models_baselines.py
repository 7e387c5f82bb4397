"""The Generator interface, the model registry and the two baselines."""

from __future__ import annotations

import numpy as np
import pytest

from tfbench.errors import CheckpointError, InputError, TfbenchError, UnknownNameError
from tfbench.models import MODELS, load_model
from tfbench.models.base import INPUTS, GenerationRequest, check_audio_covers


def _frames(count: int = 6) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(count, 8, 10, 3), dtype=np.uint8)


def test_registry_lists_the_models_and_suggests_close_names():
    assert {"ground_truth", "static", "g4g"} <= set(MODELS.names())
    with pytest.raises(UnknownNameError, match=r"Did you mean 'g4g'\?"):
        MODELS.get("g4gg")
    with pytest.raises(UnknownNameError, match="Known models: .*ground_truth"):
        load_model("no_such_model")


def test_every_model_declares_known_inputs():
    for name in MODELS.names():
        assert MODELS.get(name).needs <= INPUTS, name


def test_ground_truth_returns_the_source_frames():
    frames = _frames()
    model = load_model("ground_truth")
    out = model.generate(GenerationRequest(clip_id="c", num_frames=5, source_frames=frames))
    np.testing.assert_array_equal(out, frames[:5])
    assert out.dtype == np.uint8 and model.checkpoint_sha256 is None and model.canonical


def test_static_holds_the_reference_still():
    frames = _frames()
    out = load_model("static").generate(GenerationRequest(clip_id="c", num_frames=7, reference_image=frames[3]))
    assert out.shape == (7, 8, 10, 3) and out.dtype == np.uint8
    assert all(np.array_equal(frame, frames[3]) for frame in out)
    out[0, 0, 0] = 0  # a writable copy, not a view of the reference
    assert np.array_equal(frames[3], _frames()[3])


def test_missing_inputs_name_the_input():
    with pytest.raises(InputError, match="'ground_truth' needs source_video"):
        load_model("ground_truth").generate(GenerationRequest(clip_id="c", num_frames=3))
    with pytest.raises(InputError, match="'static' needs reference_image"):
        load_model("static").generate(GenerationRequest(clip_id="c", num_frames=3))
    with pytest.raises(InputError, match="source video has 6"):
        load_model("ground_truth").generate(GenerationRequest(clip_id="c", num_frames=9, source_frames=_frames()))


def test_baselines_take_no_checkpoint_and_train_nothing(tmp_path):
    with pytest.raises(CheckpointError, match="takes no checkpoint"):
        load_model("static", tmp_path / "x.pt")
    with pytest.raises(TfbenchError, match="nothing to train"):
        MODELS.get("ground_truth").trainer_class()


def test_audio_must_cover_the_video():
    request = GenerationRequest(clip_id="c", num_frames=50, fps=25.0, audio=np.zeros(16000, np.float32))
    with pytest.raises(InputError, match="audio is 1.00 s but 50 frames at 25 fps need 2.00 s"):
        check_audio_covers(request)
    request.audio = np.zeros(32000 - 300, np.float32)  # within half a frame (320 samples): accepted
    check_audio_covers(request)
    request.audio = np.zeros((2, 32000), np.float32)
    with pytest.raises(InputError, match="mono"):
        check_audio_covers(request)
