"""The ``lse`` metric: registry, parameters, errors, aggregation, and end-to-end parity with
Wav2Lip's LSE script (``SyncNetInstance_calc_scores.py``: the reference ``evaluate`` with
every frame resized to 224x224 by ``cv2.resize``) on the same frames, audio and weights."""

from __future__ import annotations

import types

import cv2
import numpy as np
import pytest
import torch

from test_syncnet_parity import random_syncnet_state, synthetic_face_frames, synthetic_speech, write_aac
from tfbench.errors import FaceError, InputError, MissingWeightsError
from tfbench.evaluate.clip import ClipInputs
from tfbench.evaluate.metrics import METRICS
from tfbench.evaluate.metrics.base import ClipScore
from tfbench.evaluate.metrics.lse import LSE
from tfbench.testing import install_random_weights


def write_lossless_frames(folder, frames_rgb) -> None:
    """Frames as PNG data in ``%06d.jpg`` files: the reference globs ``*.jpg`` and
    ``cv2.imread`` decodes by content, so both sides see identical pixels."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, frame in enumerate(frames_rgb, 1):
        ok, data = cv2.imencode(".png", np.ascontiguousarray(frame[:, :, ::-1]))
        assert ok
        (folder / f"{index:06d}.jpg").write_bytes(data.tobytes())


@pytest.fixture(scope="module")
def wav2lip_case(tmp_path_factory):
    """160x160 'generated' clip + AAC audio, scored by the reference the way Wav2Lip does."""
    import subprocess

    from syncnet_python.SyncNetInstance import SyncNetInstance
    from syncnet_python.SyncNetModel import S

    from tfbench.io._ffmpeg import ffmpeg_exe
    from tfbench.io.audio import read_audio

    root = tmp_path_factory.mktemp("lse_metric")
    state = random_syncnet_state(seed=5)
    weights = root / "syncnet_v2.model"
    torch.save(state, weights)
    frames = synthetic_face_frames(34, 160, seed=9)
    m4a = write_aac(root / "speech.m4a", synthetic_speech(1.3, seed=2))
    folder = root / "reference"
    write_lossless_frames(folder, frames)
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-i", str(m4a), "-async", "1", "-ac", "1", "-vn",
                    "-acodec", "pcm_s16le", "-ar", "16000", str(folder / "audio.wav")], check=True)

    instance = SyncNetInstance(net=S(), device="cpu")
    instance.loadParameters(str(weights))
    imread = cv2.imread
    try:  # Wav2Lip's change to evaluate(): img = cv2.resize(cv2.imread(f), (224, 224))
        cv2.imread = lambda name: cv2.resize(imread(name), (224, 224))
        reference = instance.evaluate(types.SimpleNamespace(tmp_dir=str(folder), batch_size=20, vshift=15))
    finally:
        cv2.imread = imread
    return {"state": state, "frames": frames, "audio": read_audio(m4a), "reference": reference}


def test_registered():
    assert METRICS.get("lse") is LSE
    assert LSE.output_ids() == ("lse_c", "lse_d", "av_offset")


def test_precropped_matches_wav2lip_reference(wav2lip_case):
    install_random_weights("syncnet_v2", wav2lip_case["state"])
    metric = LSE(mode="precropped", batch_size=8)
    clip = ClipInputs.from_arrays(wav2lip_case["frames"], audio=wav2lip_case["audio"], fps=25)
    score = metric.score_clip(clip)
    offset, confidence, distance = wav2lip_case["reference"]
    assert score.values["av_offset"] == offset
    assert score.values["lse_c"] == pytest.approx(confidence, rel=1e-4)
    assert score.values["lse_d"] == pytest.approx(distance, rel=1e-4)
    assert score.info["windows"] == 32 - 5  # 1.3 s of audio = 32 frames < 34 video frames


def test_crops_are_memoised_per_clip(wav2lip_case):
    install_random_weights("syncnet_v2", wav2lip_case["state"])
    clip = ClipInputs.from_arrays(wav2lip_case["frames"][:12], audio=wav2lip_case["audio"], fps=25)
    first = LSE().score_clip(clip)
    assert any(key[0] == "syncnet_crops" for key in clip._memo)
    again = LSE(batch_size=3).score_clip(clip)
    assert again.values == pytest.approx(first.values, rel=1e-5)


def test_needs_25_fps(wav2lip_case):
    install_random_weights("syncnet_v2", wav2lip_case["state"])
    clip = ClipInputs.from_arrays(wav2lip_case["frames"], audio=wav2lip_case["audio"], fps=30)
    with pytest.raises(InputError, match="25 fps"):
        LSE().score_clip(clip)


def test_missing_weights_fail_at_construction():
    with pytest.raises(MissingWeightsError, match="syncnet_v2"):
        LSE()
    install_random_weights("syncnet_v2", random_syncnet_state(seed=1))
    LSE(mode="precropped")
    with pytest.raises(MissingWeightsError, match="tfbench weights download s3fd"):
        LSE(mode="pipeline")


@pytest.mark.parametrize("params", [
    {"mode": "full"}, {"batch_size": 0}, {"mode": "pipeline", "min_track_frames": 2}, {"min_track": 100},
])
def test_bad_params_are_clear_errors(params):
    install_random_weights("syncnet_v2", random_syncnet_state(seed=1))
    with pytest.raises(InputError, match="lse:"):
        LSE(**params)


def test_protocol_params_record_the_choices():
    install_random_weights("syncnet_v2", random_syncnet_state(seed=1))
    from test_s3fd import random_s3fd_state

    install_random_weights("s3fd", random_s3fd_state())
    pipeline = LSE(mode="pipeline", min_track_frames=100)
    params = pipeline.protocol_params()
    assert params["mode"] == "pipeline" and params["min_track_frames"] == 100
    assert params["crop_scale"] == 0.4 and params["detection_scale"] == 0.25
    assert pipeline.weights == ("syncnet_v2", "s3fd")
    assert "min_track_frames" not in LSE().protocol_params()


def test_aggregate_is_mean_over_clips_and_mean_absolute_offset():
    install_random_weights("syncnet_v2", random_syncnet_state(seed=1))
    scores = [
        ClipScore({"lse_c": 7.0, "lse_d": 6.0, "av_offset": -2.0}),
        ClipScore({"lse_c": 5.0, "lse_d": 8.0, "av_offset": 1.0}),
    ]
    assert LSE().aggregate(scores) == {"lse_c": 6.0, "lse_d": 7.0, "av_offset": 1.5}
    assert LSE().aggregate([]) == {"lse_c": None, "lse_d": None, "av_offset": None}


def test_pipeline_clip_shorter_than_min_track_fails_clearly(wav2lip_case):
    from test_s3fd import random_s3fd_state

    install_random_weights("syncnet_v2", wav2lip_case["state"])
    install_random_weights("s3fd", random_s3fd_state())
    clip = ClipInputs.from_arrays(wav2lip_case["frames"], audio=wav2lip_case["audio"], fps=25)
    with pytest.raises(FaceError, match="fewer than min_track_frames=100"):
        LSE(mode="pipeline", min_track_frames=100).score_clip(clip)


def test_pipeline_without_face_fails_clearly(wav2lip_case):
    """A detector that never fires (heads biased to 'background') -> 'no face' failure."""
    from test_s3fd import random_s3fd_state

    state = random_s3fd_state()
    for index in range(6):
        state[f"conf.{index}.weight"].zero_()
        state[f"conf.{index}.bias"].zero_()
        state[f"conf.{index}.bias"][0] = 20.0  # background logit
    install_random_weights("syncnet_v2", wav2lip_case["state"])
    install_random_weights("s3fd", state)
    clip = ClipInputs.from_arrays(wav2lip_case["frames"], audio=wav2lip_case["audio"], fps=25)
    with pytest.raises(FaceError, match="no face"):
        LSE(mode="pipeline", min_track_frames=10).score_clip(clip)


def test_pipeline_mode_matches_reference_chain(wav2lip_case, tmp_path):
    """Pipeline mode end to end vs the reference's own pieces chained by hand: its S3FD on
    every frame, tracking (original rule), its ``_crop`` (frames recorded as they go to the
    video writer; its ffmpeg audio cut), its ``evaluate`` on those crops and that audio."""
    import shutil

    from scipy.io import wavfile
    from syncnet_python.detectors.s3fd import S3FD
    from syncnet_python.detectors.s3fd.nets import S3FDNet
    from syncnet_python.SyncNetInstance import SyncNetInstance
    from syncnet_python.SyncNetModel import S

    from test_s3fd import random_s3fd_state, reference_pipeline
    from test_syncnet_parity import int16_like_ffmpeg
    from tfbench.evaluate.syncnet.pipeline import track_faces

    frames = synthetic_face_frames(20, 256, seed=9)  # random S3FD finds several stable "faces"
    audio = wav2lip_case["audio"]
    s3fd_state = random_s3fd_state(0)
    install_random_weights("syncnet_v2", wav2lip_case["state"])
    install_random_weights("s3fd", s3fd_state)
    clip = ClipInputs.from_arrays(frames, audio=audio, fps=25)
    ours = LSE(mode="pipeline", min_track_frames=10, min_face_size=1).score_clip(clip)

    net = S3FDNet(device="cpu")
    net.load_state_dict(s3fd_state)
    detector = S3FD(net=net, device="cpu")
    detections = [detector.detect_faces(frame, conf_th=0.9, scales=[0.25]) for frame in frames]
    tracks = track_faces(detections, min_track_frames=10, min_face_size=1)
    track = max(tracks, key=lambda t: len(t.frames))
    assert ours.info["track_frames"] == [int(track.frames[0]), int(track.frames[-1])]
    assert ours.info["num_tracks"] == len(tracks) > 1

    paths = []
    for index, frame in enumerate(frames):
        paths.append(str(tmp_path / f"frame{index:06d}.png"))
        cv2.imwrite(paths[-1], frame[:, :, ::-1])
    wav = tmp_path / "speech.wav"
    wavfile.write(wav, 16000, int16_like_ffmpeg(audio))
    written = []
    real_writer = cv2.VideoWriter

    class RecordingWriter:
        def __init__(self, *args):
            self.inner = real_writer(*args)

        def write(self, frame):
            written.append(frame[:, :, ::-1].copy())  # back to RGB for write_lossless_frames
            self.inner.write(frame)

        def release(self):
            self.inner.release()

    cv2.VideoWriter = RecordingWriter
    try:
        reference_pipeline(10, 1)._crop({"frame": track.frames, "bbox": track.boxes}, paths, str(wav), tmp_path / "crop")
    finally:
        cv2.VideoWriter = real_writer
    folder = tmp_path / "reference"
    write_lossless_frames(folder, written)
    shutil.copy(tmp_path / "crop.wav", folder / "audio.wav")
    instance = SyncNetInstance(net=S(), device="cpu")
    weights = tmp_path / "syncnet_v2.model"
    torch.save(wav2lip_case["state"], weights)
    instance.loadParameters(str(weights))
    offset, confidence, distance = instance.evaluate(types.SimpleNamespace(tmp_dir=str(folder), batch_size=20, vshift=15))

    assert ours.values["av_offset"] == offset
    assert ours.values["lse_c"] == pytest.approx(confidence, rel=1e-4)
    assert ours.values["lse_d"] == pytest.approx(distance, rel=1e-4)


def test_runner_scores_a_sample_clip_and_reports_a_short_one(wav2lip_case, tmp_path):
    """Through the evaluator: a bundled sample clip (decoded by tfbench, audio from its AAC
    track) is scored, a 5-frame clip becomes a per-clip failure, and the result records the
    protocol parameters and the non-canonical weights."""
    from pathlib import Path

    from tfbench.evaluate.runner import ClipJob, Runner, RunInfo
    from tfbench.io.video import write_video

    install_random_weights("syncnet_v2", wav2lip_case["state"])
    sample = Path(__file__).resolve().parents[1] / "tfbench/sample_raw/W001/video/front/happy/level_2/001.mp4"
    if not sample.exists():
        pytest.fail(f"bundled sample clip missing: {sample}")
    short = tmp_path / "short.mp4"
    write_video(short, wav2lip_case["frames"][:5], fps=25, audio=wav2lip_case["audio"][:3200])
    jobs = [ClipJob("sample", sample, sample), ClipJob("short", short, short)]
    info = RunInfo(model="gt", dataset="sample", split="test", protocol="pred-vs-gt/v1")
    summary = Runner([LSE()], tmp_path / "out", info, progress=False).run(jobs)

    result = summary.record.metrics
    assert result["lse_c"].clips_scored == 1 and result["lse_c"].clips_failed == 1
    assert result["lse_c"].params["mode"] == "precropped"
    assert result["lse_d"].higher_is_better is False and result["lse_c"].higher_is_better is True
    assert result["lse_c"].weights["syncnet_v2"]["canonical"] is False
    [failure] = [f for f in summary.failures if f.metric == "lse"]
    assert failure.clip_id == "short" and "too short" in failure.error

    clip = ClipInputs.from_files("sample", sample, sample)
    direct = LSE().score_clip(clip)
    assert result["lse_c"].value == pytest.approx(direct.values["lse_c"], rel=1e-6)
    assert result["lse_d"].value == pytest.approx(direct.values["lse_d"], rel=1e-6)


def test_precropped_refuses_whole_frames_and_accepts_face_crops(wav2lip_case):
    """Pre-cropped mode used to score whole frames (176x144) silently: frames whose face is
    small in the frame now fail the clip with the fix; face crops are scored as before."""
    from pathlib import Path

    from skimage.data import astronaut

    import tfbench
    from tfbench.io.video import read_video

    install_random_weights("syncnet_v2", wav2lip_case["state"])
    image = astronaut()
    canvas = np.full((144, 176, 3), 90, np.uint8)  # a 176x144 frame with a 45 px face in it
    canvas[16:128, 32:144] = cv2.resize(np.ascontiguousarray(image[0:256, 96:352]), (112, 112), interpolation=cv2.INTER_AREA)
    frames = np.repeat(canvas[None], 34, axis=0)
    clip = ClipInputs.from_arrays(frames, audio=wav2lip_case["audio"])
    with pytest.raises(FaceError, match=r"needs face crops, but in 8 of 8 checked frames .*lse.mode=pipeline"):
        LSE().score_clip(clip)
    assert np.isfinite(LSE(min_crop_face_fraction=0).score_clip(clip).values["lse_d"])  # the documented opt-out

    sample = Path(tfbench.__file__).parent / "sample_raw/W001/video/front/happy/level_1/001.mp4"
    crops = read_video(sample).frames[:34]  # the bundled sample: square face crops
    score = LSE().score_clip(ClipInputs.from_arrays(crops, audio=wav2lip_case["audio"]))
    assert score.info["crop_check_faces"] == 8 and np.isfinite(score.values["lse_c"])
    assert LSE().protocol_params()["min_crop_face_fraction"] == 0.3
