"""HDTF (Zhang et al., CVPR 2021): high-resolution talking-face videos from YouTube.

Raw layout: the annotation files of the HDTF repository plus the videos users downloaded::

    <raw>/{RD,WDA,WRA}_video_url.txt        "<name> <url>" per line
    <raw>/{RD,WDA,WRA}_annotion_time.txt    "<name>.mp4 <start>-<end> [<start>-<end> ...]"  (mm:ss or hh:mm:ss)
    <raw>/videos/<name>.mp4                 the downloaded video (any resolution / frame rate)

Each annotated interval is one talking segment; segments are cut into clips of at most
10 s (clip id ``<name>_<kkk>``, numbered over the video; a video without annotated
intervals is used whole, ``<name>`` alone when it is 10 s or shorter). A listed video that is not in
``videos/`` is reported in failures.jsonl ("missing video file"). tfbench crops with its own
face track like every recipe (``--size``, default 256; use ``--size 512`` for the usual
HDTF resolution); ``*_crop_wh.txt`` is not used. Speaker = the name without its trailing
``_<nnn>``. Split: the last speaker in sorted order of every 10 is ``test`` (a stable,
speaker-disjoint ~10 % split); HDTF has no official split.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from tfbench.errors import InputError
from tfbench.recipes.base import Recipe, RecipeOptions, Source, require_dir

GROUPS = ("RD", "WDA", "WRA")
_SUFFIX = re.compile(r"_\d+$")


def parse_time(text: str) -> float:
    """Seconds of "ss", "mm:ss" or "hh:mm:ss" (fractional seconds allowed)."""
    seconds = 0.0
    for part in text.strip().split(":"):
        seconds = seconds * 60.0 + float(part)
    return seconds


def read_intervals(path: Path) -> dict[str, tuple[tuple[float, float], ...]]:
    intervals = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        try:
            spans = tuple(tuple(parse_time(t) for t in span.split("-")) for span in fields[1:])
        except ValueError as error:
            raise InputError(f"{path}:{number}: cannot read the time spans in {line!r}") from error
        if any(len(span) != 2 or span[1] <= span[0] for span in spans):
            raise InputError(f"{path}:{number}: every span must be <start>-<end> with end > start: {line!r}")
        intervals[Path(fields[0]).stem] = spans
    return intervals


def speaker_of(name: str) -> str:
    return _SUFFIX.sub("", name)


def is_test_speaker(speaker: str) -> bool:
    return int(hashlib.sha256(speaker.encode()).hexdigest(), 16) % 10 == 0


class HdtfRecipe(Recipe):
    name = "hdtf"
    title = "HDTF"  # display name (leaderboards)
    version = "1"
    splits = ("train", "test")
    max_clip_seconds = 10.0

    def sources(self, raw_dir: Path, options: RecipeOptions) -> list[Source]:
        raw_dir = require_dir(raw_dir, "HDTF raw folder")
        sources = []
        for group in GROUPS:
            urls = raw_dir / f"{group}_video_url.txt"
            if not urls.exists():
                continue
            times_path = raw_dir / f"{group}_annotion_time.txt"
            intervals = read_intervals(times_path) if times_path.exists() else {}
            for line in urls.read_text().splitlines():
                if not line.split():
                    continue
                name = Path(line.split()[0]).stem
                speaker = speaker_of(name)
                test = speaker in options.test_speakers if options.test_speakers else is_test_speaker(speaker)
                sources.append(Source(
                    source_id=name,
                    video=raw_dir / "videos" / f"{name}.mp4",
                    segments=intervals.get(name),
                    labels={"speaker": speaker, "split": "test" if test else "train", "view": "front"},
                ))
        return sources

    def resolved_options(self, options: RecipeOptions) -> dict:
        return {"test_speakers": list(options.test_speakers) if options.test_speakers else "sha256(speaker) % 10 == 0"}


RECIPE = HdtfRecipe()
