"""TalkCLIP (models/talkclip): every training stage, the text branch, generate and evaluate.

The tiny stages are trained once per module on ONE clip of the bundled sample (overfitting
it) through the shared loop; the later tests use those checkpoints.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
import torch

STEPS = {"sync": 100, "renderer": 60, "stage1": 100, "stage2": 60}


class OneClip:
    """A prepared dataset restricted to the first train clip (to overfit it)."""

    def __init__(self, prepared) -> None:
        self._prepared = prepared

    def __getattr__(self, name):
        return getattr(self._prepared, name)

    def split(self, name: str):
        rows = self._prepared.split(name)
        return rows.select([0]) if name == "train" else rows


@pytest.fixture(scope="module")
def chain(prepared_sample, tmp_path_factory):
    """Train sync -> renderer -> stage1 -> stage2 (tiny) on one clip; return the run folder."""
    from tfbench.models.talkclip.trainer import TalkCLIPTrainer
    from tfbench.train.checkpoint import load_checkpoint
    from tfbench.train.loop import train

    out = tmp_path_factory.mktemp("talkclip_run")
    home = tmp_path_factory.mktemp("talkclip_home")
    dataset = OneClip(prepared_sample)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TFBENCH_HOME", str(home))
        for stage in TalkCLIPTrainer.stages:
            predecessors = {name: load_checkpoint(out / name / "last.pt") for name in TalkCLIPTrainer.requires[stage]}

            def make(stage=stage, predecessors=predecessors):
                return TalkCLIPTrainer("tiny", dataset, stage=stage, total_steps=STEPS[stage], predecessors=predecessors,
                                       overrides={}, device="cpu", echo=lambda _: None)
            train(make, out / stage, steps=STEPS[stage], show_progress=False, echo=lambda _: None)
    return out


def _log(run, stage):
    return [json.loads(line) for line in (run / stage / "train_log.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("stage,key", [("sync", "total"), ("renderer", "total"), ("stage1", "total"), ("stage2", "g_rec"),
                                       ("stage2", "g_cos")])
def test_each_stage_loss_falls_when_overfitting_one_clip(chain, stage, key):
    log = _log(chain, stage)
    assert len(log) == STEPS[stage]
    if stage == "renderer":  # warping net alone for the first half, then the whole generator (PIRenderer)
        log = log[STEPS[stage] // 2:]
        assert all(not entry["warp_only"] for entry in log)
    first = np.mean([entry[key] for entry in log[:8]])
    last = np.mean([entry[key] for entry in log[-8:]])
    assert last < 0.9 * first, (stage, key, first, last)  # falls by at least 10 %


def test_stage2_text_probability_ramps_from_0_to_half(chain):
    log = _log(chain, "stage2")
    p = [entry["p_text"] for entry in log]
    assert p[0] == pytest.approx(0.5 / STEPS["stage2"]) and p[-1] == pytest.approx(0.5)
    assert np.all(np.diff(p) > 0)
    used = [entry["used_text"] for entry in log]
    assert 0 < sum(used) < len(used) / 2  # text code fed sometimes, video code mostly (mean p = 0.25)
    assert all(entry["used_text"] == 0 for entry in _log(chain, "stage1"))


def test_checkpoints_name_their_predecessors_and_round_trip(chain, prepared_sample):
    from tfbench.models.talkclip.trainer import TalkCLIPTrainer
    from tfbench.train.checkpoint import load_checkpoint

    checkpoints = {stage: load_checkpoint(chain / stage / "last.pt") for stage in TalkCLIPTrainer.stages}
    assert checkpoints["sync"].predecessors == {} and checkpoints["renderer"].predecessors == {}
    assert checkpoints["stage1"].predecessors == {"sync": checkpoints["sync"].sha256}
    assert checkpoints["stage2"].predecessors == {"stage1": checkpoints["stage1"].sha256,
                                                  "renderer": checkpoints["renderer"].sha256}
    assert all(not c.canonical and c.stage == stage for stage, c in checkpoints.items())
    # a fresh stage-2 trainer restores the saved state exactly
    trainer = TalkCLIPTrainer("tiny", OneClip(prepared_sample), stage="stage2", total_steps=STEPS["stage2"],
                              predecessors={k: checkpoints[k] for k in ("stage1", "renderer")}, overrides={},
                              echo=lambda _: None)
    trainer.load_state_dict(checkpoints["stage2"].state)
    restored = trainer.state_dict()
    for key in ("generator", "temporal_discriminator", "sync_discriminator", "clip", "renderer"):
        saved = checkpoints["stage2"].state[key]
        assert saved.keys() == restored[key].keys()
        assert all(torch.equal(saved[name], restored[key][name]) for name in saved)


@pytest.fixture(scope="module")
def model(chain):
    from tfbench.models import load_model

    return load_model("talkclip", chain / "stage2" / "last.pt")


def test_generation_needs_the_stage2_checkpoint(chain):
    from tfbench.errors import CheckpointError
    from tfbench.models import load_model

    with pytest.raises(CheckpointError, match="stage2"):
        load_model("talkclip", chain / "stage1" / "last.pt")


def test_different_texts_give_different_expressions(model, prepared_sample):
    from tfbench.models.request import phoneme_ids

    phones = phoneme_ids(prepared_sample.split("test")[0]["phonemes"])
    happy = model.expressions(phones, "A woman looks delighted and speaks with lip corners extremely pulled up.")
    again = model.expressions(phones, "A woman looks delighted and speaks with lip corners extremely pulled up.")
    angry = model.expressions(phones, "A man looks furious and speaks with brows lowered.")
    assert happy.shape == (len(phones), 64)
    np.testing.assert_array_equal(happy, again)
    assert np.abs(happy - angry).max() > 1e-3 * max(np.abs(happy).max(), 1e-6)


def test_style_text_rules():
    from tfbench.models.base import GenerationRequest
    from tfbench.models.talkclip.model import style_text

    def request(sentence, **options):
        return GenerationRequest(clip_id="c", num_frames=1, text=sentence, options=options)

    mead = "A woman looks pleased and speaks with lip corners slightly pulled up."
    assert style_text(request(mead)) == mead
    assert style_text(request("A person speaks with jaw dropped.")) == "An expressionless person."
    assert style_text(request("A man speaks.")) == "An expressionless man."
    assert style_text(request("A man speaks.", text="A man speaks.")) == "A man speaks."  # the user's own --text
    assert style_text(request(mead, prompt="A man won the champion.")) == "A man won the champion."


def test_generate_cli_writes_mp4_with_audio_and_records_text(model, chain, tmp_path):
    from PIL import Image
    from skimage import data
    from typer.testing import CliRunner

    from tfbench.cli import app
    from tfbench.io.audio import read_audio
    from tfbench.io.video import read_video

    wav = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), "Hello there, nice to meet you."], check=True, capture_output=True)
    image = tmp_path / "face.jpg"  # (a PNG read back in this process failed: "libpng error: bad parameters to zlib")
    Image.fromarray(data.astronaut()[:300, 100:400]).resize((128, 128)).save(image)
    out = tmp_path / "out.mp4"
    text = "A man looks happy and speaks with lips stretched."
    result = CliRunner().invoke(app, ["generate", "talkclip", "--checkpoint", str(chain / "stage2" / "last.pt"),
                                      "--audio", str(wav), "--image", str(image), "--text", text, "--out", str(out)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    seconds = len(read_audio(wav, sample_rate=16000)) / 16000
    video = read_video(out, fps=25.0)
    assert len(video.frames) == int(np.floor(seconds * 25)) and video.frames.shape[1:] == (128, 128, 3)
    assert len(read_audio(out, sample_rate=16000)) / 16000 == pytest.approx(len(video.frames) / 25, abs=0.1)
    provenance = json.loads((tmp_path / "out.mp4.json").read_text())
    assert provenance["options"]["text"] == text and "NOT CANONICAL" in result.output


def test_evaluate_model_on_the_sample(chain, prepared_sample, tmp_path):
    from typer.testing import CliRunner

    from tfbench.cli import app

    result = CliRunner().invoke(app, ["evaluate", "--model", "talkclip", "--checkpoint", str(chain / "stage2" / "last.pt"),
                                      "--dataset", str(prepared_sample.root), "--limit", "1", "--metrics", "ssim,cpbd",
                                      "--out", str(tmp_path / "eval"), "--no-progress"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    record = json.loads((tmp_path / "eval" / "result.json").read_text())
    assert record["model"] == "talkclip" and record["clips_failed"] == 0
    assert 0 < record["metrics"]["ssim"]["value"] < 1 and not record["model_canonical"]
    assert "An expressionless" in record["model_notes"]


def test_public_renderer_layout_loads(tmp_path):
    """PIRenderer/StyleTalk's renderer file (net_G_ema of FaceGenerator), random weights in that layout."""
    from tfbench.models.talkclip.config import PAPER
    from tfbench.models.talkclip.renderer import FaceGenerator, load_public_renderer

    torch.manual_seed(0)
    public = FaceGenerator(PAPER).eval()
    assert sum(p.numel() for p in public.parameters()) == 22_519_109
    assert {"mapping_net.first.0.weight", "warpping_net.flow_out.2.weight", "editing_net.decoder.final.model.0.weight",
            "warpping_net.hourglass.decoder.decoder4.conv_s.weight",
            "editing_net.decoder.res2.res1.norm2.mlp_gamma.weight"} <= set(public.state_dict())
    torch.save({"net_G_ema": public.state_dict(), "net_G": {}}, tmp_path / "renderer.pt")
    loaded = load_public_renderer(FaceGenerator(PAPER), tmp_path / "renderer.pt")
    image, coeffs = torch.rand(1, 3, 64, 64) * 2 - 1, torch.randn(1, 73, 27)  # any size divisible by 32
    with torch.no_grad():
        torch.testing.assert_close(loaded(image, coeffs)["fake_image"], public(image, coeffs)["fake_image"])


