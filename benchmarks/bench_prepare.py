"""Benchmark `tfbench prepare`: clips per minute per core and time split by stage.

    python benchmarks/bench_prepare.py                       # the bundled sample
    python benchmarks/bench_prepare.py --recipe mead --raw-dir /data/MEAD --limit 50 --num-proc 2

Runs a fresh prepare into a temporary folder (nothing cached) and prints a markdown table
for docs/benchmarks.md. Stage times are summed over worker processes (CPU-side seconds);
"wall" is the elapsed time of the whole run.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

STAGES = ("decode", "detect", "crop", "landmarks", "tdmm", "audio_features", "phonemes", "write", "fit_3dmm_au", "build")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="sample")
    parser.add_argument("--raw-dir", type=Path, default=None)
    parser.add_argument("--num-proc", type=int, default=1)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--tdmm", default="offline", choices=("offline", "deep3d"))
    args = parser.parse_args()

    from tfbench.recipes import RECIPES
    from tfbench.recipes.build import BuildParams, prepare

    with tempfile.TemporaryDirectory(prefix="bench-prepare-") as scratch:
        os.environ.setdefault("TFBENCH_HOME", str(Path(scratch) / "home"))
        started = time.perf_counter()
        summary = prepare(RECIPES.get(args.recipe), args.raw_dir, Path(scratch) / "out", size=args.size,
                          num_proc=args.num_proc, limit=args.limit, build=BuildParams(tdmm=args.tdmm))
        wall = time.perf_counter() - started
    clips = summary["clips"]
    timings = summary["timings"]
    print(f"recipe {args.recipe}, {summary['sources']} videos -> {clips} clips, {len(summary['failures'])} failures, "
          f"size {args.size}, num_proc {args.num_proc}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print(f"wall {wall:.1f} s; {clips / (wall / 60) / args.num_proc:.1f} clips per minute per core\n")
    print("| stage | seconds | share | ms per clip |")
    print("|---|---:|---:|---:|")
    total = sum(timings.get(stage, 0.0) for stage in STAGES)
    for stage in STAGES:
        seconds = timings.get(stage, 0.0)
        print(f"| {stage} | {seconds:.2f} | {seconds / total:.0%} | {1000 * seconds / max(clips, 1):.0f} |")
    print(f"| total (stages) | {total:.2f} | 100% | {1000 * total / max(clips, 1):.0f} |")


if __name__ == "__main__":
    main()
