"""Benchmark of one G4G training step and of G4G inference on CPU.

Run: ``python -m benchmarks.bench_g4g_step [--config paper|tiny] [--mouth-size 256] [--threads 1] [--steps 2]``

Builds the trainer of the given config on a synthetic 2-clip dataset (64x64 clips,
written to a temp folder), with random-initialised VGG-19 and SyncNet in a temp weights
cache when the config needs them (non-canonical: this measures speed only), and prints
the wall time of each step (the first includes one-off allocations) and of generating
25 frames. The paper config at its real size (416x320 face, batch 1 here instead of 3)
is the number quoted in docs/models/g4g.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="paper")
    parser.add_argument("--mouth-size", type=int, default=None, help="Override mouth_size (paper: 256).")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="tfbench-bench-g4g-") as scratch:
        os.environ["TFBENCH_HOME"] = str(Path(scratch) / "home")
        import numpy as np
        import torch

        torch.set_num_threads(args.threads)
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        from test_g4g import _clip, request_for, synthetic_prepared  # the synthetic dataset of the tests

        from tfbench.models.g4g.model import G4G
        from tfbench.models.g4g.trainer import G4GTrainer, resolve_config
        from tfbench.testing import install_random_weights

        overrides = {"batch_size": str(args.batch_size)}
        if args.mouth_size:
            overrides["mouth_size"] = str(args.mouth_size)
        config = resolve_config(args.config, overrides)
        if "vgg19" in config.required_weights():
            from torchvision.models import vgg19

            install_random_weights("vgg19", vgg19(weights=None))
        if "syncnet_v2" in config.required_weights():
            from tfbench.nets.syncnet import SyncNet

            install_random_weights("syncnet_v2", SyncNet())
        dataset = synthetic_prepared(Path(scratch) / "data")
        torch.manual_seed(0)
        trainer = G4GTrainer(args.config, dataset, overrides=overrides, echo=lambda _: None)
        print("| config | face | batch x frames | threads | step | seconds |")
        print("|---|---|---|---|---|---|")
        for step in range(1, args.steps + 1):
            started = time.perf_counter()
            trainer.step(step, np.random.default_rng(step))
            print(f"| {args.config} | {config.face_height}x{config.face_width} | {config.batch_size}x{config.clip_frames} "
                  f"| {args.threads} | {step} | {time.perf_counter() - started:.1f} |")
        model = G4G(trainer.generator, config)
        started = time.perf_counter()
        model.generate(request_for(_clip(0), num_frames=25))
        print(f"inference: 25 frames in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
