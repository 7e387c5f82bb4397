"""Shared machinery of every dataset recipe: raw video -> processed clip + per-clip cache -> dataset.

A recipe lists :class:`Source` items (one raw video each, with its labels and split). For
each source, :func:`process_source` makes one or more clips (several when the recipe cuts
long videos into segments), decoding the video once:

1. **decode + detect** — the video is streamed at 25 fps in 32-frame chunks; dlib HOG faces
   are detected every ``detect_every`` frames on a copy scaled so its longer side is at most
   640 px. Frames inside a clip are kept at a working scale chosen from the first face found
   (the crop keeps at least 1.25 × ``size`` pixels), so memory is bounded by one clip.
2. **track + crop** — once a clip's last frame has been seen, detections are linearly
   interpolated to every frame; the crop is one fixed square per clip: centre = median box
   centre raised by 0.1 × face size, side = ``crop_scale`` × median face size (areas outside
   the frame repeat the edge pixels), resized to ``size`` × ``size``. A fixed crop keeps the
   background still and leaves head motion in the clip, as MEAD preprocessing for
   EAMM/StyleTalk-style methods does.
3. **landmarks** on the in-memory crops (before encoding, so they do not depend on the
   encoder) and, when chosen, the learned backends that need the frames (``--tdmm deep3d``,
   ``--au network``), audio checks, log-mel, phonemes; then the 16 kHz PCM wav, the clip mp4 (25 fps
   H.264 + AAC 16 kHz) and the per-clip cache ``cache/clips/<clip_id>.npz`` are written, each
   atomically, the npz last; ``cache/sources/<source_id>.json`` marks the source finished.

A killed run leaves at most ``.tmp`` files; the next run skips finished sources. Dataset-wide
annotations (3DMM, AU intensities, text) need statistics over all clips, so
:mod:`tfbench.recipes.build` computes them from the cache in streaming passes and writes the
Hugging Face dataset with ``Dataset.from_generator``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tfbench.errors import FaceError, InputError, MediaError, TfbenchError
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


# ------------------------------------------------------------------ small helpers


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_json_atomic(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps(value, indent=1, sort_keys=True))
    os.replace(partial, path)


def _save_npz_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    partial = path.with_name(path.name + ".tmp.npz")
    np.savez(partial, **arrays)
    os.replace(partial, path)


def _write_wav_atomic(path: Path, audio: np.ndarray) -> None:
    import soundfile

    partial = path.with_name(path.name + ".tmp.wav")
    soundfile.write(str(partial), audio, SAMPLE_RATE, subtype="PCM_16")
    os.replace(partial, path)


def cache_dir(out: Path) -> Path:
    return Path(out) / "cache"


def source_marker(out: Path, source_id: str) -> Path:
    return cache_dir(out) / "sources" / f"{source_id}.json"


def clip_cache_path(out: Path, clip_id: str) -> Path:
    return cache_dir(out) / "clips" / f"{clip_id}.npz"


def shard_of(source_id: str, num_shards: int) -> int:
    """Stable shard of a source: sha256 of its id modulo ``num_shards``."""
    return int(hashlib.sha256(source_id.encode()).hexdigest(), 16) % num_shards


# ------------------------------------------------------------------ stage 1: detection


def _detect_scale(height: int, width: int) -> tuple[float, int]:
    """(scale factor, HOG upsample) so the detected copy's longer side is at most 640 px."""
    scale = min(1.0, DETECT_MAX_SIDE / max(height, width))
    upsample = 1 if min(height, width) * scale < 360 else 0
    return scale, upsample


def detect_in_frame(frame: np.ndarray) -> np.ndarray:
    """float32 [K,5] dlib HOG faces of a uint8 [H,W,3] frame, in its pixels (detected on a ≤640 px copy)."""
    import cv2

    from tfbench.face.detect import detect_faces

    scale, upsample = _detect_scale(*frame.shape[:2])
    small = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else frame
    boxes = detect_faces(small, "dlib", upsample)
    boxes[:, :4] /= scale
    return boxes


def working_scale(face_side: float, params: ClipParams) -> float:
    """Scale at which frames are kept in memory: the clip's crop (``crop_scale`` × face side)
    then still has at least 1.25 × ``size`` pixels, so the final resize only shrinks."""
    return min(1.0, 1.25 * params.size / (params.crop_scale * max(face_side, 1.0)))


