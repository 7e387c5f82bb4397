"""The Python API (docs/api.md): its examples run, and it gives the evaluator's numbers."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
FPS = 25.0


def _python_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", markdown, flags=re.S | re.M)


def test_docs_api_examples_run(prepared_sample, tmp_path, monkeypatch):
    blocks = _python_blocks((REPO / "docs" / "api.md").read_text())
    assert len(blocks) >= 5
    # the fixture prepared the sample where open_dataset("sample") looks: $TFBENCH_HOME/datasets/sample
    monkeypatch.setenv("TFBENCH_HOME", str(prepared_sample.root.parent.parent))
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "docs_api"}
    for index, block in enumerate(blocks):
        exec(compile(block, f"docs/api.md block {index + 1}", "exec"), namespace)
    assert namespace["dataset"].root == prepared_sample.root
    result = namespace["result"]
    assert (tmp_path / "eval_static" / "result.json").exists()
    assert result.per_clip.index.name == "clip_id" and set(result.per_clip.index) == set(prepared_sample.split("test")["clip_id"])


def test_import_tfbench_and_its_api_names_stays_light():
    code = (
        "import sys, tfbench\n"
        "assert callable(tfbench.evaluate) and tfbench.metrics.names() and tfbench.open_dataset and tfbench.load_model\n"
        "heavy = [m for m in ('torch', 'datasets', 'pandas', 'cv2') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _clips(root: Path) -> None:
    from tfbench.io.video import write_video

    rng = np.random.default_rng(3)
    for name in ("a", "b", "c"):
        gt = rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
        noise = rng.integers(-20, 21, gt.shape)
        write_video(root / "gt" / f"{name}.mp4", gt, fps=FPS, lossless=True)
        write_video(root / "pred" / f"{name}.mp4", np.clip(gt + noise, 0, 255).astype(np.uint8), fps=FPS, lossless=True)
    write_video(root / "gt" / "unmade.mp4", gt, fps=FPS, lossless=True)


def test_evaluate_call_matches_the_cli_and_the_streaming_metrics(tmp_path):
    import tfbench
    from typer.testing import CliRunner

    from tfbench.cli import app

    _clips(tmp_path)
    result = tfbench.evaluate(pred=tmp_path / "pred", gt=tmp_path / "gt", metrics=["psnr", "ssim"])
    assert result.out is None and result.gt_without_pred == ["unmade"]
    assert list(result.per_clip.index) == ["a", "b", "c"] and list(result.per_clip.columns[:2]) == ["psnr", "ssim"]
    assert result.protocol == "pred-vs-gt/v1" and result.clips_total == 3 and result.clips_failed == 0

    cli = CliRunner().invoke(app, ["evaluate", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"),
                                   "--metrics", "psnr,ssim", "--out", str(tmp_path / "cli"), "--no-progress"])
    assert cli.exit_code == 0, cli.output
    saved = json.loads((tmp_path / "cli" / "result.json").read_text())
    for metric in ("psnr", "ssim"):
        assert result.metrics[metric].value == saved["metrics"][metric]["value"]
        streaming = tfbench.metrics.get(metric)
        for name in ("a", "b", "c"):
            clip = streaming.update(tmp_path / "pred" / f"{name}.mp4", tmp_path / "gt" / f"{name}.mp4")
            assert clip[metric] == result.per_clip.loc[name, metric]
        assert streaming.compute() == result.metrics[metric].value
    assert set(result.to_dict()) == set(saved) and "per_clip" not in result.to_dict()


def test_evaluate_keeps_failures_in_the_table(tmp_path):
    import tfbench
    from tfbench.io.video import write_video

    _clips(tmp_path)
    write_video(tmp_path / "pred" / "b.mp4", np.zeros((8, 40, 40, 3), np.uint8), fps=FPS, lossless=True)  # wrong size
    result = tfbench.evaluate(tmp_path / "pred", tmp_path / "gt", ["psnr"], out=tmp_path / "out")
    assert result.out == tmp_path / "out" and result.clips_failed == 1
    assert np.isnan(result.per_clip.loc["b", "psnr"]) and "size" in result.per_clip.loc["b", "error"]
    assert result.per_clip.loc["a", "error"] == "" and np.isfinite(result.per_clip.loc["a", "psnr"])


def test_streaming_metric_inputs_and_errors():
    import torch

    import tfbench
    from tfbench.errors import InputError, UnknownNameError

    rng = np.random.default_rng(0)
    gt = rng.integers(0, 256, (3, 24, 24, 3), dtype=np.uint8)
    pred = gt.copy()
    pred[:, :6] = 0
    mse = tfbench.metrics.get("mse")
    first = mse.update(pred, gt)["mse"]
    assert first == pytest.approx(np.mean((pred.astype(float) - gt) ** 2))
    mse.update(torch.from_numpy(pred).permute(0, 3, 1, 2), torch.from_numpy(gt).permute(0, 3, 1, 2))  # channels-first
    mse.update(pred[0], gt[0])  # one frame
    assert len(mse.scores) == 3 and mse.scores[1]["mse"] == first
    assert mse.compute() == pytest.approx(np.mean([s["mse"] for s in mse.scores]))
    mse.reset()
    assert mse.compute() is None
    with pytest.raises(InputError, match="uint8"):
        mse.update(pred / 255.0, gt)
    with pytest.raises(UnknownNameError, match="ssim"):
        tfbench.metrics.get("ssmi")
    with pytest.raises(InputError, match="window"):
        tfbench.metrics.get("ssim", window="box")
    assert tfbench.metrics.get("ssim", window="gaussian").metric.window == "gaussian"
