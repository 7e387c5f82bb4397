"""`tfbench prepare mead` end to end on a tiny generated MEAD tree with one broken clip of
every kind: schema, processed clips, caches, failures, CLI."""

import json
import subprocess
import sys

import numpy as np
import pytest

from _fixtures_raw import add_mead_bad_clips, mead_tree


@pytest.fixture(scope="module")
def mead_run(tmp_path_factory):
    """(raw dir, out dir, expected failures, CLI output) of one `tfbench prepare mead` run."""
    from typer.testing import CliRunner

    from tfbench.cli import app

    raw = mead_tree(tmp_path_factory.mktemp("mead_raw"))
    expected = add_mead_bad_clips(raw)
    out = tmp_path_factory.mktemp("mead_out")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TFBENCH_HOME", str(tmp_path_factory.mktemp("home")))
        result = CliRunner().invoke(app, ["prepare", "mead", "--raw-dir", str(raw), "--out", str(out),
                                          "--size", "128", "--test-speakers", "M003"])
    assert result.exit_code == 0, result.output
    return raw, out, expected, result.output


@pytest.fixture(scope="module")
def mead_dataset(mead_run):
    from tfbench.data import open_prepared

    return open_prepared(mead_run[1])


def test_every_broken_clip_is_a_failure_with_its_reason(mead_run, mead_dataset):
    _raw, out, expected, output = mead_run
    failures = {f["clip_id"]: f for f in mead_dataset.failures()}
    assert set(failures) == set(expected)
    for clip_id, reason in expected.items():
        assert failures[clip_id]["reason"].startswith(reason), failures[clip_id]
        assert failures[clip_id]["video"].endswith(".mp4")  # failures keep the absolute path to look at
        assert not (out / "clips" / f"{clip_id}.mp4").exists()
    assert "6 failures" in output and "fingerprint:" in output


def test_splits_by_speaker_and_labels(mead_dataset):
    assert mead_dataset.splits == ["train", "test"]
    train, test = mead_dataset.split("train"), mead_dataset.split("test")
    assert sorted(train["clip_id"]) == ["W011_front_happy_level_2_001", "W011_front_neutral_level_1_001"]
    assert sorted(test["clip_id"]) == ["M003_front_happy_level_2_001", "M003_front_neutral_level_1_001"]
    row = test.filter(lambda r: r["emotion"] == "happy")[0]
    assert (row["speaker"], row["gender"], row["level"], row["view"], row["split"]) == ("M003", "male", 2, "front", "test")
    assert row["source_audio"] == "M003/audio/happy/level_2/001.m4a"  # relative to the raw folder
    assert row["source_video"] == "M003/video/front/happy/level_2/001.mp4"
    assert mead_dataset.meta["parameters"]["options"]["test_speakers"] == ["M003"]


def test_schema_is_the_declared_one(mead_dataset):
    import datasets

    from tfbench.recipes.build import features

    assert datasets.load_from_disk(str(mead_dataset.root / "dataset" / "train")).features == features()  # as stored


def test_processed_clip_and_columns_agree(mead_dataset):
    from tfbench.io.audio import read_audio
    from tfbench.io.features import log_mel
    from tfbench.io.video import probe_video, read_video
    from tfbench.weights import sha256_file
    import soundfile

    row = mead_dataset.split("train").with_format("numpy")[0]
    clip = mead_dataset.clip_path(row)
    info = probe_video(clip)
    assert (info.width, info.height, info.fps, info.has_audio) == (128, 128, 25.0, True)
    frames = read_video(clip).frames
    count = int(row["num_frames"])
    assert frames.shape == (count, 128, 128, 3) and count == 35  # 1.4 s at 25 fps
    assert sha256_file(clip) == row["clip_sha256"]
    wav, rate = soundfile.read(str(mead_dataset.audio_path(row)), dtype="float32")
    assert rate == 16000 and len(wav) == row["audio_num_samples"] == count * 640
    aac = read_audio(clip)
    assert abs(len(aac) - len(wav)) < 2048  # the AAC track carries the same audio (encoder padding aside)
    np.testing.assert_array_equal(row["log_mel"], log_mel(wav))  # features come from the stored samples
    assert row["landmarks"].shape == (count, 68, 2) and row["boxes"].shape == (count, 4)
    assert row["coeffs_3dmm"].shape == (count, 257) and row["coeffs_3dmm_align"].shape == (count, 5)
    assert row["au"].shape == (count, 10) and np.all((row["au"] >= 0) & (row["au"] <= 5))
    np.testing.assert_allclose(row["au_mean"], row["au"].mean(axis=0), rtol=1e-5)
    assert len(row["phonemes"]) == count and {"SIL"} < set(row["phonemes"])
    assert len(row["text"]) == 5 and row["text"][0].startswith("A woman looks ")
    assert row["crop_box"][2] - row["crop_box"][0] == row["crop_box"][3] - row["crop_box"][1]


def test_landmarks_are_in_clip_pixels(mead_dataset):
    """The stored landmarks match dlib run on the decoded clip (H.264 changes pixels a little)."""
    from tfbench.face.landmarks import detect_landmarks
    from tfbench.io.video import read_video

    row = mead_dataset.split("test").with_format("numpy")[0]
    frames = read_video(mead_dataset.clip_path(row)).frames[::10]
    measured = detect_landmarks(frames).points
    assert np.isfinite(measured).all()
    error = np.linalg.norm(measured - row["landmarks"][::10], axis=-1)
    assert np.median(error) < 2.0, np.median(error)
    inside = row["landmarks"]
    assert inside.min() >= 0 and inside.max() < 128