def expected_frames(duration_s: float) -> int:
    """Frames :func:`tfbench.io.video.read_video` returns at 25 fps: floor(duration × 25) (its
    documented rule, with its 0.1 ms slack)."""
    return int(np.floor((duration_s + 1e-4) * FPS))


# ------------------------------------------------------------------ stage 2: track and crop


def _faces_counted(boxes: np.ndarray) -> int:
    """Faces at least a quarter the area of the largest one (smaller ones are ignored)."""
    if len(boxes) == 0:
        return 0
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return int(np.sum(areas >= 0.25 * areas.max()))


def face_track(found: dict[int, np.ndarray], first: int, end: int, params: ClipParams) -> np.ndarray:
    """float64 [end-first, 4] largest-face box per frame (source pixels), interpolated between
    detections. Raises :class:`ClipFailure` for no face / several faces."""
    sampled = sorted(i for i in found if first <= i < end)
    with_face = [i for i in sampled if len(found[i])]
    missing = 1.0 - len(with_face) / max(len(sampled), 1)
    if not with_face or missing > params.max_missing_face:
        raise ClipFailure(f"no face: none found in {missing:.0%} of the checked frames")
    several = np.mean([_faces_counted(found[i]) > 1 for i in sampled])
    if several > params.max_multi_face:
        raise ClipFailure(f"several faces: more than one face in {several:.0%} of the checked frames")
    from tfbench.face.detect import largest_box

    boxes = np.stack([largest_box(found[i])[:4] for i in with_face]).astype(np.float64)
    frames = np.arange(first, end)
    return np.column_stack([np.interp(frames, with_face, boxes[:, k]) for k in range(4)])


def fixed_crop(track: np.ndarray, crop_scale: float) -> tuple[int, int, int]:
    """(x0, y0, side) of the square crop, integer source pixels (may extend past the frame)."""
    sides = np.maximum(track[:, 2] - track[:, 0], track[:, 3] - track[:, 1])
    face = float(np.median(sides))
    centre_x = float(np.median((track[:, 0] + track[:, 2]) / 2.0))
    centre_y = float(np.median((track[:, 1] + track[:, 3]) / 2.0)) - 0.1 * face
    side = int(round(crop_scale * face))
    return int(round(centre_x - side / 2.0)), int(round(centre_y - side / 2.0)), side


