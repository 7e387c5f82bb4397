"""The bundled sample: `tfbench prepare sample` and `open_prepared("sample")`."""

import numpy as np

from tfbench.data import open_prepared


def test_prepared_sample_fixture(prepared_sample):
    assert prepared_sample.name == "sample"
    assert prepared_sample.splits == ["train", "test"]
    train, test = prepared_sample.split("train"), prepared_sample.split("test")
    assert len(train) > 0 and len(test) > 0
    assert not set(train["speaker"]) & set(test["speaker"])
    assert len(set(test["speaker"])) == 1
    row = test.with_format("numpy")[0]
    assert prepared_sample.clip_path(row).exists()
    assert row["landmarks"].shape == (int(row["num_frames"]), 68, 2)
    assert np.isfinite(row["landmarks"]).all()
    assert row["fps"] == 25.0 and row["width"] == row["height"] == 256
    assert prepared_sample.failures() == []


def test_open_prepared_by_name_prepares_once(prepared_sample, isolated_tfbench_home, monkeypatch):
    import shutil

    from tfbench.recipes import build

    # a copy of the prepared sample stands for an earlier run in this TFBENCH_HOME
    shutil.copytree(prepared_sample.root, isolated_tfbench_home / "datasets" / "sample")
    monkeypatch.setattr(build, "prepare", lambda *a, **k: (_ for _ in ()).throw(AssertionError("re-prepared")))
    again = open_prepared("sample")
    assert again.fingerprint == prepared_sample.fingerprint
    assert open_prepared(prepared_sample.root).fingerprint == prepared_sample.fingerprint


def test_unknown_dataset_names_the_command(isolated_tfbench_home):
    import pytest

    from tfbench.errors import InputError

    with pytest.raises(InputError, match="tfbench prepare mead --raw-dir"):
        open_prepared("mead")


def test_cli_prepare_sample_defaults(isolated_tfbench_home, monkeypatch):
    """`tfbench prepare sample` needs no --raw-dir and writes to $TFBENCH_HOME/datasets/sample."""
    from typer.testing import CliRunner

    from tfbench.cli import app
    from tfbench.recipes import build

    seen = {}

    def record(recipe, raw_dir, out, **kwargs):
        seen.update(recipe=recipe.name, raw_dir=raw_dir, out=out, **kwargs)
        return {"sources": 0, "processed": 0, "reused": 0, "clips": 0, "failures": [], "built": True,
                "split_sizes": {"train": 0, "test": 0}, "fingerprint": "f" * 64}

    monkeypatch.setattr(build, "prepare", record)
    result = CliRunner().invoke(app, ["prepare", "sample", "--num-proc", "2", "--limit", "3"])
    assert result.exit_code == 0, result.output
    assert seen["recipe"] == "sample" and seen["raw_dir"] is None
    assert seen["out"] == isolated_tfbench_home / "datasets" / "sample"
    assert seen["num_proc"] == 2 and seen["limit"] == 3 and seen["size"] == 256
    assert "fingerprint: " + "f" * 64 in result.output
