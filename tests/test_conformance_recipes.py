"""One contract every registered Recipe passes, parametrised over the RECIPES registry.

Contract, on a tiny raw tree in the recipe's layout with one source made unreadable: the
dataset has exactly the shared schema's columns (``recipes/build.py:features``), every row
carries the recipe's name-independent labels, the broken source becomes a failure record
with a reason while the others are prepared, and a second run over the same ``--out``
reuses every finished source (nothing processed again) and rebuilds the same dataset.

A new recipe needs only a tiny raw tree builder in :data:`RAW_TREES` (its raw layout is
the one thing the shared code cannot guess); the test below fails until it has one.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from _fixtures_raw import lrs2_tree, mead_tree, write_clip
from tfbench.recipes import RECIPES


def _sample_tree(root: Path) -> Path:
    """Two neutral clips of speaker W001 of the bundled sample, in its (MEAD) layout."""
    source = Path(__file__).resolve().parents[1] / "tfbench" / "sample_raw"
    for kind, suffix in (("video/front", "mp4"), ("audio", "m4a")):
        for name in ("001", "002"):
            target = root / "W001" / kind / "neutral" / "level_1" / f"{name}.{suffix}"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source / "W001" / kind / "neutral" / "level_1" / f"{name}.{suffix}", target)
    return root


def _hdtf_tree(root: Path) -> Path:
    for name in ("WDA_Astro_000", "WDA_Astro_001"):
        write_clip(root / "videos" / f"{name}.mp4", seconds=1.2, fps=25.0)
    (root / "WDA_video_url.txt").write_text("WDA_Astro_000 https://example.invalid/a\nWDA_Astro_001 https://example.invalid/b\n")
    (root / "WDA_annotion_time.txt").write_text("WDA_Astro_000.mp4 00:00-00:01.2\nWDA_Astro_001.mp4 00:00-00:01.2\n")
    return root


def _obamaset_tree(root: Path) -> Path:
    for name in ("2009-00", "2009-01"):
        write_clip(root / f"{name}.mp4", seconds=1.2, fps=25.0)
    return root


#: Recipe name -> builder of a tiny raw tree with at least two sources.
RAW_TREES = {
    "sample": _sample_tree,
    "mead": lambda root: mead_tree(root, speakers=("M003", "W011"), groups=(("neutral", 1),), seconds=1.2),
    "hdtf": _hdtf_tree,
    "lrs2": lambda root: lrs2_tree(root),
    "obamaset": _obamaset_tree,
}


@pytest.mark.parametrize("name", RECIPES.names())
def test_recipe_contract(name, tmp_path):
    import datasets

    from tfbench.recipes.base import RecipeOptions
    from tfbench.recipes.build import features, prepare

    assert name in RAW_TREES, f"add a tiny raw tree builder for recipe {name!r} to RAW_TREES"
    recipe = RECIPES.get(name)
    assert recipe.name == name and recipe.version and getattr(recipe, "title", "")
    raw = RAW_TREES[name](tmp_path / "raw")
    sources = sorted(recipe.sources(raw, RecipeOptions()), key=lambda source: source.source_id)
    assert len(sources) >= 2, f"the tiny tree of {name!r} must have two sources"
    broken = sources[0]
    broken.video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))  # unreadable
    out = tmp_path / "out"
    summary = prepare(recipe, raw, out, size=64)
    assert summary["built"] and summary["clips"] >= 1
    failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines() if line.strip()]
    assert any(broken.source_id in json.dumps(failure) for failure in failures), failures
    assert all(failure.get("reason") or failure.get("error") for failure in failures)
    dataset = datasets.load_from_disk(str(out / "dataset"))
    meta = json.loads((out / "meta.json").read_text())
    assert set(dataset) == set(meta["splits"]) and sum(len(split) for split in dataset.values()) == summary["clips"]
    expected = set(features())  # the column names do not depend on the AU backend
    for split in dataset.values():
        assert set(split.column_names) == expected
    again = prepare(recipe, raw, out, size=64)
    assert again["processed"] == 0 and again["reused"] == summary["processed"] + summary["reused"]
    assert json.loads((out / "meta.json").read_text())["fingerprint"] == meta["fingerprint"]
