"""`tfbench evaluate` end to end on tiny generated videos: folder mode, model mode,
default metric choice, and missing weights as a hard error naming the fix."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tfbench.cli import app
from tfbench.errors import InputError, MissingWeightsError
from tfbench.io.video import read_video, write_video
from tfbench.results import ResultRecord, validate

FPS = 25.0


def _frames(seed: int, count: int = 10, size: int = 32) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, size, size, 3), dtype=np.uint8)


def _noisy(frames: np.ndarray, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).integers(-12, 13, frames.shape)
    return np.clip(frames.astype(int) + noise, 0, 255).astype(np.uint8)


def _audio(count: int) -> np.ndarray:
    t = np.arange(int(count / FPS * 16000)) / 16000
    return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> Path:
    """gt/ and pred/ with two matched clips (one nested), a pred without gt, a gt without pred."""
    root = tmp_path_factory.mktemp("folders")
    for index, name in enumerate(["a", "speaker1/b"]):
        gt = _frames(index)
        write_video(root / "gt" / f"{name}.mp4", gt, fps=FPS, audio=_audio(len(gt)), lossless=True)
        write_video(root / "pred" / f"{name}.mp4", _noisy(gt, 50 + index), fps=FPS, lossless=True)
    write_video(root / "pred" / "orphan.mp4", _frames(7), fps=FPS, lossless=True)
    write_video(root / "gt" / "unmade.mp4", _frames(8), fps=FPS, audio=_audio(10), lossless=True)
    return root


def _invoke(args: list[str]):
    result = CliRunner().invoke(app, ["evaluate", *args, "--no-progress"])
    return result


def test_pred_gt_folders_end_to_end_with_skimage_parity(folders, tmp_path):
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    out = tmp_path / "out"
    result = _invoke(["--pred", str(folders / "pred"), "--gt", str(folders / "gt"), "--metrics", "psnr,ssim", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "1 ground-truth clip(s) have no prediction" in result.output and "unmade" in result.output
    assert "orphan" in result.output  # the unmatched prediction is a failure row

    data = json.loads((out / "result.json").read_text())
    validate(data)
    record = ResultRecord.from_dict(data)
    assert record.protocol == "pred-vs-gt/v1" and record.model == "pred" and record.dataset == "gt"
    assert record.clips_total == 3 and record.clips_failed == 1
    assert record.metrics["psnr"].clips_scored == 2
    assert json.loads((out / "unmatched.json").read_text()) == {"gt_without_pred": ["unmade"]}

    psnr, ssim = [], []
    for name in ["a", "speaker1/b"]:
        gt = read_video(folders / "gt" / f"{name}.mp4").frames
        pred = read_video(folders / "pred" / f"{name}.mp4").frames
        psnr.append(np.mean([peak_signal_noise_ratio(g, p, data_range=255) for g, p in zip(gt, pred)]))
        ssim.append(np.mean([structural_similarity(g, p, data_range=255, channel_axis=-1) for g, p in zip(gt, pred)]))
    assert record.metrics["psnr"].value == pytest.approx(np.mean(psnr), rel=1e-4)
    assert record.metrics["ssim"].value == pytest.approx(np.mean(ssim), rel=1e-4)

    rows = list(csv.DictReader(open(out / "per_clip.csv")))
    assert [row["clip_id"] for row in rows] == ["a", "orphan", "speaker1/b"]
    assert float(rows[0]["psnr"]) == pytest.approx(psnr[0], rel=1e-4)
    assert rows[1]["psnr"] == "" and "no ground truth" in rows[1]["error"]

    again = _invoke(["--pred", str(folders / "pred"), "--gt", str(folders / "gt"), "--metrics", "psnr,ssim", "--out", str(out)])
    assert again.exit_code == 0 and "0 scores computed, 4 reused" in " ".join(again.output.split())


def test_default_metrics_leave_out_missing_weights_with_the_fix(folders, tmp_path):
    from tfbench.evaluate.runner import available_metrics

    present, left_out = available_metrics()
    assert "psnr" in present and "lpips@alex" in left_out
    assert "tfbench weights download alexnet" in left_out["lpips@alex"]
    assert not any(name in present for name in ("fid", "lpips@vgg"))


def test_named_metric_with_missing_weights_is_a_hard_error(folders, tmp_path):
    out = tmp_path / "out"
    result = _invoke(["--pred", str(folders / "pred"), "--gt", str(folders / "gt"), "--metrics", "psnr,lpips@alex", "--out", str(out)])
    assert isinstance(result.exception, MissingWeightsError)
    assert "tfbench weights download alexnet" in str(result.exception)
    assert not out.exists()


def test_console_script_prints_the_fix_and_exits_2(folders, tmp_path):
    out = tmp_path / "out"
    command = [sys.executable, "-c", "from tfbench.cli import main; main()", "evaluate", "--pred", str(folders / "pred"),
               "--gt", str(folders / "gt"), "--metrics", "lpips@alex", "--out", str(out)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 2
    assert "tfbench weights download alexnet" in completed.stderr and "Traceback" not in completed.stderr
    assert not out.exists()


def test_conflicting_or_incomplete_arguments_are_clear_errors(folders, tmp_path):
    both = _invoke(["--pred", str(folders / "pred"), "--gt", str(folders / "gt"), "--model", "static", "--out", str(tmp_path)])
    assert isinstance(both.exception, InputError) and "either" in str(both.exception)
    half = _invoke(["--pred", str(folders / "pred"), "--out", str(tmp_path)])
    assert isinstance(half.exception, InputError) and "go together" in str(half.exception)
    bad_param = _invoke(["--pred", str(folders / "pred"), "--gt", str(folders / "gt"), "--metrics", "psnr",
                         "--param", "psnr:max_db=3", "--out", str(tmp_path)])
    assert isinstance(bad_param.exception, InputError) and "METRIC.KEY=VALUE" in str(bad_param.exception)


# ---------------------------------------------------------------------- --model mode


class FakePrepared:
    """Stands in for tfbench.data.PreparedDataset with the documented interface."""

    def __init__(self, root: Path, rows: dict) -> None:
        import datasets

        self.root, self.name, self.fingerprint = root, "tiny", "fp-1234"
        self.meta = {"recipe": "tiny", "recipe_version": "1", "fingerprint": self.fingerprint}
        self.splits = ["test"]
        self._split = datasets.Dataset.from_dict(rows)

    def split(self, name: str):
        return self._split

    def clip_path(self, row) -> Path:
        return self.root / row["video"]


@pytest.fixture()
def fake_dataset(tmp_path, monkeypatch) -> FakePrepared:
    root = tmp_path / "prepared"
    rows = {"clip_id": [], "video": [], "emotion": [], "level": [], "text": [], "landmarks": []}
    for index in range(3):
        clip_id = f"spk_happy_{index}"
        frames = _frames(20 + index, count=8)
        write_video(root / "clips" / f"{clip_id}.mp4", frames, fps=FPS, audio=_audio(8), lossless=True)
        rows["clip_id"].append(clip_id)
        rows["video"].append(f"clips/{clip_id}.mp4")
        rows["emotion"].append("happy")
        rows["level"].append(2)
        rows["text"].append(["A person is happy and speaks."])
        rows["landmarks"].append(np.zeros((8, 68, 2), np.float32).tolist())
    prepared = FakePrepared(root, rows)
    opened: list[str] = []
    module = types.ModuleType("tfbench.data")
    module.open_prepared = lambda name: opened.append(name) or prepared
    monkeypatch.setitem(sys.modules, "tfbench.data", module)
    prepared.opened = opened
    return prepared


def test_model_mode_self_reconstruction_generates_scores_saves_and_resumes(fake_dataset, tmp_path):
    out, boards = tmp_path / "out", tmp_path / "leaderboards"
    args = ["--model", "static", "--dataset", "tiny", "--metrics", "psnr,mse", "--out", str(out), "--limit", "2",
            "--save", "--leaderboards", str(boards)]
    result = _invoke(args)
    assert result.exit_code == 0, result.output
    assert fake_dataset.opened == ["tiny"]
    record = ResultRecord.load(out / "result.json")
    assert record.protocol == "self-reconstruction/v1" and record.model == "static"
    assert record.dataset == "tiny" and record.dataset_fingerprint == "fp-1234" and record.recipe_version == "1"
    assert record.clips_total == 2 and record.clips_failed == 0 and record.model_notes
    saved = list((boards / "results").glob("tiny__test__self-reconstruction-v1__static__*.json"))
    assert len(saved) == 1 and json.loads(saved[0].read_text()) == json.loads((out / "result.json").read_text())

    # the static baseline holds gt frame 0: generated clip = frame 0 repeated, lossless
    gt = read_video(fake_dataset.root / "clips" / "spk_happy_0.mp4").frames
    generated = read_video(out / "generated" / "spk_happy_0.mp4").frames
    np.testing.assert_array_equal(generated, np.broadcast_to(gt[0], gt.shape))
    expected = np.mean([np.mean((gt.astype(np.float64) - gt[0]) ** 2, axis=(1, 2, 3)).mean(),
                        np.mean((read_video(fake_dataset.root / "clips" / "spk_happy_1.mp4").frames.astype(np.float64)
                                 - read_video(fake_dataset.root / "clips" / "spk_happy_1.mp4").frames[0]) ** 2, axis=(1, 2, 3)).mean()])
    assert record.metrics["mse"].value == pytest.approx(expected, rel=1e-6)

    again = _invoke(["--model", "static", "--dataset", "tiny", "--metrics", "psnr,mse", "--out", str(out), "--limit", "3"])
    assert again.exit_code == 0, again.output
    assert "2 scores computed, 4 reused" in " ".join(again.output.split())
    assert ResultRecord.load(out / "result.json").clips_total == 3

    other = _invoke(["--model", "ground_truth", "--dataset", "tiny", "--metrics", "psnr", "--out", str(out)])
    assert other.exception is not None and "other model" in str(other.exception)


def test_model_mode_request_carries_only_declared_inputs(fake_dataset):
    from tfbench.evaluate.clip import ClipInputs
    from tfbench.evaluate.protocol import self_reconstruction_request

    row = fake_dataset.split("test")[0]
    clip = ClipInputs.from_files(row["clip_id"], None, fake_dataset.clip_path(row))
    bare = self_reconstruction_request(row, clip, frozenset({"reference_image"}))
    assert bare.source_frames is None and bare.audio is None and bare.text is None and bare.landmarks is None
    np.testing.assert_array_equal(bare.reference_image, clip.frames("gt")[0])
    full = self_reconstruction_request(row, clip, frozenset({"audio", "source_video", "text", "emotion", "landmarks"}))
    assert full.num_frames == 8 and full.source_frames.shape == (8, 32, 32, 3)
    assert full.text == "A person is happy and speaks." and (full.emotion, full.emotion_level) == ("happy", 2)
    assert full.landmarks.shape == (8, 68, 2) and full.landmarks.dtype == np.float32
    assert full.audio.dtype == np.float32 and abs(full.audio.size - 8 / FPS * 16000) < 1600


KILLABLE_RUN = """
import sys, time
import numpy as np
from tfbench.evaluate.metrics import METRICS
from tfbench.evaluate.metrics.base import ClipScore, Metric

