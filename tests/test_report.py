"""``tfbench report``: the HTML report of a real run (built once per session by
``_report_runs.build_runs``: a run with failures and low face coverage, and a second
method for comparisons), read from the run folder alone, and checked in headless Chromium."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import _browser
from _report_runs import build_runs
from tfbench.cli import app
from tfbench.report import write_comparison, write_report
from tfbench.report.compare import bootstrap_interval, paired
from tfbench.report.run import load_run

ARTIFACTS = Path(os.environ.get("TFBENCH_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("report_runs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TFBENCH_HOME", str(root / "home"))
        return build_runs(root)


@pytest.fixture(scope="session")
def report(runs, tmp_path_factory):
    """The wobble run's report, written once; no video decoder and no metric may run."""
    import tfbench.evaluate.metrics as metrics
    import tfbench.io.video as video
    from tfbench.report import videos

    calls = []
    original = videos.run_ffmpeg

    def forbidden(*args, **kwargs):
        raise AssertionError("the report decoded a video or built a metric")

    def counting(args, **kwargs):
        calls.append(args)
        return original(args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(video, "read_video", forbidden)
        patch.setattr(video, "iter_video_chunks", forbidden)
        patch.setattr(metrics.METRICS, "get", forbidden)
        patch.setattr(videos, "run_ffmpeg", counting)
        index = write_report(runs["wobble"], tmp_path_factory.mktemp("report") / "out")
    return index, calls


def test_evaluate_prints_the_report_command(runs):
    assert f"tfbench report {runs['wobble']}" in runs["output"]


def test_run_folder_holds_what_the_report_shows(runs):
    run = load_run(runs["wobble"])
    clip = run.clip("W001_happy_001")
    assert clip.preview is not None and clip.preview["rows"] == ["gt", "pred", "absdiff"]
    assert clip.preview["files"]["pred"].endswith("pred_wobble/W001_happy_001.mp4")
    state = clip.state("lmd@dlib")
    assert state["mouth_gt"].shape == (12, 20, 2) and state["mouth_pred"].shape == (12, 20, 2)
    curve = clip.entries["lse"]["info"]["offset_distances"]
    assert len(curve) == 31
    # the stored curve is the one the score came from: LSE-D is its minimum, the offset its argmin
    assert min(curve) == pytest.approx(clip.values["lse_d"], abs=1e-4)
    assert 15 - int(np.argmin(curve)) == clip.values["av_offset"]
    dark = run.clip("W002_neutral_001").coverage
    assert dark["fraction"] == pytest.approx(5 / 12) and dark["no_face_pred"] == 7
    assert run.clip("W001_neutral_001").coverage["fraction"] == 1.0
    assert run.clip("W002_happy_001").coverage is None and "decode" in run.clip("W002_happy_001").error
    assert run.columns[:3] == ["psnr", "mse", "lmd@dlib"]  # per_clip.csv order, not alphabetical


def test_report_shows_failures_coverage_and_provenance_plainly(runs, report):
    index, _ = report
    text = index.read_text()
    record = json.loads((runs["wobble"] / "result.json").read_text())
    assert "2 of 5 clips failed" in text
    assert "corrupt, truncated or not a media file" in text and "no ground truth for orphan.mp4" in text
    assert "1 clip(s) have a face in fewer than 90% of frames" in text and "W002_neutral_001</a> (42%)" in text
    assert "Non-canonical weights" in text and record["metrics"]["lse_c"]["weights"]["syncnet_v2"]["sha256"][:12] in text
    assert record["git_commit"] in text
    assert "no face in frame" in text and "(generated)" in text  # the dark clip's mouth overlay says why frames are missing
    for slug in ("psnr", "mse", "lmd-dlib", "lse_c"):  # worst/best clips per metric
        assert f'id="metric-{slug}"' in text


def test_report_assets_exist_and_nothing_was_decoded_twice(runs, report):
    index, calls = report
    assets = index.parent / "assets"
    names = sorted(p.name for p in assets.iterdir())
    assert all((assets / name).stat().st_size > 0 for name in names)
    assert {"dist_psnr.png", "dist_lmd-dlib.png", "dist_lse_c.png", "coverage.png"} <= set(names)
    assert any(n.startswith("strip_") for n in names) and any(n.startswith("mouth_") for n in names)
    assert any(n.startswith("offsets_") for n in names)
    webms = [n for n in names if n.endswith(".webm")]
    assert webms and len(calls) == len(webms)  # one ffmpeg call per video ...
    inputs = [a[i + 1] for a in calls for i, x in enumerate(a) if x == "-i"]
    assert len(inputs) == len(set(inputs)) == 2 * len(webms)  # ... reading each file once
    # every asset the page references exists
    for name in names:
        assert f"assets/{name}" in index.read_text()


def test_stale_cache_entry_is_ignored_and_reported(runs, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(runs["wobble"], copy)
    entry = copy / "clips" / "W001_happy_001" / "psnr.json"
    data = json.loads(entry.read_text())
    data["values"]["psnr"] += 1.0
    entry.write_text(json.dumps(data))
    run = load_run(copy)
    assert run.stale_entries == ["W001_happy_001/psnr"] and "psnr" not in run.clip("W001_happy_001").entries
    assert "disagree with per_clip.csv" in write_report(copy, tmp_path / "out", per_metric=1, max_videos=0).read_text()


def test_not_a_run_folder_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code != 0 and "not a finished evaluation run" in str(result.exception)


def test_bootstrap_interval_matches_scipy_and_is_deterministic():
    from scipy import stats

    rng = np.random.default_rng(7)
    d = rng.normal(0.3, 1.0, size=60)
    low, high = bootstrap_interval(d, resamples=20000)
    reference = stats.bootstrap((d,), np.mean, method="percentile", n_resamples=20000, random_state=1).confidence_interval
    assert low == pytest.approx(reference.low, abs=0.03) and high == pytest.approx(reference.high, abs=0.03)
    assert bootstrap_interval(d, resamples=20000) == (low, high)
    assert bootstrap_interval(np.full(5, 2.5), resamples=500) == (2.5, 2.5)


def test_comparison_pairs_shared_clips(runs, tmp_path):
    wobble, blur = load_run(runs["wobble"]), load_run(runs["blur"])
    [row] = paired([wobble, blur], "psnr", resamples=1000)
    with open(runs["wobble"] / "per_clip.csv") as a, open(runs["blur"] / "per_clip.csv") as b:
        base = {r["clip_id"]: r["psnr"] for r in csv.DictReader(a) if r["psnr"]}
        other = {r["clip_id"]: r["psnr"] for r in csv.DictReader(b) if r["psnr"]}
    shared = sorted(set(base) & set(other))
    assert sorted(row["shared"]) == shared and len(shared) == 3
    expected = np.mean([float(other[c]) - float(base[c]) for c in shared])
    assert row["difference"] == pytest.approx(expected) and row["low"] <= expected <= row["high"]
    result = CliRunner().invoke(app, ["report", str(runs["wobble"]), str(runs["blur"]), "--out", str(tmp_path / "cmp"), "--resamples", "500"])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "cmp" / "index.html").read_text()
    assert "Paired differences" in text and "bootstrap" in text and "2 of 5 clips failed" in text
    assert "lmd@dlib: not measured by blur" in text and "lse_c: not measured by blur" in text
    per_clip = text.split('<section id="clips">')[1]
    assert all(f"<td>{clip_id}</td>" in per_clip for clip_id in shared) and "orphan" not in per_clip


def test_report_and_comparison_in_chromium(runs, report, tmp_path):
    from selenium.webdriver.common.by import By

    assert _browser.available() is None, _browser.available()
    index, _ = report
    comparison = write_comparison([runs["wobble"], runs["blur"]], tmp_path / "cmp", resamples=500)
    with _browser.chromium() as driver:
        assert _browser.open_page(driver, index) == []
        assert _browser.broken_media(driver) == []
        assert driver.execute_script("return document.querySelectorAll('img').length") >= 10
        assert driver.execute_script("return document.querySelectorAll('video').length") >= 1
        table = driver.find_element(By.CSS_SELECTOR, "table.clips")
        headers = table.find_elements(By.CSS_SELECTOR, "thead th")
        column = next(i for i, h in enumerate(headers) if h.text.startswith("psnr"))

        def column_values():
            cells = [row.find_elements(By.TAG_NAME, "td")[column].get_attribute("data-v") for row in table.find_elements(By.CSS_SELECTOR, "tbody tr")]
            return [float(c) if c else None for c in cells]

        headers[column].click()
        ascending = column_values()
        numbers = [v for v in ascending if v is not None]
        assert numbers == sorted(numbers) and ascending[len(numbers):] == [None] * (len(ascending) - len(numbers))
        headers[column].click()
        descending = column_values()
        assert [v for v in descending if v is not None] == sorted(numbers, reverse=True)
        assert headers[column].get_attribute("aria-sort") == "descending"
        _browser.screenshot(driver, ARTIFACTS / "report.png")
        assert _browser.open_page(driver, comparison) == []
        assert _browser.broken_media(driver) == []
        _browser.screenshot(driver, ARTIFACTS / "report_comparison.png")
    assert (ARTIFACTS / "report.png").stat().st_size > 10000


def test_preview_rows_hold_gt_pred_and_their_absolute_difference():
    import io

    from PIL import Image

    from tfbench.evaluate.preview import make_preview, preview_indices

    rng = np.random.default_rng(0)
    gt = rng.integers(40, 200, size=(9, 64, 48, 3), dtype=np.uint8)
    pred = (gt.astype(np.int16) + 30).astype(np.uint8)
    jpeg, meta = make_preview(pred, gt, {"pred": Path("p.mp4"), "gt": Path("g.mp4"), "audio": None}, 25.0)
    assert meta["indices"] == preview_indices(9) == [0, 2, 4, 6, 8]
    assert meta["rows"] == ["gt", "pred", "absdiff"] and meta["tile_size"] == [64, 48] and meta["frame_size"] == [64, 48]
    assert meta["files"]["audio"] is None and meta["files"]["pred"].endswith("p.mp4")
    grid = np.asarray(Image.open(io.BytesIO(jpeg)).convert("L"), dtype=np.float64)
    assert grid.shape == (3 * 64, 5 * 48)
    assert abs(grid[128:].mean() - 30) < 3  # |pred - gt| = 30 everywhere, stored unamplified
    assert abs(grid[64:128].mean() - grid[:64].mean() - 30) < 3
    only_pred, meta = make_preview(pred, None, {"pred": None, "gt": None, "audio": None}, 25.0)
    assert meta["rows"] == ["pred"] and preview_indices(2) == [0, 1]
