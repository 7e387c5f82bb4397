"""The multi-modal emotion-space method: both training stages, the three emotion modalities
with intensity, generation and evaluation on the bundled sample (tiny config, CPU)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tfbench.cli import app
from tfbench.errors import CheckpointError, InputError, MissingWeightsError, TfbenchError

#: Short tiny run: enough steps to see the losses fall, few enough for CI.
FAST = ["--set", "eac_steps=40", "--set", "hef_steps=30", "--set", "checkpoint_every=10"]


def _losses(log_path, key):
    return [json.loads(line)[key] for line in log_path.read_text().splitlines()]


@pytest.fixture(scope="module")
def run(prepared_sample, tmp_path_factory):
    """A tiny emospace chain (eac -> hef) trained on the sample's train split."""
    out = tmp_path_factory.mktemp("emospace_run")
    threads = torch.get_num_threads()
    result = CliRunner().invoke(app, ["train", "emospace", "--config", "tiny", "--dataset", str(prepared_sample.root),
                                      "--stage", "all", "--out", str(out), "--quiet", *FAST])
    torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def model(run):
    from tfbench.models import load_model

    return load_model("emospace", run / "hef" / "last.pt")


def _request(prepared_sample, **options):
    from tfbench.io.audio import read_audio
    from tfbench.io.video import read_video
    from tfbench.models.base import GenerationRequest

    row = prepared_sample.split("test")[0]
    frames = read_video(prepared_sample.clip_path(row)).frames
    return GenerationRequest(
        clip_id=row["clip_id"], num_frames=len(frames), audio=read_audio(prepared_sample.audio_path(row)),
        reference_image=frames[0], emotion=row["emotion"], emotion_level=int(row["level"]),
        coeffs_3dmm=np.asarray(row["coeffs_3dmm"], np.float32), coeffs_3dmm_align=np.asarray(row["coeffs_3dmm_align"], np.float32),
        coeffs_3dmm_kind="offline_pca", source_frames=frames, landmarks=np.asarray(row["landmarks"], np.float32),
        options=dict(options),
    )


def test_bfm_loads_the_deep3d_layout_and_projects_landmarks(tmp_path):
    from scipy.io import loadmat

    from tfbench.annotate.bfm import BFM, write_random_bfm

    write_random_bfm(tmp_path / "BFM_model_front.mat", side=10)
    bfm = BFM.load(tmp_path / "BFM_model_front.mat")
    raw = loadmat(str(tmp_path / "BFM_model_front.mat"))
    coeffs = torch.zeros(2, 257)
    coeffs[1, 80:144] = torch.randn(64, generator=torch.Generator().manual_seed(0))
    coeffs[1, 224:227] = torch.tensor([0.1, -0.2, 0.05])
    coeffs[1, 254:257] = torch.tensor([0.01, -0.02, 0.3])
    coeffs.requires_grad_(True)
    face = bfm(coeffs)
    assert face["vertices"].shape == (2, 100, 3) and face["colors"].shape == (2, 100, 3)
    assert face["landmarks"].shape == (2, 68, 2)
    # zero coefficients: the recentred mean shape at camera distance 10, focal 1015, centre 112 (to_image)
    mean = raw["meanshape"].reshape(-1, 3).astype(np.float64)
    mean = mean - mean.mean(axis=0)
    keypoints = raw["keypoints"].reshape(-1).astype(int) - 1
    depth = 10 - mean[keypoints, 2]
    expected = 1015 * mean[keypoints, :2] / depth[:, None] + 112
    np.testing.assert_allclose(face["landmarks"][0].detach().numpy(), expected, rtol=1e-5)
    torch.testing.assert_close(bfm.landmarks(coeffs), face["landmarks"])
    # rotation with angles (x, y, z) as compute_rotation: R = (Rz Ry Rx)^T
    assert torch.allclose(BFM.rotation(torch.tensor([[0.0, 0.0, np.pi / 2]]))[0],
                          torch.tensor([[0.0, 1, 0], [-1, 0, 0], [0, 0, 1]]), atol=1e-6)
    face["landmarks"][1].sum().backward()
    assert coeffs.grad[1, 80:144].abs().sum() > 0 and coeffs.grad[1, 224:227].abs().sum() > 0


def test_bfm_refuses_a_foreign_mat_file(tmp_path):
    from scipy.io import savemat

    from tfbench.annotate.bfm import BFM

    savemat(str(tmp_path / "other.mat"), {"lm": np.zeros((68, 3))})
    with pytest.raises(CheckpointError, match="meanshape"):
        BFM.load(tmp_path / "other.mat")


