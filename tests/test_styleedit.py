"""StyleGAN audio-driven editing (styleedit): pairing, the three AL training stages, the
test-time latent optimisation, the pretrained networks' loading code (random weights in the
public layouts), checkpoints, generate and a resumed evaluation on the bundled sample."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from test_g4g import SR, SyntheticPrepared, _clip, synthetic_prepared
from tfbench.errors import CheckpointError, MissingWeightsError
from tfbench.models.styleedit.config import PAPER, TINY


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def two_emotions(tmp_path_factory) -> SyntheticPrepared:
    """Two synthetic 30-frame clips of one speaker, the same clip number in two emotions."""
    data = synthetic_prepared(tmp_path_factory.mktemp("styleedit_synthetic"), clips=2)
    for row, emotion in zip(data.rows, ("neutral", "happy")):
        row.update(clip_id=f"S01_front_{emotion}_level_1_001", speaker="S01", emotion=emotion, level=1, view="front")
    return SyntheticPrepared(data.root, data.rows, fingerprint="styleedit-two-emotions")


def _trainer(dataset, stage, predecessors=None, **overrides):
    from tfbench.models.styleedit.trainer import StyleEditTrainer

    torch.manual_seed(0)
    return StyleEditTrainer("tiny", dataset, stage=stage, predecessors=predecessors,
                            overrides={"batch_size": "8", **overrides}, echo=lambda _: None)


# ------------------------------------------------------------------ pairing


def test_pairs_from_the_dataset_columns():
    from tfbench.models.styleedit.pairing import emotion_pairs, view_pairs

    rows = [dict(clip_id=f"M01_{view}_{emotion}_level_1_{number}", speaker="M01", view=view, emotion=emotion, level=1,
                 text=[sentence])
            for view, emotion, number, sentence in (("front", "happy", "001", "A cat."), ("left_30", "happy", "001", "A cat."),
                                                    ("front", "sad", "004", "a  CAT."), ("front", "sad", "001", "A dog."))]
    assert sorted(view_pairs(rows)) == [(0, 1), (1, 0)]
    assert sorted(emotion_pairs(rows)) == [(0, 2), (2, 0)]  # same sentence (normalised), other emotion
    assert sorted(emotion_pairs(rows, key="number")) == [(0, 3), (3, 0)]  # the left_30 view is not counted twice


def test_dtw_recovers_a_time_stretch():
    from tfbench.models.styleedit.data import dtw_path

    a = np.random.default_rng(0).standard_normal((12, 3))
    path = dtw_path(a, np.repeat(a, 2, axis=0))
    assert path[0].tolist() == [0, 0] and path[-1].tolist() == [11, 23]
    assert all(i == j // 2 for i, j in path) and len(path) == 24


# ------------------------------------------------------------------ training stages


def _falls(trainer, key, steps=40):
    history = [trainer.step(step, np.random.default_rng(0))[key] for step in range(steps)]
    assert np.mean(history[-5:]) < 0.7 * np.mean(history[:5]), history
    return history


def test_each_stage_overfits_one_clip_and_the_chain_round_trips(two_emotions, tmp_path):
    from tfbench.models.request import build_request
    from tfbench.models.styleedit.model import StyleEdit
    from tfbench.train.checkpoint import load_checkpoint
    from tfbench.train.loop import train

    evp = _trainer(two_emotions, "evp")
    assert len(evp.data.emotion_pairs) == 2 and "clip number" in evp.notes and not evp.canonical
    _falls(evp, "total")
    one_clip = SyntheticPrepared(two_emotions.root, two_emotions.rows[:1], fingerprint="styleedit-one")
    align = _trainer(one_clip, "align")
    assert "SIMULATED" in align.notes
    _falls(align, "g_align")

    quiet = dict(show_progress=False, echo=lambda _: None)
    runs = {stage: train(lambda stage=stage: _trainer(two_emotions, stage), tmp_path / stage, steps=2, **quiet).checkpoint
            for stage in ("evp", "align")}
    predecessors = {stage: load_checkpoint(path) for stage, path in runs.items()}
    predictor = _trainer(one_clip, "predictor", predecessors)
    frozen = [p.clone() for p in predictor.al.alignment.parameters()]
    _falls(predictor, "g_landmarks", steps=30)
    assert all(torch.equal(a, b) for a, b in zip(frozen, predictor.al.alignment.parameters())), "AN must stay frozen"

    result = train(lambda: _trainer(two_emotions, "predictor", predecessors), tmp_path / "predictor", steps=2, **quiet)
    checkpoint = load_checkpoint(result.checkpoint)
    assert checkpoint.stage == "predictor" and set(checkpoint.predecessors) == {"evp", "align"}
    with pytest.raises(CheckpointError, match="predictor"):
        StyleEdit.from_checkpoint(runs["evp"])
    frames, audio, landmarks = _clip(1)
    request = build_request("c", StyleEdit.needs, num_frames=8, audio=audio, source_frames=frames[:8],
                            landmarks=landmarks[:8], options={"seed": 5})
    first, again = StyleEdit.from_checkpoint(result.checkpoint), StyleEdit.from_checkpoint(result.checkpoint)
    assert first.checkpoint_sha256 == checkpoint.sha256 and not first.canonical
    assert np.array_equal(first.generate(request), again.generate(request))
    targets = first.predict_landmarks(audio[: 8 * 640], landmarks[:8], 64)
    assert targets.shape == (8, 68, 2) and np.isfinite(targets).all()


# ------------------------------------------------------------------ test-time optimisation


class _RandomFAN(torch.nn.Module):
    """Stands in for 2DFAN4 with FAN's interface: [B,3,256,256] in [0,1] -> heatmaps [B,68,64,64]."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 68, 4, stride=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.conv(x))


