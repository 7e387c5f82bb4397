"""LSE-C / LSE-D: lip-sync error of a generated video against its audio, with SyncNet.

Wav2Lip's protocol on joonson/syncnet_python (see docs/metrics/lse.md for every step and
its reference line). Per clip: SyncNet distances between 5-frame lip windows and 0.2 s MFCC
windows over offsets -15..+15 frames; LSE-D = the smallest mean distance (lower is better),
LSE-C = median - min of the mean distances (higher is better), AV offset = the best offset.

Two ways to get the 224x224 face crops SyncNet sees (param ``mode``):

- ``"precropped"`` (default; Wav2Lip's ``calculate_scores_LRS.py``): the frames already are
  face crops; each is resized to 224x224 with ``cv2.resize`` defaults (bilinear).
- ``"pipeline"`` (syncnet_python ``run_pipeline.py``): S3FD detection, IoU tracking, median-
  smoothed boxes, crops with 40% margin and grey (110) padding. ``min_track_frames``: a track
  needs more than this many detections (reference: 100, which rejects every clip of 4 s or
  less; tfbench default 25). A clip without such a track fails with the reason; it is never
  silently dropped.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from tfbench.errors import InputError
from tfbench.evaluate.metrics.base import ClipScore, Metric
from tfbench.evaluate.syncnet import scoring

MODES = ("precropped", "pipeline")
DEFAULT_MIN_TRACK_FRAMES = 25
REFERENCE_MIN_TRACK_FRAMES = 100
DEFAULT_MIN_FACE_SIZE = 100
DEFAULT_BATCH_SIZE = 20


class LSE(Metric):
    """Lip-sync error (SyncNet). Outputs ``lse_c`` (higher better), ``lse_d`` (lower better),
    ``av_offset`` (per clip: signed best offset in frames; aggregate: mean |offset|).

    Params: ``mode`` ("precropped" | "pipeline"), ``min_track_frames`` (pipeline; default 25,
    reference 100), ``min_face_size`` (pipeline; px, default 100 as the reference),
    ``batch_size`` (windows per forward pass; does not change the numbers).
    """

    id = "lse"
    outputs = ("lse_c", "lse_d", "av_offset")
    version = "1"
    higher_is_better = True
    higher_is_better_by_output = {"lse_c": True, "lse_d": False, "av_offset": False}
    weights = ("syncnet_v2",)
    needs = frozenset({"pred", "audio"})

    def __init__(
        self,
        device: str = "cpu",
        mode: str = "precropped",
        min_track_frames: int = DEFAULT_MIN_TRACK_FRAMES,
        min_face_size: float = DEFAULT_MIN_FACE_SIZE,
        batch_size: int = DEFAULT_BATCH_SIZE,
        **params,
    ) -> None:
        from tfbench.weights import require

        if params:
            raise InputError(
                f"lse: unknown parameter(s) {', '.join(sorted(params))}; "
                f"known: mode, min_track_frames, min_face_size, batch_size"
            )
        if mode not in MODES:
            raise InputError(f"lse: mode must be one of {', '.join(MODES)}, got {mode!r}")
        if int(batch_size) < 1:
            raise InputError(f"lse: batch_size must be at least 1, got {batch_size!r}")
        if int(min_track_frames) < scoring.WINDOW_FRAMES:
            raise InputError(
                f"lse: min_track_frames must be >= {scoring.WINDOW_FRAMES} (a track needs more than that many "
                f"frames for one SyncNet window), got {min_track_frames!r}"
            )
        super().__init__(device)
        self.mode = mode
        self.min_track_frames = int(min_track_frames)
        self.min_face_size = float(min_face_size)
        self.batch_size = int(batch_size)
        if mode == "pipeline":
            self.weights = ("syncnet_v2", "s3fd")  # instance attribute: the runner records both
        require(self.weights)
        self._syncnet = None
        self._detector = None

    # ------------------------------------------------------------------ networks

    def _networks(self):
        if self._syncnet is None:
            from tfbench.nets.syncnet import load_syncnet

            self._syncnet = load_syncnet(self.device)
            if self.mode == "pipeline":
                from tfbench.nets.s3fd import load_s3fd

                self._detector = load_s3fd(self.device)
        return self._syncnet, self._detector

    # ------------------------------------------------------------------ scoring

    def _crops(self, clip) -> tuple[np.ndarray, int, dict]:
        """(uint8 [L,224,224,3] RGB crops, first frame index, info) for the clip's prediction."""
        frames = clip.frames("pred")
        if self.mode == "precropped":
            return scoring.resize_crops(frames), 0, {}
        from tfbench.evaluate.syncnet.pipeline import face_track_crops

        _, detector = self._networks()
        result = face_track_crops(
            detector,
            frames,
            min_track_frames=self.min_track_frames,
            min_face_size=self.min_face_size,
            device=self.device,
        )
        info = {"track_frames": [int(result.frames[0]), int(result.frames[-1])], "num_tracks": result.num_tracks}
        return result.crops, int(result.frames[0]), info

    def score_clip(self, clip) -> ClipScore:
        if abs(float(clip.fps) - scoring.FPS) > 1e-6:
            raise InputError(f"lse: SyncNet needs 25 fps video (its windows are 5 frames = 0.2 s), got {clip.fps} fps")
        key = ("syncnet_crops", "pred", self.mode, self.min_track_frames, self.min_face_size)
        crops, first_frame, info = clip.memo(key, lambda: self._crops(clip))
        audio = clip.audio[first_frame * scoring.SAMPLES_PER_FRAME : (first_frame + len(crops)) * scoring.SAMPLES_PER_FRAME]
        syncnet, _ = self._networks()
        score = scoring.score_crops(syncnet, crops, audio, batch_size=self.batch_size, device=self.device)
        return ClipScore(
            values={"lse_c": score.lse_c, "lse_d": score.lse_d, "av_offset": float(score.av_offset)},
            info={"windows": score.num_windows, **info},
        )

    def aggregate(self, scores: Iterable[ClipScore]) -> dict[str, float | None]:
        """Mean LSE-C and LSE-D over scored clips (as Wav2Lip's script); mean |AV offset| in frames."""
        totals = {"lse_c": 0.0, "lse_d": 0.0, "av_offset": 0.0}
        count = 0
        for score in scores:
            count += 1
            totals["lse_c"] += score.values["lse_c"]
            totals["lse_d"] += score.values["lse_d"]
            totals["av_offset"] += abs(score.values["av_offset"])
        return {key: (total / count if count else None) for key, total in totals.items()}

    def protocol_params(self) -> dict:
        params = {
            "mode": self.mode,
            "vshift": scoring.VSHIFT,
            "crop_size": scoring.CROP_SIZE,
            "resize": "cv2.resize bilinear",
            "audio": "int16 (ffmpeg pcm_s16le), python_speech_features.mfcc defaults",
            "aggregate": "mean over scored clips; av_offset: mean |offset| (frames)",
        }
        if self.mode == "pipeline":
            from tfbench.evaluate.syncnet import pipeline

            params.update(
                min_track_frames=self.min_track_frames,
                min_face_size=self.min_face_size,
                **pipeline.PROTOCOL,
            )
        return params