def test_deodr_renders_the_bfm_face_differentiably(tmp_path):
    from tfbench.annotate.bfm import BFM, crop_frames, write_random_bfm
    from tfbench.annotate.render import FaceRenderer

    write_random_bfm(tmp_path / "bfm.mat")
    renderer = FaceRenderer(BFM.load(tmp_path / "bfm.mat"))
    coeffs = torch.zeros(1, 257)
    coeffs.requires_grad_(True)
    out = renderer.crop(coeffs)
    mask = out["mask"][0, 0].detach()
    assert out["image"].shape == (1, 3, 224, 224) and 0.2 < mask.mean() < 0.9
    assert mask[112, 112] == 1 and mask[2, 2] == 0  # face at the centre, background at the corner
    (out["image"] * torch.linspace(0, 1, 224)).sum().backward()  # a loss that prefers the face further right
    assert coeffs.grad[0, 144:224].abs().sum() > 0  # through the colours (texture)
    assert coeffs.grad[0, 254] != 0 and coeffs.grad[0, 80:144].abs().sum() > 0  # through the projected positions
    # the frame render of an identity crop (W = 224, s = 1, t = centre) lands where the crop render does
    align = torch.tensor([[224.0, 224.0, 1.0, 112.0, 112.0]])
    frame = renderer.frame(coeffs.detach(), align, 224)
    assert torch.allclose((frame + 1) / 2, out["image"].detach().clamp(0, 1), atol=1e-5)
    assert torch.allclose(crop_frames(frame, align), frame, atol=1e-5)


def test_crop_camera_matches_deep3d_align_frame(prepared_sample):
    """bfm.crop_frames (and so the frame camera of renders) cuts the crop Deep3DFaceRecon's
    align_frame cuts (PIL bicubic there, bilinear here: within a grey level on average)."""
    from tfbench.annotate.bfm import crop_frames
    from tfbench.annotate.deep3d import align_frame
    from tfbench.io.video import read_video

    row = prepared_sample.split("train")[0]
    frame = read_video(prepared_sample.clip_path(row)).frames[0]
    standard = np.array([[-0.31, 0.29, 0.13], [0.31, 0.29, 0.13], [0.0, 0.0, 0.6], [-0.25, -0.28, 0.2], [0.25, -0.28, 0.2]])
    for scale in (0.5, 1.6):  # s = 0.5 and 1.6: the frame shrunk and enlarged
        crop, params = align_frame(frame, np.asarray(row["landmarks"])[0], standard * scale)
        ours = crop_frames(torch.from_numpy(frame).permute(2, 0, 1)[None].float(), torch.tensor(params[None]).float())
        ours = ours[0].permute(1, 2, 0).numpy()
        inside = ours.sum(-1) > 0  # (align_frame pads outside the frame with black too)
        assert inside.mean() > 0.3 and np.abs(ours - crop)[inside].mean() < 1.5


def test_hsemotion_loads_the_public_pickled_layout(tmp_path, monkeypatch):
    import timm

    from tfbench.nets import hsemotion
    from tfbench.weights import install_file

    monkeypatch.setenv("TFBENCH_HOME", str(tmp_path / "home"))
    hsemotion.write_random_weights(tmp_path / "enet_b0_8_best_afew.pt", seed=3)
    install_file("hsemotion_enet_b0_8", tmp_path / "enet_b0_8_best_afew.pt")
    network = hsemotion.load_hsemotion()
    reference = torch.load(tmp_path / "enet_b0_8_best_afew.pt", weights_only=False).eval()  # what hsemotion does
    images = torch.rand(2, 3, 224, 224) * 2 - 1
    normalised = ((images + 1) / 2 - torch.tensor(hsemotion.MEAN).view(1, 3, 1, 1)) / torch.tensor(hsemotion.STD).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = reference(normalised)
        reference.classifier = torch.nn.Identity()
        features = reference(normalised)
        torch.testing.assert_close(network(images), expected)
        torch.testing.assert_close(network.features(images), features)
    assert features.shape == (2, 1280)
    # a file pickled by an older timm names classes this timm lacks: still loads (stubs, no pickled code runs)
    import sys
    import types

    legacy = types.ModuleType("timm.models.layers.legacy_conv")
    legacy.LegacyConv2d = type("LegacyConv2d", (torch.nn.Conv2d,), {"__module__": legacy.__name__})
    old = timm.create_model(hsemotion.ARCH, pretrained=False, num_classes=8)
    old.conv_head.__class__ = legacy.LegacyConv2d
    sys.modules[legacy.__name__] = legacy
    try:
        torch.save(old, tmp_path / "old_timm.pt")
    finally:
        del sys.modules[legacy.__name__]
    torch.testing.assert_close(hsemotion.read_state(tmp_path / "old_timm.pt"), old.state_dict())

    class Payload:
        def __reduce__(self):
            return (print, ("pickled code ran",))

    for name, content in (("foreign.pt", {"not": torch.zeros(1)}), ("payload.pt", {"x": Payload()})):
        torch.save(content, tmp_path / name)
        install_file("hsemotion_enet_b0_8", tmp_path / name)
        with pytest.raises(CheckpointError, match="HSEmotion"):
            hsemotion.load_hsemotion()


