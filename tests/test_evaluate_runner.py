"""The evaluator's machinery: ClipInputs policies, the runner's cache, resume, failures,
weights checks, provenance and bounded memory. Uses metrics defined here, so it does not
depend on which real metrics exist."""

from __future__ import annotations

import csv
import gc
import json
import weakref
from pathlib import Path

import numpy as np
import pytest

from tfbench.errors import InputError, MissingWeightsError
from tfbench.evaluate.clip import ClipInputs
from tfbench.evaluate.metrics.base import ClipScore, Metric
from tfbench.evaluate.runner import ClipJob, Runner, RunInfo
from tfbench.io.video import read_video, write_video
from tfbench.results import ResultRecord, validate

FPS = 25.0
SIZE = 32


class MeanAbsDiff(Metric):
    """Test metric: mean |pred - gt| over the clip; counts its calls."""

    id = "test_mad"
    higher_is_better = False

    def __init__(self, device: str = "cpu", **params) -> None:
        super().__init__(device, **params)
        self.calls: list[str] = []

    def score_clip(self, clip: ClipInputs) -> ClipScore:
        self.calls.append(clip.clip_id)
        diff = np.abs(clip.frames("pred").astype(np.int16) - clip.frames("gt").astype(np.int16))
        return ClipScore(values={self.id: float(diff.mean())}, info={"frames": int(diff.shape[0])})


class AudioEnergy(Metric):
    """Test metric needing audio: RMS of the clip's audio."""

    id = "test_audio"
    higher_is_better = True
    needs = frozenset({"pred", "audio"})

    def score_clip(self, clip: ClipInputs) -> ClipScore:
        return ClipScore(values={self.id: float(np.sqrt(np.mean(clip.audio.astype(np.float64) ** 2)))})


class PixelSum(Metric):
    """Test metric with streaming state: aggregate = total pixel mean over all frames of all clips."""

    id = "test_state"
    higher_is_better = True

    def score_clip(self, clip: ClipInputs) -> ClipScore:
        frames = clip.frames("pred").astype(np.float64)
        return ClipScore(values={}, state={"sum": np.array(frames.sum()), "count": np.array(frames.size)})

    def aggregate(self, scores):
        total = count = 0.0
        for score in scores:
            total += float(score.state["sum"])
            count += float(score.state["count"])
        return {self.id: total / count if count else None}


class NeedsWeights(MeanAbsDiff):
    id = "test_weights"
    weights = ("fid_inception",)


class UsesPackageWeights(MeanAbsDiff):
    id = "test_pkg"
    weights = ("dlib_landmarks68",)


class Killed(BaseException):
    """Stands for SIGKILL/Ctrl-C: not an Exception, so the runner does not record it."""


def _video(seed: int, frames: int = 12, size: int = SIZE) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (frames, size, size, 3), dtype=np.uint8)


def _audio(seconds: float, seed: int = 0) -> np.ndarray:
    t = np.arange(int(16000 * seconds)) / 16000
    return (0.2 * np.sin(2 * np.pi * (200 + 50 * seed) * t)).astype(np.float32)


def _write_pair(root: Path, clip_id: str, seed: int, pred_frames: int = 12, gt_frames: int = 12,
                pred_size: int = SIZE, gt_audio: bool = True) -> ClipJob:
    gt = _video(seed, gt_frames)
    pred = _video(seed + 100, pred_frames, pred_size)
    gt_path = write_video(root / "gt" / f"{clip_id}.mp4", gt, fps=FPS,
                          audio=_audio(gt_frames / FPS, seed) if gt_audio else None, lossless=True)
    pred_path = write_video(root / "pred" / f"{clip_id}.mp4", pred, fps=FPS, lossless=True)
    return ClipJob(clip_id, pred_path, gt_path)


@pytest.fixture(scope="module")
def clip_files(tmp_path_factory) -> dict[str, ClipJob]:
    """Good and bad clips written once for the module (lossless, 32x32, 12 frames)."""
    root = tmp_path_factory.mktemp("clips")
    jobs = {f"good{i}": _write_pair(root, f"good{i}", i) for i in range(3)}
    jobs["short"] = _write_pair(root, "short", 10, pred_frames=11)  # 1 frame shorter: truncated
    jobs["long_gap"] = _write_pair(root, "long_gap", 11, pred_frames=6)  # 6 frames: per-clip error
    jobs["big"] = _write_pair(root, "big", 12, pred_size=64)  # other resolution
    jobs["silent"] = _write_pair(root, "silent", 13, gt_audio=False)  # gt has no audio stream
    corrupt = root / "pred" / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    jobs["corrupt"] = ClipJob("corrupt", corrupt, jobs["good0"].gt)
    jobs["no_pred"] = ClipJob("no_pred", root / "pred" / "absent.mp4", jobs["good0"].gt)
    jobs["no_gt"] = ClipJob("no_gt", jobs["good0"].pred, None, error="no ground truth for no_gt.mp4")
    return jobs