def test_latent_optimisation_lowers_eq5_with_the_fan_term_on_a_sample_frame():
    """Eq. 5 on a bundled-sample frame, with the paper's FAN path (a random TorchScript network
    installed as ``fan2d``) and LPIPS stood in by MSE."""
    import tfbench
    from tfbench.io.video import read_video
    from tfbench.models.styleedit.editing import Editor, EditingNetworks, Perceptual, fan_heatmap_network, target_heatmaps
    from tfbench.models.styleedit.model import FaceCrop
    from tfbench.testing import install_random_file

    torch.manual_seed(0)
    install_random_file("fan2d", lambda path: torch.jit.save(torch.jit.script(_RandomFAN()), str(path)))
    video = Path(tfbench.__file__).parent / "sample_raw" / "W001/video/front/neutral/level_1/001.mp4"
    frames = read_video(video).frames[:2]
    crop = FaceCrop(64, 48, 128, 64)
    faces = torch.from_numpy(crop.faces(frames)).permute(0, 3, 1, 2).float() / 127.5 - 1
    cfg = dataclasses.replace(TINY, latent_steps=8, latent_lr=0.05, fan_loss=True)
    nets = EditingNetworks.random(cfg)
    editor = Editor(nets, cfg, Perceptual("mse"), fan_heatmap_network(), seed=0)
    targets = torch.tensor([[32.0, 40.0]]).repeat(2, 68, 1) + torch.randn(2, 68, 2)
    pivots = nets.invert(faces)
    latents = editor.optimise_latents(nets.generator, faces, pivots, targets)
    assert latents.shape == pivots.shape and not torch.equal(latents, pivots)
    assert all(last < first for first, last in zip(editor.log.latent_first, editor.log.latent_last)), editor.log
    heat = target_heatmaps(targets[:1], 64, cfg.fan_sigma)
    without_fan = Editor(nets, cfg, Perceptual("mse"), None).objective(nets.generator, latents[:1], faces[:1], heat, None)
    assert editor.objective(nets.generator, latents[:1], faces[:1], heat, None) > without_fan  # the FAN term counts