def test_renderer_stage_can_start_from_a_released_renderer(prepared_sample, tmp_path):
    """`--set renderer_init=FILE`: the renderer stage fine-tunes a file in the public layout (non-canonical)."""
    from tfbench.models.talkclip.config import TINY
    from tfbench.models.talkclip.renderer import FaceGenerator
    from tfbench.models.talkclip.trainer import TalkCLIPTrainer

    torch.manual_seed(1)
    public = FaceGenerator(TINY)
    torch.save({"net_G_ema": public.state_dict()}, tmp_path / "renderer.pt")
    trainer = TalkCLIPTrainer("tiny", OneClip(prepared_sample), stage="renderer", total_steps=1, predecessors={},
                              overrides={"renderer_init": str(tmp_path / "renderer.pt")}, echo=lambda _: None)
    state = trainer.state_dict()
    for key in ("renderer", "renderer_ema"):
        assert all(torch.equal(value, public.state_dict()[name]) for name, value in state[key].items())
    assert not trainer.canonical and "renderer.pt" in trainer.notes


# ------------------------------------------------------------------ paper config


@pytest.fixture()
def deep3d_labelled(prepared_sample, tmp_path):
    """The sample relabelled as a `--tdmm deep3d` dataset (its coefficients stay the offline fit):
    only to let the paper config start; nothing is measured on it."""
    root = tmp_path / "sample_deep3d"
    shutil.copytree(prepared_sample.root, root)
    meta = json.loads((root / "meta.json").read_text())
    meta["backends"]["tdmm"]["name"] = "deep3d"
    meta["fingerprint"] = meta["fingerprint"] + "-deep3d-relabelled"
    (root / "meta.json").write_text(json.dumps(meta))
    from tfbench.data import open_prepared

    return open_prepared(root)