def test_density_maps_derive_from_landmarks(mead_dataset):
    row = mead_dataset.split("train").with_format("numpy")[0]
    maps = mead_dataset.density_maps(row)
    assert maps.shape == (int(row["num_frames"]), 128, 128)
    np.testing.assert_allclose(maps.sum(axis=(1, 2)), 68, rtol=0.05)
    half = mead_dataset.density_maps(row, size=64)
    assert half.shape[1:] == (64, 64)


def test_meta_records_backends_hashes_and_fingerprint(mead_dataset):
    meta = json.loads((mead_dataset.root / "meta.json").read_text())
    assert meta["recipe"] == "mead" and meta["recipe_version"] == "1"
    assert meta["backends"]["landmarks"]["weights"]["sha256"] == \
        "fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f"
    assert meta["backends"]["tdmm"]["name"] == "offline" and meta["backends"]["au"]["name"] == "offline"
    assert meta["parameters"]["clip"]["size"] == 128
    assert meta["split_sizes"] == {"train": 2, "test": 2} and meta["num_failures"] == 6
    assert len(meta["fingerprint"]) == 64 and mead_dataset.fingerprint == meta["fingerprint"]


def test_rerun_reuses_every_finished_video(mead_run, isolated_tfbench_home):
    from tfbench.recipes import RECIPES
    from tfbench.recipes.base import RecipeOptions
    from tfbench.recipes.build import prepare

    raw, out, expected, _ = mead_run
    before = json.loads((out / "meta.json").read_text())["fingerprint"]
    summary = prepare(RECIPES.get("mead"), raw, out, size=128, options=RecipeOptions(test_speakers=("M003",)))
    assert summary["processed"] == 0 and summary["reused"] == 10
    assert summary["fingerprint"] == before
    assert {f["clip_id"] for f in summary["failures"]} == set(expected)


def test_bad_arguments_are_clear_errors(tmp_path):
    result = subprocess.run([sys.executable, "-m", "tfbench.cli", "prepare", "mead", "--raw-dir",
                             str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "is not a folder" in " ".join(result.stderr.split())  # rich wraps lines
    result = subprocess.run([sys.executable, "-m", "tfbench.cli", "prepare", "meed"], capture_output=True, text=True)
    assert result.returncode == 2 and "Did you mean 'mead'" in " ".join(result.stderr.split())


def test_missing_backend_files_fail_before_any_work(tmp_path):
    from tfbench.errors import MissingWeightsError
    from tfbench.recipes import RECIPES
    from tfbench.recipes.build import BuildParams, prepare

    with pytest.raises(MissingWeightsError, match="tfbench weights import deep3d_recon"):
        prepare(RECIPES.get("mead"), tmp_path, tmp_path / "out", build=BuildParams(tdmm="deep3d"))
    with pytest.raises(MissingWeightsError, match="fan2d"):
        prepare(RECIPES.get("mead"), tmp_path, tmp_path / "out", landmarks="fan")
    assert not (tmp_path / "out").exists()


def _write_stand_in_fan(path):
    """A TorchScript module with 2DFAN4's input/output shapes ([B,3,256,256] -> [B,68,64,64])
    and one fixed heatmap peak per point: enough to run the fan backend end to end."""
    import torch

    class StandInFan(torch.nn.Module):
        def __init__(self):
            super().__init__()
            peaks = torch.zeros(68, 64, 64)
            for point in range(68):
                peaks[point, 10 + (point // 9) * 5, 6 + (point % 9) * 6] = 10.0
            self.register_buffer("peaks", peaks)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.peaks.unsqueeze(0).repeat(x.shape[0], 1, 1, 1)

    torch.jit.save(torch.jit.script(StandInFan()), str(path))


def test_fan_backend_runs_and_is_recorded_non_canonical(tmp_path):
    from tfbench.recipes import RECIPES
    from tfbench.recipes.build import prepare
    from tfbench.testing import install_random_file

    install_random_file("fan2d", _write_stand_in_fan)
    raw = mead_tree(tmp_path / "raw", speakers=("W011",), groups=(("neutral", 1),), seconds=1.2)
    summary = prepare(RECIPES.get("mead"), raw, tmp_path / "out", size=96, landmarks="fan")
    assert summary["clips"] == 1, summary["failures"]
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert meta["backends"]["landmarks"]["name"] == "fan"
    assert meta["backends"]["landmarks"]["weights"]["canonical"] is False
    assert meta["parameters"]["clip"]["landmarks"] == "fan"


def test_clip_sound_is_the_wav_as_written_and_its_features(tmp_path):
    """The wav bytes made in memory (so the audio features can be computed while the frames
    decode) are the bytes soundfile writes to a file, and the features come from its samples."""
    import soundfile

    from _fixtures_raw import speech
    from tfbench.io.features import log_mel
    from tfbench.recipes.process import _clip_sound

    audio = speech("Hello there, nice day.", seconds=1.2)
    sound = _clip_sound(audio, 30, {})
    soundfile.write(str(tmp_path / "a.wav"), audio, 16000, subtype="PCM_16", format="WAV")
    assert sound.error is None and sound.wav == (tmp_path / "a.wav").read_bytes()
    stored = soundfile.read(str(tmp_path / "a.wav"), dtype="float32")[0]
    np.testing.assert_array_equal(sound.samples, stored)
    np.testing.assert_array_equal(sound.log_mel, log_mel(stored))
    assert len(sound.phonemes) == 30 and not np.array_equal(sound.samples, audio)  # 16-bit: not the float input
