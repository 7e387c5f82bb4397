"""MEAD (Wang et al., ECCV 2020): emotional talking faces, 8 emotions × 3 levels, 7 views.

Raw layout (as distributed, one folder per speaker after unpacking its tars)::

    <raw>/<speaker>/video/<view>/<emotion>/level_<k>/<nnn>.mp4   (1920×1080, 30 fps)
    <raw>/<speaker>/audio/<emotion>/level_<k>/<nnn>.m4a

Clip id ``<speaker>_<view>_<emotion>_level_<k>_<nnn>``. Audio comes from the m4a; when it
is missing, from the video's own track. Views: ``front`` by default (``--views``, comma
separated, ``all`` for every view). Split by speaker: test = W015, M003, M030, W009 by
default (``--test-speakers``), train = everyone else. Gender from the speaker id
(M = male, W = female). MEAD has no transcripts.
"""

from __future__ import annotations

import re
from pathlib import Path

from tfbench.recipes.base import Recipe, RecipeOptions, Source, require_dir

DEFAULT_TEST_SPEAKERS = ("W015", "M003", "M030", "W009")
EMOTIONS = ("angry", "contempt", "disgusted", "fear", "happy", "neutral", "sad", "surprised")
VIEWS = ("front", "left_30", "left_60", "right_30", "right_60", "top", "down")
_LEVEL = re.compile(r"level_(\d+)$")


def mead_sources(raw_dir: Path, views: tuple[str, ...], test_speakers: tuple[str, ...]) -> list[Source]:
    """Every MEAD video under ``raw_dir`` in the given views, labelled and split by speaker."""
    raw_dir = require_dir(raw_dir, "MEAD raw folder")
    sources = []
    for video in sorted(raw_dir.glob("*/video/*/*/level_*/*.mp4")):
        level_dir = video.parent
        emotion_dir = level_dir.parent
        view_dir = emotion_dir.parent
        speaker = view_dir.parent.parent.name
        view = view_dir.name
        if "all" not in views and view not in views:
            continue
        level = int(_LEVEL.match(level_dir.name).group(1))
        emotion = emotion_dir.name
        audio = raw_dir / speaker / "audio" / emotion / level_dir.name / f"{video.stem}.m4a"
        gender = {"M": "male", "W": "female"}.get(speaker[:1], "")
        sources.append(Source(
            source_id=f"{speaker}_{view}_{emotion}_{level_dir.name}_{video.stem}",
            video=video,
            audio=audio if audio.exists() else None,
            labels={"speaker": speaker, "gender": gender, "emotion": emotion, "level": level, "view": view,
                    "split": "test" if speaker in test_speakers else "train"},
        ))
    return sources


class MeadRecipe(Recipe):
    name = "mead"
    title = "MEAD"  # display name (leaderboards)
    version = "1"
    splits = ("train", "test")

    def sources(self, raw_dir: Path, options: RecipeOptions) -> list[Source]:
        return mead_sources(raw_dir, options.views or ("front",), options.test_speakers or DEFAULT_TEST_SPEAKERS)

    def resolved_options(self, options: RecipeOptions) -> dict:
        return {"views": list(options.views or ("front",)),
                "test_speakers": list(options.test_speakers or DEFAULT_TEST_SPEAKERS)}


RECIPE = MeadRecipe()
