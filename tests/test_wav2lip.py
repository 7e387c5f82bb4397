"""Wav2Lip: the public checkpoint layout, the public inference procedure, tiny training on the
sample, checkpoints, ``tfbench generate`` and ``tfbench evaluate --model wav2lip``."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import soundfile
import torch
from typer.testing import CliRunner

from tfbench.cli import app
from tfbench.errors import CheckpointError, MissingWeightsError
from tfbench.models import load_model
from tfbench.models.base import GenerationRequest
from tfbench.models.wav2lip import inference as W
from tfbench.models.wav2lip.networks import QualityDiscriminator, SyncNetColor, Wav2LipGenerator
from tfbench.testing import install_random_file

#: Keys and shapes of the public wav2lip.pth / wav2lip_gan.pth (module. prefix of DataParallel).
PUBLIC_KEYS = {
    "module.face_encoder_blocks.0.0.conv_block.0.weight": (16, 6, 7, 7),
    "module.face_encoder_blocks.6.1.conv_block.1.running_var": (512,),
    "module.audio_encoder.0.conv_block.0.weight": (32, 1, 3, 3),
    "module.audio_encoder.10.conv_block.0.weight": (256, 256, 3, 3),
    "module.audio_encoder.12.conv_block.0.weight": (512, 512, 1, 1),
    "module.face_decoder_blocks.1.0.conv_block.0.weight": (1024, 512, 3, 3),  # ConvTranspose: [in, out, k, k]
    "module.face_decoder_blocks.6.0.conv_block.0.weight": (160, 64, 3, 3),
    "module.output_block.0.conv_block.0.weight": (32, 80, 3, 3),
    "module.output_block.1.weight": (3, 32, 1, 1),
}
PUBLIC_KEY_COUNT = 352  # parameters + batch-norm buffers (running mean/var, num_batches_tracked)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def write_public_layout(path: Path, seed: int = 0) -> dict:
    """A random generator saved exactly as the public files are: ``{'state_dict': {'module.…'}, …}``."""
    torch.manual_seed(seed)
    state = {f"module.{key}": value for key, value in Wav2LipGenerator().state_dict().items()}
    torch.save({"state_dict": state, "optimizer": None, "global_step": 0, "global_epoch": 0}, path)
    return state


def synthetic_request(frames: int = 8, size: int = 128) -> GenerationRequest:
    rng = np.random.default_rng(0)
    video = rng.integers(0, 256, (frames, size, size, 3), dtype=np.uint8)
    audio = (0.3 * np.sin(np.arange(frames * 640) / 7.0)).astype(np.float32)
    boxes = np.tile(np.array([[30.4, 20.9, 90.2, 80.7]], np.float32), (frames, 1))
    return GenerationRequest("c", frames, audio=audio, source_frames=video, extra={"face_boxes": boxes})


# ------------------------------------------------------------------ public checkpoints


def test_public_layout_loads_through_the_weights_manager_and_generates():
    path = install_random_file("wav2lip_gan", lambda target: write_public_layout(target))
    payload = torch.load(path, weights_only=True)
    assert len(payload["state_dict"]) == PUBLIC_KEY_COUNT
    for key, shape in PUBLIC_KEYS.items():
        assert tuple(payload["state_dict"][key].shape) == shape, key
    model = load_model("wav2lip")  # default: the public wav2lip_gan.pth
    assert model.canonical is False and "NOT the published file" in model.notes
    loaded = model.network.state_dict()
    assert all(torch.equal(loaded[key[len("module."):]], value) for key, value in payload["state_dict"].items())

    request = synthetic_request()
    out = model.generate(request)
    assert out.shape == request.source_frames.shape and out.dtype == np.uint8
    box = W.face_boxes(W.rects_from_cached(request.extra["face_boxes"]), 128, 128)[0]
    outside = np.ones((128, 128), bool)
    outside[box[1]:box[3], box[0]:box[2]] = False
    assert box.tolist() == [30, 20, 90, 90]  # truncated, bottom pad 10
    np.testing.assert_array_equal(out[:, outside], request.source_frames[:, outside])
    assert np.abs(out[:, ~outside].astype(int) - request.source_frames[:, ~outside]).mean() > 5
    np.testing.assert_array_equal(out, model.generate(request))


def test_public_file_by_path_is_canonical_only_with_a_pinned_hash(tmp_path):
    write_public_layout(tmp_path / "wav2lip.pth")
    model = load_model("wav2lip", tmp_path / "wav2lip.pth")
    assert model.canonical is False and "not a published one" in model.notes
    assert len(model.checkpoint_sha256) == 64


def test_missing_public_weights_name_the_fix():
    with pytest.raises(MissingWeightsError, match="tfbench weights import wav2lip_gan"):
        load_model("wav2lip")
    with pytest.raises(MissingWeightsError, match="tfbench weights import wav2lip "):
        load_model("wav2lip", "wav2lip")


def test_a_foreign_file_is_a_checkpoint_error(tmp_path):
    torch.save({"state_dict": SyncNetColor().state_dict()}, tmp_path / "lipsync_expert.pth")
    with pytest.raises(CheckpointError, match="not a Wav2Lip generator checkpoint"):
        load_model("wav2lip", tmp_path / "lipsync_expert.pth")


def test_rows_pass_their_cached_boxes_only_to_methods_that_read_the_source_frames():
    from tfbench.models.request import request_from_row

    frames = np.zeros((3, 8, 8, 3), np.uint8)
    row = {"clip_id": "c", "boxes": np.tile(np.float32([[1, 2, 6, 7]]), (3, 1)), "speaker": "W001"}
    wav2lip = request_from_row(row, frozenset({"source_video", "audio"}), frames=frames, audio=np.zeros(1920, np.float32))
    assert wav2lip.extra["face_boxes"].shape == (3, 4) and wav2lip.extra["speaker"] == "W001"
    assert "face_boxes" not in request_from_row(row, frozenset({"reference_image"}), frames=frames, audio=None).extra


# ------------------------------------------------------------------ the inference procedure


def test_mel_windows_follow_the_public_chunk_loop():
    mel = np.arange(321 * 80, dtype=np.float32).reshape(321, 80)  # 4 s of audio: 1 + 64000 // 200 mel frames
    # the public loop: chunk i starts at int(3.2 i) until a chunk would end past 321, then the last 16 frames
    public, i = [], 0
    while True:
        start = int(i * 80.0 / 25)
        if start + 16 > len(mel):
            public.append(len(mel) - 16)
            break
        public.append(start)
        i += 1
    assert len(public) == 97  # the public script writes 97 frames for this 100-frame video
    assert [W.mel_start(k, len(mel)) for k in range(len(public))] == public
    assert W.mel_start(99, len(mel)) == len(mel) - 16  # frames past the public length keep the last window
    chunks = W.mel_chunks(mel, np.array([0, 5]))
    assert chunks.shape == (2, 1, 80, 16)
    np.testing.assert_array_equal(chunks[1, 0], mel[16:32].T)


def test_boxes_are_padded_clipped_and_smoothed_as_the_public_loop():
    rects = np.array([[10, 10, 50, 50], [12, 11, 52, 51], [20, 14, 60, 54], [9, 10, 49, 50],
                      [11, 13, 51, 53], [30, 15, 70, 55]])
    padded = W.padded_boxes(rects, height=60, width=64)
    assert padded[:, 3].tolist() == [60, 60, 60, 60, 60, 60] and padded[5, 2] == 64
    smoothed = W.smooth_boxes(padded)
    # box 0 = mean of boxes 0..4 (truncated); box 1 = mean of 1..5; boxes 2..5 = mean of the last five,
    # which by then include the already smoothed box 1
    assert smoothed[0].tolist() == [12, 11, 52, 60]  # x2: (50+52+60+49+51)/5 = 52.4
    assert smoothed[1].tolist() == [16, 12, 55, 60]  # x2: (52+60+49+51+64)/5 = 55.2 (70 clipped to 64)
    tail = np.array([smoothed[1], padded[2], padded[3], padded[4], padded[5]]).mean(0).astype(int)
    assert smoothed[2].tolist() == tail.tolist()


def test_network_input_is_bgr_masked_target_then_unmasked_reference():
    frame = np.zeros((1, 100, 100, 3), np.uint8)
    frame[..., 0] = 200  # red in RGB
    inputs = W.network_input(frame, np.array([[0, 0, 100, 100]]))
    assert inputs.shape == (1, 6, 96, 96)
    assert inputs[0, 2, :48].min() == pytest.approx(200 / 255) and inputs[0, 0].max() == 0  # BGR: red is channel 2
    assert inputs[0, 2, 48:].max() == 0 and inputs[0, 5, 48:].min() == pytest.approx(200 / 255)
    predicted = np.full((1, 3, 96, 96), 0.999, np.float32)
    predicted[:, 0] = 0.5  # blue in BGR
    pasted = W.paste_faces(frame, predicted, np.array([[10, 20, 30, 60]]))
    assert pasted[0, 20:60, 10:30].reshape(-1, 3)[0].tolist() == [254, 254, 127]  # x 255 truncated, RGB again
    assert pasted[0, :20].reshape(-1, 3)[0].tolist() == [200, 0, 0]


def test_face_box_option_full_frame_or_a_constant_box(tmp_path):
    from tfbench.errors import TfbenchError
    from tfbench.models.wav2lip import Wav2Lip

    model = load_model("wav2lip", Wav2Lip.tiny_test_checkpoint(tmp_path))
    assert model.face_box == "full" and model.canonical is False
    request = synthetic_request(frames=6)
    del request.extra["face_boxes"]
    full = model.generate(request)
    assert np.abs(full[:, 64:].astype(int) - request.source_frames[:, 64:]).mean() > 5  # the whole frame is the face
    request.options["face_box"] = "10,50,20,60"  # top, bottom, left, right as the public --box: no pads
    boxed = model.generate(request)
    untouched = np.ones((128, 128), bool)
    untouched[10:50, 20:60] = False
    np.testing.assert_array_equal(boxed[:, untouched], request.source_frames[:, untouched])
    for bad in ("10,5,0,9", "nose"):
        request.options["face_box"] = bad
        with pytest.raises(TfbenchError, match="face_box"):
            model.generate(request)


# ------------------------------------------------------------------ training, checkpoints, CLI


@dataclasses.dataclass
class OneClip:
    """A prepared dataset restricted to one train clip (same fingerprint: the face cache is shared)."""

    base: object

    def __getattr__(self, name):
        return getattr(self.base, name)

    def split(self, name: str):
        return [self.base.split(name)[0]]


@pytest.fixture(scope="module")
def tiny_run(prepared_sample, tmp_path_factory):
    from tfbench.models.wav2lip.trainer import Wav2LipTrainer
    from tfbench.train.loop import train

    out = tmp_path_factory.mktemp("wav2lip_tiny")
    result = train(lambda: Wav2LipTrainer("tiny", OneClip(prepared_sample), overrides={"batch_size": "1", "learning_rate": "1e-2"},
                                          echo=lambda _: None), out, steps=16, show_progress=False, echo=lambda _: None)
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    return result.checkpoint, log


def test_tiny_training_loss_falls_when_overfitting_one_clip(tiny_run):
    _, log = tiny_run
    l1 = [entry["g_l1"] for entry in log]
    assert len(l1) == 16 and "g_sync" not in log[0] and "d_gan" in log[0]
    assert np.mean(l1[-4:]) < 0.9 * np.mean(l1[:4])


def test_checkpoint_round_trip_is_non_canonical_and_says_why(tiny_run, prepared_sample):
    from tfbench.train.checkpoint import load_checkpoint

    path, _ = tiny_run
    checkpoint = load_checkpoint(path, model="wav2lip")
    model = load_model("wav2lip", path)
    assert model.canonical is False and model.checkpoint_sha256 == checkpoint.sha256
    assert "Expert lip-sync loss left out" in model.notes and "OVERRIDDEN" in model.notes
    assert all(torch.equal(model.network.state_dict()[key], value) for key, value in checkpoint.state["generator"].items())
    request = synthetic_request(frames=6)
    out = model.generate(request)
    assert out.shape == request.source_frames.shape


def test_resume_is_bit_exact(prepared_sample, tmp_path):
    from tfbench.models.wav2lip.trainer import Wav2LipTrainer
    from tfbench.train.checkpoint import load_checkpoint
    from tfbench.train.loop import train

    def run(out, steps, resume=False):
        return train(lambda: Wav2LipTrainer("tiny", OneClip(prepared_sample), overrides={"batch_size": "1"},
                                            echo=lambda _: None), out, steps=steps, resume=resume,
                     show_progress=False, echo=lambda _: None).checkpoint

    straight = load_checkpoint(run(tmp_path / "straight", 3)).state
    run(tmp_path / "resumed", 2)
    resumed = load_checkpoint(run(tmp_path / "resumed", 3, resume=True)).state
    for part in ("generator", "discriminator"):
        assert all(torch.equal(straight[part][key], resumed[part][key]) for key in straight[part]), part


def test_paper_configs_refuse_to_start_without_the_expert(prepared_sample):
    from tfbench.models.wav2lip.trainer import Wav2LipTrainer

    for name in ("paper", "paper_nogan"):
        with pytest.raises(MissingWeightsError, match="tfbench weights import wav2lip_syncnet"):
            Wav2LipTrainer(name, prepared_sample, echo=lambda _: None)


def test_paper_nogan_step_with_a_random_expert_switches_the_sync_loss_on(prepared_sample, tmp_path):
    """The expert path end to end (2 steps, batch 2, a narrow generator): the sync weight turns on
    once the mean expert loss is below the threshold, and an unpinned expert file makes the run
    non-canonical."""
    from tfbench.models.wav2lip.trainer import Wav2LipTrainer
    from tfbench.train.loop import train

    expert = {"state_dict": {f"module.{key}": value for key, value in SyncNetColor().state_dict().items()}}
    install_random_file("wav2lip_syncnet", lambda target: torch.save(expert, target))
    overrides = {"batch_size": "2", "eval_interval": "1", "sync_switch_loss": "10", "width_divisor": "8"}
    result = train(lambda: Wav2LipTrainer("paper_nogan", OneClip(prepared_sample), overrides=overrides, echo=lambda _: None),
                   tmp_path / "run", steps=2, show_progress=False, echo=lambda _: None)
    log = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert [entry["sync_weight"] for entry in log] == [0.0, 0.01]
    assert all(np.isfinite(entry["g_sync"]) for entry in log) and "d_gan" not in log[0]
    model = load_model("wav2lip", result.checkpoint)
    assert model.canonical is False and "not a published file" in model.notes


def test_expert_sync_loss_reaches_the_generator():
    from tfbench.models.wav2lip.trainer import expert_loss

    torch.manual_seed(0)
    generated = torch.rand(2, 3, 5, 96, 96, requires_grad=True)  # train-mode batch norm needs a batch of 2+
    loss = expert_loss(SyncNetColor().train(), torch.randn(2, 1, 80, 16), generated)
    loss.backward()
    assert torch.isfinite(loss) and generated.grad[:, :, :, 48:].abs().sum() > 0 and generated.grad[:, :, :, :48].abs().sum() == 0
    assert QualityDiscriminator(8)(generated.detach()).shape == (10, 1)


def test_generate_cli_writes_a_playable_mp4_with_audio(tiny_run, prepared_sample, tmp_path):
    from test_s3fd import random_s3fd_state
    from tfbench.io.audio import read_audio
    from tfbench.io.video import probe_video, read_video, write_video
    from tfbench.testing import install_random_weights

    install_random_weights("s3fd", random_s3fd_state())
    row = prepared_sample.split("test")[0]
    clip = tmp_path / "talk.mp4"
    write_video(clip, read_video(prepared_sample.clip_path(row)).frames[:4], fps=25)  # S3FD runs on each frame
    path, _ = tiny_run
    from_video = CliRunner().invoke(app, ["generate", "wav2lip", "--checkpoint", str(path), "--audio",
                                          str(prepared_sample.clip_path(row)), "--video", str(clip), "--out", str(tmp_path / "v.mp4")])
    assert from_video.exit_code == 0, from_video.output + repr(from_video.exception)
    assert probe_video(tmp_path / "v.mp4").num_frames == 4 and probe_video(tmp_path / "v.mp4").has_audio
    video = prepared_sample.clip_path(row)
    frames = read_video(video).frames[:20]
    audio = read_audio(video)[: 20 * 640]
    soundfile.write(tmp_path / "speech.wav", audio, 16000)
    cv2.imwrite(str(tmp_path / "face.png"), cv2.cvtColor(frames[0], cv2.COLOR_RGB2BGR))
    out = tmp_path / "out.mp4"
    result = CliRunner().invoke(app, ["generate", "wav2lip", "--checkpoint", str(path), "--audio", str(tmp_path / "speech.wav"),
                                      "--image", str(tmp_path / "face.png"), "--out", str(out)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "NOT CANONICAL" in result.output
    info = probe_video(out)
    assert info.num_frames == 20 and info.has_audio and (info.width, info.height) == (frames.shape[2], frames.shape[1])
    assert abs(len(read_audio(out)) - len(audio)) < 0.05 * 16000


def test_evaluate_on_the_sample_prints_a_metric_table(tiny_run, prepared_sample, tmp_path):
    path, _ = tiny_run
    result = CliRunner().invoke(app, ["evaluate", "--model", "wav2lip", "--checkpoint", str(path), "--dataset",
                                      str(prepared_sample.root), "--limit", "1", "--metrics", "psnr,ssim",
                                      "--out", str(tmp_path / "eval"), "--no-progress"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "psnr" in result.output and "ssim" in result.output and "DEMO checkpoint" in result.output
    record = json.loads((tmp_path / "eval" / "result.json").read_text())
    assert record["canonical"] is False and record["metrics"]["psnr"]["clips_scored"] == 1
    assert 10 < record["metrics"]["psnr"]["value"] < 60


def _reference_wav2lip(monkeypatch):
    """``lipsync`` 0.1.0's copy of the public ``models/wav2lip.py``, imported without the package's
    video front end (its ``__init__`` imports av, face_alignment and librosa)."""
    import importlib
    import importlib.util
    import sys
    import types

    found = importlib.util.find_spec("lipsync")
    assert found is not None, "the parity reference is missing: pip install --no-deps lipsync==0.1.0 (scripts/install.sh)"
    package = types.ModuleType("lipsync")
    package.__path__ = list(found.submodule_search_locations)
    monkeypatch.setitem(sys.modules, "lipsync", package)
    for name in ("lipsync.models", "lipsync.models.conv", "lipsync.models.wav2lip"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return importlib.import_module("lipsync.models.wav2lip").Wav2Lip


def test_generator_matches_the_packaged_reference_network(monkeypatch):
    reference = _reference_wav2lip(monkeypatch)().eval()
    torch.manual_seed(1)
    state = Wav2LipGenerator().state_dict()
    for key, value in state.items():  # non-trivial batch-norm statistics
        if key.endswith("running_mean"):
            value.normal_(0, 0.1)
        elif key.endswith("running_var"):
            value.uniform_(0.5, 2.0)
    reference.load_state_dict(state)
    ours = Wav2LipGenerator().eval()
    ours.load_state_dict(state)
    mel, faces = torch.randn(3, 1, 80, 16), torch.rand(3, 6, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(ours(mel, faces), reference(mel, faces), rtol=0, atol=1e-6)
        mel_seq, faces_seq = torch.randn(2, 5, 1, 80, 16), torch.rand(2, 6, 5, 96, 96)
        torch.testing.assert_close(ours(mel_seq, faces_seq), reference(mel_seq, faces_seq), rtol=0, atol=1e-6)


def test_train_cli_refuses_the_paper_config_without_the_expert(prepared_sample, tmp_path):
    refused = CliRunner().invoke(app, ["train", "wav2lip", "--config", "paper", "--dataset", str(prepared_sample.root),
                                       "--out", str(tmp_path / "paper")])
    assert isinstance(refused.exception, MissingWeightsError)
    assert "tfbench weights import wav2lip_syncnet" in str(refused.exception)
    assert not (tmp_path / "paper").exists()
