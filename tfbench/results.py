"""``ResultRecord``: one evaluation's aggregate numbers and how they were made.

Written by ``tfbench evaluate`` as ``result.json`` in its ``--out`` folder and, with
``--save``, into ``leaderboards/results/``. The JSON schema below is the contract the
leaderboard validates against; bump ``SCHEMA_VERSION`` when it changes.
"""

from __future__ import annotations

import json
import platform
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from tfbench import __version__

SCHEMA_VERSION = 1


@dataclass
class MetricResult:
    """One metric's aggregate over the clips it scored.

    ``value`` is None when no clip could be scored. ``weights`` maps weights name ->
    ``{"sha256": ..., "canonical": bool, "status": "canonical" | "unverified" |
    "non-canonical"}`` for every file the metric's networks used (canonical only when the
    sha256 equals the pinned one; see tfbench.weights).
    """

    id: str  # e.g. "psnr", "lse_c", "csim@dlib"
    value: float | None
    version: str
    higher_is_better: bool
    clips_scored: int
    clips_failed: int
    weights: dict[str, dict] = field(default_factory=dict)
    params: dict = field(default_factory=dict)  # protocol parameters (e.g. min_track_frames)
    notes: dict = field(default_factory=dict)  # what the aggregate saw (sample counts, warnings); not a protocol choice

    @property
    def canonical(self) -> bool:
        return all(entry["canonical"] for entry in self.weights.values())


@dataclass
class ResultRecord:
    """Aggregate result of one evaluation run, with provenance."""

    model: str
    dataset: str  # dataset name, e.g. "mead", "sample"
    split: str
    protocol: str  # e.g. "self-reconstruction/v1" or "pred-vs-gt/v1"
    metrics: dict[str, MetricResult]
    dataset_fingerprint: str | None = None
    recipe_version: str | None = None
    checkpoint_sha256: str | None = None
    model_canonical: bool = True
    model_notes: str = ""
    clips_total: int = 0
    clips_failed: int = 0
    failures: list[dict] = field(default_factory=list)  # {"clip_id", "stage", "error"}
    tfbench_version: str = __version__
    git_commit: str | None = None
    git_dirty: bool | None = None
    date: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    hardware: str = field(default_factory=lambda: f"{platform.machine()} {platform.processor() or ''}".strip())
    wall_time_s: float = 0.0
    schema_version: int = SCHEMA_VERSION

    @property
    def canonical(self) -> bool:
        """True when every metric used canonical weights and the model is canonical."""
        return self.model_canonical and all(metric.canonical for metric in self.metrics.values())

    def to_dict(self) -> dict:
        data = asdict(self)
        data["canonical"] = self.canonical
        return data

    def save(self, path: Path) -> Path:
        from tfbench.fsutil import write_text_atomic

        return write_text_atomic(Path(path), json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def from_dict(cls, data: dict) -> "ResultRecord":
        validate(data)
        data = dict(data)
        data.pop("canonical", None)
        data["metrics"] = {key: MetricResult(**value) for key, value in data["metrics"].items()}
        return cls(**data)

    @classmethod
    def load(cls, path: Path) -> "ResultRecord":
        return cls.from_dict(json.loads(Path(path).read_text()))


def git_state(repo: Path | None = None) -> tuple[str | None, bool | None]:
    """(commit sha, dirty) of the git checkout tfbench runs from, or (None, None)."""
    cwd = repo or Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip())
        return commit, dirty
    except (OSError, subprocess.CalledProcessError):
        return None, None


_WEIGHTS_ENTRY = {
    "type": "object",
    "required": ["sha256", "canonical"],
    "properties": {
        "sha256": {"type": "string"},
        "canonical": {"type": "boolean"},
        # canonical: sha256 equals the pin; unverified: no pin, hash recorded; non-canonical: test/own weights
        "status": {"enum": ["canonical", "unverified", "non-canonical"]},
    },
}
_METRIC = {
    "type": "object",
    "required": ["id", "value", "version", "higher_is_better", "clips_scored", "clips_failed", "weights"],
    "properties": {
        "id": {"type": "string"},
        "value": {"type": ["number", "null"]},
        "version": {"type": "string"},
        "higher_is_better": {"type": "boolean"},
        "clips_scored": {"type": "integer", "minimum": 0},
        "clips_failed": {"type": "integer", "minimum": 0},
        "weights": {"type": "object", "additionalProperties": _WEIGHTS_ENTRY},
        "params": {"type": "object"},
        "notes": {"type": "object"},
    },
}
JSON_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "tfbench ResultRecord",
    "type": "object",
    "required": ["model", "dataset", "split", "protocol", "metrics", "tfbench_version", "date", "schema_version"],
    "properties": {
        "model": {"type": "string"},
        "dataset": {"type": "string"},
        "split": {"type": "string"},
        "protocol": {"type": "string"},
        "metrics": {"type": "object", "additionalProperties": _METRIC},
        "dataset_fingerprint": {"type": ["string", "null"]},
        "recipe_version": {"type": ["string", "null"]},
        "checkpoint_sha256": {"type": ["string", "null"]},
        "model_canonical": {"type": "boolean"},
        "model_notes": {"type": "string"},
        "clips_total": {"type": "integer", "minimum": 0},
        "clips_failed": {"type": "integer", "minimum": 0},
        "failures": {"type": "array", "items": {"type": "object"}},
        "tfbench_version": {"type": "string"},
        "git_commit": {"type": ["string", "null"]},
        "git_dirty": {"type": ["boolean", "null"]},
        "date": {"type": "string"},
        "hardware": {"type": "string"},
        "wall_time_s": {"type": "number", "minimum": 0},
        "schema_version": {"const": SCHEMA_VERSION},
        "canonical": {"type": "boolean"},
    },
    "additionalProperties": False,
}


def validate(data: dict) -> None:
    """Raise TfbenchError when ``data`` does not follow :data:`JSON_SCHEMA`."""
    import jsonschema

    from tfbench.errors import TfbenchError

    try:
        jsonschema.validate(data, JSON_SCHEMA)
    except jsonschema.ValidationError as error:
        location = "/".join(str(part) for part in error.absolute_path) or "<root>"
        raise TfbenchError(f"result record invalid at {location}: {error.message}") from None