def test_differentiable_lpips_matches_the_platform_lpips():
    import torchvision

    from tfbench.models.styleedit.editing import Perceptual
    from tfbench.nets.lpips import load_lpips
    from tfbench.testing import install_random_weights

    torch.manual_seed(0)
    install_random_weights("alexnet", torchvision.models.alexnet(weights=None))
    a, b = torch.rand(2, 3, 64, 64) * 2 - 1, (torch.rand(2, 3, 64, 64) * 2 - 1).requires_grad_(True)
    distance = Perceptual("lpips")(a, b)
    torch.testing.assert_close(distance.detach(), load_lpips("alex")(a, b), rtol=1e-5, atol=1e-7)
    distance.sum().backward()
    assert b.grad is not None and b.grad.abs().sum() > 0


def test_fan_loss_is_zero_at_the_target_and_grows_with_distance():
    from tfbench.models.styleedit.editing import fan_loss, target_heatmaps

    points = torch.rand(1, 68, 2) * 50 + 7
    target = target_heatmaps(points, 64, 1.0)
    assert target.shape == (1, 68, 64, 64) and fan_loss(target, target).item() < 1e-4
    near, far = target_heatmaps(points + 1, 64, 1.0), target_heatmaps(points + 3, 64, 1.0)
    assert 0 < fan_loss(near, target).item() < fan_loss(far, target).item()


def test_time_budget_stops_a_clip_with_the_fix():
    from tfbench.models.styleedit.editing import BudgetExceeded, Editor, EditingNetworks, Perceptual

    nets = EditingNetworks.random(TINY)
    editor = Editor(nets, TINY, Perceptual("mse"), None, time_budget=1e-9, clip_id="c")
    with pytest.raises(BudgetExceeded, match="time_budget"):
        editor.optimise_latents(nets.generator, torch.zeros(1, 3, 64, 64), nets.invert(torch.zeros(1, 3, 64, 64)),
                                torch.zeros(1, 68, 2))


# ------------------------------------------------------------------ pretrained networks (random weights, public layouts)


def test_e4e_file_layout_loads_strictly_and_inverts(tmp_path):
    from tfbench.nets.e4e import Encoder4Editing, load_e4e_ffhq
    from tfbench.nets.stylegan2 import Generator

    encoder = Encoder4Editing()  # the FFHQ IR-SE50 encoder (its decoder is tests/test_nets_stylegan2.py's)
    assert sum(p.numel() for p in encoder.parameters()) > 2e7 and len(encoder.styles) == 18
    assert any(key.startswith("body.23.res_layer.5.fc2") for key in encoder.state_dict())
    small_encoder, small_decoder = Encoder4Editing(10, (16, 32, 32, 64), (1, 1, 1, 1), 64), Generator(64, 64, 2)
    path = tmp_path / "e4e_ffhq_encode.pt"
    state = {f"encoder.{k}": v for k, v in small_encoder.state_dict().items()}
    state |= {f"decoder.{k}": v for k, v in small_decoder.state_dict().items()}
    torch.save({"state_dict": state, "latent_avg": torch.zeros(10, 64), "opts": {"encoder_type": "Encoder4Editing"}}, path)
    import tfbench.nets.e4e as e4e

    with pytest.MonkeyPatch.context() as patch:  # the same loader on the small layout
        patch.setattr(e4e, "build_e4e_ffhq", lambda: (Encoder4Editing(10, (16, 32, 32, 64), (1, 1, 1, 1), 64), Generator(64, 64, 2)))
        loaded_encoder, loaded_decoder, latent_avg = e4e.load_e4e_ffhq(path)
    assert torch.equal(loaded_decoder.style[1].weight, small_decoder.style[1].weight)
    assert loaded_encoder(torch.zeros(1, 3, 64, 64)).shape == (1, 10, 64)
    torch.save({"state_dict": {"encoder.x": torch.zeros(1)}, "latent_avg": torch.zeros(1)}, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="e4e"):
        load_e4e_ffhq(tmp_path / "bad.pt")
    with pytest.raises(MissingWeightsError, match="tfbench weights import e4e_ffhq"):
        load_e4e_ffhq()