def crop_frame(frame: np.ndarray, x0: int, y0: int, side: int, size: int) -> np.ndarray:
    """uint8 [size,size,3]: the square (x0, y0, side) of ``frame`` (edge pixels repeated
    outside it), resized with area averaging (shrinking) or bilinear (enlarging)."""
    import cv2

    height, width = frame.shape[:2]
    pad = max(0, -x0, -y0, x0 + side - width, y0 + side - height)
    if pad:
        frame = cv2.copyMakeBorder(frame, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    square = frame[y0 + pad : y0 + pad + side, x0 + pad : x0 + pad + side]
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(square, (size, size), interpolation=interpolation)


# ------------------------------------------------------------------ stage 3: clips of one source


@dataclass
class _ClipPlan:
    """A clip's frame range [first, end); ``track`` in source pixels; ``crop`` (x0, y0, side) in
    pixels of the frames kept at ``scale``; ``frames``: the cropped uint8 [size,size,3] frames."""

    clip_id: str
    first: int
    end: int
    track: np.ndarray | None = None
    crop: tuple[int, int, int] | None = None
    scale: float = 1.0
    frames: list = field(default_factory=list)


def _plan_clips(source: Source, count: int, params: ClipParams) -> list[_ClipPlan]:
    """Frame ranges of the clips of ``source`` (segments, cut to ``max_clip_seconds``)."""
    if source.segments is None:
        ranges = [(0, count)]
    else:
        ranges = [(max(0, int(round(a * FPS))), min(count, int(round(b * FPS)))) for a, b in source.segments]
    limit = int(round(params.max_clip_seconds * FPS)) if params.max_clip_seconds else None
    pieces = []
    for first, end in ranges:
        if limit is None or end - first <= limit:
            pieces.append((first, end))
            continue
        for start in range(first, end, limit):
            pieces.append((start, min(start + limit, end)))
    if source.segments is None and len(pieces) == 1:
        return [_ClipPlan(source.source_id, *pieces[0])]
    return [_ClipPlan(f"{source.source_id}_{k:03d}", first, end) for k, (first, end) in enumerate(pieces)]


def _clip_arrays(plan: _ClipPlan, audio: np.ndarray, params: ClipParams, timings: dict) -> dict[str, np.ndarray]:
    """Landmarks, audio features and phonemes of one cropped clip (in memory)."""
    from tfbench.annotate.phonemes import frame_phonemes, phone_segments
    from tfbench.face.landmarks import detect_landmarks
    from tfbench.io.features import log_mel

    frames = np.stack(plan.frames)
    x0, y0, side = plan.crop
    boxes = ((plan.track * plan.scale - [x0, y0, x0, y0]) * (params.size / side)).astype(np.float32)
    tick = time.perf_counter()
    landmarks = detect_landmarks(frames, backend=params.landmarks, boxes=boxes).points
    timings["landmarks"] = timings.get("landmarks", 0.0) + time.perf_counter() - tick
    if not np.all(np.isfinite(landmarks)):
        raise ClipFailure("no face: the landmark detector found no face in some frames of the crop")
    learned = {}  # arrays of the learned backends that need the frames (deep3d, AU network)
    if params.tdmm == "deep3d":
        from tfbench.annotate.deep3d import deep3d_coefficients

        tick = time.perf_counter()
        coeffs, align = deep3d_coefficients(frames, landmarks)
        learned.update(coeffs_3dmm=coeffs, coeffs_3dmm_align=align)
        timings["tdmm"] = timings.get("tdmm", 0.0) + time.perf_counter() - tick
    if params.au == "network":
        from tfbench.annotate.au_network import au_intensities

        tick = time.perf_counter()
        learned["au_network"] = au_intensities(frames, landmarks)
        timings["au"] = timings.get("au", 0.0) + time.perf_counter() - tick
    tick = time.perf_counter()
    mel = log_mel(audio, SAMPLE_RATE)
    timings["audio_features"] = timings.get("audio_features", 0.0) + time.perf_counter() - tick
    tick = time.perf_counter()
    phonemes = frame_phonemes(phone_segments(audio, SAMPLE_RATE), len(frames), FPS)
    timings["phonemes"] = timings.get("phonemes", 0.0) + time.perf_counter() - tick
    return {
        "frames": frames,
        "landmarks": landmarks.astype(np.float32),
        "boxes": boxes,
        "log_mel": mel,
        "phonemes": np.array(phonemes),
        "crop_box": (np.array([x0, y0, x0 + side, y0 + side], dtype=np.float64) / plan.scale).astype(np.float32),
        **learned,
    }


def _clip_audio(full_audio: np.ndarray, plan: _ClipPlan) -> np.ndarray:
    """float32 [frames × 640] audio of the clip, trimmed or zero-padded to the video length."""
    piece = full_audio[plan.first * SAMPLES_PER_FRAME : plan.end * SAMPLES_PER_FRAME]
    wanted = (plan.end - plan.first) * SAMPLES_PER_FRAME
    if len(piece) < wanted:
        piece = np.pad(piece, (0, wanted - len(piece)))
    return np.ascontiguousarray(piece, dtype=np.float32)


def check_av_length(audio_samples: int, video_frames: int, params: ClipParams) -> None:
    """Raise :class:`ClipFailure` when audio and video lengths differ by more than the tolerance."""
    audio_s, video_s = audio_samples / SAMPLE_RATE, video_frames / FPS
    if abs(audio_s - video_s) > params.av_tolerance_s:
        raise ClipFailure(f"audio/video length mismatch: audio {audio_s:.2f} s, video {video_s:.2f} s "
                          f"(tolerance {params.av_tolerance_s} s)")


def _finish_clip(out: Path, source: Source, plan: _ClipPlan, audio: np.ndarray, params: ClipParams, source_info: dict, timings: dict) -> None:
    """Write the clip mp4, wav and cache npz (atomically, npz last)."""
    import soundfile

    from tfbench.io.video import write_video

    wav_path = Path(out) / "audio" / f"{plan.clip_id}.wav"
    wav_path.parent.mkdir(parents=True, exist_ok=True)
    _write_wav_atomic(wav_path, audio)
    audio = soundfile.read(str(wav_path), dtype="float32")[0]  # features from exactly the stored samples
    arrays = _clip_arrays(plan, audio, params, timings)
    frames = arrays.pop("frames")
    tick = time.perf_counter()
    clip_path = Path(out) / "clips" / f"{plan.clip_id}.mp4"
    write_video(clip_path, frames, fps=FPS, audio=audio, sample_rate=SAMPLE_RATE)
    labels = {key: value for key, value in {**LABEL_DEFAULTS, **source.labels}.items() if key != "split"}
    info = {
        **labels,
        **source_info,
        "clip_id": plan.clip_id,
        "segment_start_s": plan.first / FPS,
        "segment_end_s": plan.end / FPS,
        "video": f"clips/{plan.clip_id}.mp4",
        "clip_sha256": sha256_of(clip_path),
        "audio": f"audio/{plan.clip_id}.wav",
        "audio_sha256": sha256_of(wav_path),
        "audio_num_samples": int(len(audio)),
        "num_frames": int(len(frames)),
        "width": int(params.size),
        "height": int(params.size),
    }
    content = hashlib.sha256(json.dumps(info, sort_keys=True).encode())
    for key in sorted(arrays):
        content.update(key.encode() + np.ascontiguousarray(arrays[key]).tobytes())
    info["content_sha256"] = content.hexdigest()
    path = clip_cache_path(out, plan.clip_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    _save_npz_atomic(path, {**arrays, "info": np.array(json.dumps(info, sort_keys=True))})
    timings["write"] = timings.get("write", 0.0) + time.perf_counter() - tick


def _relative(path: Path | None, raw_dir: Path) -> str:
    """``path`` relative to the raw folder (so hashes do not depend on where the data lives)."""
    return "" if path is None else os.path.relpath(path, raw_dir)


def process_source(source: Source, out: Path, params: ClipParams, raw_dir: Path) -> dict:
    """Make every clip of ``source``; return and store its marker (clip ids, failures, timings).

    The video is decoded once, streamed in 32-frame chunks: faces are detected every
    ``detect_every`` frames, and frames inside a clip are kept at :func:`working_scale`
    until the clip's last frame has been seen; then its track and fixed crop are computed,
    its frames cropped and the clip written, and its frames dropped. Memory is bounded by
    one clip at working resolution (~1 MB per frame for 1080p MEAD).

    Expected problems (unreadable media, no face, ...) become failures of the clip or source;
    anything else is recorded as ``unexpected error`` and not cached, so a re-run retries it.
    """
    from tfbench.face.detect import largest_box
    from tfbench.io.audio import read_audio
    from tfbench.io.video import iter_video_chunks, probe_video

    timings: dict[str, float] = {}
    clips: list[str] = []
    failures: list[dict] = []
    cacheable = True

    def fail(plan: _ClipPlan, error: Exception) -> None:
        failures.append({"clip_id": plan.clip_id, "reason": str(error)})

    try:
        if not Path(source.video).exists():
            raise ClipFailure(f"missing video file {source.video}")
        tick = time.perf_counter()
        try:
            count = expected_frames(probe_video(source.video).duration_s)
        except MediaError as error:
            raise ClipFailure(f"unreadable: {error}") from error
        if source.audio is not None and not Path(source.audio).exists():
            raise ClipFailure(f"no audio: missing audio file {source.audio}")
        try:
            full_audio = read_audio(source.audio if source.audio is not None else source.video, SAMPLE_RATE)
        except MediaError as error:
            raise ClipFailure(f"no audio: {error}") from error
        timings["decode"] = time.perf_counter() - tick
        if source.segments is None:
            check_av_length(len(full_audio), count, params)
        source_info = {
            "source_video": _relative(source.video, raw_dir),
            "source_size": Path(source.video).stat().st_size,
            "source_sha256": sha256_of(Path(source.video)),
            "source_audio": _relative(source.audio, raw_dir),
        }
        pending = []
        for plan in _plan_clips(source, count, params):
            if (plan.end - plan.first) / FPS < params.min_seconds:
                fail(plan, ClipFailure(f"too short: {(plan.end - plan.first) / FPS:.2f} s < {params.min_seconds} s"))
            else:
                pending.append(plan)
        found: dict[int, np.ndarray] = {}
        kept: dict[int, np.ndarray] = {}  # frame index -> frame at `scale` (frames of pending clips only)
        scale: float | None = None  # set by the first face found
        index = 0
        started = time.perf_counter()
        for chunk in iter_video_chunks(source.video, fps=FPS, chunk_frames=32) if pending else ():
            timings["decode"] += time.perf_counter() - started
            for frame in chunk:
                if index % params.detect_every == 0 or index == count - 1:
                    tick = time.perf_counter()
                    found[index] = detect_in_frame(frame)
                    timings["detect"] = timings.get("detect", 0.0) + time.perf_counter() - tick
                    if scale is None and len(found[index]):
                        box = largest_box(found[index])
                        scale = working_scale(max(box[2] - box[0], box[3] - box[1]), params)
                        kept = {i: _rescale(f, scale) for i, f in kept.items()}
                    elif scale is None and index >= 2 * FPS:  # no face yet: bound memory anyway
                        scale = _detect_scale(*frame.shape[:2])[0]
                        kept = {i: _rescale(f, scale) for i, f in kept.items()}
                if any(p.first <= index < p.end for p in pending):
                    kept[index] = frame if scale is None else _rescale(frame, scale)
                index += 1
                for plan in [p for p in pending if p.end <= index]:
                    pending.remove(plan)
                    frames = [kept.pop(i) for i in range(plan.first, plan.end)]
                    try:
                        plan.track = face_track(found, plan.first, plan.end, params)
                        plan.scale = scale or 1.0
                        plan.crop = fixed_crop(plan.track * plan.scale, params.crop_scale)
                        tick = time.perf_counter()
                        plan.frames = [crop_frame(f, *plan.crop, params.size) for f in frames]
                        timings["crop"] = timings.get("crop", 0.0) + time.perf_counter() - tick
                        del frames
                        _finish_clip(out, source, plan, _clip_audio(full_audio, plan), params, source_info, timings)
                        clips.append(plan.clip_id)
                    except (ClipFailure, FaceError, InputError) as error:
                        fail(plan, error)
                    plan.frames = []
            started = time.perf_counter()
        if pending:
            raise RuntimeError(f"decoded {index} frames at 25 fps but expected {count}")
    except (ClipFailure, MediaError, FaceError, InputError) as error:
        reason = str(error) if isinstance(error, ClipFailure) else f"unreadable: {error}"
        failures.append({"clip_id": source.source_id, "reason": reason})
    except Exception as error:  # a bug or an environment problem: record, go on, retry next run
        cacheable = False
        failures.append({
            "clip_id": source.source_id,
            "reason": f"unexpected error: {type(error).__name__}: {error}",
            "traceback": traceback.format_exc(limit=5),
        })
    marker = {
        "source_id": source.source_id,
        "params": params.digest(),
        "clips": sorted(clips),
        "failures": [{**f, "source_id": source.source_id, "video": str(source.video)} for f in failures],
        "timings": timings,
    }
    if cacheable:
        write_json_atomic(source_marker(out, source.source_id), marker)
    return marker


def _rescale(frame: np.ndarray, scale: float) -> np.ndarray:
    """``frame`` resized by ``scale`` (area averaging); the same array when ``scale`` is 1."""
    import cv2

    if scale >= 1.0:
        return frame
    height, width = frame.shape[:2]
    size = (max(1, int(round(width * scale))), max(1, int(round(height * scale))))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def finished_marker(out: Path, source: Source, params: ClipParams) -> dict | None:
    """The stored marker of ``source`` if it was finished with the same parameters."""
    path = source_marker(out, source.source_id)
    if not path.exists():
        return None
    try:
        marker = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    if marker.get("params") != params.digest():
        return None
    if not all(clip_cache_path(out, clip).exists() for clip in marker["clips"]):
        return None
    return marker


def load_clip(out: Path, clip_id: str, keys: tuple[str, ...] | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    """(info dict, arrays) of a cached clip; only the arrays named in ``keys`` (all when None)
    are read from disk."""
    with np.load(clip_cache_path(out, clip_id)) as data:
        wanted = [key for key in data.files if key != "info" and (keys is None or key in keys)]
        arrays = {key: data[key] for key in wanted}
        info = json.loads(str(data["info"]))
    return info, arrays


def remove_tree(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)


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