def test_paper_networks_build_at_paper_size():
    from tfbench.models.emospace.config import PAPER
    from tfbench.models.emospace.networks import EAC, HEF, AudioEmotionEncoder, Discriminator

    count = lambda module: sum(p.numel() for p in module.parameters())  # noqa: E731
    hef = HEF(PAPER.image_size, PAPER.blocks, PAPER.channels, PAPER.encoder_channels, PAPER.style_dim, PAPER.eac_dim)
    eac = EAC(PAPER.clip_embed, PAPER.eac_dim, PAPER.eac_layers, PAPER.eac_heads)
    audio = AudioEmotionEncoder(PAPER.clip_embed, PAPER.audio_dim, PAPER.audio_layers, PAPER.audio_heads)
    disc = Discriminator(PAPER.image_size, PAPER.disc_channels)
    assert PAPER.image_size == 512 and PAPER.blocks == 7 and len(hef.convs) == 7
    total = count(hef) + count(eac) + count(audio) + count(disc)
    # docs/models/emospace.md compares this with Table 2's 62.97 M
    assert 55e6 < total < 70e6, total
    # the 512x512 forward and backward run in test_paper_config_trains_one_step_of_each_stage_at_paper_size


def test_paper_config_refuses_to_start_and_names_every_missing_file(tmp_path, monkeypatch):
    from tfbench.models.emospace.trainer import EmoSpaceTrainer

    monkeypatch.setenv("TFBENCH_HOME", str(tmp_path))
    with pytest.raises(MissingWeightsError) as refused:
        EmoSpaceTrainer.check_ready("paper", {}, stage="eac")
    for name in ("clip_vit_b32", "bfm_front", "hsemotion_enet_b0_8"):
        assert f"tfbench weights import {name} " in str(refused.value)
    with pytest.raises(MissingWeightsError, match="tfbench weights import alexnet "):
        EmoSpaceTrainer.check_ready("paper", {}, stage="hef")
    with pytest.raises(TfbenchError, match="geometry 'render'"):
        EmoSpaceTrainer.check_ready("tiny", {"eac_losses": ["clip", "rec"]}, stage="eac")


@pytest.fixture
def paper_home(tmp_path, monkeypatch):
    """A TFBENCH_HOME with random non-canonical weights in the exact public layouts of every
    file the paper config loads (CLIP ViT-B/32, BFM front, HSEmotion, AlexNet; LPIPS's linear
    layers come from the lpips package)."""
    import torchvision

    from tfbench.annotate.bfm import write_random_bfm
    from tfbench.nets import clip, hsemotion
    from tfbench.testing import install_random_file, install_random_weights

    monkeypatch.setenv("TFBENCH_HOME", str(tmp_path / "home"))
    install_random_file("clip_vit_b32", clip.write_random_weights)
    install_random_file("bfm_front", write_random_bfm)
    install_random_file("hsemotion_enet_b0_8", hsemotion.write_random_weights)
    install_random_weights("alexnet", torchvision.models.alexnet(weights=None))
    return tmp_path / "home"


