"""Benchmark of ``tfbench evaluate``: one decode pass versus "separate tools + PNG folders".

Run: ``python -m benchmarks.bench_evaluate [--clips 4] [--sizes 256,512] [--memory-clips 2,4,8] [--memory-workers 1,2]``

- **tfbench**: the runner scores every clip with the whole metric set (default: every
  registered metric whose weights are present, i.e. the offline set) in one pass — each
  video decoded once, face landmarks detected once per video and shared by LMD, CSIM, EFD.
- **separate tools** ("the way users do it today"): for each metric on its own, every
  video is decoded by the ffmpeg CLI into a folder of PNG files, the PNGs are read back
  (OpenCV), the audio is extracted to WAV when the metric needs it, and the metric runs
  on those arrays with nothing shared between metrics. The metric code is the same, so the
  difference is decoding, disk round trips and repeated face detection — and the
  per-clip values of both ways must agree (checked).
- **peak memory** against the number of clips (and of ``--workers``): each run is
  ``run_evaluation`` in a fresh subprocess, reported as its ``VmHWM`` (peak resident set of
  the process's own address space; ``ru_maxrss`` is not used because Linux carries it over
  from the forking parent across ``execve``), the largest ``VmHWM`` of any child (a worker, ffmpeg), and the
  largest sum of ``VmRSS`` over the process and its workers (sampled every 0.2 s);
  bounded memory means none of them grows with the clip count.

Input: the bundled sample's videos (``tfbench/sample_raw``, generated into a temp
folder with ``tfbench.samplegen`` when absent), 256x256, and the same upscaled to 512x512
(bicubic). Predictions are the ground truth blurred (Gaussian, sigma 1.5) and shifted
by 2 px, so every metric has something to measure. Frames per second count generated
frames scored. Results are printed as markdown (copy them into docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tfbench.evaluate.clip import ClipInputs
from tfbench.evaluate.runner import ClipJob, Runner, RunInfo, available_metrics, resolve_metrics
from tfbench.io._ffmpeg import ffmpeg_exe
from tfbench.io.audio import read_audio
from tfbench.io.video import read_video, write_video

REPO = Path(__file__).resolve().parent.parent


def sample_videos(work: Path) -> list[Path]:
    """The sample's raw mp4 files (generated into ``work`` when the bundle is absent)."""
    bundled = sorted((REPO / "tfbench" / "sample_raw").glob("*/video/**/*.mp4"))
    if bundled:
        return bundled
    from tfbench.samplegen import generate

    target = work / "sample_raw"
    if not any(target.glob("*/video/**/*.mp4")):
        generate(target)
    return sorted(target.glob("*/video/**/*.mp4"))


def degrade(frames: np.ndarray) -> np.ndarray:
    """The benchmark's 'generated' video: blurred (sigma 1.5) and shifted by 2 px."""
    import cv2

    blurred = np.stack([cv2.GaussianBlur(frame, (0, 0), 1.5) for frame in frames])
    return np.roll(blurred, 2, axis=2)


def build_pairs(videos: list[Path], count: int, size: int, root: Path) -> list[ClipJob]:
    """``count`` gt/pred pairs at ``size`` x ``size`` under ``root`` (clips repeat when count > len(videos))."""
    import cv2

    jobs = []
    for index in range(count):
        source = videos[index % len(videos)]
        clip_id = f"clip{index:02d}"
        gt_path, pred_path = root / "gt" / f"{clip_id}.mp4", root / "pred" / f"{clip_id}.mp4"
        if not gt_path.exists():
            frames = read_video(source).frames
            if frames.shape[1] != size:
                frames = np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_CUBIC) for f in frames])
            write_video(gt_path, frames, audio=read_audio(source), lossless=True)
            write_video(pred_path, degrade(frames), lossless=True)
        jobs.append(ClipJob(clip_id, pred_path, gt_path))
    return jobs


def run_tfbench(jobs: list[ClipJob], metric_ids: list[str], out: Path) -> tuple[float, dict]:
    """Wall time of one runner pass and its per-clip values ``{clip_id: {value_id: v}}``."""
    shutil.rmtree(out, ignore_errors=True)
    runner = Runner(resolve_metrics(metric_ids), out, RunInfo("bench", "sample", "test", "pred-vs-gt/v1"), progress=False)
    started = time.perf_counter()
    summary = runner.run(jobs)
    elapsed = time.perf_counter() - started
    values = {}
    import csv

    for row in csv.DictReader(open(summary.per_clip_csv)):
        values[row["clip_id"]] = {k: float(v) for k, v in row.items() if k not in ("clip_id", "error") and v != ""}
    return elapsed, values