LOG, DELAY = sys.argv[1], float(sys.argv[2])

class SlowMetric(Metric):
    id = "test_slow"
    higher_is_better = True

    def score_clip(self, clip):
        with open(LOG, "a") as log:
            log.write(clip.clip_id + "\\n")
        time.sleep(DELAY)
        return ClipScore(values={"test_slow": float(clip.frames("pred").mean())})

METRICS._targets["test_slow"] = "tests:SlowMetric"
METRICS._loaded["test_slow"] = SlowMetric
sys.argv = ["tfbench", *sys.argv[3:]]
from tfbench.cli import main
main()
"""


def test_sigkilled_run_resumes_without_rescoring(tmp_path):
    """A real SIGKILL in the middle of a run: the next run scores only the clips left."""
    import os
    import signal
    import time

    for index in range(4):
        frames = _frames(30 + index, count=4)
        write_video(tmp_path / "gt" / f"c{index}.mp4", frames, fps=FPS, audio=_audio(4), lossless=True)
        write_video(tmp_path / "pred" / f"c{index}.mp4", _noisy(frames, index), fps=FPS, lossless=True)
    out, log = tmp_path / "out", tmp_path / "scored.log"
    args = ["evaluate", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"), "--metrics", "test_slow",
            "--out", str(out), "--no-progress"]
    process = subprocess.Popen([sys.executable, "-c", KILLABLE_RUN, str(log), "1.0", *args],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None and len(list((out / "clips").glob("*/test_slow.json"))) < 2:
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done_before = {path.parent.name for path in (out / "clips").glob("*/test_slow.json")}
    assert 2 <= len(done_before) < 4 and not (out / "result.json").exists()

    log.write_text("")
    completed = subprocess.run([sys.executable, "-c", KILLABLE_RUN, str(log), "0", *args], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    rescored = set(log.read_text().split())
    assert rescored == {f"c{i}" for i in range(4)} - done_before
    record = ResultRecord.load(out / "result.json")
    assert record.metrics["test_slow"].clips_scored == 4 and record.clips_failed == 0


def test_model_mode_on_the_bundled_sample(tmp_path):
    """The real chain: open_prepared("sample") -> ground_truth baseline -> lossless clips -> scores."""
    from tfbench.data import open_prepared

    out = tmp_path / "out"
    result = _invoke(["--model", "ground_truth", "--dataset", "sample", "--metrics", "psnr,mse", "--limit", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    prepared = open_prepared("sample")
    record = ResultRecord.load(out / "result.json")
    assert (record.dataset, record.protocol, record.clips_total, record.clips_failed) == ("sample", "self-reconstruction/v1", 2, 0)
    assert record.dataset_fingerprint == prepared.fingerprint
    assert record.metrics["mse"].value == 0.0 and record.metrics["psnr"].value == 100.0  # identical frames, capped PSNR
    row = prepared.split("test")[0]
    np.testing.assert_array_equal(read_video(out / "generated" / f"{row['clip_id']}.mp4").frames,
                                  read_video(prepared.clip_path(row)).frames)


def test_gt_as_prepared_dataset_records_its_fingerprint_and_split(prepared_sample, tmp_path):
    import shutil

    test_ids = list(prepared_sample.split("test")["clip_id"])
    train_id = prepared_sample.split("train")["clip_id"][0]
    pred = tmp_path / "pred"
    pred.mkdir()
    for clip_id in test_ids[:1] + [train_id]:  # one test clip, and one clip of another split
        shutil.copy(prepared_sample.root / "clips" / f"{clip_id}.mp4", pred / f"{clip_id}.mp4")
    out = tmp_path / "out"
    result = _invoke(["--pred", str(pred), "--gt", str(prepared_sample.root / "clips"), "--metrics", "mse", "--out", str(out)])
    assert result.exit_code == 0, result.output
    record = ResultRecord.load(out / "result.json")
    assert record.dataset == prepared_sample.name == "sample"
    assert record.dataset_fingerprint == prepared_sample.fingerprint
    assert record.metrics["mse"].clips_scored == 1 and record.metrics["mse"].value == 0.0
    assert any(failure["clip_id"] == train_id and "not in the 'test' split" in failure["error"] for failure in record.failures)
    assert f"{len(test_ids) - 1} ground-truth clip(s) without a prediction" in record.model_notes
