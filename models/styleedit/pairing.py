"""Training pairs of the audio-to-landmark module, found from a prepared dataset's columns.

Both functions take the rows of one split (dicts with ``clip_id``, ``speaker``, ``view``,
``emotion``, ``level`` and, where the recipe has transcripts, ``text``) and return index
pairs into that list. The clip number is the trailing ``_<nnn>`` of the clip id (MEAD's
file stem, ``<speaker>_<view>_<emotion>_level_<k>_<nnn>``).

- :func:`view_pairs`: two camera views of one recording = same (speaker, emotion, level,
  clip number), different ``view`` (needs ``tfbench prepare mead --views all``). MEAD's
  views of one take are recorded simultaneously, so frame t of one is frame t of the other.
- :func:`emotion_pairs`: the same sentence in two emotions = same speaker, same sentence,
  different emotion. The sentence is the row's ``text`` when the dataset has transcripts,
  else the clip number (``key="number"``). MEAD in tfbench has no transcripts and its clip
  numbers name the same sentence only for the sentences shared by all emotions (EVP used
  hand-made per-speaker tables, not available here); see docs/models/styleedit.md.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Mapping, Sequence

_NUMBER = re.compile(r"_(\d+)$")


def clip_number(row: Mapping) -> str | None:
    """The trailing clip number of ``row["clip_id"]`` (``"001"``), None when it has none."""
    match = _NUMBER.search(str(row["clip_id"]))
    return match.group(1) if match else None


def view_pairs(rows: Sequence[Mapping]) -> list[tuple[int, int]]:
    """Ordered ``(i, j)`` pairs of rows showing the same recording from two different views."""
    groups: dict[tuple, list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        number = clip_number(row)
        if number is not None and row.get("view") is not None:
            groups[(row.get("speaker"), row.get("emotion"), row.get("level"), number)].append(index)
    return [(i, j) for members in groups.values() for i in members for j in members
            if rows[i]["view"] != rows[j]["view"]]


def emotion_pairs(rows: Sequence[Mapping], key: str = "text") -> list[tuple[int, int]]:
    """Ordered ``(i, j)`` pairs: same speaker and sentence, different emotion.

    ``key="text"``: the sentence is the first transcript of the row (rows without one are
    left out); ``key="number"``: the clip number stands for the sentence. Only one view is
    used per recording (the first seen), so view pairs do not count as emotion pairs twice.
    """
    if key not in ("text", "number"):
        raise ValueError(f"key must be 'text' or 'number', got {key!r}")
    groups: dict[tuple, list[int]] = defaultdict(list)
    seen: set[tuple] = set()
    for index, row in enumerate(rows):
        if key == "text":
            text = row.get("text")
            sentence = (text[0] if isinstance(text, (list, tuple)) and text else text) or None
            sentence = " ".join(str(sentence).lower().split()) if sentence else None
        else:
            sentence = clip_number(row)
        if sentence is None or row.get("emotion") is None:
            continue
        recording = (row.get("speaker"), row.get("emotion"), row.get("level"), clip_number(row), sentence)
        if recording in seen:
            continue
        seen.add(recording)
        groups[(row.get("speaker"), sentence)].append(index)
    return [(i, j) for members in groups.values() for i in members for j in members
            if rows[i]["emotion"] != rows[j]["emotion"]]