def test_bisenet_79999_layout_loads_strictly_and_parses(tmp_path):
    from tfbench.nets.bisenet import BiSeNet, face_mask, load_bisenet

    torch.manual_seed(0)
    state = BiSeNet().state_dict()
    assert {"cp.resnet.conv1.weight", "cp.arm16.conv_atten.weight", "ffm.convblk.conv.weight",
            "conv_out.conv_out.weight", "conv_out32.conv.bn.running_mean"} <= set(state)
    torch.save(state, tmp_path / "79999_iter.pth")
    network = load_bisenet(tmp_path / "79999_iter.pth")
    mask = face_mask(network, torch.rand(1, 3, 64, 64), size=128)
    assert mask.shape == (1, 1, 64, 64) and set(mask.unique().tolist()) <= {0.0, 1.0}
    with pytest.raises(MissingWeightsError, match="bisenet_face_parsing"):
        load_bisenet()


def test_paper_config_refuses_to_start_without_its_weights_naming_the_fix(two_emotions):
    from tfbench.models.styleedit.trainer import StyleEditTrainer

    assert PAPER.canonical and (PAPER.latent_steps, PAPER.latent_lr) == (300, 1e-3)
    assert (PAPER.lambda_lpips, PAPER.lambda_fan, PAPER.lambda_smooth) == (1.0, 5e-3, 1e-4)
    with pytest.raises(MissingWeightsError) as error:
        StyleEditTrainer("paper", two_emotions, stage="evp", echo=lambda _: None)
    for name in ("e4e_ffhq", "bisenet_face_parsing", "fan2d", "alexnet"):  # lpips_alex_linear ships in lpips
        assert name in str(error.value)


def test_a_paper_checkpoint_refuses_to_load_without_the_editing_weights(tmp_path):
    from tfbench.models.styleedit.model import StyleEdit
    from tfbench.models.styleedit.networks import AudioToLandmark
    from tfbench.train.checkpoint import Checkpoint, save_checkpoint

    path = save_checkpoint(Checkpoint(model="styleedit", config_name="paper", config=PAPER.to_dict(), step=1,
                                      state={"al": AudioToLandmark(PAPER).state_dict(), "editor": None},
                                      stage="predictor"), tmp_path / "paper.pt")
    with pytest.raises(MissingWeightsError, match="tfbench weights import e4e_ffhq"):
        StyleEdit.from_checkpoint(path)


# ------------------------------------------------------------------ CLI: generate, evaluate (killed, resumed)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    from tfbench.models.styleedit.model import StyleEdit

    return StyleEdit.tiny_test_checkpoint(tmp_path_factory.mktemp("styleedit_ckpt"))