def test_paper_config_refuses_to_start_without_its_inputs(prepared_sample):
    from tfbench.errors import InputError, MissingWeightsError
    from tfbench.models.talkclip.trainer import TalkCLIPTrainer

    with pytest.raises(MissingWeightsError, match="tfbench weights import clip_vit_b32"):
        TalkCLIPTrainer.check_ready("paper", {}, stage="stage1")
    with pytest.raises(MissingWeightsError, match="vgg19"):
        TalkCLIPTrainer.check_ready("paper", {}, stage="renderer")
    TalkCLIPTrainer.check_ready("paper", {}, stage="sync")  # D_sync needs no pretrained network
    with pytest.raises(InputError, match="--tdmm deep3d"):
        TalkCLIPTrainer("paper", prepared_sample, stage="sync", total_steps=1, predecessors={}, overrides={},
                        echo=lambda _: None)


def test_paper_config_one_step_per_stage_with_random_pretrained_nets(deep3d_labelled, tmp_path, monkeypatch):
    """`tfbench train talkclip --config paper --stage all --steps 1`: d=512, CLIP ViT-B/32, 256x256
    PIRenderer with the VGG-19 loss, random non-canonical CLIP and VGG weights; batches of 1."""
    from typer.testing import CliRunner

    import tfbench.data
    from tfbench.cli import app
    from tfbench.models.talkclip.model import TalkCLIP
    from tfbench.nets.clip import write_random_weights
    from tfbench.nets.vgg19 import build_vgg19
    from tfbench.testing import install_random_file, install_random_weights

    install_random_file("clip_vit_b32", write_random_weights)
    install_random_weights("vgg19", build_vgg19())
    monkeypatch.setattr(tfbench.data, "open_prepared", lambda name: deep3d_labelled)
    result = CliRunner().invoke(app, ["train", "talkclip", "--dataset", "x", "--config", "paper", "--stage", "all",
                                      "--out", str(tmp_path / "paper"), "--steps", "1", "--quiet",
                                      "--set", "batch_size=1", "--set", "renderer_batch_size=1",
                                      "--set", "sync_batch_size=2"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "NOT CANONICAL" in result.output
    for stage in ("sync", "renderer", "stage1", "stage2"):
        log = json.loads((tmp_path / "paper" / stage / "train_log.jsonl").read_text())
        assert all(np.isfinite(value) for value in log.values()), log
    model = TalkCLIP.from_checkpoint(tmp_path / "paper" / "stage2" / "last.pt")
    assert model.config.d_model == 512 and model.config.clip_frames == 64 and model.config.image_size == 256
    assert model.generator.text_encoder.clip.text_projection.shape == (512, 512)
    assert {"coeffs_3dmm", "coeffs_3dmm_align"} <= model.needs and not model.canonical


def test_stage2_resumes_to_exactly_the_uninterrupted_run(chain, prepared_sample, tmp_path):
    from tfbench.models.talkclip.trainer import TalkCLIPTrainer
    from tfbench.train.checkpoint import load_checkpoint
    from tfbench.train.loop import train

    predecessors = {name: load_checkpoint(chain / name / "last.pt") for name in ("stage1", "renderer")}

    def make():
        return TalkCLIPTrainer("tiny", OneClip(prepared_sample), stage="stage2", total_steps=6, predecessors=predecessors,
                               overrides={}, echo=lambda _: None)
    train(make, tmp_path / "whole", steps=6, show_progress=False, echo=lambda _: None)
    train(make, tmp_path / "parts", steps=3, show_progress=False, echo=lambda _: None)
    train(make, tmp_path / "parts", steps=6, resume=True, show_progress=False, echo=lambda _: None)
    whole = load_checkpoint(tmp_path / "whole" / "last.pt").state["generator"]
    parts = load_checkpoint(tmp_path / "parts" / "last.pt").state["generator"]
    assert all(torch.equal(whole[name], parts[name]) for name in whole)
