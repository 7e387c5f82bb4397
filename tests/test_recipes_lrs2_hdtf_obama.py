"""LRS2, HDTF and ObamaSet recipes on tiny generated trees."""

import numpy as np
import pytest

from _fixtures_raw import hdtf_tree, lrs2_tree, write_clip


def _run(name, raw, out, **kwargs):
    from tfbench.recipes import RECIPES
    from tfbench.recipes.build import prepare

    return prepare(RECIPES.get(name), raw, out, size=96, **kwargs)


def test_lrs2_official_lists_and_transcripts(tmp_path):
    import datasets

    raw = lrs2_tree(tmp_path / "raw")
    summary = _run("lrs2", raw, tmp_path / "out")
    assert summary["split_sizes"] == {"pretrain": 0, "train": 1, "val": 0, "test": 1}
    data = datasets.load_from_disk(str(tmp_path / "out" / "dataset"))
    assert list(data) == ["pretrain", "train", "val", "test"]
    row = data["train"][0]
    assert row["clip_id"] == "5535415699068794046_00001"
    assert row["speaker"] == "5535415699068794046"
    assert row["transcript"] == "SHE SELLS SEA SHELLS"
    assert row["num_frames"] == 30 and row["fps"] == 25.0
    assert data["test"][0]["transcript"] == "GOOD MORNING TO YOU ALL"
    assert all(sentence.startswith(("A person", "The speaker", "Someone")) for sentence in row["text"])


def test_lrs2_without_lists_uses_main_as_train(tmp_path):
    from tfbench.recipes import RECIPES
    from tfbench.recipes.base import RecipeOptions

    raw = tmp_path / "raw"
    for folder in ("111", "222"):
        (raw / "mvlrs_v1" / "main" / folder).mkdir(parents=True)
        (raw / "mvlrs_v1" / "main" / folder / "00001.mp4").write_bytes(b"")
    (raw / "mvlrs_v1" / "pretrain" / "333").mkdir(parents=True)
    (raw / "mvlrs_v1" / "pretrain" / "333" / "00001.mp4").write_bytes(b"")
    sources = RECIPES.get("lrs2").sources(raw, RecipeOptions())
    assert [(s.source_id, s.labels["split"]) for s in sources] == [
        ("111_00001", "train"), ("222_00001", "train"), ("pretrain_333_00001", "pretrain")]


def test_hdtf_segments_from_annotation_times_and_missing_downloads(tmp_path):
    import datasets

    from tfbench.recipes.base import RecipeOptions

    raw = hdtf_tree(tmp_path / "raw")
    summary = _run("hdtf", raw, tmp_path / "out", options=RecipeOptions(test_speakers=("WDA_Missing",)))
    failures = {f["clip_id"]: f["reason"] for f in summary["failures"]}
    assert list(failures) == ["WDA_Missing_000"] and failures["WDA_Missing_000"].startswith("missing video file")
    data = datasets.load_from_disk(str(tmp_path / "out" / "dataset"))
    rows = sorted(data["train"], key=lambda r: r["clip_id"])
    assert [r["clip_id"] for r in rows] == ["WDA_Astro_000_000", "WDA_Astro_000_001"]
    assert [(r["segment_start_s"], r["segment_end_s"]) for r in rows] == [(0.0, 1.6), (1.6, 3.2)]
    assert [r["num_frames"] for r in rows] == [40, 40]
    assert rows[0]["speaker"] == "WDA_Astro" and rows[0]["source_sha256"] == rows[1]["source_sha256"]
    # the second segment's audio is the second half of the source's track
    from tfbench.io.audio import read_audio
    import soundfile

    track = read_audio(raw / "videos" / "WDA_Astro_000.mp4")
    second, _ = soundfile.read(str(tmp_path / "out" / "audio" / f"{rows[1]['clip_id']}.wav"), dtype="float32")
    np.testing.assert_allclose(second, track[40 * 640:80 * 640], atol=1 / 16000)


