"""Fault-injection suite (docs/reliability.md): bad input, storage faults at every write site of
prepare and evaluate, SIGKILL with byte-identical resume, two concurrent runs (real processes),
corrupt cache entries, build scratch of killed runs, Ctrl-C.

Storage faults are injected at :func:`tfbench.fsutil._fill`, the one function every output file
is written through, and where a library or ffmpeg writes (datasets' save_to_disk, the encoder).

The seven faults of issue 16, each failing on the code before the fix:
1. two runs on one --out ........ test_two_concurrent_prepare_processes_the_second_refuses_naming_the_first
2. full disk drops clips ......... test_prepare_faults_... (step 2), test_evaluate_storage_fault_..., test_encoder_...
3. read-only / full --out ........ test_read_only_output_folder_is_one_line_and_exit_2
4. damaged frame data ............ test_bad_input_corpus_..., test_damaged_frames_fail_in_prepare_as_in_evaluate
5. truncated / empty cache file .. test_prepare_faults_... (step 5), test_corrupt_score_cache_entries_...
6. build-* scratch of a kill ..... test_prepare_faults_... (step 4)
7. silent Ctrl-C ................. test_ctrl_c_prints_one_line_and_the_same_command_resumes
"""

from __future__ import annotations

import csv
import errno
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from make_fault_corpus import damaged_audio, make_corpus
from tfbench import fsutil
from tfbench.errors import MediaError
from tfbench.evaluate.metrics.base import ClipScore, Metric
from tfbench.evaluate.runner import ClipJob, Runner, RunInfo
from tfbench.fsutil import OutputBusyError, OutputLock, StorageError
from tfbench.io.video import write_video

CAUSES = {errno.ENOSPC: "no space left on device", errno.EROFS: "read-only file system", errno.EIO: "input/output error"}
REPO = Path(__file__).resolve().parents[1]


class WriteFault:
    """Make the first write whose file name matches ``site`` fail with ``code`` after writing a few bytes."""

    def __init__(self, monkeypatch, site: str, code: int) -> None:
        self.site, self.code, self.fired = re.compile(site), code, None
        real = fsutil._fill

        def fill(write, tmp, path):
            if self.fired is None and self.site.search(path.name):
                self.fired = path
                tmp.write_bytes(b"half")  # a full disk fails part way
                raise OSError(code, os.strerror(code), str(tmp))
            return real(write, tmp, path)

        monkeypatch.setattr(fsutil, "_fill", fill)


def leftovers(out: Path) -> list[Path]:
    """Half-written files and scratch a run must not leave behind."""
    found = [p for p in out.rglob("*") if fsutil.is_temp(p) and "dataset" not in p.relative_to(out).parts[:1]]
    return found + sorted(out.glob("build-*")) + [p for p in (out / "dataset.tmp",) if p.exists()]


def assert_storage_error(raised: pytest.ExceptionInfo, fault: WriteFault | None, code: int) -> None:
    message = str(raised.value)
    assert CAUSES[code] in message and errno.errorcode[code] in message, message
    if fault is not None:
        assert fault.fired is not None and str(fault.fired) in message, message
    assert "\n" not in message and "run the same command again" in message


# ---------------------------------------------------------------------- evaluate


class TinyMAD(Metric):
    """Mean |pred - gt| per clip (mean of clip values)."""

    id = "t_mad"
    higher_is_better = False

    def score_clip(self, clip):
        diff = np.abs(clip.frames("pred").astype(np.int16) - clip.frames("gt").astype(np.int16))
        return ClipScore(values={self.id: float(diff.mean())})


class TinyState(Metric):
    """Pixel mean over all frames of all clips, through aggregate state (an .npz per clip)."""

    id = "t_state"
    higher_is_better = True

    def score_clip(self, clip):
        frames = clip.frames("pred").astype(np.float64)
        return ClipScore(values={}, state={"sum": np.array([frames.sum()]), "count": np.array([frames.size])})

    def aggregate(self, scores):
        total = count = 0.0
        for score in scores:
            total += float(score.state["sum"][0])
            count += float(score.state["count"][0])
        return {self.id: total / count if count else None}


