"""TA-MEAD-style text descriptions (TalkCLIP §3) from per-clip AU means and emotion labels.

Sentence form: "[SUB] [EMOTION] and speaks with [AU …]", e.g. "A woman looks delighted
and speaks with lip corners extremely pulled up and jaw dropped."

* AU part: each AU's per-clip mean intensity is bucketed into three levels with the
  thresholds of ``data/au_thresholds.csv`` (below ``active``: not mentioned; then
  "slightly", plain, "extremely" at ``strong`` and ``extreme``). Phrases read
  "<region> [adverb] <action>".
* Emotion part: a word drawn from ``data/emotion_words.csv`` for the clip's
  (emotion, level) group — tfbench's own table; the paper's human labels are not public.
  Both files can be replaced with ``au_table=`` / ``emotion_table=``.
* Variants: variant 0 has the emotion and every active AU; the others draw the emotion
  word, a random non-empty subset of active AUs, and drop the emotion part or the AU part
  (never both) with probability ``drop_probability`` each — seeded by the clip id, so the
  same clip always gets the same sentences.
"""

from __future__ import annotations

import csv
import hashlib
import random
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

LEVEL_ADVERBS = ("slightly ", "", "extremely ")


@dataclass(frozen=True)
class AuRow:
    au: str
    region: str
    action: str
    thresholds: tuple[float, float, float]  # active, strong, extreme


def _data_file(name: str) -> Path:
    return Path(str(resources.files("tfbench.annotate") / "data" / name))


@lru_cache(maxsize=8)
def load_au_table(path: str | None = None) -> tuple[AuRow, ...]:
    with open(path or _data_file("au_thresholds.csv"), newline="") as handle:
        return tuple(
            AuRow(row["au"], row["region"], row["action"],
                  (float(row["active"]), float(row["strong"]), float(row["extreme"])))
            for row in csv.DictReader(handle)
        )


@lru_cache(maxsize=8)
def load_emotion_table(path: str | None = None) -> dict[tuple[str, int], tuple[str, ...]]:
    with open(path or _data_file("emotion_words.csv"), newline="") as handle:
        return {
            (row["emotion"], int(row["level"])): tuple(w.strip() for w in row["words"].split(";") if w.strip())
            for row in csv.DictReader(handle)
        }


def au_levels(au_means: dict[str, float], au_table: str | None = None) -> dict[str, int]:
    """AU name -> level 0 (inactive), 1, 2 or 3 from per-clip mean intensities."""
    levels = {}
    for row in load_au_table(au_table):
        value = au_means.get(row.au)
        if value is None or not np.isfinite(value):
            continue
        levels[row.au] = int(sum(value >= threshold for threshold in row.thresholds))
    return levels


def au_phrases(levels: dict[str, int], au_table: str | None = None) -> list[str]:
    """Phrases of the active AUs, in table order: "<region> [adverb] <action>"."""
    return [
        f"{row.region} {LEVEL_ADVERBS[levels[row.au] - 1]}{row.action}"
        for row in load_au_table(au_table)
        if levels.get(row.au, 0) > 0
    ]


def subject_words(gender: str | None) -> tuple[str, ...]:
    if gender == "male":
        return ("A man", "The man", "This man")
    if gender == "female":
        return ("A woman", "The woman", "This woman")
    return ("A person", "The speaker", "Someone")


def _join(phrases: list[str]) -> str:
    return phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]


def _sentence(subject: str, emotion_word: str | None, phrases: list[str]) -> str:
    if emotion_word and phrases:
        return f"{subject} looks {emotion_word} and speaks with {_join(phrases)}."
    if emotion_word:
        return f"{subject} looks {emotion_word} and speaks."
    if phrases:
        return f"{subject} speaks with {_join(phrases)}."
    return f"{subject} speaks."


def describe(
    clip_id: str,
    emotion: str,
    level: int,
    au_means: dict[str, float],
    gender: str | None = None,
    variants: int = 5,
    drop_probability: float = 0.3,
    seed: int = 0,
    au_table: str | None = None,
    emotion_table: str | None = None,
) -> list[str]:
    """``variants`` sentences describing one clip (deterministic in ``clip_id`` and ``seed``).

    ``emotion`` "" (datasets without emotion labels) leaves the emotion part out.
    """
    words = load_emotion_table(emotion_table).get((emotion, level), ()) if emotion else ()
    if emotion and not words:
        raise KeyError(f"no emotion words for ({emotion!r}, level {level}) in the emotion table")
    phrases = au_phrases(au_levels(au_means, au_table), au_table)
    subjects = subject_words(gender)
    rng = random.Random(int.from_bytes(hashlib.sha256(f"{seed}:{clip_id}".encode()).digest()[:8], "big"))
    sentences = [_sentence(subjects[0], words[0] if words else None, phrases)]
    while len(sentences) < variants:
        emotion_word = rng.choice(words) if words else None
        chosen = [p for p in phrases if rng.random() < 0.7] or phrases[:1]
        drop = rng.random()
        if emotion_word and chosen and drop < drop_probability:
            emotion_word = None
        elif emotion_word and chosen and drop < 2 * drop_probability:
            chosen = []
        sentences.append(_sentence(rng.choice(subjects), emotion_word, chosen))
    return sentences
