"""tfbench/train/data.py: cached memory-mapped clips, deterministic windows, local slices."""

from __future__ import annotations

import numpy as np
import pytest

from test_g4g import FRAMES, SIZE, synthetic_prepared
from tfbench.errors import InputError
from tfbench.train.data import SAMPLES_PER_FRAME, TrainingData


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return synthetic_prepared(tmp_path_factory.mktemp("train_data"), clips=2)


def test_clips_are_cached_resized_and_memory_mapped(dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("TFBENCH_HOME", str(tmp_path))
    data = TrainingData(dataset, size=32, min_frames=5)
    assert len(data) == 2 and not data.skipped and data.coeffs_3dmm_kind is None
    clip = data.clips[0]
    assert clip.frames.shape == (FRAMES, 32, 32, 3) and isinstance(clip.frames, np.memmap)
    row = dataset.split("train")[0]
    np.testing.assert_allclose(clip.landmarks, np.asarray(row["landmarks"], np.float32) * 32 / SIZE, rtol=1e-6)
    assert clip.coeffs_3dmm is None and clip.phonemes is None
    # Second open reads the cache (no decoding): the video file may even be gone.
    calls = []
    import tfbench.io.video

    monkeypatch.setattr(tfbench.io.video, "read_video", lambda *a, **k: calls.append(a))
    again = TrainingData(dataset, size=32)
    assert not calls and np.array_equal(again.clips[1].frames, data.clips[1].frames)


def test_windows_and_batches_are_deterministic_and_sliceable(dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("TFBENCH_HOME", str(tmp_path))
    data = TrainingData(dataset)
    full = data.batch(np.random.default_rng([0, 3]), 4, 5)
    assert full["frames"].shape == (4, 5, SIZE, SIZE, 3) and full["audio"].shape == (4, 5 * SAMPLES_PER_FRAME)
    assert full["landmarks"].shape == (4, 5, 68, 2) and "coeffs_3dmm" not in full
    again = data.batch(np.random.default_rng([0, 3]), 4, 5)
    assert all(np.array_equal(full[key], again[key]) for key in full)
    half = data.batch(np.random.default_rng([0, 3]), 4, 5, local=slice(2, 4))
    assert all(np.array_equal(full[key][2:4], half[key]) for key in half)
    index, start = int(full["clip_index"][0]), int(full["start"][0])
    clip = data.clips[index]
    assert np.array_equal(full["frames"][0], clip.frames[start:start + 5])
    assert np.array_equal(full["audio"][0], clip.audio[start * SAMPLES_PER_FRAME:(start + 5) * SAMPLES_PER_FRAME])
    with pytest.raises(InputError, match="no training clip has 999 frames"):
        data.sample_windows(np.random.default_rng(0), 1, 999)


def test_request_of_a_training_clip(dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("TFBENCH_HOME", str(tmp_path))
    data = TrainingData(dataset, size=32)
    request = data.request(0, frozenset({"source_video", "audio", "landmarks"}))
    assert request.source_frames.shape == (FRAMES, 32, 32, 3) and request.landmarks.shape == (FRAMES, 68, 2)
    assert request.reference_image is None and request.num_frames == FRAMES
