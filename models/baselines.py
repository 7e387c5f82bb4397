"""Reference points for every metric: the ground truth itself and a still frame.

``ground_truth`` returns the request's source frames, i.e. the target of the
self-driven reconstruction protocol: every metric should report its best possible value
(PSNR infinite, SSIM 1, FID/FVD ~0, LSE as on real video). ``static`` holds the reference
frame still for the whole clip: no lip motion at all, a lower bound for sync metrics.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfbench.errors import CheckpointError
from tfbench.models.base import GenerationRequest, Generator


class _NoCheckpoint(Generator):
    @classmethod
    def from_checkpoint(cls, path: Path | None = None, device: str = "cpu") -> "Generator":
        if path is not None:
            raise CheckpointError(f"model {cls.name!r} takes no checkpoint (got {path})")
        return cls()


class GroundTruth(_NoCheckpoint):
    """Returns the source frames unchanged: an upper bound and a sanity check of every metric."""

    name = "ground_truth"
    needs = frozenset({"source_video"})
    notes = "baseline: returns the ground-truth frames"

    def generate(self, request: GenerationRequest) -> np.ndarray:
        self.check_request(request)
        return np.ascontiguousarray(request.source_frames[: request.num_frames], dtype=np.uint8)


class StaticFrame(_NoCheckpoint):
    """The reference frame repeated ``num_frames`` times: no motion, a lower bound for sync.

    The self-driven protocol fills ``reference_image`` with the first ground-truth frame.
    """

    name = "static"
    needs = frozenset({"reference_image"})
    notes = "baseline: the reference frame held still"

    def generate(self, request: GenerationRequest) -> np.ndarray:
        from tfbench.errors import InputError

        self.check_request(request)
        frame = np.asarray(request.reference_image)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[-1] != 3:
            raise InputError(f"clip {request.clip_id!r}: reference must be uint8 [H,W,3], got {frame.dtype} {list(frame.shape)}")
        return np.ascontiguousarray(np.broadcast_to(frame, (request.num_frames, *frame.shape)))
