"""The metric interface.

A metric scores one clip at a time (:meth:`Metric.score_clip`) and aggregates the
per-clip scores in a stream (:meth:`Metric.aggregate`). Per-clip scores are what the
runner caches on disk, so a killed run resumes without rescoring, and aggregation reads
them one at a time, so memory does not grow with the number of clips (FID/FVD keep
float64 running sums of features and outer products).

A metric never decodes a video or detects a face itself: it asks the shared
:class:`tfbench.evaluate.clip.ClipInputs` (frames, audio, landmarks, crops, memoised
per clip), so the work is done once for every metric that needs it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Iterable

import numpy as np

if TYPE_CHECKING:
    from tfbench.evaluate.clip import ClipInputs


@dataclass
class ClipScore:
    """One clip's result for one metric.

    ``values``: scalar per-clip values by id (e.g. ``{"lse_c": 7.1, "lse_d": 6.9}``), the
    rows of the per-clip table. ``state``: arrays the aggregate needs beyond the values
    (e.g. FID's per-clip feature sum, outer-product sum and count) or ``tfbench report``
    shows (LMD's mouth points), saved with ``np.savez``.
    ``info``: small JSON-able notes (e.g. ``{"frames_compared": 74}``).
    """

    values: dict[str, float]
    state: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict = field(default_factory=dict)


class Metric(ABC):
    """Base class. Subclasses set the class attributes and implement two methods."""

    #: Registry id; carries the backbone where several exist (``csim@dlib``).
    id: ClassVar[str]
    #: Ids of the aggregate values ``aggregate`` returns (default: ``(id,)``).
    outputs: ClassVar[tuple[str, ...]] = ()
    #: Protocol version; bump when a change can move a number.
    version: ClassVar[str] = "1"
    higher_is_better: ClassVar[bool]
    #: Weights names (tfbench.weights) the metric loads; checked before any work starts.
    weights: ClassVar[tuple[str, ...]] = ()
    #: What the clip must provide: subset of {"pred", "gt", "audio", "reference"}.
    needs: ClassVar[frozenset[str]] = frozenset({"pred", "gt"})

    def __init__(self, device: str = "cpu", **params) -> None:
        self.device = device
        self.params = params

    @classmethod
    def output_ids(cls) -> tuple[str, ...]:
        return cls.outputs or (cls.id,)

    @abstractmethod
    def score_clip(self, clip: "ClipInputs") -> ClipScore:
        """Score one clip. Raise a TfbenchError subclass with a clear message when it cannot."""

    def aggregate(self, scores: Iterable[ClipScore]) -> dict[str, float | None]:
        """Default: mean over clips of each output's per-clip value (None if no clip)."""
        totals = {key: 0.0 for key in self.output_ids()}
        count = 0
        for score in scores:
            count += 1
            for key in totals:
                totals[key] += float(score.values[key])
        return {key: (total / count if count else None) for key, total in totals.items()}

    def protocol_params(self) -> dict:
        """Parameters recorded with the result (override to add protocol choices)."""
        return dict(self.params)


#: Default least share of a clip's frames a face metric must score (docs/evaluate.md, "Faces").
MIN_FACE_COVERAGE = 0.5


class FaceMetric(Metric):
    """A metric scored on the frames where a face was found (LMD, CSIM, EFD).

    Every clip records, per detection pass, the frames scored and the frames it had
    (values ``<output>:frames_scored`` and ``<output>:frames``, columns of the per-clip
    table); a clip whose coverage is below ``min_coverage`` (0-1, default
    :data:`MIN_FACE_COVERAGE`) fails with FaceError instead of being scored from a few
    frames. The aggregate records the coverage over the scored clips in ``aggregate_notes``.
    """

    def __init__(self, device: str = "cpu", min_coverage: float = MIN_FACE_COVERAGE, **unknown) -> None:
        from tfbench.errors import InputError

        if unknown:  # a misspelt parameter must not silently give the default protocol
            raise InputError(f"{self.id}: unknown parameter(s) {', '.join(sorted(unknown))}; it takes min_coverage only")
        super().__init__(device)
        if not 0.0 <= float(min_coverage) <= 1.0:
            raise InputError(f"{self.id}: min_coverage must be in [0, 1], got {min_coverage}")
        self.min_coverage = float(min_coverage)
        self.aggregate_notes: dict = {}

    def coverage_values(self, passes: dict[str, tuple[int, int]], why: str = "") -> dict[str, float]:
        """Per-clip coverage values of ``{output: (frames scored, frames)}``; FaceError when
        a pass scored less than ``min_coverage`` of its frames (``why``: what was missing)."""
        from tfbench.errors import FaceError

        values: dict[str, float] = {}
        for output, (scored, total) in passes.items():
            if scored == 0 or scored < self.min_coverage * total:
                raise FaceError(
                    f"{output}: scored only {scored} of {total} frames ({why}); below the face coverage "
                    f"threshold min_coverage={self.min_coverage:g}, so the clip is not scored from so few frames"
                )
            values[f"{output}:frames_scored"] = float(scored)
            values[f"{output}:frames"] = float(total)
        return values

    def aggregate(self, scores: Iterable[ClipScore]) -> dict[str, float | None]:
        """Mean over clips (as :class:`Metric`); frames scored / frames per pass go to ``aggregate_notes``."""
        totals: dict[str, list[float]] = {}

        def counting() -> Iterable[ClipScore]:
            for score in scores:
                for key, value in score.values.items():
                    if ":frames" in key:
                        totals.setdefault(key, [0.0])[0] += float(value)
                yield score

        values = super().aggregate(counting())
        coverage = {}
        for key in sorted(totals):
            output, field_name = key.split(":", 1)
            coverage.setdefault(output, {})[field_name] = int(totals[key][0])
        for counts in coverage.values():
            counts["fraction"] = counts["frames_scored"] / counts["frames"] if counts.get("frames") else None
        self.aggregate_notes = {"coverage": coverage, "min_coverage": self.min_coverage}
        return values

    def protocol_params(self) -> dict:
        return {**super().protocol_params(), "min_coverage": self.min_coverage}
