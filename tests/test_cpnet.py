"""CPNet: paper-size networks, density targets through the dataset accessor, training on the
bundled sample, checkpoints, person-specific flags, generate and evaluate from the CLI.

One tiny run (on a one-clip view of the sample's train split) is trained once per module
and shared by the tests that need a checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tfbench.errors import MissingWeightsError
from tfbench.models.base import GenerationRequest
from tfbench.models.cpnet.config import PAPER, TINY

#: Parameters of the paper-size networks (docs/models/cpnet.md).
PAPER_PARAMETERS = {"generator": 37_059_267, "predictor": 394_497, "frame_discriminator": 2_774_977,
                    "temporal_discriminator": 2_773_953, "audio_to_landmarks": 1_042_242, "clip_visual": 87_849_216}
TINY_STEPS = 40


class OneClip:
    """The prepared sample with its train split cut to one clip (same accessor, same fingerprint)."""

    def __init__(self, prepared, index: int = 0) -> None:
        self.prepared = prepared
        self.root, self.name, self.fingerprint = prepared.root, prepared.name, prepared.fingerprint
        self.meta, self.index = prepared.meta, index

    def split(self, name: str):
        rows = self.prepared.split(name)
        return rows.select([self.index]) if name == "train" else rows

    def clip_path(self, row):
        return self.prepared.clip_path(row)

    def audio_path(self, row):
        return self.prepared.audio_path(row)

    def density_maps(self, row, size=None):
        return self.prepared.density_maps(row, size)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def home(prepared_sample):
    """TFBENCH_HOME of the prepared sample (its caches land there)."""
    return Path(prepared_sample.root).parents[1]


@pytest.fixture(scope="module")
def tiny_run(prepared_sample, home, tmp_path_factory):
    """A tiny CPNet trained TINY_STEPS steps on one clip; (output folder, train log)."""
    from tfbench.models.cpnet.trainer import CPNetTrainer
    from tfbench.train.loop import train

    out = tmp_path_factory.mktemp("cpnet_tiny")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TFBENCH_HOME", str(home))
        train(lambda: CPNetTrainer("tiny", OneClip(prepared_sample), echo=lambda _: None), out, steps=TINY_STEPS,
              provenance={"dataset": "sample", "dataset_fingerprint": prepared_sample.fingerprint},
              show_progress=False, echo=lambda _: None)
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    return out, log


def _request(prepared_sample, split: str = "test", index: int = 0, frames: int = 12) -> GenerationRequest:
    from tfbench.io.audio import read_audio
    from tfbench.io.video import read_video

    row = prepared_sample.split(split)[index]
    video = read_video(prepared_sample.clip_path(row)).frames[:frames]
    return GenerationRequest(clip_id=row["clip_id"], num_frames=frames, audio=read_audio(prepared_sample.audio_path(row)),
                             source_frames=video, landmarks=np.asarray(row["landmarks"], np.float32)[:frames],
                             extra={"speaker": row["speaker"], "split": split})


# ------------------------------------------------------------------ pieces


def test_density_target_is_the_dataset_accessor_cropped(prepared_sample):
    from tfbench.models.cpnet.data import density_target

    row = prepared_sample.split("train")[0]
    landmarks = np.asarray(row["landmarks"], np.float32)[:2]
    paper = density_target(prepared_sample, row["width"], landmarks, PAPER)
    reference = prepared_sample.density_maps({"landmarks": landmarks, "width": row["width"]}, size=256)[:, 16:240, 16:240]
    assert paper.shape == (2, 1, 224, 224)
    np.testing.assert_allclose(paper[:, 0], reference * PAPER.density_scale, rtol=1e-6)
    tiny = density_target(prepared_sample, row["width"], landmarks, TINY)  # area average: mean value kept
    assert tiny.shape == (2, 1, 56, 56)
    np.testing.assert_allclose(tiny.mean(axis=(1, 2, 3)), paper.mean(axis=(1, 2, 3)), rtol=1e-3)


def test_lower_face_replacement_round_trips_through_eye_normalised_coordinates(prepared_sample):
    from tfbench.models.cpnet.data import normalise_landmarks, with_lower_face
    from tfbench.models.cpnet.networks import LOWER_FACE

    points = np.asarray(prepared_sample.split("train")[0]["landmarks"], np.float32)[:5]
    rotated = points @ np.array([[0.96, -0.28], [0.28, 0.96]], np.float32).T + 7
    local = normalise_landmarks(rotated)[0]
    np.testing.assert_allclose(np.linalg.norm(local[:, 42:48].mean(1) - local[:, 36:42].mean(1), axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(with_lower_face(rotated, local[:, list(LOWER_FACE)]), rotated, atol=1e-3)


def test_predictor_objective_is_eq3_bounded_like_a_hinge():
    from tfbench.models.cpnet.losses import predictor_loss, rms

    class Lookup(torch.nn.Module):  # P(image) = image's first channel: the losses are then known by hand
        def forward(self, images):
            return images[:, :1]

    real, density = torch.zeros(2, 3, 8, 8), torch.full((2, 1, 8, 8), 0.5)
    for gap, lam, margin in ((0.01, 0.1, 0.05), (0.2, 0.1, 0.05)):
        fake = torch.full((2, 3, 8, 8), gap)
        loss, parts = predictor_loss(Lookup(), real, fake, density, lam, margin)
        paper = rms(real[:, :1] - density) - lam * rms(fake[:, :1] - real[:, :1])  # eq. (3)
        expected = paper + lam * margin if gap < margin else rms(real[:, :1] - density)
        assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
        assert parts["p_separation"] == pytest.approx(gap, rel=1e-4)


def test_identity_problem_flags_unseen_speakers_only(tiny_run):
    from tfbench.models.cpnet import CPNet

    model = CPNet.from_checkpoint(tiny_run[0] / "last.pt")
    assert model.identities == ["W001"]
    assert model.identity_problem(model.dataset_fingerprint, {"W001"}) is None
    flag = model.identity_problem("other", {"W001", "W002"})
    assert "W002" in flag and "another dataset" in flag and "PERSON-SPECIFIC" in flag
    assert "may hold clips this model was trained on" in model.identity_problem("other", {"W001"})


# ------------------------------------------------------------------ training and checkpoints


def test_training_loss_falls_when_overfitting_one_clip(tiny_run):
    _, log = tiny_run
    assert len(log) == TINY_STEPS
    first = np.mean([entry["g_l1"] for entry in log[:10]])
    last = np.mean([entry["g_l1"] for entry in log[-10:]])
    assert last < 0.6 * first, (first, last)
    assert np.mean([e["p_fit"] for e in log[-10:]]) < np.mean([e["p_fit"] for e in log[:10]])
    assert np.mean([e["a2l"] for e in log[-10:]]) < np.mean([e["a2l"] for e in log[:10]])


def test_checkpoint_records_person_and_round_trips_to_identical_output(tiny_run, prepared_sample):
    from tfbench.models.cpnet import CPNet
    from tfbench.train.checkpoint import load_checkpoint

    path = tiny_run[0] / "last.pt"
    checkpoint = load_checkpoint(path)
    assert checkpoint.state["identities"] == ["W001"]
    assert checkpoint.state["dataset_fingerprint"] == prepared_sample.fingerprint
    assert not checkpoint.canonical and "WITHOUT the VGG-19" in checkpoint.notes and "RANDOM frozen CLIP" in checkpoint.notes
    request = _request(prepared_sample, "train")
    first, second = CPNet.from_checkpoint(path), CPNet.from_checkpoint(path)
    out = first.generate(request)
    assert out.shape == request.source_frames.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out, second.generate(request))
    # outside the crop's lower half every pixel is the source's
    np.testing.assert_array_equal(out[:, :100], request.source_frames[:, :100])
    # the drive changes the mouth: audio-predicted landmarks differ from the ground truth's
    assert first.drive(request) == "landmarks"
    request.extra = {}
    assert first.drive(request) == "audio"
    assert not np.array_equal(first.driving_landmarks(request), request.landmarks)


def test_paper_config_refuses_to_start_without_clip_and_vgg(tmp_path, monkeypatch):
    from tfbench.models.cpnet.trainer import CPNetTrainer

    monkeypatch.setenv("TFBENCH_HOME", str(tmp_path))
    with pytest.raises(MissingWeightsError) as error:
        CPNetTrainer.check_ready("paper")
    assert "tfbench weights import clip_vit_b32" in str(error.value)
    assert "tfbench weights import vgg19" in str(error.value)


def test_paper_config_one_training_step_with_random_pretrained_nets(prepared_sample, home, tmp_path, monkeypatch):
    """Full paper size (224 px, ngf 64, ViT-B/32, VGG-19), one step; the pretrained files are random
    weights in the public checkpoints' layouts, read through the weights manager's loaders."""
    from tfbench.models.cpnet.trainer import CPNetTrainer
    from tfbench.nets.clip import write_random_weights
    from tfbench.nets.vgg19 import build_vgg19
    from tfbench.weights import mark_non_canonical, weights_dir

    monkeypatch.setenv("TFBENCH_HOME", str(tmp_path))
    weights_dir().mkdir(parents=True)
    write_random_weights(weights_dir() / "ViT-B-32.pt")
    torch.save(build_vgg19().state_dict(), weights_dir() / "vgg19-dcbb9e9d.pth")
    for name in ("clip_vit_b32", "vgg19"):
        mark_non_canonical(name)
    trainer = CPNetTrainer("paper", OneClip(prepared_sample), echo=lambda _: None)
    counts = {name: sum(p.numel() for p in getattr(trainer, name).parameters()) for name in PAPER_PARAMETERS
              if name != "clip_visual"}
    counts["clip_visual"] = sum(p.numel() for p in trainer.condenser.visual.parameters())
    assert counts == PAPER_PARAMETERS
    assert not trainer.canonical and "non-canonical pretrained weights (clip_vit_b32, vgg19)" in trainer.notes
    before = trainer.generator.head[1].weight.detach().clone()
    losses = trainer.step(1, np.random.default_rng([0, 1]))
    assert {"g_adv", "g_perceptual", "g_temporal", "g_probability", "d_gan", "p_dmp", "a2l"} <= set(losses)
    assert all(np.isfinite(v) for v in losses.values())
    assert not torch.equal(before, trainer.generator.head[1].weight)


# ------------------------------------------------------------------ command line


def test_generate_writes_a_playable_mp4_with_audio(tiny_run, prepared_sample, tmp_path):
    import cv2
    from scipy.io import wavfile

    from tfbench.cli import app
    from tfbench.io.audio import read_audio
    from tfbench.io.video import read_video

    row = prepared_sample.split("train")[1]
    image = tmp_path / "face.jpg"
    cv2.imwrite(str(image), cv2.cvtColor(read_video(prepared_sample.clip_path(row)).frames[0], cv2.COLOR_RGB2BGR))
    speech = read_audio(prepared_sample.audio_path(row))[: 16000 + 8000]  # 1.5 s -> 37 frames
    wavfile.write(tmp_path / "speech.wav", 16000, np.round(speech * 32767).astype(np.int16))
    out = tmp_path / "out.mp4"
    result = CliRunner().invoke(app, ["generate", "cpnet", "--checkpoint", str(tiny_run[0] / "last.pt"),
                                      "--audio", str(tmp_path / "speech.wav"), "--image", str(image), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "NOT CANONICAL" in result.output
    video = read_video(out)
    assert len(video.frames) == 37 and video.frames.shape[1:] == (256, 256, 3)
    assert abs(len(read_audio(out)) - 37 * 640) < 1600


def test_evaluate_on_the_sample_prints_the_table_and_flags(tiny_run, home, tmp_path, monkeypatch):
    from tfbench.cli import app

    monkeypatch.setenv("TFBENCH_HOME", str(home))
    out = tmp_path / "eval"
    result = CliRunner().invoke(app, ["evaluate", "--model", "cpnet", "--checkpoint", str(tiny_run[0] / "last.pt"),
                                      "--dataset", "sample", "--limit", "2", "--metrics", "psnr,ssim", "--out", str(out),
                                      "--no-progress"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "psnr" in text and "ssim" in text and "non-canonical" in text
    record = json.loads((out / "result.json").read_text())
    assert record["model_canonical"] is False
    assert "unseen identities" in record["model_notes"] and "W002" in record["model_notes"]
