"""Two small real evaluation runs for the report tests, built in a few tens of seconds.

Ground truth: the first ``FRAMES`` frames (and audio) of three clips of the bundled raw
sample. Method ``wobble`` (folder mode) shows everything a report must show plainly:

- ``W001_neutral_001``: the face shifted by 3 px (a mild error);
- ``W001_happy_001``: the video lagging the audio by 3 frames (a sync error);
- ``W002_neutral_001``: frames from 5 on black (low face coverage);
- ``W002_happy_001``: a corrupt prediction file (a decode failure);
- ``orphan``: a prediction without ground truth (a match failure).

Method ``blur`` scores the three readable clips with a Gaussian blur, for comparisons.
Metrics: psnr, mse, lmd@dlib and lse (random-initialised SyncNet, non-canonical);
``blur`` only psnr and mse (so a comparison meets outputs one run lacks).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FRAMES = 12
SOURCES = {
    "W001_neutral_001": "W001/video/front/neutral/level_1/001.mp4",
    "W001_happy_001": "W001/video/front/happy/level_1/001.mp4",
    "W002_neutral_001": "W002/video/front/neutral/level_1/001.mp4",
    "W002_happy_001": "W002/video/front/happy/level_1/001.mp4",
}
METRICS = "psnr,mse,lmd@dlib,lse"


def _gt_clips() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from importlib import resources

    from tfbench.io.audio import read_audio
    from tfbench.io.video import read_video

    clips = {}
    for clip_id, relative in SOURCES.items():
        path = Path(str(resources.files("tfbench") / "sample_raw")) / relative
        frames = read_video(path).frames[:FRAMES]
        clips[clip_id] = (frames, read_audio(path)[: FRAMES * 640])
    return clips


def _evaluate(args: list[str], metrics: str = METRICS) -> str:
    from typer.testing import CliRunner

    from tfbench.cli import app

    result = CliRunner().invoke(app, ["evaluate", *args, "--metrics", metrics, "--no-progress"])
    assert result.exit_code == 0, result.output
    return result.output


def build_runs(root: Path) -> dict:
    """Write gt/, the two prediction folders and the two run folders under ``root``;
    return {"gt", "wobble", "blur"} -> folder (the run folders for the methods), and
    "output" -> the console output of the wobble evaluation.

    The caller has pointed TFBENCH_HOME at a temporary folder."""
    import cv2

    from test_syncnet_parity import random_syncnet_state
    from tfbench.io.video import write_video
    from tfbench.testing import install_random_weights

    install_random_weights("syncnet_v2", random_syncnet_state(seed=3))
    clips = _gt_clips()
    for clip_id, (frames, audio) in clips.items():
        write_video(root / "gt" / f"{clip_id}.mp4", frames, audio=audio, lossless=True)
    pred = root / "pred_wobble"
    ids = list(clips)
    frames, _ = clips[ids[0]]
    write_video(pred / f"{ids[0]}.mp4", np.roll(frames, 3, axis=2), lossless=True)
    frames, _ = clips[ids[1]]
    write_video(pred / f"{ids[1]}.mp4", np.concatenate([frames[:1].repeat(3, axis=0), frames[:-3]]), lossless=True)
    frames, _ = clips[ids[2]]
    dark = frames.copy()
    dark[5:] = 0
    write_video(pred / f"{ids[2]}.mp4", dark, lossless=True)
    (pred / f"{ids[3]}.mp4").write_bytes(b"this is not a video")
    write_video(pred / "orphan.mp4", frames, lossless=True)
    blur = root / "pred_blur"
    for clip_id in ids[:3]:
        frames, _ = clips[clip_id]
        write_video(blur / f"{clip_id}.mp4", np.stack([cv2.GaussianBlur(f, (9, 9), 3) for f in frames]), lossless=True)
    runs = {"gt": root / "gt", "wobble": root / "run_wobble", "blur": root / "run_blur"}
    # min_coverage lowered so the dark clip (5 of 12 frames with a face) is scored and shown as low coverage
    runs["output"] = _evaluate(["--pred", str(pred), "--gt", str(root / "gt"), "--out", str(runs["wobble"]), "--name", "wobble",
                                "--param", "lmd@dlib.min_coverage=0.25"])
    _evaluate(["--pred", str(blur), "--gt", str(root / "gt"), "--out", str(runs["blur"]), "--name", "blur"], "psnr,mse")
    return runs