def _info() -> RunInfo:
    return RunInfo(model="test", dataset="unit", split="test", protocol="pred-vs-gt/v1")


# ---------------------------------------------------------------------- ClipInputs


def test_clip_truncates_within_tolerance_and_records_it():
    pred, gt = _video(0, 10), _video(1, 12)
    clip = ClipInputs.from_arrays(pred, gt)
    assert clip.frames("pred").shape[0] == clip.frames("gt").shape[0] == 10
    assert clip.notes["truncated_frames"] == 2 and clip.notes["truncated_from"] == "gt"
    np.testing.assert_array_equal(clip.frames("gt"), gt[:10])


def test_clip_length_gap_beyond_tolerance_is_an_input_error():
    clip = ClipInputs.from_arrays(_video(0, 9), _video(1, 12))
    with pytest.raises(InputError, match="9 frames, ground truth 12"):
        clip.frames("pred")
    with pytest.raises(InputError):  # same error again, without decoding again
        clip.frames("gt")


def test_clip_resolution_mismatch_errors_unless_resize_pred():
    pred, gt = _video(0, 4, 48), _video(1, 4, 32)
    with pytest.raises(InputError, match="--resize-pred"):
        ClipInputs.from_arrays(pred, gt).frames("pred")
    clip = ClipInputs.from_arrays(pred, gt, resize_pred=True)
    assert clip.frames("pred").shape == (4, 32, 32, 3)
    assert clip.notes["resized_pred_from"] == [48, 48]


def test_clip_reference_audio_readonly_and_memo():
    gt = _video(1, 5)
    clip = ClipInputs.from_arrays(_video(0, 5), gt, audio=_audio(0.2))
    np.testing.assert_array_equal(clip.reference, gt[0])
    assert "reference" not in clip.notes  # the default is documented, not noted per clip
    assert ClipInputs.from_arrays(_video(0, 5), reference=gt[2]).reference is not None
    assert clip.audio.dtype == np.float32 and clip.audio.shape == (3200,)
    with pytest.raises(ValueError):
        clip.frames("pred")[0, 0, 0, 0] = 1  # shared between metrics: read-only
    calls = []
    assert clip.memo("k", lambda: calls.append(1) or 7) == 7
    assert clip.memo("k", lambda: calls.append(1) or 8) == 7
    assert calls == [1]
    assert not ClipInputs.from_arrays(_video(0, 5)).has("reference")
    with pytest.raises(InputError, match="no identity reference"):
        ClipInputs.from_arrays(_video(0, 5)).reference


def test_clip_landmarks_detected_once_per_backend(monkeypatch):
    import tfbench.face.landmarks as landmarks

    from types import SimpleNamespace

    calls = []

    def fake(frames, backend="dlib"):
        calls.append(backend)
        return SimpleNamespace(backend=backend, num_faces=np.ones(len(frames), int))

    monkeypatch.setattr(landmarks, "detect_landmarks", fake)
    clip = ClipInputs.from_arrays(_video(0, 3), _video(1, 3))
    assert clip.landmarks("pred").backend == "dlib" and clip.landmarks("pred") is clip.landmarks("pred")
    assert clip.landmarks("pred", "fan").backend == "fan"
    assert calls == ["dlib", "fan"]


def test_clip_from_files_decodes_at_25fps_and_reads_gt_audio(clip_files):
    job = clip_files["good0"]
    clip = ClipInputs.from_files("good0", job.pred, job.gt)
    np.testing.assert_array_equal(clip.frames("pred"), read_video(job.pred).frames)  # lossless round trip
    assert clip.audio.shape[0] == pytest.approx(12 / FPS * 16000, abs=1600)


# ---------------------------------------------------------------------- runner


