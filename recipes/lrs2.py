"""LRS2 (Afouras et al., BBC Lip Reading Sentences 2): 25 fps 160×160 face tracks with transcripts.

Raw layout (as distributed)::

    <raw>/mvlrs_v1/main/<folder>/<nnnnn>.mp4 + <nnnnn>.txt
    <raw>/mvlrs_v1/pretrain/<folder>/<nnnnn>.mp4 + .txt
    <raw>/{pretrain,train,val,test}.txt   (official lists: "<folder>/<nnnnn>", test lines end in " NF"/" MV")

Splits: the official lists when present (``pretrain``, ``train``, ``val``, ``test``; a video in
no list is skipped); without lists, ``main`` videos are ``train`` and ``pretrain`` videos are
``pretrain``. Clip id ``<folder>_<nnnnn>`` (``pretrain_<folder>_<nnnnn>`` for pretrain).
Transcript: the ``Text:`` line of the .txt file. The speaker is unknown in LRS2: the
``speaker`` column holds the programme folder, which is what per-speaker statistics use.
Pretrain videos can be long; they are cut into clips of at most 10 s.
"""

from __future__ import annotations

from pathlib import Path

from tfbench.recipes.base import Recipe, RecipeOptions, Source, require_dir

LISTS = ("pretrain", "train", "val", "test")


def read_transcript(path: Path) -> str:
    if not path.exists():
        return ""
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("Text:"):
            return line[len("Text:"):].strip()
    return ""


def read_lists(raw_dir: Path) -> dict[str, str]:
    """{"<folder>/<nnnnn>": split} from the official list files present in ``raw_dir``."""
    splits = {}
    for split in LISTS:
        path = raw_dir / f"{split}.txt"
        if path.exists():
            for line in path.read_text().splitlines():
                if line.strip():
                    splits[line.split()[0]] = split
    return splits


class Lrs2Recipe(Recipe):
    name = "lrs2"
    title = "LRS2"  # display name (leaderboards)
    version = "1"
    splits = LISTS
    max_clip_seconds = 10.0

    def sources(self, raw_dir: Path, options: RecipeOptions) -> list[Source]:
        raw_dir = require_dir(raw_dir, "LRS2 raw folder")
        lists = read_lists(raw_dir)
        sources = []
        for part in ("main", "pretrain"):
            for video in sorted((raw_dir / "mvlrs_v1" / part).glob("*/*.mp4")):
                key = f"{video.parent.name}/{video.stem}"
                split = lists.get(key) if lists else ("train" if part == "main" else "pretrain")
                if split is None or (lists and (split == "pretrain") != (part == "pretrain")):
                    continue
                prefix = "pretrain_" if part == "pretrain" else ""
                sources.append(Source(
                    source_id=f"{prefix}{video.parent.name}_{video.stem}",
                    video=video,
                    labels={"speaker": video.parent.name, "split": split,
                            "transcript": read_transcript(video.with_suffix(".txt"))},
                ))
        return sources


RECIPE = Lrs2Recipe()
