"""``ClipInputs``: one clip's shared inputs, computed once and handed to every metric.

Every metric of a run reads the same object, so a clip's videos are decoded once, its
audio read once and its landmarks detected once per (video, backend), whatever the
number of metrics. Everything is lazy: a run of PSNR alone never reads audio.

Conventions (see ``docs/evaluate.md``):

- ``frames("pred")`` / ``frames("gt")``: uint8 ``[T, H, W, 3]`` RGB at ``fps`` (25),
  decoded by :func:`tfbench.io.video.read_video`, which resamples by timestamp. The
  arrays are read-only: copy before changing them.
- Length policy: when both videos exist and their lengths differ by at most
  ``max_length_diff`` frames (2 by default), both are truncated to the shorter and
  ``notes["truncated_frames"]`` says by how much; a larger difference raises
  :class:`~tfbench.errors.InputError` (the clip fails, the run goes on).
- Resolution policy: a prediction whose size differs from the ground truth raises
  ``InputError`` unless ``resize_pred=True``, which resizes it to the ground truth's size
  (``cv2.INTER_AREA`` when shrinking, ``cv2.INTER_CUBIC`` when enlarging) and records it.
- ``audio``: float32 ``[N]`` mono 16 kHz in [-1, 1], from the given audio (array or file)
  or else from the ground-truth file.
- ``reference``: the identity reference, uint8 ``[H, W, 3]``; gt frame 0 unless given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

#: Share of frames with several detected faces above which face-based metrics fail the clip.
SEVERAL_FACES_MAX_FRACTION = 0.1

from tfbench.errors import InputError, TfbenchError

from tfbench.io.constants import SAMPLE_RATE  # sample rate of ``ClipInputs.audio`` (Hz)
#: Default tolerance of the length policy, in frames.
MAX_LENGTH_DIFF = 2

FrameSource = np.ndarray | str | Path | None
AudioSource = np.ndarray | str | Path | None


def _check_frames(frames: np.ndarray, which: str, clip_id: str) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise InputError(
            f"clip {clip_id!r}: {which} frames must be uint8 [T,H,W,3] RGB, got {frames.dtype} {list(frames.shape)}"
        )
    if frames.shape[0] == 0:
        raise InputError(f"clip {clip_id!r}: {which} video has no frames")
    return frames


def _read_only(array: np.ndarray) -> np.ndarray:
    view = np.ascontiguousarray(array).view()
    view.flags.writeable = False
    return view


class ClipInputs:
    """The inputs of one clip (lazy, memoised). Build with :meth:`from_arrays` or :meth:`from_files`.

    ``pred`` / ``gt``: uint8 ``[T,H,W,3]`` RGB arrays at ``fps``, or video file paths.
    ``audio``: float32 ``[N]`` 16 kHz array, or a file with an audio stream; None means the
    ground-truth file's audio (when ``gt`` is a path). ``reference``: uint8 ``[H,W,3]``.
    """

    def __init__(
        self,
        clip_id: str,
        *,
        pred: FrameSource = None,
        gt: FrameSource = None,
        audio: AudioSource = None,
        reference: np.ndarray | None = None,
        fps: float = 25.0,
        resize_pred: bool = False,
        max_length_diff: int = MAX_LENGTH_DIFF,
    ) -> None:
        self.clip_id = clip_id
        self.fps = float(fps)
        self.resize_pred = resize_pred
        self.max_length_diff = max_length_diff
        self._sources: dict[str, FrameSource] = {"pred": pred, "gt": gt}
        self._audio_source: AudioSource = audio
        self._reference_given = reference
        self._frames: dict[str, np.ndarray] = {}
        self._audio: np.ndarray | None = None
        self._memo: dict[Any, Any] = {}
        self._load_error: TfbenchError | None = None
        #: What the clip's policies did (JSON-able), recorded per clip by the runner.
        self.notes: dict[str, Any] = {}

    # ------------------------------------------------------------------ constructors

    @classmethod
    def from_arrays(
        cls,
        pred: np.ndarray,
        gt: np.ndarray | None = None,
        audio: np.ndarray | None = None,
        reference: np.ndarray | None = None,
        fps: float = 25.0,
        clip_id: str = "clip",
        **policy: Any,
    ) -> "ClipInputs":
        """Inputs from in-memory arrays (frames uint8 [T,H,W,3] RGB at ``fps``; audio float32 16 kHz)."""
        return cls(clip_id, pred=pred, gt=gt, audio=audio, reference=reference, fps=fps, **policy)

    @classmethod
    def from_files(
        cls,
        clip_id: str,
        pred: str | Path | None,
        gt: str | Path | None = None,
        audio: str | Path | None = None,
        fps: float = 25.0,
        **policy: Any,
    ) -> "ClipInputs":
        """Inputs from video files (decoded lazily at ``fps``); audio from ``audio`` or the gt file."""
        return cls(clip_id, pred=pred, gt=gt, audio=audio, fps=fps, **policy)

    # ------------------------------------------------------------------ availability

    def has(self, need: str) -> bool:
        """Whether the clip can provide ``need`` ("pred", "gt", "audio" or "reference")."""
        if need in ("pred", "gt"):
            return self._sources[need] is not None or need in self._frames
        if need == "audio":
            return self._audio is not None or self._audio_source is not None or isinstance(self._sources["gt"], (str, Path))
        if need == "reference":
            return self._reference_given is not None or self.has("gt")
        raise ValueError(f"unknown clip input {need!r}")

    def require(self, needs: frozenset[str] | set[str]) -> None:
        """Raise InputError naming every input in ``needs`` the clip lacks."""
        missing = sorted(need for need in needs if not self.has(need))
        if missing:
            raise InputError(f"clip {self.clip_id!r} lacks {', '.join(missing)}")

    # ------------------------------------------------------------------ frames

    def frames(self, which: str) -> np.ndarray:
        """uint8 ``[T,H,W,3]`` RGB frames of ``which`` ("pred" or "gt"), read-only, after the policies."""
        if which not in ("pred", "gt"):
            raise ValueError(f"frames() takes 'pred' or 'gt', not {which!r}")
        if not self._frames:
            if self._load_error is not None:
                raise self._load_error
            try:
                self._load_frames()
            except TfbenchError as error:
                self._load_error = error  # every metric of the clip gets the same error, decoded once
                raise
        if which not in self._frames:
            raise InputError(f"clip {self.clip_id!r} has no {which} video")
        return self._frames[which]

    @property
    def num_frames(self) -> int:
        """Frames per video after the length policy (pred's if present, else gt's)."""
        return int(self.frames("pred" if self.has("pred") else "gt").shape[0])

    def _decode(self, which: str) -> np.ndarray | None:
        source = self._sources[which]
        if source is None:
            return None
        if isinstance(source, (str, Path)):
            from tfbench.io.video import probe_video, read_video

            info = probe_video(source)
            if abs(info.fps - self.fps) > 1e-3:
                self.notes[f"{which}_native_fps"] = float(info.fps)
            frames = read_video(source, fps=self.fps).frames
        else:
            frames = source
        return _check_frames(frames, which, self.clip_id)

    def _load_frames(self) -> None:
        """Decode both videos (once) and apply the length and resolution policies."""
        pred = self._decode("pred")
        gt = self._decode("gt")
        if pred is not None and gt is not None:
            pred = self._match_resolution(pred, gt)
            pred, gt = self._match_length(pred, gt)
        for which, frames in (("pred", pred), ("gt", gt)):
            if frames is not None:
                self._frames[which] = _read_only(frames)
        self._sources = {"pred": None, "gt": self._sources["gt"]}  # keep gt path for audio
        if self._sources["gt"] is not None and not isinstance(self._sources["gt"], (str, Path)):
            self._sources["gt"] = None

    def _match_resolution(self, pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
        pred_size, gt_size = pred.shape[1:3], gt.shape[1:3]
        if pred_size == gt_size:
            return pred
        if not self.resize_pred:
            raise InputError(
                f"clip {self.clip_id!r}: prediction is {pred_size[1]}x{pred_size[0]} but ground truth is "
                f"{gt_size[1]}x{gt_size[0]}; pass --resize-pred to resize predictions to the ground truth's size"
            )
        import cv2

        shrinking = pred_size[0] * pred_size[1] > gt_size[0] * gt_size[1]
        interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
        resized = np.stack([cv2.resize(frame, (gt_size[1], gt_size[0]), interpolation=interpolation) for frame in pred])
        self.notes["resized_pred_from"] = [int(pred_size[1]), int(pred_size[0])]
        return resized

    def _match_length(self, pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        difference = int(pred.shape[0]) - int(gt.shape[0])
        if difference == 0:
            return pred, gt
        if abs(difference) > self.max_length_diff:
            raise InputError(
                f"clip {self.clip_id!r}: prediction has {pred.shape[0]} frames, ground truth {gt.shape[0]} "
                f"(difference {abs(difference)} > {self.max_length_diff} allowed); generate the clip at the "
                f"ground truth's length"
            )
        length = min(pred.shape[0], gt.shape[0])
        self.notes["truncated_frames"] = abs(difference)
        self.notes["truncated_from"] = "pred" if difference > 0 else "gt"
        return pred[:length], gt[:length]

    # ------------------------------------------------------------------ audio, reference

    @property
    def audio(self) -> np.ndarray:
        """float32 ``[N]`` mono 16 kHz audio in [-1, 1] (given, or read from the gt file)."""
        if self._audio is None:
            source = self._audio_source
            if source is None and isinstance(self._sources["gt"], (str, Path)):
                source = self._sources["gt"]
            if source is None:
                raise InputError(f"clip {self.clip_id!r} has no audio (give --audio or a ground truth with sound)")
            if isinstance(source, (str, Path)):
                from tfbench.io.audio import read_audio

                audio = read_audio(source, sample_rate=SAMPLE_RATE)
            else:
                audio = np.asarray(source)
            if audio.ndim != 1 or audio.dtype != np.float32:
                raise InputError(f"clip {self.clip_id!r}: audio must be float32 [N] mono, got {audio.dtype} {list(audio.shape)}")
            if audio.size == 0:
                raise InputError(f"clip {self.clip_id!r}: audio is empty")
            self._audio = _read_only(audio)
        return self._audio

    @property
    def reference(self) -> np.ndarray:
        """Identity reference frame, uint8 ``[H,W,3]`` RGB: the one given, else gt frame 0."""
        if self._reference_given is not None:
            reference = np.asarray(self._reference_given)
            if reference.dtype != np.uint8 or reference.ndim != 3 or reference.shape[-1] != 3:
                raise InputError(f"clip {self.clip_id!r}: reference must be uint8 [H,W,3], got {reference.dtype} {list(reference.shape)}")
            self.notes["reference"] = "given"
            return reference
        if not self.has("gt"):
            raise InputError(f"clip {self.clip_id!r} has no identity reference (no ground truth and none given)")
        return self.frames("gt")[0]

    # ------------------------------------------------------------------ shared derived data

    def memo(self, key: Any, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per clip for ``key`` (e.g. ``("syncnet_crops", "pred")``), then cached."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def landmarks(self, which: str, backend: str = "dlib"):
        """:class:`tfbench.face.landmarks.LandmarkResult` of ``frames(which)``, detected once per backend.

        tfbench scores one face per clip. An occasional frame with an extra detection uses
        the largest face (counted by the metrics); when several faces are found in more
        than :data:`SEVERAL_FACES_MAX_FRACTION` of the frames, FaceError fails the clip for
        every face-based metric instead of scoring whichever face happens to be largest.
        """

        def detect():
            from tfbench.face.landmarks import detect_landmarks

            return detect_landmarks(self.frames(which), backend=backend)

        result = self.memo(("landmarks", which, backend), detect)
        several = int((np.asarray(result.num_faces) > 1).sum())
        if several > SEVERAL_FACES_MAX_FRACTION * len(result.num_faces):
            from tfbench.errors import FaceError

            raise FaceError(
                f"{which}: several faces in {several} of {len(result.num_faces)} frames; tfbench scores one "
                "face per clip: crop the video to the speaker's face"
            )
        return result

    def release(self) -> None:
        """Drop every decoded array and memoised value (the runner calls this after the clip)."""
        self._frames.clear()
        self._memo.clear()
        self._audio = None
        self._reference_given = None
        self._sources = {"pred": None, "gt": None}
        self._audio_source = None
