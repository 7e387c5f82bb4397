"""Benchmark `tfbench prepare`: wall time per clip against a decode-only pass, time split by stage.

    python benchmarks/bench_prepare.py                       # the bundled sample (256×256, 25 fps)
    python benchmarks/bench_prepare.py --fixture 1080p       # 4 of its videos upscaled to MEAD's 1920×1080 30 fps
    python benchmarks/bench_prepare.py --recipe mead --raw-dir /data/MEAD --limit 50 --num-proc 2

``--fixture 1080p`` builds its input itself (once, into ``--fixture-dir``): the bundled
sample's first ``--limit`` videos (sorted by source id) upscaled with ffmpeg to 1080×1080
(bicubic), padded to 1920×1080 and resampled to 30 fps, H.264 High (libx264 crf 18, preset
medium, single-threaded and bit-exact, so the files are the same on every run), with their
m4a audio, in MEAD's raw layout (``<speaker>/video/front/<emotion>/level_<k>/<nnn>.mp4``).

One process does, in order: a warm-up ``prepare`` of one source into a scratch folder (one-off
imports and model loads are not per-clip costs), then per source the **decode-only** pass
(``probe_video``, ``read_audio`` of its audio, ``iter_video_chunks`` over the whole video at
25 fps in prepare's chunk size, in the calling thread: the decoder calls prepare makes, with ffmpeg's
media check redone as in a fresh process), a fresh ``prepare`` of all sources (nothing
cached) timed per source through its progress callback, and the decode-only pass again. Per
clip it prints prepare's wall time, the mean of the two decode-only passes and their ratio
(target ≤ 1.5 at 1080p); the dataset build (3DMM/AU fit and Arrow writing, once per run) is
shown apart and in the total. CPU seconds (all threads, plus ffmpeg children) are printed
beside the wall times: on a shared machine they say how much of the wall time was waiting
for a core. Stage times are summed over worker processes; prepare runs helper threads
(decoding, rescaling, the audio features), so they overlap: "decode" is the time the
processing loop waited for frames, plus opening the video and reading the audio, and
"audio_features" / "phonemes" are measured in their own thread.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

STAGES = ("decode", "detect", "crop", "landmarks", "tdmm", "audio_features", "phonemes", "write",
          "fit_3dmm_au", "build")
#: Bump when the 1080p fixture's recipe changes (the cached copy is then rebuilt).
FIXTURE_VERSION = "1"


def build_1080p_fixture(root: Path, count: int) -> Path:
    """MEAD-layout tree of the bundled sample's first ``count`` videos at 1920×1080 30 fps (kept in ``root``)."""
    from tfbench.io._ffmpeg import ffmpeg_exe
    from tfbench.recipes import RECIPES
    from tfbench.recipes.base import RecipeOptions

    sample = RECIPES.get("sample")
    raw = sample.default_raw_dir()
    sources = sorted(sample.sources(raw, RecipeOptions()), key=lambda s: s.source_id)[:count]
    stamp = root / "fixture.json"
    wanted = {"version": FIXTURE_VERSION, "sources": [s.source_id for s in sources]}
    if stamp.exists() and json.loads(stamp.read_text()) == wanted:
        return root
    shutil.rmtree(root, ignore_errors=True)
    for source in sources:
        relative = source.video.relative_to(raw)
        video = root / relative
        video.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-i", str(source.video),
                        "-vf", "scale=1080:1080:flags=bicubic,pad=1920:1080:420:0:color=0x5a5a78,fps=30",
                        "-c:v", "libx264", "-preset", "medium", "-crf", "18", "-pix_fmt", "yuv420p",
                        "-threads", "1", "-x264-params", "threads=1", "-c:a", "copy", "-fflags", "+bitexact",
                        "-flags:v", "+bitexact", "-map_metadata", "-1", str(video)], check=True)
        audio = root / source.audio.relative_to(raw)
        audio.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source.audio, audio)
    stamp.write_text(json.dumps(wanted))
    return root


