"""G4G: networks, losses, training on a tiny synthetic dataset, checkpoints, errors, the paper config.

The synthetic dataset (:func:`synthetic_prepared`) follows the prepared-dataset contract
(``split``, ``clip_path``, ``fingerprint``, rows with ``clip_id`` and clip-pixel
``landmarks``): 64x64 clips whose dark "mouth" opens with the loudness of the audio.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tfbench.errors import CheckpointError, InputError, MissingWeightsError, UnknownNameError
from tfbench.models.base import GenerationRequest
from tfbench.models.g4g.config import PAPER, TINY
from tfbench.models.g4g.networks import AdaAT, G4GGenerator, count_parameters, gaussian_mouth_mask

SIZE = 64
FRAMES = 30
SR = 16000
#: Parameter count of the paper-size generator (inference networks + projection heads).
PAPER_GENERATOR_PARAMETERS = 15_139_462


# ------------------------------------------------------------------ synthetic prepared dataset


def _landmarks(opening: float) -> np.ndarray:
    """68 plausible points (x, y) in a 64x64 clip; the lips open by ``opening`` pixels."""
    angles = np.linspace(np.pi * 0.05, np.pi * 0.95, 17)
    jaw = np.stack([32 - 22 * np.cos(angles), 30 + 26 * np.sin(angles)], 1)
    brows = np.stack([np.r_[np.linspace(14, 28, 5), np.linspace(36, 50, 5)], np.full(10, 20.0)], 1)
    nose = np.stack([np.r_[np.full(4, 32.0), np.linspace(28, 36, 5)], np.r_[np.linspace(24, 34, 4), np.full(5, 37.0)]], 1)
    eye = lambda cx: np.stack([cx + 5 * np.cos(np.linspace(0, 2 * np.pi, 6, endpoint=False)),
                               26 + 2 * np.sin(np.linspace(0, 2 * np.pi, 6, endpoint=False))], 1)
    ring = lambda n, rx, ry: np.stack([32 + rx * np.cos(np.linspace(0, 2 * np.pi, n, endpoint=False)),
                                       46 + ry * np.sin(np.linspace(0, 2 * np.pi, n, endpoint=False))], 1)
    points = np.concatenate([jaw, brows, nose, eye(22), eye(42), ring(12, 9, 2 + opening), ring(8, 6, 0.5 + opening)])
    assert points.shape == (68, 2)
    return points.astype(np.float32)


def _clip(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(int(FRAMES / 25 * SR)) / SR
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * (1.5 + seed) * t)
    audio = (0.4 * envelope * np.sin(2 * np.pi * 220 * t) + 0.01 * rng.standard_normal(len(t))).astype(np.float32)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    frames, landmarks = [], []
    for index in range(FRAMES):
        loud = float(envelope[int(index / 25 * SR)])
        frame = np.zeros((SIZE, SIZE, 3), np.uint8)
        frame[...] = (40 + 10 * seed, 60, 90)
        face = ((xx - 32) / 24) ** 2 + ((yy - 32) / 30) ** 2 < 1
        frame[face] = (200, 160, 130)
        mouth = ((xx - 32) / 9) ** 2 + ((yy - 46) / (1 + 5 * loud)) ** 2 < 1
        frame[mouth] = (90, 20, 30)
        frames.append(frame)
        landmarks.append(_landmarks(5 * loud))
    return np.stack(frames), audio, np.stack(landmarks)


@dataclasses.dataclass
class SyntheticPrepared:
    root: Path
    rows: list[dict]
    name: str = "synthetic"
    fingerprint: str = "synthetic-v1"
    splits: tuple = ("train",)

    def split(self, name: str) -> list[dict]:
        return self.rows

    def clip_path(self, row: dict) -> Path:
        return self.root / row["video"]


def synthetic_prepared(root: Path, clips: int = 2) -> SyntheticPrepared:
    from tfbench.io.video import write_video

    rows = []
    for seed in range(clips):
        frames, audio, landmarks = _clip(seed)
        clip_id = f"synthetic_{seed:03d}"
        write_video(root / "clips" / f"{clip_id}.mp4", frames, fps=25, audio=audio, lossless=True)
        rows.append({"clip_id": clip_id, "video": f"clips/{clip_id}.mp4", "num_frames": FRAMES, "fps": 25.0,
                     "width": SIZE, "height": SIZE, "landmarks": landmarks.tolist(), "split": "train"})
    return SyntheticPrepared(root, rows)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """The test machine is shared: one thread avoids OpenMP spin contention (30x faster here)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory) -> SyntheticPrepared:
    return synthetic_prepared(tmp_path_factory.mktemp("synthetic_prepared"))