def test_resume_after_kill_rescores_nothing(clip_files, tmp_path):
    jobs = [clip_files[f"good{i}"] for i in range(3)]

    class DiesOnThird(MeanAbsDiff):
        def score_clip(self, clip):
            if clip.clip_id == "good2":
                raise Killed()
            return super().score_clip(clip)

    dying = DiesOnThird()
    with pytest.raises(Killed):
        Runner([dying], tmp_path, _info(), progress=False).run(jobs)
    assert dying.calls == ["good0", "good1"]
    assert not (tmp_path / "result.json").exists()

    second = MeanAbsDiff()
    summary = Runner([second], tmp_path, _info(), progress=False).run(jobs)
    assert second.calls == ["good2"]  # the two cached clips are not scored again
    assert (summary.scores_computed, summary.scores_reused) == (1, 2)

    third = MeanAbsDiff()
    summary = Runner([third], tmp_path, _info(), progress=False).run(jobs)
    assert third.calls == []
    assert summary.record.metrics["test_mad"].clips_scored == 3
    expected = np.mean([np.abs(read_video(j.pred).frames.astype(int) - read_video(j.gt).frames.astype(int)).mean() for j in jobs])
    assert summary.record.metrics["test_mad"].value == pytest.approx(expected, rel=1e-12)


def test_changed_file_or_params_rescore(clip_files, tmp_path):
    root = tmp_path / "data"
    job = _write_pair(root, "c", 5)
    metric = MeanAbsDiff()
    Runner([metric], tmp_path / "out", _info(), progress=False).run([job])
    write_video(job.pred, _video(77, 12), fps=FPS, lossless=True)  # new content, same path
    again = MeanAbsDiff()
    Runner([again], tmp_path / "out", _info(), progress=False).run([job])
    assert again.calls == ["c"]
    other_params = MeanAbsDiff(threshold=3)
    Runner([other_params], tmp_path / "out", _info(), progress=False).run([job])
    assert other_params.calls == ["c"]


def test_bad_inputs_fail_per_clip_while_others_score(clip_files, tmp_path):
    names = ["good0", "short", "long_gap", "big", "silent", "corrupt", "no_pred", "no_gt", "good1"]
    jobs = [clip_files[name] for name in names]
    mad, audio = MeanAbsDiff(), AudioEnergy()
    summary = Runner([mad, audio], tmp_path, _info(), progress=False).run(jobs)
    failures = {(f.clip_id, f.metric, f.stage) for f in summary.failures}
    assert ("long_gap", None, "decode") in failures
    assert ("big", None, "decode") in failures
    assert ("corrupt", None, "decode") in failures
    assert ("no_pred", None, "match") in failures
    assert ("no_gt", None, "match") in failures
    assert ("silent", "test_audio", "inputs") in failures
    assert ("silent", "test_mad", "score") not in failures  # the pixel metric still scores it
    assert sorted(mad.calls) == sorted(["good0", "short", "silent", "good1"])
    assert summary.notes == {"truncated_frames": 1}

    record = summary.record
    assert record.metrics["test_mad"].clips_scored == 4 and record.metrics["test_mad"].clips_failed == 5
    assert record.metrics["test_audio"].clips_scored == 3
    assert record.clips_total == 9 and record.clips_failed == 6
    rows = {row["clip_id"]: row for row in csv.DictReader(open(tmp_path / "per_clip.csv"))}
    assert list(rows) == names
    assert rows["good0"]["test_mad"] != "" and rows["good0"]["error"] == ""
    assert rows["big"]["test_mad"] == "" and "--resize-pred" in rows["big"]["error"]
    assert rows["silent"]["test_mad"] != "" and rows["silent"]["test_audio"] == ""
    assert json.loads(rows["short"]["notes"])["truncated_frames"] == 1 and rows["good0"]["notes"] == ""
    assert "evaluator: 1 clip(s) with truncated_frames" in record.model_notes
    assert "evaluator" not in record.metrics["test_mad"].params  # default policy: params stay comparable
    assert "ground truth" in rows["no_gt"]["error"]
    lines = (tmp_path / "failures.jsonl").read_text().splitlines()
    assert len(lines) == len(summary.failures) and json.loads(lines[0])["clip_id"]


def test_resize_pred_scores_the_other_resolution(clip_files, tmp_path):
    metric = MeanAbsDiff()
    summary = Runner([metric], tmp_path, _info(), resize_pred=True, progress=False).run([clip_files["big"]])
    assert metric.calls == ["big"] and not summary.failures
    assert summary.notes == {"resized_pred_from": 1}
    assert summary.record.metrics["test_mad"].params["evaluator"] == {"resize_pred": True}


def test_metric_bug_is_recorded_with_traceback_and_run_goes_on(clip_files, tmp_path):
    class Buggy(MeanAbsDiff):
        id = "test_buggy"

        def score_clip(self, clip):
            if clip.clip_id == "good0":
                return {}["missing"]
            return super().score_clip(clip)

    summary = Runner([Buggy()], tmp_path, _info(), progress=False).run([clip_files["good0"], clip_files["good1"]])
    assert [(f.clip_id, f.stage) for f in summary.failures] == [("good0", "score")]
    assert "KeyError" in summary.failures[0].error
    assert "Traceback" in (tmp_path / "tracebacks.log").read_text()
    assert summary.record.metrics["test_buggy"].clips_scored == 1


