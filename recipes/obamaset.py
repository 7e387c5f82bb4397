"""ObamaSet (Suwajanakorn et al., SIGGRAPH 2017): President Obama's weekly addresses.

Raw layout: the videos users downloaded (29.97 fps, 1280×720), any names::

    <raw>/<name>.mp4        (or <raw>/videos/<name>.mp4)

Every video is resampled to 25 fps and cut into clips of at most 10 s (clip id
``<name>_<kkk>``; ``<name>`` alone for a video of 10 s or less). One speaker (``obama``, male). Split by video, as users of
this single-speaker set expect (no address leaks into both splits): videos sorted by name,
every 10th (indices 9, 19, ...) is ``test``. Here ``--test-speakers`` takes video names
(``--test-speakers NAME1,NAME2``) to choose the held-out addresses yourself.
"""

from __future__ import annotations

from pathlib import Path

from tfbench.recipes.base import Recipe, RecipeOptions, Source, require_dir


class ObamaSetRecipe(Recipe):
    name = "obamaset"
    title = "ObamaSet"  # display name (leaderboards)
    version = "1"
    splits = ("train", "test")
    max_clip_seconds = 10.0

    def sources(self, raw_dir: Path, options: RecipeOptions) -> list[Source]:
        raw_dir = require_dir(raw_dir, "ObamaSet raw folder")
        videos = sorted(set(raw_dir.glob("*.mp4")) | set(raw_dir.glob("videos/*.mp4")), key=lambda p: p.stem)
        sources = []
        for index, video in enumerate(videos):
            test = video.stem in options.test_speakers if options.test_speakers else index % 10 == 9
            sources.append(Source(
                source_id=video.stem,
                video=video,
                segments=None,
                labels={"speaker": "obama", "gender": "male", "view": "front", "split": "test" if test else "train"},
            ))
        return sources

    def resolved_options(self, options: RecipeOptions) -> dict:
        return {"test_videos": list(options.test_speakers) if options.test_speakers else "every 10th by name"}


RECIPE = ObamaSetRecipe()