def metric_seconds(out: Path) -> dict[str, float]:
    """Seconds spent in each metric's ``score_clip`` in a run (shared work counts for the first metric using it)."""
    totals: dict[str, float] = {}
    for path in (out / "clips").rglob("*.json"):
        entry = json.loads(path.read_text())
        totals[entry["metric"]] = totals.get(entry["metric"], 0.0) + entry.get("seconds", 0.0)
    return totals


def _png_roundtrip(video: Path, folder: Path) -> np.ndarray:
    """ffmpeg -> PNG files -> read back as uint8 [T,H,W,3] RGB (the separate-tools way)."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-i", str(video), "-fps_mode", "passthrough", str(folder / "%05d.png")], check=True)
    frames = np.stack([cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB) for path in sorted(folder.glob("*.png"))])
    shutil.rmtree(folder)
    return frames


def _wav_roundtrip(video: Path, path: Path) -> np.ndarray:
    import soundfile

    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-i", str(video), "-vn", "-ac", "1", "-ar", "16000", str(path)], check=True)
    audio, _ = soundfile.read(str(path), dtype="float32")
    path.unlink()
    return audio


def run_separate(jobs: list[ClipJob], metric_ids: list[str], scratch: Path) -> tuple[float, dict]:
    """Each metric alone: decode to PNG, read back, score; nothing shared. Returns wall time and values."""
    values: dict[str, dict] = {job.clip_id: {} for job in jobs}
    started = time.perf_counter()
    for metric in resolve_metrics(metric_ids):
        for job in jobs:
            pred = _png_roundtrip(job.pred, scratch / "pred_png")
            gt = _png_roundtrip(job.gt, scratch / "gt_png")
            audio = _wav_roundtrip(job.gt, scratch / "audio.wav") if "audio" in metric.needs else None
            try:
                score = metric.score_clip(ClipInputs.from_arrays(pred, gt, audio=audio, clip_id=job.clip_id))
                values[job.clip_id].update(score.values)
            except Exception:  # noqa: BLE001 — same clips fail both ways; compared below
                pass
    return time.perf_counter() - started, values


def _max_relative_difference(a: dict, b: dict) -> float:
    worst = 0.0
    for clip_id, row in a.items():
        for key, value in row.items():
            other = b.get(clip_id, {}).get(key)
            if other is None:
                return float("inf")
            worst = max(worst, abs(value - other) / max(abs(other), 1e-12))
    return worst


def peak_rss_mib() -> float:
    """Peak resident set size of this process (``VmHWM`` from /proc/self/status), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def _status_mib(pid: int | str, field: str) -> float:
    """``field`` (``VmHWM``/``VmRSS``) of process ``pid`` from /proc, MiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (from /proc/PID/task/*/children)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found += children
            queue += children
    return found


class TreeMemory:
    """Samples this process and its workers every 0.2 s: the largest sum of VmRSS over the
    tree, and the largest VmHWM of any one child process (MiB)."""

    def __init__(self) -> None:
        import threading

        self.tree_peak = self.worker_peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            children = _descendants(os.getpid())
            total = _status_mib("self", "VmRSS") + sum(_status_mib(pid, "VmRSS") for pid in children)
            self.tree_peak = max(self.tree_peak, total)
            self.worker_peak = max([self.worker_peak] + [_status_mib(pid, "VmHWM") for pid in children])

    def __enter__(self) -> "TreeMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def memory_child(count: int, size: int, metric_ids: list[str], work: Path, workers: int) -> None:
    """Subprocess body: score ``count`` clips with ``workers`` processes, print the peaks (MiB) as JSON."""
    from tfbench.evaluate.run import run_evaluation

    jobs = build_pairs(sample_videos(work), count, size, work / f"pairs{size}")
    chosen = work / f"mem_pairs_{count}"  # links to exactly the first `count` pairs
    shutil.rmtree(chosen, ignore_errors=True)
    for job in jobs:
        for side, path in (("pred", job.pred), ("gt", job.gt)):
            (chosen / side).mkdir(parents=True, exist_ok=True)
            (chosen / side / path.name).symlink_to(path.resolve())
    out = work / f"mem_out_{count}_{workers}"
    shutil.rmtree(out, ignore_errors=True)
    with TreeMemory() as tree:
        started = time.perf_counter()
        run_evaluation(out, pred=chosen / "pred", gt=chosen / "gt", metrics=metric_ids,
                       workers=workers, progress=False, echo=lambda line: None)
        elapsed = time.perf_counter() - started
    print(json.dumps({"clips": count, "workers": workers, "peak_rss_mib": round(peak_rss_mib(), 1),
                      "tree_peak_mib": round(tree.tree_peak, 1), "worker_peak_mib": round(tree.worker_peak, 1),
                      "seconds": round(elapsed, 2)}))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=4, help="clips in the speed comparison")
    parser.add_argument("--sizes", default="256,512")
    parser.add_argument("--memory-clips", default="2,4,8")
    parser.add_argument("--metrics", default=None, help="comma-separated ids (default: every metric whose weights are present)")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temp folder)")
    parser.add_argument("--parts", default="speed,memory", help="which measurements: speed, memory or both")
    parser.add_argument("--memory-workers", default="1", help="comma-separated worker counts for the memory runs")
    parser.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    metric_ids = args.metrics.split(",") if args.metrics else available_metrics()[0]
    work = args.work or Path(tempfile.mkdtemp(prefix="tfbench-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    sizes = [int(size) for size in args.sizes.split(",")]
    if args.memory_child is not None:
        memory_child(args.memory_child, sizes[0], metric_ids, work, int(args.memory_workers))
        return

    videos = sample_videos(work)
    print(f"metrics: {', '.join(metric_ids)}")
    print(f"machine: {os.cpu_count()} cores; torch threads {_torch_threads()}\n")
    parts = args.parts.split(",")
    if "speed" in parts:
        speed(videos, sizes, args.clips, metric_ids, work)
    if "memory" in parts:
        memory(sizes[0], [int(c) for c in args.memory_clips.split(",")], [int(w) for w in args.memory_workers.split(",")],
               metric_ids, work)
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


def speed(videos: list[Path], sizes: list[int], clips: int, metric_ids: list[str], work: Path) -> None:
    """Print the one-pass vs separate-tools table and the per-metric time table."""
    print("| size | clips | frames | tfbench one pass | separate tools + PNG | speed-up | max rel. diff of per-clip values |")
    print("|---|---|---|---|---|---|---|")
    per_metric: dict[int, tuple[dict, float, int]] = {}
    for size in sizes:
        jobs = build_pairs(videos, clips, size, work / f"pairs{size}")
        frames = sum(read_video(job.pred).frames.shape[0] for job in jobs)
        one_pass, ours = run_tfbench(jobs, metric_ids, work / f"out{size}")
        separate, theirs = run_separate(jobs, metric_ids, work / "scratch")
        print(f"| {size}x{size} | {len(jobs)} | {frames} | {frames / one_pass:.1f} fps ({one_pass:.1f} s) | "
              f"{frames / separate:.1f} fps ({separate:.1f} s) | {separate / one_pass:.2f}x | "
              f"{_max_relative_difference(ours, theirs):.1e} |", flush=True)
        per_metric[size] = (metric_seconds(work / f"out{size}"), one_pass, frames)

    print("\n| metric | " + " | ".join(f"s per 100 frames at {size}" for size in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    for metric_id in metric_ids:
        cells = [f"{100 * per_metric[size][0].get(metric_id, float('nan')) / per_metric[size][2]:.2f}" for size in sizes]
        print(f"| {metric_id} | " + " | ".join(cells) + " |")
    cells = [f"{100 * (one - sum(secs.values())) / frames:.2f}" for secs, one, frames in (per_metric[size] for size in sizes)]
    print("| (decode, hashing, cache, aggregate) | " + " | ".join(cells) + " |")


def memory(size: int, counts: list[int], worker_counts: list[int], metric_ids: list[str], work: Path) -> None:
    """Print the peak memory of a fresh process scoring each number of clips with each number of workers."""
    print("\n| clips | workers | parent peak RSS (MiB) | largest child peak (MiB) | whole tree peak (MiB) | seconds | load |")
    print("|---|---|---|---|---|---|---|")
    for workers in worker_counts:
        for count in counts:
            load = os.getloadavg()[0]
            command = [sys.executable, "-m", "benchmarks.bench_evaluate", "--memory-child", str(count), "--sizes", str(size),
                       "--metrics", ",".join(metric_ids), "--work", str(work), "--memory-workers", str(workers)]
            completed = subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=True)
            result = json.loads(completed.stdout.strip().splitlines()[-1])
            print(f"| {result['clips']} | {workers} | {result['peak_rss_mib']} | {result['worker_peak_mib'] or '–'} | "
                  f"{result['tree_peak_mib']} | {result['seconds']} | {load:.1f} |", flush=True)


def _torch_threads() -> int | str:
    try:
        import torch

        return torch.get_num_threads()
    except ImportError:
        return "n/a"


if __name__ == "__main__":
    main()