def small_overrides(**extra) -> dict:
    """The tiny config shrunk further so a step takes a fraction of a second."""
    return {"mouth_size": "32", "batch_size": "1", **extra}


def request_for(clip: tuple[np.ndarray, np.ndarray, np.ndarray], **changes) -> GenerationRequest:
    frames, audio, landmarks = clip
    fields = dict(clip_id="c", num_frames=len(frames), audio=audio, source_frames=frames, landmarks=landmarks)
    return GenerationRequest(**(fields | changes))


# ------------------------------------------------------------------ networks


def test_paper_geometry_and_parameter_count():
    assert (PAPER.face_height, PAPER.face_width, PAPER.mouth_box) == (416, 320, (128, 32, 384, 288))
    assert PAPER.lambdas == {"attribute": 1.0, "perceptual": 2.0, "gan": 3.0, "reconstruction": 4.0, "contrastive": 5.0, "sync": 5.0}
    assert (PAPER.num_references, PAPER.batch_size, PAPER.learning_rate, PAPER.clip_frames) == (5, 3, 1e-4, 5)
    assert PAPER.canonical and not TINY.canonical and set(TINY.missing_losses) == {"perceptual", "sync"}
    assert count_parameters(G4GGenerator(PAPER)) == PAPER_GENERATOR_PARAMETERS


def test_adaat_with_identity_coefficients_returns_the_feature():
    adaat = AdaAT(code_dim=4, channels=3)
    for layer in (adaat.shared[0], adaat.scale, adaat.rotation, adaat.translation):
        torch.nn.init.zeros_(layer.weight)
        torch.nn.init.zeros_(layer.bias)  # scale = 2 sigmoid(0) = 1, angle = 0, shift = 0
    feature = torch.rand(2, 3, 6, 5)
    torch.testing.assert_close(adaat(feature, torch.rand(2, 4)), feature, atol=1e-6, rtol=0)
    torch.nn.init.constant_(adaat.translation.bias, 10.0)  # shift ~ +1: every channel moves
    assert not torch.allclose(adaat(feature, torch.rand(2, 4)), feature)


