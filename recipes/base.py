"""What every dataset recipe shares: sources, labels, clip parameters, the Recipe base class.

A recipe (one file per dataset) lists :class:`Source` items, one raw video each with its
labels and split. The rest is shared: :mod:`tfbench.recipes.process` turns a source into
clips and the per-clip cache (:mod:`tfbench.recipes.clip_cache`), using the detection and
crop stages of :mod:`tfbench.recipes.crop`; :mod:`tfbench.recipes.build` runs a recipe and
assembles the Hugging Face dataset.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tfbench.errors import InputError, TfbenchError
from tfbench.io.constants import FPS, SAMPLE_RATE
SAMPLES_PER_FRAME = int(SAMPLE_RATE / FPS)  # 640
DETECT_MAX_SIDE = 640


@dataclass(frozen=True)
class Source:
    """One raw video and its labels.

    ``audio``: separate audio file (MEAD's m4a) or None for the video's own track.
    ``segments``: (start_s, end_s) intervals to keep, or None for the whole video.
    ``labels``: row columns set by the recipe (speaker, gender, emotion, level, view, split,
    transcript); missing ones get the defaults of :data:`LABEL_DEFAULTS`.
    """

    source_id: str
    video: Path
    audio: Path | None = None
    segments: tuple[tuple[float, float], ...] | None = None
    labels: dict = field(default_factory=dict)


LABEL_DEFAULTS = {"speaker": "", "gender": "", "emotion": "", "level": 0, "view": "", "split": "train", "transcript": ""}


@dataclass(frozen=True)
class ClipParams:
    """Everything that changes the per-clip cache. Changing any value reprocesses clips."""

    recipe: str
    recipe_version: str
    #: Version of the processing every recipe shares (process.py, crop.py): raised whenever
    #: it changes what a clip's files hold, so caches of older code are redone, never mixed.
    #: 2: working scales of 1/2 or less snap to 1/k (crop.working_scale).
    processing_version: int = 2
    size: int = 256
    crop_scale: float = 1.8
    detect_every: int = 5
    landmarks: str = "dlib"
    landmarks_weights_sha256: str = ""  # other weights, other landmarks: the cache is redone
    tdmm: str = "offline"  # "deep3d" regresses coefficients from the crops, so it is part of the cache
    tdmm_weights_sha256: str = ""
    au: str = "offline"  # "network" runs the AU network on the crops, so it is part of the cache
    au_weights_sha256: str = ""
    min_seconds: float = 1.0
    max_clip_seconds: float | None = None
    av_tolerance_s: float = 0.2
    max_missing_face: float = 0.2
    max_multi_face: float = 0.1

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


class ClipFailure(TfbenchError):
    """A clip that cannot be processed; its reason goes to failures.jsonl."""


# ------------------------------------------------------------------ recipes


@dataclass(frozen=True)
class RecipeOptions:
    """User choices that select sources or splits (they do not change a clip's processing).

    ``views``: camera views to keep (None = the recipe's default); ``test_speakers``:
    speakers of the test split (None = the recipe's default)."""

    views: tuple[str, ...] | None = None
    test_speakers: tuple[str, ...] | None = None


class Recipe:
    """A dataset recipe: lists the raw sources with labels and splits; the rest is shared.

    ``splits``: the splits the dataset always has (possibly empty). ``max_clip_seconds``:
    long videos are cut into clips of at most this length (None = one clip per video).
    """

    name: str = ""
    version: str = "1"
    splits: tuple[str, ...] = ("train", "test")
    max_clip_seconds: float | None = None
    #: Short display name (leaderboards; tfbench.registry.dataset_titles).
    title: str = ""
    #: Source dataset, for the dataset card (recipes/hub.py): full name, homepage, licence
    #: terms (plain text), Hub licence id ("other" when it has none) and BibTeX citation.
    full_name: str = ""
    homepage: str = ""
    license: str = ""
    license_id: str = "other"
    citation: str = ""

    def sources(self, raw_dir: Path, options: RecipeOptions) -> list[Source]:
        raise NotImplementedError

    def default_raw_dir(self) -> Path | None:
        """Raw folder used when ``--raw-dir`` is not given (None = it is required)."""
        return None

    def resolved_options(self, options: RecipeOptions) -> dict:
        """The options as recorded in meta.json (defaults filled in)."""
        return {"views": list(options.views) if options.views else None,
                "test_speakers": list(options.test_speakers) if options.test_speakers else None}


def require_dir(path: Path, what: str) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise InputError(f"{what} {path} is not a folder: pass --raw-dir pointing at it")
    return path


#: Names that lived here before the module was split, kept importable from here.
_MOVED = {
    **dict.fromkeys(("process_source", "check_av_length", "_plan_clips", "_ClipPlan", "_clip_arrays", "_clip_audio",
                     "_finish_clip"), "process"),
    **dict.fromkeys(("detect_in_frame", "working_scale", "expected_frames", "face_track", "fixed_crop", "crop_frame",
                     "_detect_scale", "_faces_counted", "_rescale"), "crop"),
    **dict.fromkeys(("cache_dir", "source_marker", "clip_cache_path", "shard_of", "finished_marker", "load_clip",
                     "remove_tree"), "clip_cache"),
    **dict.fromkeys(("write_json_atomic", "sha256_file"), None),
}


def __getattr__(name: str):
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = _MOVED[name]
    return getattr(importlib.import_module(f"tfbench.recipes.{module}" if module else "tfbench.fsutil"), name)