@pytest.fixture
def deep3d_sample(prepared_sample, tmp_path):
    """Two train clips of the sample (one happy, one neutral, same speaker) with synthetic
    Deep3DFaceRecon-style coefficients and alignment (a 224 crop of the whole 256 frame)."""
    import shutil

    root = tmp_path / "deep3d_sample"
    shutil.copytree(prepared_sample.root, root)
    rows = prepared_sample.split("train")
    keep = [next(i for i, r in enumerate(rows) if r["emotion"] == e) for e in ("happy", "neutral")]
    rng = np.random.default_rng(0)

    def deep3d_style(row):
        count = len(row["coeffs_3dmm"])
        coeffs = np.zeros((count, 257), np.float32)
        coeffs[:, 0:80] = rng.normal(0, 1, 80)
        coeffs[:, 80:144] = rng.normal(0, 0.5, (count, 64))
        coeffs[:, 144:224] = rng.normal(0, 0.1, 80)
        coeffs[:, 224:227] = rng.normal(0, 0.05, (count, 3))
        coeffs[:, 227:254] = rng.normal(0, 0.1, 27)
        align = np.tile(np.float32([256, 256, 224 / 256, 128, 128]), (count, 1))
        return {"coeffs_3dmm": coeffs.tolist(), "coeffs_3dmm_align": align.tolist()}

    shutil.rmtree(root / "dataset" / "train")
    rows.select(keep).map(deep3d_style).save_to_disk(str(root / "dataset" / "train"))
    meta = json.loads((root / "meta.json").read_text())
    meta["backends"]["tdmm"] = {"name": "deep3d", "representation": "synthetic test coefficients", "weights": None}
    meta["split_sizes"]["train"] = 2
    (root / "meta.json").write_text(json.dumps(meta))
    return root


def test_paper_config_needs_deep3d_coefficients(prepared_sample):
    from tfbench.models.emospace.trainer import face_renderer

    with pytest.raises(TfbenchError, match="--tdmm deep3d"):
        face_renderer(prepared_sample)  # the sample's coefficients are the offline landmark model's


def test_paper_config_trains_one_step_of_each_stage_at_paper_size(paper_home, deep3d_sample, prepared_sample, tmp_path):
    """Random non-canonical nets of the exact architectures; the networks at paper size (512, 7
    HEF blocks, ViT-B/32); only the batch and window are cut for the CPU."""
    from tfbench.models import load_model
    from tfbench.train.checkpoint import load_checkpoint

    out = tmp_path / "run"
    threads = torch.get_num_threads()
    result = CliRunner().invoke(app, ["train", "emospace", "--config", "paper", "--dataset", str(deep3d_sample),
                                      "--stage", "all", "--out", str(out), "--quiet", "--steps", "1",
                                      "--set", "eac_batch=2", "--set", "hef_batch=1", "--set", "window=8"])
    torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    eac = json.loads((out / "eac" / "train_log.jsonl").read_text().splitlines()[0])
    hef = json.loads((out / "hef" / "train_log.jsonl").read_text().splitlines()[0])
    for key in ("eac_clip", "eac_emo", "eac_rec", "eac_lm", "eac_reg", "total"):
        assert np.isfinite(eac[key]), key
    assert eac["eac_rec"] > 0 and eac["eac_emo"] > 0
    for key in ("g_hef_rec", "g_hef_lpips", "g_hef_adv", "d_loss"):
        assert np.isfinite(hef[key]), key
    checkpoint = load_checkpoint(out / "hef" / "last.pt")
    assert checkpoint.config["image_size"] == 512 and checkpoint.config["blocks"] == 7
    assert checkpoint.config["geometry"] == "render" and not checkpoint.canonical
    assert not any(key.startswith("clip.") for key in checkpoint.state["ame"])  # ViT-B/32 stays in the weights cache
    model = load_model("emospace", out / "hef" / "last.pt")
    with pytest.raises(InputError, match="--tdmm deep3d"):
        model.generate(_request(prepared_sample, modality="text"))  # offline landmark-model coefficients
    from tfbench.data import open_prepared
    from tfbench.io.audio import read_audio
    from tfbench.io.video import read_video
    from tfbench.models.base import GenerationRequest

    dataset = open_prepared(str(deep3d_sample))
    row = dataset.split("train")[0]
    frames = read_video(dataset.clip_path(row)).frames[:1]
    request = GenerationRequest(  # one frame: the BFM render path of generate at 512
        clip_id=row["clip_id"], num_frames=1, audio=read_audio(dataset.audio_path(row))[:3200], reference_image=frames[0],
        emotion="happy", emotion_level=2, coeffs_3dmm=np.asarray(row["coeffs_3dmm"], np.float32)[:1],
        coeffs_3dmm_align=np.asarray(row["coeffs_3dmm_align"], np.float32)[:1], coeffs_3dmm_kind="deep3d",
        landmarks=np.asarray(row["landmarks"], np.float32)[:1], source_frames=frames, options={"modality": "text"})
    generated = model.generate(request)
    assert generated.shape == (1, 256, 256, 3) and generated.dtype == np.uint8


