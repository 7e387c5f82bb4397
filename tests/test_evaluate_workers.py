"""Clips scored by worker processes give exactly what one process gives (docs/evaluate.md, "Workers").

Cheap metrics on a few short clips cut from the bundled sample, plus a clip that fails to
decode, so the failure rows are merged in job order too. Nothing here is timed.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from tfbench import fsutil
from tfbench.errors import StorageError
from tfbench.evaluate.run import run_evaluation
from tfbench.io.video import read_video, write_video

REPO = Path(__file__).resolve().parents[1]
METRICS = "psnr,ssim,mse,cpbd"


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Five 12-frame 96x96 gt/pred pairs from the sample's videos (pred: blurred, shifted) and one broken pred."""
    root = tmp_path_factory.mktemp("workers")
    videos = sorted((REPO / "tfbench" / "sample_raw").glob("*/video/**/*.mp4"))[:5]
    for index, video in enumerate(videos):
        frames = np.stack([cv2.resize(frame, (96, 96), interpolation=cv2.INTER_AREA) for frame in read_video(video).frames[:12]])
        pred = np.roll(np.stack([cv2.GaussianBlur(frame, (0, 0), 1.0 + index / 4) for frame in frames]), 2, axis=2)
        write_video(root / "gt" / f"c{index}.mp4", frames, lossless=True)
        write_video(root / "pred" / f"c{index}.mp4", pred, lossless=True)
    write_video(root / "gt" / "c9.mp4", frames, lossless=True)
    (root / "pred" / "c9.mp4").write_bytes(b"not a video")  # fails to decode: a failure row
    return root


def _run(folders: Path, out: Path, workers: int):
    return run_evaluation(out, pred=folders / "pred", gt=folders / "gt", metrics=METRICS, workers=workers,
                          progress=False, echo=lambda line: None).summary


def _outputs(out: Path) -> dict:
    result = json.loads((out / "result.json").read_text())
    for key in ("date", "wall_time_s", "hardware", "git_commit", "git_dirty"):
        result.pop(key, None)
    entries = {}
    for path in sorted((out / "clips").rglob("*.json")):
        entry = json.loads(path.read_text())
        entry.pop("seconds", None)  # wall time of score_clip (report previews have none)
        entries[str(path.relative_to(out))] = entry
    return {"result": result, "per_clip": (out / "per_clip.csv").read_text(),
            "failures": (out / "failures.jsonl").read_text(), "entries": entries}


@pytest.fixture(scope="module")
def single(folders, tmp_path_factory):
    out = tmp_path_factory.mktemp("one_worker")
    summary = _run(folders, out, workers=1)
    assert summary.scores_computed == 5 * 4 and [f.clip_id for f in summary.failures] == ["c9"]
    return _outputs(out)


def test_two_workers_give_the_single_process_outputs(folders, single, tmp_path, monkeypatch):
    from tfbench.evaluate import workers

    calls = []
    real = workers.score_in_workers
    monkeypatch.setattr(workers, "score_in_workers", lambda *args: calls.append(args[2]) or real(*args))
    summary = _run(folders, tmp_path / "out", workers=2)
    assert calls == [2]  # the clips really went through two worker processes
    assert summary.scores_computed == 5 * 4 and summary.scores_reused == 0
    outputs = _outputs(tmp_path / "out")
    assert outputs == single
    assert outputs["per_clip"].splitlines()[1].startswith("c0,")  # rows in job order, values present
    assert json.loads(outputs["failures"].splitlines()[0])["clip_id"] == "c9"


def test_storage_error_in_a_worker_run_stops_it_and_the_rerun_resumes_to_the_same_outputs(folders, single, tmp_path, monkeypatch):
    """Writes happen in the parent, in job order: a full disk on the third clip's score stops the
    run (no result.json); the rerun reuses the scores written before and ends as one process."""
    out = tmp_path / "out"
    real = fsutil._fill
    fired = []

    def fill(write, tmp, path):
        if not fired and path.parent.name == "c2":
            fired.append(path)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp))
        return real(write, tmp, path)

    monkeypatch.setattr(fsutil, "_fill", fill)
    with pytest.raises(StorageError, match="no space left on device"):
        _run(folders, out, workers=2)
    assert fired and not (out / "result.json").exists()
    monkeypatch.setattr(fsutil, "_fill", real)
    summary = _run(folders, out, workers=2)
    assert summary.scores_reused == 2 * 4 and summary.scores_computed == 3 * 4
    assert _outputs(out) == single


def test_workers_must_be_positive(folders, tmp_path):
    from tfbench.errors import InputError

    with pytest.raises(InputError, match="--workers must be at least 1"):
        _run(folders, tmp_path / "out", workers=0)


def test_one_process_run_on_several_cores_names_the_workers_option(folders, tmp_path, monkeypatch):
    from tfbench.evaluate import runner, workers

    monkeypatch.setattr(runner, "HINT_WORKERS_FROM", 3)
    monkeypatch.setattr(workers, "usable_cores", lambda: 4)
    lines: list[str] = []
    run_evaluation(tmp_path / "one", pred=folders / "pred", gt=folders / "gt", metrics="psnr", progress=False, echo=lines.append)
    assert any("--workers 4 uses all 4 cores" in line for line in lines), lines
    lines.clear()
    monkeypatch.setattr(workers, "usable_cores", lambda: 1)
    run_evaluation(tmp_path / "single", pred=folders / "pred", gt=folders / "gt", metrics="psnr", progress=False, echo=lines.append)
    assert not any("--workers" in line for line in lines), lines
