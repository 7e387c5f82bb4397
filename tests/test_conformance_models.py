"""One contract every registered Generator passes (in the spirit of diffusers' pipeline tester
mixin). Parametrised over the MODELS registry: a new method is tested here with no new test code,
through its ``tiny_test_checkpoint(tmp_dir)`` hook (tiny random configuration, seconds to run).

Contract: declared needs are known inputs and enforced; ``generate`` returns uint8
``[num_frames, H, W, 3]`` (the source's size for video-driven methods); ``tfbench generate``
writes 25 fps with the driving audio and provenance; the checkpoint round-trips (same sha256,
same frames); a foreign checkpoint is refused; a tiny random checkpoint is non-canonical.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import soundfile
import torch

from test_g4g import FRAMES, SIZE, SR, _clip
from tfbench.errors import CheckpointError, InputError
from tfbench.models import MODELS
from tfbench.models.base import INPUTS
from tfbench.models.request import build_request
from tfbench.train.checkpoint import Checkpoint, save_checkpoint

NAMES = MODELS.names()


def _sources(kind: str | None = "offline_pca") -> dict:
    """Every input a method may need, for the synthetic 64x64 talking clip of test_g4g."""
    frames, audio, landmarks = _clip(0)
    return dict(audio=audio, source_frames=frames, reference_image=frames[0], text="a person speaks calmly",
                emotion="neutral", level=1, emotion_image=frames[0], landmarks=landmarks,
                coeffs_3dmm=np.zeros((FRAMES, 257), np.float32), coeffs_3dmm_kind=kind,
                coeffs_3dmm_align=np.tile(np.float32([SIZE, SIZE, 20, 32, 32]), (FRAMES, 1)),
                phonemes=np.full(FRAMES, 39, np.int64), pose_frames=frames)


def _request(model, **drop):
    sources = _sources(model.needs_3dmm_kind or "offline_pca")
    sources.update(drop)
    return build_request("conformance", model.needs, num_frames=FRAMES, **sources)


@pytest.fixture(scope="module", params=NAMES)
def loaded(request, tmp_path_factory):
    cls = MODELS.get(request.param)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp(f"model_{request.param}")
    path = cls.tiny_test_checkpoint(folder)
    model = cls.from_checkpoint(path)
    frames = model.generate(_request(model))
    yield {"name": request.param, "cls": cls, "path": path, "model": model, "frames": frames, "folder": folder}
    torch.set_num_threads(threads)


def test_declarations(loaded):
    cls = loaded["cls"]
    assert cls.name == loaded["name"]
    assert cls.needs and cls.needs <= INPUTS, f"unknown inputs {sorted(cls.needs - INPUTS)}"
    assert cls.needs_3dmm_kind in (None, "offline_pca", "deep3d")
    from tfbench.weights import specs

    assert set(cls.weights) <= {spec.name for spec in specs()}
    assert loaded["model"].notes, "a model says what it is in its notes (recorded with every result)"


def test_frames_have_the_requested_count_and_size(loaded):
    frames = loaded["frames"]
    assert frames.dtype == np.uint8 and frames.ndim == 4 and frames.shape[0] == FRAMES and frames.shape[-1] == 3
    if "source_video" in loaded["cls"].needs:
        assert frames.shape[1:3] == (SIZE, SIZE)
    short = _request(loaded["model"])
    short.num_frames = 7
    assert loaded["model"].generate(short).shape[0] == 7


def test_every_declared_input_is_required(loaded):
    model = loaded["model"]
    fields = {"source_video": "source_frames", "pose_video": "pose_frames", "emotion": "emotion"}
    for need in sorted(model.needs - {"coeffs_3dmm_align"}):
        with pytest.raises(InputError, match="needs"):
            model.generate(_request(model, **{fields.get(need, need): None}))
    if model.needs_3dmm_kind == "deep3d":
        request = _request(model)
        request.coeffs_3dmm_kind = "offline_pca"
        with pytest.raises(InputError, match="--tdmm deep3d"):
            model.generate(request)


def test_checkpoint_round_trip_and_foreign_checkpoints(loaded, tmp_path):
    cls, path = loaded["cls"], loaded["path"]
    foreign = save_checkpoint(Checkpoint(model="someone_else", config_name="tiny", config={}, step=1, state={}),
                              tmp_path / "foreign.pt")
    plain = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(1)}, plain)
    for bad in (foreign, plain):
        with pytest.raises(CheckpointError):
            cls.from_checkpoint(bad)
    if path is None:
        return
    again = cls.from_checkpoint(path)
    assert again.checkpoint_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert np.array_equal(again.generate(_request(again)), loaded["frames"])
    assert not again.canonical, "a tiny random checkpoint must never pass as canonical"


def test_generate_cli_keeps_audio_fps_and_records_provenance(loaded, tmp_path, monkeypatch):
    import tfbench.face.landmarks as landmarks_module
    from typer.testing import CliRunner

    from tfbench.cli import app
    from tfbench.io.audio import read_audio
    from tfbench.io.video import probe_video, write_video

    frames, audio, landmarks = _clip(0)

    class Found:
        points = landmarks

    monkeypatch.setattr(landmarks_module, "detect_landmarks", lambda frames, backend="dlib": Found())
    video = write_video(tmp_path / "source.mp4", frames, fps=25, audio=audio, lossless=True)
    soundfile.write(tmp_path / "speech.wav", audio, SR)
    out = tmp_path / "out.mp4"
    args = ["generate", loaded["name"], "--audio", tmp_path / "speech.wav", "--video", video, "--out", out,
            "--text", "a calm voice", "--emotion", "neutral", "--level", "1", "--emotion-image", tmp_path / "face.png",
            "--pose-from", video, "--set", "seed=3"]
    import cv2

    cv2.imwrite(str(tmp_path / "face.png"), frames[0][..., ::-1])
    if loaded["path"] is not None:
        args += ["--checkpoint", loaded["path"]]
    import tfbench.annotate.deep3d as deep3d

    sources = _sources()  # Deep3DFaceRecon needs real weights: its coefficients are given here
    monkeypatch.setattr(deep3d, "deep3d_coefficients",
                        lambda frames, points: (sources["coeffs_3dmm"], sources["coeffs_3dmm_align"]))
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    info = probe_video(out)
    assert info.num_frames == FRAMES and info.fps == pytest.approx(25.0) and info.has_audio
    assert abs(len(read_audio(out)) / SR - FRAMES / 25) < 0.05
    provenance = json.loads(out.with_name(out.name + ".json").read_text())
    assert provenance["model"] == loaded["name"] and provenance["canonical"] == loaded["model"].canonical
    given = {"text": "a calm voice", "emotion": "neutral", "level": 1,
             "emotion_image": str(tmp_path / "face.png"), "pose_from": str(video), "seed": "3"}
    # every option the user gave is recorded (a method may add what it resolved, e.g. its prompt)
    assert {key: provenance["options"].get(key) for key in given} == given


def _trainer(name):
    from tfbench.errors import TfbenchError

    try:
        return MODELS.get(name).trainer_class()
    except TfbenchError:  # nothing to train
        return None


@pytest.mark.parametrize("name", [name for name in NAMES if _trainer(name) is not None])
def test_every_stage_trains_and_the_last_checkpoint_is_self_contained(name, prepared_sample, tmp_path):
    """Each stage of the chain trains one step of the tiny config on the bundled sample,
    citing its predecessors by sha256; the last stage's checkpoint alone loads and generates."""
    from tfbench.train.checkpoint import LAST, load_checkpoint
    from tfbench.train.loop import check_predecessors, train

    trainer_class = _trainer(name)
    stages = trainer_class.stages
    assert stages and len(set(stages)) == len(stages)
    for stage, required in trainer_class.requires.items():
        assert stage in stages and all(stages.index(r) < stages.index(stage) for r in required), (stage, required)
    overrides = trainer_class.tiny_test_overrides()
    done = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for stage in stages:
            predecessors = {earlier: done[earlier] for earlier in trainer_class.requires.get(stage, ())}
            check_predecessors(trainer_class, stage, predecessors)
            trainer_class.check_ready("tiny", overrides, stage=stage)
            out = tmp_path / stage
            train(lambda: trainer_class("tiny", prepared_sample, stage=stage, total_steps=1, predecessors=predecessors,
                                        overrides=overrides, device="cpu", echo=lambda _: None),
                  out, steps=1, show_progress=False, echo=lambda _: None)
            done[stage] = load_checkpoint(out / LAST, model=name)
            assert done[stage].stage == stage and done[stage].predecessors == {k: v.sha256 for k, v in predecessors.items()}
            assert not done[stage].canonical
    finally:
        torch.set_num_threads(threads)
    last = tmp_path / stages[-1] / LAST
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "last.pt").write_bytes(last.read_bytes())  # no other file next to it
    model = MODELS.get(name).from_checkpoint(alone / "last.pt")
    assert not model.canonical and model.checkpoint_sha256 == done[stages[-1]].sha256