def test_missing_weights_stop_before_any_work(clip_files, tmp_path):
    from tfbench.evaluate.metrics import METRICS
    from tfbench.evaluate.runner import resolve_metrics

    metric = NeedsWeights()
    with pytest.raises(MissingWeightsError, match="tfbench weights download fid_inception"):
        Runner([MeanAbsDiff(), metric], tmp_path / "out", _info(), progress=False).run([clip_files["good0"]])
    assert metric.calls == [] and not (tmp_path / "out").exists()

    with pytest.raises(InputError, match="repeated: good0"):
        Runner([MeanAbsDiff()], tmp_path / "out", _info(), progress=False).run([clip_files["good0"]] * 2)
    assert not (tmp_path / "out").exists()

    METRICS._targets["test_weights"] = f"{__name__}:NeedsWeights"
    METRICS._loaded["test_weights"] = NeedsWeights
    try:
        with pytest.raises(MissingWeightsError, match="tfbench weights import fid_inception"):
            resolve_metrics(["test_weights"])
    finally:
        del METRICS._targets["test_weights"], METRICS._loaded["test_weights"]


def test_result_record_validates_with_provenance(clip_files, tmp_path):
    from tfbench.weights import sha256_file, weights_path

    jobs = [clip_files["good0"], clip_files["good1"], clip_files["no_gt"]]
    summary = Runner([UsesPackageWeights(), PixelSum(), AudioEnergy()], tmp_path, _info(), progress=False).run(jobs)
    data = json.loads((tmp_path / "result.json").read_text())
    validate(data)
    record = ResultRecord.from_dict(data)
    pkg = record.metrics["test_pkg"]
    assert pkg.weights["dlib_landmarks68"]["sha256"] == sha256_file(weights_path("dlib_landmarks68"))
    assert pkg.weights["dlib_landmarks68"]["canonical"] is True
    assert record.metrics["test_audio"].higher_is_better is True and pkg.higher_is_better is False
    assert record.clips_total == 3 and record.clips_failed == 1
    assert record.failures == [{"clip_id": "no_gt", "metric": None, "stage": "match", "error": "no ground truth for no_gt.mp4"}]
    assert record.wall_time_s > 0 and record.tfbench_version
    assert data["git_commit"] is None or len(data["git_commit"]) == 40
    # streaming state aggregate: total mean over all pred pixels of the scored clips
    frames = np.concatenate([read_video(clip_files[c].pred).frames for c in ("good0", "good1")]).astype(np.float64)
    assert record.metrics["test_state"].value == pytest.approx(frames.mean(), rel=1e-12)
    assert summary.record.metrics["test_state"].clips_scored == 2
    assert (tmp_path / "clips" / "good0" / "test_state.npz").exists()


def test_runner_holds_one_clip_at_a_time(clip_files, tmp_path):
    """Weak references to every clip's decoded arrays: when a clip is scored, no earlier
    clip's frames or audio are alive (memory bounded by one clip)."""
    alive: list[tuple[str, weakref.ref]] = []
    violations: list[str] = []

    class Watcher(MeanAbsDiff):
        needs = frozenset({"pred", "gt", "audio"})

        def score_clip(self, clip):
            gc.collect()
            violations.extend(f"{cid} alive while scoring {clip.clip_id}" for cid, ref in alive if ref() is not None)
            for array in (clip.frames("pred"), clip.frames("gt"), clip.audio):
                alive.append((clip.clip_id, weakref.ref(array)))
                if array.base is not None:
                    alive.append((clip.clip_id, weakref.ref(array.base)))
            return super().score_clip(clip)

    jobs = [clip_files[f"good{i}"] for i in range(3)]
    Runner([Watcher()], tmp_path, _info(), progress=False).run(jobs)
    gc.collect()
    assert len(alive) >= 9
    assert violations == []
    assert all(ref() is None for _, ref in alive)