def test_generate_cli_writes_the_video_length_with_the_new_audio(tiny_checkpoint, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import tfbench.face.landmarks as landmarks_module
    from tfbench.cli import app
    from tfbench.io.audio import read_audio
    from tfbench.io.video import probe_video, read_video, write_video

    frames, _, landmarks = _clip(0)

    class Found:
        points = landmarks[:12]

    monkeypatch.setattr(landmarks_module, "detect_landmarks", lambda frames, backend="dlib": Found())
    video = write_video(tmp_path / "source.mp4", frames[:12], fps=25, lossless=True)
    new_audio = (0.3 * np.sin(2 * np.pi * 330 * np.arange(SR) / SR)).astype(np.float32)  # 1 s, longer than the video
    soundfile.write(tmp_path / "new.wav", new_audio, SR)
    out = tmp_path / "edited.mp4"
    result = CliRunner().invoke(app, ["generate", "styleedit", "--audio", str(tmp_path / "new.wav"), "--video", str(video),
                                      "--checkpoint", str(tiny_checkpoint), "--out", str(out), "--set", "seed=1"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    info = probe_video(out)
    assert info.num_frames == 12 and info.has_audio and read_video(out).frames.shape[1:3] == (64, 64)
    sound = read_audio(out)
    assert abs(len(sound) / SR - 12 / 25) < 0.05
    assert np.corrcoef(sound[1000:6000], new_audio[1000:6000])[0, 1] > 0.9  # the new speech, not the source's


def test_killed_evaluation_resumes_without_redoing_finished_clips(tiny_checkpoint, prepared_sample, tmp_path, monkeypatch):
    """``evaluate --model styleedit --dataset <the prepared bundled sample>``, killed, then resumed."""
    from typer.testing import CliRunner

    from tfbench.cli import app
    from tfbench.models.styleedit.model import StyleEdit
    from tfbench.results import ResultRecord

    calls: list[str] = []
    real = StyleEdit.generate

    def counted(self, request, kill_on=None):
        calls.append(request.clip_id)
        if kill_on and len(calls) == kill_on:
            raise KeyboardInterrupt
        request.options = {"latent_steps": 1, "pti_steps": 1, "stitch_steps": 1}
        return real(self, request)

    out = tmp_path / "eval"
    args = ["evaluate", "--model", "styleedit", "--checkpoint", str(tiny_checkpoint), "--dataset", str(prepared_sample.root),
            "--limit", "2", "--metrics", "psnr", "--out", str(out)]
    monkeypatch.setattr(StyleEdit, "generate", lambda self, request: counted(self, request, kill_on=2))
    killed = CliRunner().invoke(app, args)  # Ctrl-C during the second clip: the CLI exits 130
    assert killed.exit_code == 130 and len(calls) == 2, killed.output
    finished = calls[0]
    calls.clear()
    monkeypatch.setattr(StyleEdit, "generate", lambda self, request: counted(self, request))
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert len(calls) == 1 and calls[0] != finished, calls
    record = ResultRecord.load(out / "result.json")
    assert record.model == "styleedit" and record.clips_total == 2 and record.clips_failed == 0
    assert np.isfinite(record.metrics["psnr"].value) and not record.canonical


def test_the_paper_editing_path_runs_with_random_networks_at_tiny_size(tmp_path):
    """BiSeNet mask, differentiable LPIPS and the FAN loss inside ``generate`` (all random,
    installed in a temp TFBENCH_HOME), on the tiny generator: the code path of ``paper``."""
    import torchvision

    from tfbench.models.request import build_request
    from tfbench.models.styleedit.editing import EditingNetworks
    from tfbench.models.styleedit.model import StyleEdit
    from tfbench.models.styleedit.networks import AudioToLandmark
    from tfbench.nets.bisenet import BiSeNet
    from tfbench.testing import install_random_file, install_random_weights

    torch.manual_seed(0)
    install_random_weights("alexnet", torchvision.models.alexnet(weights=None))
    install_random_weights("bisenet_face_parsing", BiSeNet())
    install_random_file("fan2d", lambda path: torch.jit.save(torch.jit.script(_RandomFAN()), str(path)))
    cfg = dataclasses.replace(TINY, perceptual="lpips", fan_loss=True, face_mask="bisenet", latent_steps=2,
                              pti_steps=1, stitch_steps=1)
    model = StyleEdit(AudioToLandmark(cfg), EditingNetworks.random(cfg), cfg)
    frames, audio, landmarks = _clip(0)
    request = build_request("c", StyleEdit.needs, num_frames=3, audio=audio, source_frames=frames[:3], landmarks=landmarks[:3])
    out = model.generate(request)
    assert out.shape == (3, 64, 64, 3) and out.dtype == np.uint8
    assert model._parser is not None and model._heatmaps is not None and model._perceptual.net is not None
    assert len(model.last_log.latent_first) == 3 and np.isfinite(model.last_log.latent_last).all()
