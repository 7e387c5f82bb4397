"""Resume after a kill, deterministic sharding, worker processes, identical reruns."""

import json

import numpy as np
import pytest

from _fixtures_raw import mead_tree


class Killed(BaseException):
    """Stands in for SIGKILL / Ctrl-C in the middle of a run."""


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    return mead_tree(tmp_path_factory.mktemp("raw"), seconds=1.2)


def _prepare(raw, out, **kwargs):
    from tfbench.recipes import RECIPES
    from tfbench.recipes.base import RecipeOptions
    from tfbench.recipes.build import prepare

    return prepare(RECIPES.get("mead"), raw, out, size=96, options=RecipeOptions(test_speakers=("M003",)), **kwargs)


@pytest.fixture(scope="module")
def reference(raw, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TFBENCH_HOME", str(tmp_path_factory.mktemp("home")))
        summary = _prepare(raw, out)
    assert summary["clips"] == 4 and not summary["failures"]
    return out, summary


def _assert_same_dataset(first, second):
    import datasets

    a, b = (datasets.load_from_disk(str(root / "dataset")).cast_column("video", datasets.Video(decode=False))
            .cast_column("audio", datasets.Audio(decode=False)) for root in (first, second))  # compare the media bytes
    assert list(a) == list(b)
    for split in a:
        assert a[split].features == b[split].features
        left, right = a[split].with_format("numpy")[:], b[split].with_format("numpy")[:]
        for column in left:
            if left[column].dtype == object:
                assert [np.asarray(x).tolist() for x in left[column]] == [np.asarray(x).tolist() for x in right[column]], column
            else:
                np.testing.assert_array_equal(left[column], right[column], err_msg=column)
    meta_a, meta_b = (json.loads((d / "meta.json").read_text()) for d in (first, second))
    assert meta_a["fingerprint"] == meta_b["fingerprint"]


def test_killed_run_resumes_without_redoing_finished_videos(raw, reference, tmp_path, monkeypatch):
    from tfbench.recipes import build

    out = tmp_path / "out"
    real = build.process_source
    calls = []

    def dies_after_two(source, out_dir, params, raw_dir):
        if len(calls) == 2:
            # a half-written file of the clip being processed, as a kill would leave it
            (out_dir / "cache" / "clips" / f"{source.source_id}.npz.tmp.npz").write_bytes(b"partial")
            raise Killed()
        calls.append(source.source_id)
        return real(source, out_dir, params, raw_dir)

    monkeypatch.setattr(build, "process_source", dies_after_two)
    with pytest.raises(Killed):
        _prepare(raw, out)
    assert not (out / "dataset").exists() and not (out / "meta.json").exists()
    assert sorted(p.stem for p in (out / "cache" / "sources").glob("*.json")) == sorted(calls)

    monkeypatch.setattr(build, "process_source", real)
    summary = _prepare(raw, out, num_proc=2)
    assert summary["reused"] == 2 and summary["processed"] == 2
    _assert_same_dataset(reference[0], out)


def test_shards_merge_into_the_single_run_dataset(raw, reference, tmp_path):
    """Also run from a copy of the raw tree elsewhere: the data, not its location, is hashed."""
    import shutil

    from tfbench.recipes.base import shard_of

    raw = shutil.copytree(raw, tmp_path / "moved_raw")
    out = tmp_path / "out"
    first = _prepare(raw, out, num_shards=2, shard_index=0)
    second = _prepare(raw, out, num_shards=2, shard_index=1)
    assert not first["built"] and not second["built"] and not (out / "dataset").exists()
    assert first["sources"] + second["sources"] == 4
    markers = sorted(p.stem for p in (out / "cache" / "sources").glob("*.json"))
    assert len(markers) == 4 and all(shard_of(m, 2) in (0, 1) for m in markers)
    final = _prepare(raw, out)
    assert final["processed"] == 0 and final["reused"] == 4 and final["built"]
    _assert_same_dataset(reference[0], out)


def test_shard_assignment_is_stable_and_validated(tmp_path):
    from tfbench.errors import InputError
    from tfbench.recipes.base import shard_of

    ids = [f"M{n:03d}_front_happy_level_1_001" for n in range(200)]
    shards = [shard_of(i, 4) for i in ids]
    assert shards == [shard_of(i, 4) for i in ids] and set(shards) == {0, 1, 2, 3}
    assert min(shards.count(k) for k in range(4)) > 30
    with pytest.raises(InputError, match="shard-index"):
        _prepare(tmp_path, tmp_path / "out", num_shards=2, shard_index=2)


def test_changed_split_options_rebuild_without_reprocessing(raw, reference, tmp_path):
    import shutil

    from tfbench.recipes import RECIPES
    from tfbench.recipes.base import RecipeOptions
    from tfbench.recipes.build import prepare

    out = tmp_path / "copy"
    shutil.copytree(reference[0], out)
    summary = prepare(RECIPES.get("mead"), raw, out, size=96, options=RecipeOptions(test_speakers=("W011",)))
    assert summary["processed"] == 0 and summary["split_sizes"] == {"train": 2, "test": 2}
    assert summary["fingerprint"] != reference[1]["fingerprint"]
    import datasets

    assert set(datasets.load_from_disk(str(out / "dataset"))["test"]["speaker"]) == {"W011"}