def test_hdtf_bad_annotation_is_a_clear_error(tmp_path):
    from tfbench.errors import InputError
    from tfbench.recipes.hdtf import read_intervals, parse_time

    assert parse_time("01:02:03.5") == 3723.5 and parse_time("02:30") == 150.0
    path = tmp_path / "RD_annotion_time.txt"
    path.write_text("RD_X_000.mp4 00:10-00:05\n")
    with pytest.raises(InputError, match="end > start"):
        read_intervals(path)


def test_long_videos_are_cut_into_clips_of_at_most_ten_seconds():
    from tfbench.recipes.base import ClipParams, Source, _plan_clips

    params = ClipParams(recipe="obamaset", recipe_version="1", max_clip_seconds=10.0)
    plans = _plan_clips(Source("addr", video=None), count=25 * 23, params=params)
    assert [(p.clip_id, p.first, p.end) for p in plans] == [
        ("addr_000", 0, 250), ("addr_001", 250, 500), ("addr_002", 500, 575)]
    short = _plan_clips(Source("addr", video=None), count=200, params=params)
    assert [(p.clip_id, p.first, p.end) for p in short] == [("addr", 0, 200)]


def test_obamaset_split_by_video(tmp_path):
    from tfbench.recipes import RECIPES
    from tfbench.recipes.base import RecipeOptions

    for n in range(12):
        (tmp_path / f"2009-{n:02d}.mp4").write_bytes(b"")
    sources = RECIPES.get("obamaset").sources(tmp_path, RecipeOptions())
    assert [s.source_id for s in sources if s.labels["split"] == "test"] == ["2009-09"]
    assert {s.labels["speaker"] for s in sources} == {"obama"}
    chosen = RECIPES.get("obamaset").sources(tmp_path, RecipeOptions(test_speakers=("2009-00",)))
    assert [s.source_id for s in chosen if s.labels["split"] == "test"] == ["2009-00"]


def test_obamaset_end_to_end_at_2997_fps(tmp_path, monkeypatch):
    """Also: the video is decoded once, and frames kept below full resolution (the working
    scale is < 1 at --size 96) still give landmarks in clip pixels."""
    import datasets

    from tfbench.face.landmarks import detect_landmarks
    from tfbench.io import video
    from tfbench.recipes.base import ClipParams, working_scale

    assert working_scale(70, ClipParams(recipe="obamaset", recipe_version="1", size=96)) < 1
    write_clip(tmp_path / "raw" / "2010-01-02.mp4", fps=29.97, seconds=1.3, canvas=(240, 320))
    decodes = []
    real_chunks = video.iter_video_chunks
    monkeypatch.setattr(video, "iter_video_chunks", lambda *a, **k: decodes.append(a) or real_chunks(*a, **k))
    summary = _run("obamaset", tmp_path / "raw", tmp_path / "out")
    assert summary["clips"] == 1 and not summary["failures"]
    assert len(decodes) == 1
    row = datasets.load_from_disk(str(tmp_path / "out" / "dataset"))["train"].with_format("numpy")[0]
    assert row["clip_id"] == "2010-01-02" and row["num_frames"] == 32 and row["gender"] == "male"
    frames = video.read_video(tmp_path / "out" / "clips" / f"{row['clip_id']}.mp4").frames[::8]
    measured = detect_landmarks(frames).points
    assert np.isfinite(measured).all()
    assert np.median(np.linalg.norm(measured - row["landmarks"][::8], axis=-1)) < 2.0


def test_all_clips_failing_is_an_error_with_the_reasons_on_disk(tmp_path):
    from tfbench.errors import TfbenchError

    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "RD_video_url.txt").write_text("RD_Nobody_000 https://example.invalid/x\n")
    with pytest.raises(TfbenchError, match="every clip failed"):
        _run("hdtf", tmp_path / "raw", tmp_path / "out")
    lines = (tmp_path / "out" / "failures.jsonl").read_text().splitlines()
    assert len(lines) == 1 and "missing video file" in lines[0]
    assert not (tmp_path / "out" / "dataset").exists()
