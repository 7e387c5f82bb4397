"""tfbench's SyncNet scoring vs the reference (PyPI ``syncnet-python``, a packaged copy of
joonson/syncnet_python) on identical inputs and identical random weights.

The reference is run through its public API: ``SyncNetInstance.loadParameters`` on the
weights file tfbench uses, then ``evaluate(opt)`` on a folder of JPEG frames plus an
``audio.wav`` that ffmpeg extracted with the reference's own flags. tfbench reads the same
JPEGs and the same (AAC) audio through its own reader. Random weights give meaningless
but deterministic numbers, which is all parity needs.
"""

from __future__ import annotations

import subprocess
import types
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from tfbench.errors import CheckpointError, InputError, MissingWeightsError
from tfbench.nets import syncnet as syncnet_model
from tfbench.evaluate.syncnet import scoring
from tfbench.testing import install_random_weights, random_syncnet_state

FPS = 25
SAMPLE_RATE = 16000


def synthetic_face_frames(num_frames: int, size: int, seed: int = 0) -> np.ndarray:
    """uint8 [T,size,size,3] RGB: a face-like ellipse whose mouth opens and closes, plus noise."""
    rng = np.random.default_rng(seed)
    frames = []
    yy, xx = np.mgrid[0:size, 0:size]
    for t in range(num_frames):
        frame = np.zeros((size, size, 3), np.float32)
        frame[..., 0] = 90 + 60 * xx / size
        frame[..., 1] = 70 + 40 * yy / size
        frame[..., 2] = 60
        face = ((xx - size / 2) / (0.32 * size)) ** 2 + ((yy - size / 2) / (0.42 * size)) ** 2 < 1
        frame[face] = (200, 160, 140)
        opening = 0.02 + 0.06 * (0.5 + 0.5 * np.sin(2 * np.pi * t / 7.0))
        mouth = ((xx - size / 2) / (0.12 * size)) ** 2 + ((yy - 0.68 * size) / (opening * size)) ** 2 < 1
        frame[mouth] = (90, 30, 40)
        frame += rng.normal(0, 6, frame.shape)
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    return np.stack(frames)


def synthetic_speech(duration_s: float, seed: int = 0) -> np.ndarray:
    """float32 [N] 16 kHz: harmonic 'voice' with a syllable-rate envelope, plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration_s * SAMPLE_RATE)) / SAMPLE_RATE
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3.5 * t)
    voice = sum(np.sin(2 * np.pi * f0 * t) / k for k, f0 in enumerate((140, 280, 420, 900, 1800), 1))
    return (0.3 * envelope * voice / 2.3 + 0.01 * rng.normal(size=t.size)).astype(np.float32)


def write_aac(path: Path, audio: np.ndarray) -> Path:
    """Encode float audio to AAC (m4a) with ffmpeg, as a generated clip's sound would be."""
    raw = path.with_suffix(".f32")
    audio.astype("<f4").tofile(raw)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "f32le", "-ar", str(SAMPLE_RATE), "-ac", "1",
                    "-i", str(raw), "-c:a", "aac", "-b:a", "128k", str(path)], check=True)
    return path


def reference_folder(folder: Path, frames_bgr: list[np.ndarray], media_with_audio: Path) -> Path:
    """The reference's tmp_dir: ``%06d.jpg`` frames + ``audio.wav`` extracted with its ffmpeg flags.

    The wav is made by tfbench's pinned ffmpeg (imageio-ffmpeg): ffmpeg before 7 keeps the
    AAC end padding (up to ~1000 zero samples), see docs/metrics/lse.md.
    """
    from tfbench.io._ffmpeg import ffmpeg_exe

    folder.mkdir(parents=True, exist_ok=True)
    for index, frame in enumerate(frames_bgr, 1):
        cv2.imwrite(str(folder / f"{index:06d}.jpg"), frame)
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-i", str(media_with_audio), "-async", "1", "-ac", "1",
                    "-vn", "-acodec", "pcm_s16le", "-ar", "16000", str(folder / "audio.wav")], check=True)
    return folder


def run_reference(folder: Path, weights: Path, batch_size: int = 20) -> tuple[int, float, float]:
    """(offset, confidence, min distance) from the reference's ``SyncNetInstance.evaluate``."""
    from syncnet_python.SyncNetInstance import SyncNetInstance
    from syncnet_python.SyncNetModel import S

    instance = SyncNetInstance(net=S(), device="cpu")
    instance.loadParameters(str(weights))
    opt = types.SimpleNamespace(tmp_dir=str(folder), batch_size=batch_size, vshift=15)
    return instance.evaluate(opt)


def read_jpeg_folder_rgb(folder: Path) -> np.ndarray:
    return np.stack([cv2.imread(str(path))[:, :, ::-1] for path in sorted(folder.glob("*.jpg"))])


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """Weights file + reference results for two clips: audio longer / shorter than video."""
    from tfbench.io.audio import read_audio

    root = tmp_path_factory.mktemp("syncnet_parity")
    weights = root / "syncnet_v2.model"
    torch.save(random_syncnet_state(), weights)
    results = {}
    for name, num_frames, audio_s in (("audio_longer", 30, 1.37), ("audio_shorter", 32, 1.0)):
        frames = synthetic_face_frames(num_frames, 224, seed=len(name))
        m4a = write_aac(root / f"{name}.m4a", synthetic_speech(audio_s, seed=num_frames))
        folder = reference_folder(root / name, [frame[:, :, ::-1] for frame in frames], m4a)
        results[name] = {
            "reference": run_reference(folder, weights),
            "crops": read_jpeg_folder_rgb(folder),
            "audio": read_audio(m4a),
            "folder": folder,
        }
    return {"weights": weights, "clips": results}