class Exploding(Metric):
    """A metric with a bug on clip c1 (its traceback goes to tracebacks.log)."""

    id = "t_bug"
    higher_is_better = True

    def score_clip(self, clip):
        if clip.clip_id == "c1":
            raise ZeroDivisionError("bug")
        return ClipScore(values={self.id: 1.0})


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Three tiny lossless pred/gt pairs (c0..c2) and a model that 'generates' clip g0."""
    root = tmp_path_factory.mktemp("tiny")
    rng = np.random.default_rng(0)
    for index in range(3):
        gt = rng.integers(0, 255, (6, 32, 32, 3), dtype=np.uint8)
        write_video(root / "gt" / f"c{index}.mp4", gt, lossless=True)
        write_video(root / "pred" / f"c{index}.mp4", np.clip(gt.astype(int) + 9 * index, 0, 255).astype(np.uint8), lossless=True)
    write_video(root / "gt" / "g0.mp4", rng.integers(0, 255, (6, 32, 32, 3), dtype=np.uint8), lossless=True)
    return root


def _run(clips: Path, out: Path, **kwargs):
    jobs = [ClipJob(f"c{i}", clips / "pred" / f"c{i}.mp4", clips / "gt" / f"c{i}.mp4") for i in range(3)]
    jobs.append(ClipJob("g0", out / "generated" / "g0.mp4", clips / "gt" / "g0.mp4",
                        generate=lambda clip: 255 - clip.frames("gt")))
    runner = Runner([TinyMAD(), TinyState(), Exploding()], out, RunInfo("m", "d", "test", "pred-vs-gt/v1"),
                    progress=False, identity={"model": "m"}, notify=lambda line: None, **kwargs)
    return runner.run(jobs)


def _outputs(out: Path) -> dict:
    result = json.loads((out / "result.json").read_text())
    for key in ("date", "wall_time_s", "hardware", "git_commit", "git_dirty"):
        result.pop(key, None)
    return {"result": result, "per_clip": (out / "per_clip.csv").read_text(),
            "failures": (out / "failures.jsonl").read_text()}


@pytest.fixture(scope="module")
def evaluate_reference(clips, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval_reference")
    summary = _run(clips, out)
    assert summary.record.metrics["t_mad"].clips_scored == 4 and summary.record.metrics["t_state"].value is not None
    return _outputs(out)


#: every file evaluate writes, in the order of a run: (file name pattern, errno)
EVALUATE_SITES = [
    (r"^run\.json$", errno.EROFS),
    (r"^t_mad\.json$", errno.ENOSPC),  # a per-clip score
    (r"^t_state\.npz$", errno.EIO),  # a per-clip aggregate state
    (r"^t_bug\.json$", errno.EROFS),
    (r"^g0\.mp4$", errno.ENOSPC),  # the generated prediction (model mode)
    (r"^per_clip\.csv$", errno.EIO),
    (r"^failures\.jsonl$", errno.ENOSPC),
    (r"^result\.json$", errno.EROFS),
]


def test_evaluate_storage_fault_at_every_write_site_stops_and_resumes_exactly(clips, evaluate_reference, tmp_path, monkeypatch):
    """Each write site fails once (ENOSPC / EROFS / EIO): the run stops with one line naming the
    file and the cause, writes no result.json and leaves no partial file; the next run, after the
    'fix', gives exactly the uninterrupted run's outputs. (Before: the error became a clip failure
    and result.json was written from fewer clips.)"""
    out = tmp_path / "out"
    for site, code in EVALUATE_SITES:
        with monkeypatch.context() as patch:
            fault = WriteFault(patch, site, code)
            with pytest.raises(StorageError) as raised:
                _run(clips, out)
                pytest.fail(f"no storage error at {site}")
        assert_storage_error(raised, fault, code)
        assert not (out / "result.json").exists(), site
        assert not leftovers(out), site
    _run(clips, out)
    assert _outputs(out) == evaluate_reference


@pytest.mark.parametrize(("site", "code", "shards"), [
    (r"^unmatched\.json$", errno.ENOSPC, 1),  # folder mode: ground truth without a prediction
    (r"^tracebacks\.log$", errno.EIO, 1),  # a metric with a bug
    (r"^\d+-of-\d+\.json$", errno.EROFS, 2),  # a shard's marker
])
def test_evaluate_storage_fault_at_the_other_write_sites(clips, tmp_path, monkeypatch, site, code, shards):
    from tfbench.evaluate.run import run_evaluation

    fault = WriteFault(monkeypatch, site, code)
    if site.startswith("^unmatched"):
        call = lambda: run_evaluation(tmp_path / "out", pred=clips / "pred", gt=clips / "gt", metrics="psnr",  # noqa: E731
                                      progress=False, echo=lambda line: None)
    else:
        call = lambda: _run(clips, tmp_path / "out", num_shards=shards, shard_index=shards - 1)  # noqa: E731
    with pytest.raises(StorageError) as raised:
        call()
    assert_storage_error(raised, fault, code)
    assert not (tmp_path / "out" / "result.json").exists() and not leftovers(tmp_path / "out")


def test_encoder_reporting_a_full_disk_is_a_storage_error(tmp_path, monkeypatch):
    """ffmpeg writes the clip itself: its 'No space left on device' stops the run, never a data failure."""
    from tfbench.io import video as video_io

    def full_disk(args, **kwargs):
        Path(args[-1]).write_bytes(b"half")
        return subprocess.CompletedProcess(args, 1, b"", b"av_interleaved_write_frame(): No space left on device")

    monkeypatch.setattr(video_io, "run_ffmpeg", full_disk)
    with pytest.raises(StorageError) as raised:
        write_video(tmp_path / "clip.mp4", np.zeros((2, 16, 16, 3), np.uint8))
    assert_storage_error(raised, None, errno.ENOSPC)
    assert "clip.mp4" in str(raised.value) and list(tmp_path.iterdir()) == []


def test_corrupt_score_cache_entries_are_named_and_rescored(clips, evaluate_reference, tmp_path):
    out = tmp_path / "out"
    _run(clips, out)
    (out / "clips" / "c0" / "t_mad.json").write_text('{"key": "trunc')  # truncated
    (out / "clips" / "c1" / "t_mad.json").write_bytes(b"")  # empty
    (out / "clips" / "c2" / "t_state.npz").write_bytes(b"PK\x03\x04 cut")  # truncated zip
    generated = out / "generated" / "g0.mp4"
    generated.write_bytes(generated.read_bytes()[:300])  # a generated clip is a cache entry too
    lines = []
    jobs = [ClipJob(f"c{i}", clips / "pred" / f"c{i}.mp4", clips / "gt" / f"c{i}.mp4") for i in range(3)]
    jobs.append(ClipJob("g0", out / "generated" / "g0.mp4", clips / "gt" / "g0.mp4", generate=lambda clip: 255 - clip.frames("gt")))
    summary = Runner([TinyMAD(), TinyState(), Exploding()], out, RunInfo("m", "d", "test", "pred-vs-gt/v1"), progress=False,
                     identity={"model": "m"}, notify=lines.append).run(jobs)
    named = sorted(re.search(r"corrupt cache entry (\S+):", line).group(1) for line in lines)
    assert named == sorted([str(generated)] + [str(out / "clips" / c) for c in ("c0/t_mad.json", "c1/t_mad.json",
                                                                                "c2/t_state.npz")]), lines
    assert summary.scores_computed == 3  # the regenerated clip is the same lossless file: its scores still match
    assert generated.stat().st_size > 300
    assert _outputs(out) == evaluate_reference


def test_sharded_evaluation_merges_to_the_single_run_result(clips, evaluate_reference, tmp_path):
    out = tmp_path / "out"
    computed = 0
    for index in range(3):
        summary = _run(clips, out, num_shards=3, shard_index=index)
        assert summary.record is None and not (out / "result.json").exists()
        computed += summary.scores_computed
    assert computed == 3 * 4 - 1  # every (clip, metric) once; t_bug fails on c1
    merged = _run(clips, out)
    assert merged.scores_computed == 0  # only the failed pair is tried again
    assert _outputs(out) == evaluate_reference


def test_shard_runs_share_a_folder_but_not_with_a_merging_run(tmp_path):
    with OutputLock(tmp_path, shard=(0, 2)), OutputLock(tmp_path, shard=(1, 2)):
        with pytest.raises(OutputBusyError, match=r"Shard 1 of 2 is already running"):
            OutputLock(tmp_path, shard=(1, 2)).acquire()
        with pytest.raises(OutputBusyError, match=rf"pid {os.getpid()} on .*test_reliability|pid {os.getpid()} on "):
            OutputLock(tmp_path).acquire()
    with OutputLock(tmp_path):
        with pytest.raises(OutputBusyError, match="run without shard flags owns the folder"):
            OutputLock(tmp_path, shard=(0, 2)).acquire()
    OutputLock(tmp_path).acquire().release()


# ---------------------------------------------------------------------- bad input corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    return root, make_corpus(root)


def test_bad_input_corpus_gives_a_score_or_a_clear_error_per_clip(corpus, tmp_path, capsys):
    """>= 20 malformed inputs made from the sample; each clip is scored or fails with a clear
    message; nothing crashes, no unexpected exception (tracebacks.log), no half-result."""
    from tfbench.evaluate.run import run_evaluation

    root, expect = corpus
    assert len(expect) >= 20
    evaluation = run_evaluation(tmp_path / "out", pred=root / "pred", gt=root / "gt", metrics="psnr", progress=False,
                                echo=lambda line: None)
    rows = {row["clip_id"]: row for row in csv.DictReader((tmp_path / "out" / "per_clip.csv").open())}
    assert set(rows) == set(expect)
    for name, expectation in expect.items():
        row = rows[name]
        if expectation == "score":
            assert row["psnr"] and not row["error"], (name, row)
        else:
            assert bool(row["psnr"]) != bool(row["error"]), (name, row)
            if row["error"]:
                assert re.search(expectation, row["error"]), (name, row["error"])
                assert "Traceback" not in row["error"]
    assert not (tmp_path / "out" / "tracebacks.log").exists()
    assert evaluation.summary.record.metrics["psnr"].clips_scored == sum(bool(r["psnr"]) for r in rows.values())


def test_damaged_frames_fail_in_prepare_as_in_evaluate(corpus, tmp_path):
    """A source with damaged frame data inside an intact container fails, naming the frames."""
    from tfbench.recipes.base import ClipParams, Source
    from tfbench.recipes.process import process_source

    root, _ = corpus
    marker = process_source(Source("damaged", root / "work" / "damaged.mp4"), tmp_path,
                            ClipParams(recipe="sample", recipe_version="1", size=64), root)
    assert marker["clips"] == []
    reason = marker["failures"][0]["reason"]
    assert re.search(r"damaged frame data: \d+ of 25 video frames are corrupt \(at [\d.]+", reason), reason
    assert (tmp_path / "cache" / "sources" / "damaged.json").exists()  # a data failure: cached


def test_damaged_audio_packets_are_counted_in_the_decode(corpus, tmp_path):
    from tfbench.io.audio import read_audio

    root, _ = corpus
    bad = damaged_audio(root / "work" / "base.mp4", tmp_path / "damaged.m4a")
    with pytest.raises(MediaError, match="damaged audio data"):
        read_audio(bad)
    assert read_audio(root / "work" / "base.mp4").size > 0


# ---------------------------------------------------------------------- prepare


def _prepare(out: Path, notify=None, **kwargs):
    from tfbench.recipes import RECIPES
    from tfbench.recipes.build import prepare

    return prepare(RECIPES.get("sample"), None, out, size=64, limit=2, notify=notify or (lambda line: None), **kwargs)


@pytest.fixture(scope="module")
def prepare_reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("prepare_reference")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TFBENCH_HOME", str(tmp_path_factory.mktemp("home")))
        summary = _prepare(out)
    assert summary["clips"] == 2 and not summary["failures"]
    return out


def _files(out: Path) -> dict[str, bytes]:
    """Every output file's bytes (the dataset's arrow data included; run-specific files left out)."""
    skip = {".tfbench.lock", "state.json", "meta.json"}  # meta: compared by fingerprint; npz: zip timestamps
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name not in skip and p.suffix != ".npz" and "sources" not in p.parts}


def _assert_same_prepared(out: Path, reference: Path) -> None:
    meta, ref_meta = (json.loads((d / "meta.json").read_text()) for d in (out, reference))
    assert meta["fingerprint"] == ref_meta["fingerprint"]
    assert _files(out) == _files(reference)


def _killer_script(out: Path, site: str) -> str:
    """A prepare run that SIGKILLs itself when it reaches ``site`` (mid-write)."""
    return textwrap.dedent(f"""
        import os, re, signal
        from pathlib import Path
        from tfbench import fsutil
        import datasets
        real = fsutil._fill
        def fill(write, tmp, path):
            if re.search({site!r}, path.name):
                tmp.write_bytes(b"half")
                os.kill(os.getpid(), signal.SIGKILL)
            return real(write, tmp, path)
        fsutil._fill = fill
        real_save = datasets.DatasetDict.save_to_disk
        def save(self, path, **kwargs):
            if {site!r} == "save_to_disk":
                real_save(self, path, **kwargs)
                os.kill(os.getpid(), signal.SIGKILL)
            return real_save(self, path, **kwargs)
        datasets.DatasetDict.save_to_disk = save
        from tfbench.recipes import RECIPES
        from tfbench.recipes.build import prepare
        prepare(RECIPES.get("sample"), None, Path({str(out)!r}), size=64, limit=2)
    """)


def _kill_at(out: Path, site: str) -> None:
    done = subprocess.run([sys.executable, "-c", _killer_script(out, site)], capture_output=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-2000:]


def test_prepare_faults_sigkill_storage_errors_and_corrupt_cache_resume_to_the_same_dataset(prepare_reference, tmp_path, monkeypatch):
    """One folder through every fault in turn; each run after a fault resumes, and the end
    result is byte-identical to the uninterrupted reference run (same fingerprint)."""
    import datasets

    out = tmp_path / "out"
    # 1. SIGKILL while the second source's clip mp4 is half-written.
    _kill_at(out, r"_002\.mp4$")
    assert len(list((out / "cache" / "sources").glob("*.json"))) == 1 and leftovers(out)

    # 2. A storage error at each per-source write site: the run stops, nothing is cached as a data failure.
    for site, code in [(r"\.wav$", errno.EIO), (r"_002\.mp4$", errno.ENOSPC), (r"_002\.npz$", errno.EROFS),
                       (r"_002\.json$", errno.ENOSPC), (r"^failures\.jsonl$", errno.EIO),
                       (r"^tdmm_offline\.npz$", errno.ENOSPC), (r"^meta\.json$", errno.EROFS)]:
        with monkeypatch.context() as patch:
            fault = WriteFault(patch, site, code)
            with pytest.raises(StorageError) as raised:
                _prepare(out)
        assert_storage_error(raised, fault, code)
        assert not leftovers(out), site
        assert not (out / "meta.json").exists()
        for marker in (out / "cache" / "sources").glob("*.json"):
            assert json.loads(marker.read_text())["failures"] == [], site

    # 3. The dataset writer (datasets' save_to_disk) hits a full disk half way.
    def full_disk(self, path, **kwargs):
        Path(path).mkdir(parents=True)
        (Path(path) / "data-00000-of-00001.arrow").write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    with monkeypatch.context() as patch:
        patch.setattr(datasets.DatasetDict, "save_to_disk", full_disk)
        with pytest.raises(StorageError) as raised:
            _prepare(out)
    assert_storage_error(raised, None, errno.ENOSPC)
    assert not leftovers(out) and not (out / "meta.json").exists()

    # 4. SIGKILL inside the build: build-* scratch and dataset.tmp stay behind ...
    _kill_at(out, "save_to_disk")
    assert list(out.glob("build-*")) and (out / "dataset.tmp").exists()
    # ... and the next run removes them, then finishes.
    lines = []
    _prepare(out, lines.append)
    assert any("removed" in line and "interrupted run" in line for line in lines), lines
    assert not leftovers(out)
    _assert_same_prepared(out, prepare_reference)

    # 5. Corrupt cache entries: a truncated clip npz, an empty source marker, a damaged clip mp4.
    npz = sorted((out / "cache" / "clips").glob("*.npz"))[0]
    npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])
    marker = sorted((out / "cache" / "sources").glob("*.json"))[1]
    marker.write_bytes(b"")
    lines = []
    summary = _prepare(out, lines.append)
    named = sorted(re.search(r"corrupt cache entry (\S+):", line).group(1) for line in lines if "corrupt" in line)
    assert named == sorted([str(npz), str(marker)]), lines
    assert summary["processed"] == 2 and summary["reused"] == 0
    _assert_same_prepared(out, prepare_reference)

    # 6. The last write site: a shard run's marker.
    with monkeypatch.context() as patch:
        fault = WriteFault(patch, r"^\d+-of-\d+\.json$", errno.EIO)
        with pytest.raises(StorageError) as raised:
            _prepare(out, num_shards=2, shard_index=0)
    assert_storage_error(raised, fault, errno.EIO)
    assert not leftovers(out)


# ---------------------------------------------------------------------- concurrency and interrupts


def test_two_concurrent_prepare_processes_the_second_refuses_naming_the_first(tmp_path):
    """Two real processes on one --out: the second stops at once with a message naming the first
    (pid, host, command); the lock goes with the first process, even when it is SIGKILLed."""
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "tfbench.cli", "prepare", "sample", "--out", str(out), "--size", "64"]
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        lock = out / fsutil.LOCK_NAME
        deadline = time.monotonic() + 300
        while not (lock.exists() and f'"pid": {first.pid}' in lock.read_text()):
            assert first.poll() is None and time.monotonic() < deadline, first.stderr.read().decode()[-2000:]
            time.sleep(0.2)
        second = subprocess.run(command, capture_output=True, env=env, timeout=300)
        assert second.returncode == 2
        message = second.stderr.decode()
        assert f"pid {first.pid} on " in message and "cli.py prepare sample" in message, message
        assert "in use by" in message and len(message.strip().splitlines()) == 1, message
        assert first.poll() is None  # the first run was not disturbed
    finally:
        first.kill()
        first.wait()
    OutputLock(out).acquire().release()  # released by the kernel when the first run died


@pytest.mark.parametrize(("stop", "status"), [("SIGINT", 130), ("SIGTERM", 143)])
def test_ctrl_c_prints_one_line_and_the_same_command_resumes(clips, tmp_path, stop, status):
    """SIGINT (Ctrl-C) or SIGTERM (a scheduler) in the middle of `tfbench evaluate`: one line saying
    how to resume, exit 130 / 143; the same command then finishes as an uninterrupted run."""
    out = tmp_path / "out"
    args = ["evaluate", "--pred", str(clips / "pred"), "--gt", str(clips / "gt"), "--metrics", "psnr", "--out", str(out),
            "--no-progress"]
    script = textwrap.dedent(f"""
        import os, signal, sys
        from tfbench import fsutil
        real = fsutil._fill
        def fill(write, tmp, path):
            real(write, tmp, path)
            if path.parent.name == "c1":
                os.kill(os.getpid(), signal.{stop})
        fsutil._fill = fill
        sys.argv = ["tfbench", *{args!r}]
        from tfbench.cli import main
        main()
    """)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    interrupted = subprocess.run([sys.executable, "-c", script], capture_output=True, env=env, timeout=300)
    assert interrupted.returncode == status
    lines = [line for line in interrupted.stderr.decode().splitlines() if line.strip()]
    assert len(lines) == 1 and "interrupted" in lines[0] and "run the same command again to resume" in lines[0], lines
    assert not (out / "result.json").exists() and not leftovers(out)
    resumed = subprocess.run([sys.executable, "-m", "tfbench.cli", *args], capture_output=True, env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stderr.decode()
    assert "3 clips, 0 with a failure; 2 scores computed, 1 reused" in " ".join(resumed.stdout.decode().split())


def test_read_only_output_folder_is_one_line_and_exit_2(clips, tmp_path, monkeypatch, capsys):
    """(Before: a raw traceback and a 0-byte .json.tmp left behind.)"""
    from tfbench import cli

    out = tmp_path / "out"
    WriteFault(monkeypatch, r".", errno.EROFS)
    monkeypatch.setattr(sys, "argv", ["tfbench", "evaluate", "--pred", str(clips / "pred"), "--gt", str(clips / "gt"),
                                      "--metrics", "psnr", "--out", str(out), "--no-progress"])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("error: cannot write or read ") and "read-only file system (EROFS)" in err[0], err
    assert not leftovers(out)