def test_gaussian_mask_is_one_on_the_mouth_and_fades_outside():
    mask = gaussian_mouth_mask(TINY)[0, 0]
    top, left, bottom, right = TINY.mouth_box
    assert mask.shape == (TINY.face_height, TINY.face_width)
    assert torch.all(mask[top:bottom, left:right] == 1)
    assert mask.min() >= 0 and mask.max() <= 1
    assert mask[2, 2] < 1e-3  # far corner: source pixels
    assert 0.05 < mask[top - TINY.mouth_size // 16, TINY.face_width // 2] < 0.95  # smooth edge


def test_output_never_sees_the_hidden_mouth_of_the_source():
    """Two sources differing only inside the mouth region give the same output: no leak of the target."""
    config = dataclasses.replace(TINY, mouth_size=32)
    network = G4GGenerator(config).eval()
    torch.manual_seed(0)
    faces = torch.rand(2, 3, config.face_height, config.face_width)
    other = faces.clone()
    top, left, bottom, right = config.mouth_box
    other[..., top:bottom, left:right] = torch.rand_like(other[..., top:bottom, left:right])
    refs = torch.rand(2, 15, config.face_height, config.face_width)
    sketch, mel = torch.zeros(2, 1, config.face_height, config.face_width), torch.rand(2, 16, 80)
    with torch.no_grad():
        first, second = network(faces, refs, sketch, mel)["output"], network(other, refs, sketch, mel)["output"]
        decoded = network(faces, refs, sketch, mel)["decoded"]
        louder = network(faces, refs, sketch, 5 * mel)["decoded"]
    torch.testing.assert_close(first, second, atol=0, rtol=0)
    assert (decoded - louder).abs().max() > 1e-5  # the audio drives the deformation


# ------------------------------------------------------------------ training


def test_training_loss_falls_when_overfitting_one_clip(synthetic, tmp_path):
    from tfbench.models.g4g.trainer import G4GTrainer

    one_clip = SyntheticPrepared(synthetic.root, synthetic.rows[:1], fingerprint="synthetic-one")
    torch.manual_seed(0)
    trainer = G4GTrainer("tiny", one_clip, overrides=small_overrides(learning_rate="0.003"), echo=lambda _: None)
    # The same batch every step (one clip, one window): pure overfitting.
    history = [trainer.step(step, np.random.default_rng(0))["g_reconstruction"] for step in range(40)]
    assert np.mean(history[-5:]) < 0.7 * np.mean(history[:5]), history  # seeds 0 and 1: 0.31 and 0.63


def test_train_checkpoint_round_trip_and_provenance(synthetic, tmp_path):
    from tfbench.models import load_model
    from tfbench.models.g4g.trainer import G4GTrainer
    from tfbench.train.checkpoint import load_checkpoint
    from tfbench.train.loop import train
    from tfbench.weights import sha256_file

    result = train(lambda: G4GTrainer("tiny", synthetic, overrides=small_overrides(), echo=lambda _: None),
                   tmp_path / "run", steps=2, show_progress=False, echo=lambda _: None)
    checkpoint = load_checkpoint(result.checkpoint)
    assert (checkpoint.model, checkpoint.config_name, checkpoint.step) == ("g4g", "tiny", 2)
    assert checkpoint.config["mouth_size"] == 32 and checkpoint.tfbench_version
    assert not checkpoint.canonical and "DEMO" in checkpoint.notes and "perceptual, sync" in checkpoint.notes
    log = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [1, 2] and all(np.isfinite(entry["total"]) for entry in log)

    model = load_model("g4g", result.checkpoint)
    assert model.checkpoint_sha256 == sha256_file(result.checkpoint) and not model.canonical
    assert "DEMO" in model.notes
    clip = _clip(1)
    first = model.generate(request_for(clip))
    again = load_model("g4g", result.checkpoint).generate(request_for(clip))
    assert first.dtype == np.uint8 and first.shape == clip[0].shape
    np.testing.assert_array_equal(first, again)
    # Outside the smoothed mouth mask the source is returned untouched.
    np.testing.assert_array_equal(first[:, :8], clip[0][:, :8])
    assert np.any(first != clip[0])


def test_g4g_resume_is_bit_exact(synthetic, tmp_path):
    """2 steps + resume 2 steps == 4 steps: networks, BN statistics, momentum heads and optimisers all resume."""
    from tfbench.models.g4g.trainer import G4GTrainer
    from tfbench.train.checkpoint import load_checkpoint
    from tfbench.train.loop import train

    def run(out, steps, resume=False):
        return train(lambda: G4GTrainer("tiny", synthetic, overrides=small_overrides(), echo=lambda _: None),
                     out, steps=steps, resume=resume, show_progress=False, echo=lambda _: None)

    straight = load_checkpoint(run(tmp_path / "straight", 4).checkpoint).state
    run(tmp_path / "split", 2)
    resumed = load_checkpoint(run(tmp_path / "split", 4, resume=True).checkpoint).state
    for part in ("generator", "momentum", "frame_discriminator", "clip_discriminator"):
        for key, value in straight[part].items():
            assert torch.equal(value, resumed[part][key]), (part, key)


def test_checkpoint_of_another_model_or_config_is_refused(synthetic, tmp_path):
    from tfbench.models import load_model
    from tfbench.models.g4g.trainer import G4GTrainer
    from tfbench.train.checkpoint import Checkpoint, save_checkpoint
    from tfbench.train.loop import train

    foreign = save_checkpoint(Checkpoint(model="cpnet", config_name="tiny", config={}, step=1, state={}), tmp_path / "cpnet.pt")
    with pytest.raises(CheckpointError, match="model 'cpnet', not 'g4g'"):
        load_model("g4g", foreign)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_model("g4g", tmp_path / "junk.pt")
    with pytest.raises(CheckpointError, match="needs --checkpoint"):
        load_model("g4g", None)
    with pytest.raises(UnknownNameError, match="'g4g'"):
        load_model("g4h", None)
    run = tmp_path / "run"
    train(lambda: G4GTrainer("tiny", synthetic, overrides=small_overrides(), echo=lambda _: None), run, steps=1,
          show_progress=False, echo=lambda _: None)
    with pytest.raises(CheckpointError, match="different 'tiny' config"):
        train(lambda: G4GTrainer("tiny", synthetic, overrides=small_overrides(blend_channels="4"), echo=lambda _: None),
              run, steps=2, resume=True, show_progress=False, echo=lambda _: None)


def test_generate_rejects_missing_inputs_and_short_audio(synthetic, tmp_path):
    from tfbench.models.g4g.config import G4GConfig
    from tfbench.models.g4g.model import G4G

    config = dataclasses.replace(TINY, mouth_size=32)
    model = G4G(G4GGenerator(config), config)
    clip = _clip(0)
    with pytest.raises(InputError, match="needs landmarks"):
        model.generate(request_for(clip, landmarks=None))
    with pytest.raises(InputError, match="needs audio"):
        model.generate(request_for(clip, audio=None))
    with pytest.raises(InputError, match="audio is 0.60 s but 30 frames"):
        model.generate(request_for(clip, audio=clip[1][: int(0.6 * SR)]))
    with pytest.raises(InputError, match="no frame has face landmarks"):
        model.generate(request_for(clip, landmarks=np.full((FRAMES, 68, 2), np.nan, np.float32)))
    assert G4GConfig.from_dict(config.to_dict()) == config


# ------------------------------------------------------------------ the paper config


def test_paper_config_refuses_to_start_without_vgg_and_syncnet(synthetic):
    from tfbench.models.g4g.trainer import G4GTrainer

    with pytest.raises(MissingWeightsError) as error:
        G4GTrainer.check_ready("paper")
    message = str(error.value)
    assert "tfbench weights download vgg19" in message and "tfbench weights download syncnet_v2" in message
    with pytest.raises(MissingWeightsError):
        G4GTrainer("paper", synthetic, echo=lambda _: None)
    G4GTrainer.check_ready("tiny")  # tiny needs neither


def test_paper_config_one_training_step_with_random_experts(synthetic, tmp_path, monkeypatch):
    """`tfbench train g4g --config paper`: the paper's sizes (416x320 face, 256x256 mouth,
    five references), all six losses, random-initialised VGG-19 and SyncNet
    (non-canonical), batch 1 — one full-size step, about 100 s on one CPU thread."""
    from torchvision.models import vgg19
    from typer.testing import CliRunner

    from tfbench.cli import app
    from tfbench.nets.syncnet import SyncNet
    from tfbench.models.g4g.model import G4G
    from tfbench.testing import install_random_weights
    import tfbench.data

    install_random_weights("vgg19", vgg19(weights=None))
    install_random_weights("syncnet_v2", SyncNet())
    monkeypatch.setattr(tfbench.data, "open_prepared", lambda name: synthetic)
    result = CliRunner().invoke(app, ["train", "g4g", "--dataset", "synthetic", "--config", "paper",
                                      "--out", str(tmp_path / "paper"), "--steps", "1", "--quiet",
                                      "--set", "batch_size=1"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "NOT CANONICAL" in result.output and "non-canonical expert weights (vgg19, syncnet_v2)" in result.output
    log = json.loads((tmp_path / "paper" / "train_log.jsonl").read_text().splitlines()[0])
    assert set(log) >= {"g_attribute", "g_perceptual", "g_gan", "g_reconstruction", "g_contrastive", "g_sync", "d_gan"}
    assert all(np.isfinite(log[key]) for key in log)
    model = G4G.from_checkpoint(tmp_path / "paper" / "last.pt")
    assert count_parameters(model.network) == PAPER_GENERATOR_PARAMETERS and not model.canonical


# ------------------------------------------------------------------ end to end on the bundled sample


def test_demo_pipeline_on_the_sample(prepared_sample, tmp_path):
    """The README's main command, shortened: train tiny on the sample, evaluate on its test split.
    (The full demo is 600 steps; here 3, enough to check the plumbing and the DEMO labels.)"""
    from typer.testing import CliRunner

    from tfbench.cli import app

    run = tmp_path / "g4g-demo"
    trained = CliRunner().invoke(app, ["train", "g4g", "--config", "tiny", "--dataset", str(prepared_sample.root),
                                       "--out", str(run), "--steps", "3", "--quiet"])
    assert trained.exit_code == 0, trained.output + repr(trained.exception)
    assert "NOT CANONICAL: DEMO checkpoint" in trained.output
    evaluated = CliRunner().invoke(app, ["evaluate", "--model", "g4g", "--checkpoint", str(run / "last.pt"),
                                         "--dataset", str(prepared_sample.root), "--limit", "1", "--metrics", "psnr,ssim",
                                         "--out", str(tmp_path / "eval"), "--no-progress"])
    assert evaluated.exit_code == 0, evaluated.output + repr(evaluated.exception)
    assert "DEMO checkpoint" in evaluated.output
    result = json.loads((tmp_path / "eval" / "result.json").read_text())
    assert result["canonical"] is False and "DEMO" in result["model_notes"]
    assert result["metrics"]["psnr"]["clips_scored"] == 1 and 10 < result["metrics"]["psnr"]["value"] < 60