@pytest.fixture
def tfbench_syncnet(case):
    install_random_weights("syncnet_v2", torch.load(case["weights"], weights_only=True))
    return syncnet_model.load_syncnet("cpu")


@pytest.mark.parametrize("name", ["audio_longer", "audio_shorter"])
def test_lse_matches_reference(case, tfbench_syncnet, name):
    clip = case["clips"][name]
    offset, confidence, distance = clip["reference"]
    ours = scoring.score_crops(tfbench_syncnet, clip["crops"], clip["audio"], batch_size=20)
    assert ours.av_offset == offset
    assert ours.lse_c == pytest.approx(confidence, rel=1e-4)
    assert ours.lse_d == pytest.approx(distance, rel=1e-4)
    assert ours.num_windows == scoring.num_sync_windows(len(clip["crops"]), len(clip["audio"]))


def test_batch_size_does_not_change_scores(case, tfbench_syncnet):
    clip = case["clips"]["audio_longer"]
    crops = clip["crops"][:14]
    batched = scoring.score_crops(tfbench_syncnet, crops, clip["audio"], batch_size=20)
    small = scoring.score_crops(tfbench_syncnet, crops, clip["audio"], batch_size=3)
    assert small.av_offset == batched.av_offset
    np.testing.assert_allclose(small.mean_distances, batched.mean_distances, rtol=1e-5)


def int16_like_ffmpeg(audio: np.ndarray) -> np.ndarray:
    """ffmpeg's float -> s16 conversion: lrintf(x * 32768), clipped."""
    return np.clip(np.rint(audio.astype(np.float32) * np.float32(32768)), -32768, 32767).astype(np.int16)


def test_audio_matches_the_reference_wav_sample_for_sample(case):
    """tfbench's float audio, scaled as ffmpeg scales it, is the reference's pcm_s16le wav."""
    from scipy.io import wavfile

    clip = case["clips"]["audio_longer"]
    _, reference_samples = wavfile.read(clip["folder"] / "audio.wav")
    assert reference_samples.dtype == np.int16
    np.testing.assert_array_equal(int16_like_ffmpeg(clip["audio"]), reference_samples)


def test_mfcc_equals_reference_mfcc_of_the_wav(case):
    import python_speech_features
    from scipy.io import wavfile

    clip = case["clips"]["audio_longer"]
    rate, reference_samples = wavfile.read(clip["folder"] / "audio.wav")
    reference = python_speech_features.mfcc(reference_samples, rate).T.astype(np.float32)
    np.testing.assert_array_equal(scoring.reference_mfcc(clip["audio"]), reference)


def test_mfcc_of_float_audio_would_differ(case):
    """Guards the int16 scaling: MFCC of [-1,1] floats is not what the reference computes."""
    import python_speech_features

    audio = case["clips"]["audio_longer"]["audio"]
    as_reference = scoring.reference_mfcc(audio)
    from_floats = python_speech_features.mfcc(audio, 16000).T
    assert np.abs(as_reference - from_floats).max() > 1.0


def test_window_count_follows_reference():
    assert scoring.num_sync_windows(30, 30 * 640) == 25
    assert scoring.num_sync_windows(30, 20 * 640 + 639) == 15
    assert scoring.num_sync_windows(5, 10 * 640) == 0


def test_too_short_clip_is_a_clear_error(tfbench_syncnet):
    crops = np.zeros((5, 224, 224, 3), np.uint8)
    with pytest.raises(InputError, match="too short"):
        scoring.score_crops(tfbench_syncnet, crops, np.zeros(16000, np.float32))


def test_wrong_crop_size_is_a_clear_error(tfbench_syncnet):
    with pytest.raises(InputError, match="224"):
        scoring.score_crops(tfbench_syncnet, np.zeros((10, 160, 160, 3), np.uint8), np.zeros(16000, np.float32))


def test_missing_weights_name_the_fix():
    with pytest.raises(MissingWeightsError, match="tfbench weights download syncnet_v2"):
        syncnet_model.load_syncnet("cpu")


def test_state_dict_without_num_batches_tracked_loads(tmp_path):
    """The published syncnet_v2.model predates BatchNorm's num_batches_tracked buffers."""
    state = {k: v for k, v in random_syncnet_state(1).items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "old.model"
    torch.save(state, path)
    net = syncnet_model.load_state_file(syncnet_model.SyncNet(), path)
    assert torch.equal(net.netcnnlip[0].weight, state["netcnnlip.0.weight"])
    assert torch.equal(net.netcnnaud[1].running_var, state["netcnnaud.1.running_var"])


def test_wrong_file_is_a_checkpoint_error(tmp_path):
    path = tmp_path / "other.model"
    torch.save({"conv.weight": torch.zeros(3)}, path)
    with pytest.raises(CheckpointError, match="does not match the SyncNet architecture"):
        syncnet_model.load_state_file(syncnet_model.SyncNet(), path)