def cpu_seconds() -> float:
    """CPU seconds of this process (all its threads) and its waited-for children (ffmpeg)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def decode_only(source) -> tuple[float, float]:
    """(wall, CPU) seconds of the decoder calls prepare makes for ``source``, alone (media check not memoised)."""
    from tfbench.io._ffmpeg import _checked
    from tfbench.io.audio import read_audio
    from tfbench.io.video import iter_video_chunks, probe_video
    from tfbench.recipes.process import chunk_frames

    _checked.cache_clear()  # a fresh process checks each file once; so does prepare
    tick, cpu = time.perf_counter(), cpu_seconds()
    info = probe_video(source.video)
    read_audio(source.audio if source.audio is not None else source.video, 16000)
    for _chunk in iter_video_chunks(source.video, fps=25.0, chunk_frames=chunk_frames(info.width, info.height)):
        pass
    seconds = time.perf_counter() - tick, cpu_seconds() - cpu
    _checked.cache_clear()  # nor does prepare find this check done
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fixture", choices=("sample", "1080p"), default=None,
                        help="input: the bundled sample, or its videos upscaled to 1080p (built here)")
    parser.add_argument("--fixture-dir", type=Path, default=Path.home() / ".cache" / "tfbench-bench" / "mead-1080p")
    parser.add_argument("--recipe", default=None, help="a recipe with --raw-dir instead of a fixture")
    parser.add_argument("--raw-dir", type=Path, default=None)
    parser.add_argument("--num-proc", type=int, default=1)
    parser.add_argument("--limit", type=int, default=None, help="sources (default: all; 4 with --fixture 1080p)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--tdmm", default="offline", choices=("offline", "deep3d"))
    parser.add_argument("--keep", type=Path, default=None,
                        help="copy the prepared dataset here (to compare runs: benchmarks/compare_prepared.py)")
    args = parser.parse_args()

    from tfbench.recipes import RECIPES
    from tfbench.recipes.base import RecipeOptions
    from tfbench.recipes.build import BuildParams, prepare

    recipe_name, raw_dir, limit = args.recipe or "sample", args.raw_dir, args.limit
    if args.fixture == "1080p":
        limit = limit or 4
        recipe_name, raw_dir = "mead", build_1080p_fixture(args.fixture_dir, limit)
    recipe = RECIPES.get(recipe_name)
    options = RecipeOptions()
    sources = sorted(recipe.sources(Path(raw_dir) if raw_dir else recipe.default_raw_dir(), options),
                     key=lambda s: s.source_id)[:limit]

    with tempfile.TemporaryDirectory(prefix="bench-prepare-") as scratch:
        os.environ.setdefault("TFBENCH_HOME", str(Path(scratch) / "home"))
        run = {"size": args.size, "num_proc": args.num_proc, "build": BuildParams(tdmm=args.tdmm)}
        prepare(recipe, raw_dir, Path(scratch) / "warm-up", limit=1, **run)
        decode_first = {s.source_id: decode_only(s) for s in sources}  # (wall, CPU) seconds
        walls: dict[str, float] = {}
        cpus: dict[str, float] = {}
        last = [0.0, 0.0]

        def progress(marker: dict) -> None:
            now, cpu = time.perf_counter(), cpu_seconds()
            walls[marker["source_id"]], cpus[marker["source_id"]] = now - last[0], cpu - last[1]
            last[:] = now, cpu

        started = last[0] = time.perf_counter()
        last[1] = cpu_seconds()
        summary = prepare(recipe, raw_dir, Path(scratch) / "out", limit=limit, progress=progress, **run)
        wall = time.perf_counter() - started
        build_wall = time.perf_counter() - last[0]
        if args.keep is not None:
            shutil.copytree(Path(scratch) / "out", args.keep)
        decode_again = {s.source_id: decode_only(s) for s in sources}
    clips = summary["clips"]
    timings = summary["timings"]
    load = os.getloadavg()
    print(f"recipe {recipe_name}{' (1080p fixture)' if args.fixture == '1080p' else ''}, {summary['sources']} videos -> "
          f"{clips} clips, {len(summary['failures'])} failures, size {args.size}, num_proc {args.num_proc}, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print(f"wall {wall:.1f} s; {clips / (wall / 60) / args.num_proc:.1f} clips per minute per core\n")
    decode = {k: (decode_first[k][0] + decode_again[k][0]) / 2 for k in decode_first}
    decode_cpu = {k: (decode_first[k][1] + decode_again[k][1]) / 2 for k in decode_first}
    print("Wall ms per clip; CPU ms (all threads + ffmpeg children) in brackets.\n")
    print("| source | decode-only (pass 1, 2) [CPU] | prepare [CPU] | ratio |")
    print("|---|---:|---:|---:|")
    for source in sources:
        key = source.source_id
        print(f"| {key} | {1000 * decode[key]:.0f} ({1000 * decode_first[key][0]:.0f}, {1000 * decode_again[key][0]:.0f}) "
              f"[{1000 * decode_cpu[key]:.0f}] | {1000 * walls.get(key, float('nan')):.0f} "
              f"[{1000 * cpus.get(key, float('nan')):.0f}] | {walls.get(key, float('nan')) / decode[key]:.2f} |")
    processing, decoding, count = sum(walls.values()), sum(decode.values()), max(len(walls), 1)
    print(f"| mean per clip (processing) | {1000 * decoding / count:.0f} [{1000 * sum(decode_cpu.values()) / count:.0f}] | "
          f"{1000 * processing / count:.0f} [{1000 * sum(cpus.values()) / count:.0f}] | {processing / decoding:.2f} |")
    print(f"| dataset build, per clip | | {1000 * build_wall / count:.0f} | |")
    print(f"| **total per clip** | {1000 * decoding / count:.0f} | {1000 * (processing + build_wall) / count:.0f} | "
          f"**{(processing + build_wall) / decoding:.2f}** |\n")
    print("| stage | seconds | share | ms per clip |")
    print("|---|---:|---:|---:|")
    total = sum(timings.get(stage, 0.0) for stage in STAGES)
    for stage in STAGES:
        seconds = timings.get(stage, 0.0)
        print(f"| {stage} | {seconds:.2f} | {seconds / total:.0%} | {1000 * seconds / max(clips, 1):.0f} |")
    print(f"| total (stages) | {total:.2f} | 100% | {1000 * total / max(clips, 1):.0f} |")


if __name__ == "__main__":
    main()