def test_both_stages_losses_fall(run):
    eac = _losses(run / "eac" / "train_log.jsonl", "eac_reg")
    hef = _losses(run / "hef" / "train_log.jsonl", "g_hef_rec")
    assert np.mean(eac[-5:]) < 0.7 * np.mean(eac[:5]), eac
    assert np.mean(hef[-5:]) < 0.9 * np.mean(hef[:5]), hef


def test_hef_checkpoint_names_its_eac_predecessor(run):
    from tfbench.train.checkpoint import load_checkpoint

    eac, hef = load_checkpoint(run / "eac" / "last.pt"), load_checkpoint(run / "hef" / "last.pt")
    assert hef.predecessors == {"eac": eac.sha256}
    assert not hef.canonical and "tiny" in hef.notes


def test_eac_checkpoint_is_not_a_generator(run):
    from tfbench.models import load_model

    with pytest.raises(CheckpointError, match="hef"):
        load_model("emospace", run / "eac" / "last.pt")


def test_checkpoint_round_trip_gives_identical_frames(run, model, prepared_sample):
    from tfbench.models import load_model

    first = model.generate(_request(prepared_sample, modality="text"))
    again = load_model("emospace", run / "hef" / "last.pt").generate(_request(prepared_sample, modality="text"))
    assert first.dtype == np.uint8 and first.shape[1:] == (256, 256, 3)
    np.testing.assert_array_equal(first, again)


def _expressions(model, request):
    """EAC's expression coefficients for the request (the generator's own path)."""
    import torch

    from tfbench.models.emospace.data import mel_100hz, mel_frames

    mel = mel_100hz(request.audio)
    with torch.no_grad():
        _, z_emo = model.emotion_embedding(request, mel)
        window = torch.as_tensor(mel_frames(mel, 0, model.config.window))[None]
        beta, _ = model.eac(window, z_emo, torch.tensor([float(request.options.get("level", 1))]))
    return beta.numpy()


def test_emotions_and_intensities_change_the_expressions(model, prepared_sample):
    happy = _expressions(model, _request(prepared_sample, modality="text", level=1))
    request = _request(prepared_sample, modality="text", level=1)
    request.emotion = "neutral"
    neutral = _expressions(model, request)
    strong = _expressions(model, _request(prepared_sample, modality="text", level=3))
    scale = np.abs(happy).mean()
    assert np.abs(happy - neutral).mean() > 1e-3 * scale
    assert np.abs(happy - strong).mean() > 1e-3 * scale
    sentence = _request(prepared_sample, modality="text", text="a photo of a furious face.")  # generate --text
    assert np.abs(_expressions(model, sentence) - happy).mean() > 1e-3 * scale


def test_every_modality_generates_and_is_recorded(model, prepared_sample):
    for modality in ("text", "image", "audio"):
        request = _request(prepared_sample, modality=modality, level=2)
        frames = model.generate(request)
        assert frames.shape[0] == request.num_frames
        assert request.options["modality"] == modality and request.options["level"] == 2.0


def test_generate_cli_writes_a_playable_mp4_with_audio(run, prepared_sample, tmp_path):
    from PIL import Image

    from tfbench.io.video import probe_video, read_video

    row = prepared_sample.split("test")[0]
    Image.fromarray(read_video(prepared_sample.clip_path(row)).frames[0]).save(tmp_path / "face.png")
    out = tmp_path / "happy.mp4"
    result = CliRunner().invoke(app, ["generate", "emospace", "--checkpoint", str(run / "hef" / "last.pt"),
                                      "--audio", str(prepared_sample.audio_path(row)), "--image", str(tmp_path / "face.png"),
                                      "--emotion", "happy", "--level", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    info = probe_video(out)
    assert info.has_audio and abs(info.num_frames - row["num_frames"]) <= 1


@pytest.mark.parametrize("modality", ["text", "image", "audio"])
def test_evaluate_on_the_sample_for_each_modality(run, prepared_sample, tmp_path, modality):
    result = CliRunner().invoke(app, ["evaluate", "--model", "emospace", "--checkpoint", str(run / "hef" / "last.pt"),
                                      "--dataset", str(prepared_sample.root), "--split", "test", "--limit", "2", "--metrics", "psnr,ssim",
                                      "--set", f"modality={modality}", "--out", str(tmp_path / modality)])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / modality / "result.json").read_text())
    assert record["model"] == f"emospace[modality={modality}]"
    assert record["metrics"]["psnr"]["clips_scored"] == 2