def test_model_mode_generates_losslessly_once_and_resumes(clip_files, tmp_path):
    generated_calls: list[str] = []

    def generate(clip: ClipInputs) -> np.ndarray:
        generated_calls.append(clip.clip_id)
        gt = clip.frames("gt")
        return np.ascontiguousarray(255 - gt)  # deterministic, differs from gt

    def jobs():
        return [ClipJob(f"good{i}", tmp_path / "generated" / f"good{i}.mp4", clip_files[f"good{i}"].gt, generate=generate)
                for i in range(2)]

    first = MeanAbsDiff()
    runner = Runner([first], tmp_path, _info(), progress=False, identity={"model": "invert"})
    summary = runner.run(jobs())
    assert generated_calls == ["good0", "good1"] and first.calls == ["good0", "good1"]
    gt = read_video(clip_files["good0"].gt).frames
    np.testing.assert_array_equal(read_video(tmp_path / "generated" / "good0.mp4").frames, 255 - gt)
    value = summary.record.metrics["test_mad"].value
    assert value == pytest.approx(np.mean([np.abs(255 - 2 * read_video(clip_files[f"good{i}"].gt).frames.astype(int)).mean() for i in range(2)]))

    (tmp_path / "clips" / "good1" / "test_mad.json").unlink()  # as if killed before good1's score was written
    second = MeanAbsDiff()
    summary = Runner([second], tmp_path, _info(), progress=False, identity={"model": "invert"}).run(jobs())
    assert generated_calls == ["good0", "good1"]  # nothing generated again
    assert second.calls == ["good1"]  # the lossless file scores to the same value
    assert summary.record.metrics["test_mad"].value == pytest.approx(value, rel=1e-12)

    from tfbench.errors import TfbenchError

    with pytest.raises(TfbenchError, match="other model"):
        Runner([MeanAbsDiff()], tmp_path, _info(), progress=False, identity={"model": "other"}).run(jobs())


def test_generation_failure_is_a_per_clip_failure(clip_files, tmp_path):
    def generate(clip):
        if clip.clip_id == "good0":
            return np.zeros((3, 4), np.float32)
        return np.ascontiguousarray(clip.frames("gt"))

    jobs = [ClipJob(f"good{i}", tmp_path / "generated" / f"good{i}.mp4", clip_files[f"good{i}"].gt, generate=generate)
            for i in range(2)]
    metric = MeanAbsDiff()
    summary = Runner([metric], tmp_path, _info(), progress=False).run(jobs)
    assert [(f.clip_id, f.stage) for f in summary.failures] == [("good0", "generate")]
    assert metric.calls == ["good1"] and summary.record.metrics["test_mad"].value == 0.0
    assert not (tmp_path / "generated" / "good0.mp4").exists()


def test_other_frame_rate_is_resampled_to_25_and_recorded(tmp_path):
    gt30 = _video(3, 15)  # 0.5 s at 30 fps -> 12 frames at 25 fps
    gt_path = write_video(tmp_path / "gt.mp4", gt30, fps=30.0, lossless=True)
    pred_path = write_video(tmp_path / "pred.mp4", _video(4, 12), fps=FPS, lossless=True)
    clip = ClipInputs.from_files("c", pred_path, gt_path)
    assert clip.frames("gt").shape[0] == clip.frames("pred").shape[0] == 12
    assert clip.notes == {"gt_native_fps": 30.0}
    resampled = read_video(gt_path, fps=25.0)
    np.testing.assert_array_equal(clip.frames("gt"), resampled.frames)


def test_several_faces_fail_face_metrics_once_detected():
    """Two faces in most frames: every face-based metric fails the clip with a clear error,
    and detection still runs once per video (the result is memoised, the check repeated)."""
    from skimage.data import astronaut

    from tfbench.errors import FaceError
    from tfbench.evaluate.metrics import METRICS
    import tfbench.face.landmarks as landmarks_module

    face = np.ascontiguousarray(astronaut()[0:256, 96:352])
    pair = np.ascontiguousarray(np.concatenate([face, face[:, ::-1]], axis=1))  # two faces side by side
    frames = np.repeat(pair[None], 3, axis=0)
    clip = ClipInputs.from_arrays(frames, frames.copy())
    calls = []
    original = landmarks_module.detect_landmarks

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    landmarks_module.detect_landmarks = counting
    try:
        for metric_id in ("lmd@dlib", "csim@dlib", "efd@fer"):
            with pytest.raises(FaceError, match="several faces in 3 of 3 frames"):
                METRICS.get(metric_id)().score_clip(clip)
    finally:
        landmarks_module.detect_landmarks = original
    assert len(calls) == 2  # pred only, once per detection setting (LMD's ATVGnet grey pass, the default)
    # one face generated, two in the ground truth (CSIM's identity reference): same policy
    one_face = np.zeros_like(frames)
    one_face[:, :, :256] = face
    clip = ClipInputs.from_arrays(one_face, frames.copy())
    for metric_id, message in (("lmd@dlib", "gt: several faces"), ("csim@dlib", "identity reference: several faces in 1 of 1"),
                               ("efd@fer", "gt: several faces")):
        with pytest.raises(FaceError, match=message):
            METRICS.get(metric_id)().score_clip(clip)
