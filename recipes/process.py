"""Processing one raw source of a recipe into clips: decode once, detect, track, crop, annotate, write.

A recipe lists :class:`Source` items (one raw video each, with its labels and split). For
each source, :func:`process_source` makes one or more clips (several when the recipe cuts
long videos into segments), decoding the video once:

1. **decode + detect** — the video is streamed at 25 fps in chunks of ≤ 24 MiB (4 frames
   at 1080p), decoded by a
   background thread up to 4 chunks ahead of the processing loop (decoding overlaps the
   work below on a second core; the audio is read and each clip's wav, log-mel and phonemes
   are computed while the first frames decode); dlib HOG faces
   are detected every ``detect_every`` frames on a copy scaled so its longer side is at most
   640 px. Frames inside a clip are kept at a working scale chosen from the first face found
   (the crop keeps at least 1.25 × ``size`` pixels; 1/k when that allows halving, see
   :func:`~tfbench.recipes.crop.working_scale`; resized by a helper thread), so memory
   is bounded by one clip.
2. **track + crop** — once a clip's last frame has been seen, detections are linearly
   interpolated to every frame; the crop is one fixed square per clip: centre = median box
   centre raised by 0.1 × face size, side = ``crop_scale`` × median face size (areas outside
   the frame repeat the edge pixels), resized to ``size`` × ``size``. A fixed crop keeps the
   background still and leaves head motion in the clip, as MEAD preprocessing for
   EAMM/StyleTalk-style methods does.
3. **landmarks** on the in-memory crops (before encoding, so they do not depend on the
   encoder) and, when chosen, the learned backends that need the frames (``--tdmm deep3d``,
   ``--au network``); then the 16 kHz PCM wav, the clip mp4 (25 fps
   H.264 + AAC 16 kHz) and the per-clip cache ``cache/clips/<clip_id>.npz`` are written, each
   atomically, the npz last; ``cache/sources/<source_id>.json`` marks the source finished.

A killed run leaves at most temporary ``.part`` files (removed by the next run); the next run skips finished sources. Dataset-wide
annotations (3DMM, AU intensities, text) need statistics over all clips, so
:mod:`tfbench.recipes.build` computes them from the cache in streaming passes and writes the
Hugging Face dataset with ``Dataset.from_generator``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import traceback
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tfbench.errors import FaceError, InputError, MediaError
from tfbench.fsutil import atomic_write, reraise_storage, sha256_file, write_json_atomic
from tfbench.recipes.base import FPS, LABEL_DEFAULTS, SAMPLE_RATE, SAMPLES_PER_FRAME, ClipFailure, ClipParams, Source
from tfbench.recipes.clip_cache import clip_cache_path, source_marker
from tfbench.recipes.crop import (
    _detect_scale, _rescale, crop_frame, detect_in_frame, expected_frames, face_track, fixed_crop, working_scale,
)


def _save_npz_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:  # a handle, so numpy does not append ".npz" to the name
            np.savez(handle, **arrays)

    atomic_write(path, write)


def _write_wav_atomic(path: Path, wav: bytes) -> None:
    atomic_write(path, lambda tmp: tmp.write_bytes(wav))


@dataclass
class _ClipSound:
    """A clip's audio as it will be stored: ``wav`` 16-bit PCM WAV bytes, ``samples`` float32 [N]
    decoded back from them, and the audio features computed from those samples (``log_mel``,
    ``phonemes``), or the ``error`` computing them raised (raised where the clip needs them)."""

    wav: bytes
    samples: np.ndarray
    log_mel: np.ndarray | None = None
    phonemes: np.ndarray | None = None
    error: Exception | None = None


def _clip_sound(audio: np.ndarray, num_frames: int, timings: dict) -> _ClipSound:
    """Encode the clip's audio (float32 [N]) as the 16-bit wav it is stored as and compute its
    log-mel and per-frame phonemes from exactly the stored samples (needs no video frame)."""
    import io

    import soundfile

    from tfbench.annotate.phonemes import frame_phonemes, phone_segments
    from tfbench.io.features import log_mel

    buffer = io.BytesIO()
    soundfile.write(buffer, audio, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    sound = _ClipSound(wav=buffer.getvalue(), samples=soundfile.read(io.BytesIO(buffer.getvalue()), dtype="float32")[0])
    try:
        tick = time.perf_counter()
        sound.log_mel = log_mel(sound.samples, SAMPLE_RATE)
        timings["audio_features"] = timings.get("audio_features", 0.0) + time.perf_counter() - tick
        tick = time.perf_counter()
        sound.phonemes = np.array(frame_phonemes(phone_segments(sound.samples, SAMPLE_RATE), num_frames, FPS))
        timings["phonemes"] = timings.get("phonemes", 0.0) + time.perf_counter() - tick
    except Exception as error:  # noqa: BLE001 - the clip fails with it where it needs the features
        sound.error = error
    return sound



@dataclass
class _ClipPlan:
    """A clip's frame range [first, end); ``track`` in source pixels; ``crop`` (x0, y0, side) in
    pixels of the frames kept at ``scale``; ``frames``: the cropped uint8 [size,size,3] frames;
    ``sound``: the clip's audio and audio features (a :class:`Future` of them until needed)."""

    clip_id: str
    first: int
    end: int
    track: np.ndarray | None = None
    crop: tuple[int, int, int] | None = None
    scale: float = 1.0
    frames: list = field(default_factory=list)
    sound: _ClipSound | Future | None = None


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


def _clip_arrays(plan: _ClipPlan, params: ClipParams, timings: dict) -> dict[str, np.ndarray]:
    """Landmarks of one cropped clip (in memory), with its audio features (``plan.sound``)."""
    from tfbench.face.landmarks import detect_landmarks

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
    if plan.sound.error is not None:
        raise plan.sound.error
    return {
        "frames": frames,
        "landmarks": landmarks.astype(np.float32),
        "boxes": boxes,
        "log_mel": plan.sound.log_mel,
        "phonemes": plan.sound.phonemes,
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


def _finish_clip(out: Path, source: Source, plan: _ClipPlan, params: ClipParams, source_info: dict, timings: dict) -> None:
    """Write the clip wav, mp4 and cache npz (atomically, npz last)."""
    from tfbench.io.video import write_video

    wav_path = Path(out) / "audio" / f"{plan.clip_id}.wav"
    wav_path.parent.mkdir(parents=True, exist_ok=True)
    _write_wav_atomic(wav_path, plan.sound.wav)
    audio = plan.sound.samples  # the stored samples: the features were computed from them
    arrays = _clip_arrays(plan, params, timings)
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
        "clip_sha256": sha256_file(clip_path),
        "audio": f"audio/{plan.clip_id}.wav",
        "audio_sha256": sha256_file(wav_path),
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


#: Bytes of decoded frames per chunk, and chunks decoded ahead of the processing loop (at
#: most 4 + 2 chunks in memory). Under glibc's largest mmap threshold (32 MiB), chunk
#: buffers are reused instead of freshly mapped: 1080p decodes ~2× faster in 4-frame
#: chunks than in 32-frame ones (docs/benchmarks.md).
_CHUNK_BYTES, _CHUNKS_AHEAD = 24 << 20, 4
#: Frames waiting for the rescaling thread (full-size frames in memory besides the chunks).
_RESCALE_QUEUE = 8


def chunk_frames(width: int, height: int) -> int:
    """Frames per decoded chunk for ``width`` × ``height`` RGB frames (≤ 24 MiB, at least 1)."""
    return max(1, _CHUNK_BYTES // (3 * width * height))


def _ready(value):
    """The result of ``value`` when it is a :class:`Future` (made by a helper thread), else ``value``."""
    return value.result() if isinstance(value, Future) else value


def _relative(path: Path | None, raw_dir: Path) -> str:
    """``path`` relative to the raw folder (so hashes do not depend on where the data lives)."""
    return "" if path is None else os.path.relpath(path, raw_dir)


def process_source(source: Source, out: Path, params: ClipParams, raw_dir: Path) -> dict:
    """Make every clip of ``source``; return and store its marker (clip ids, failures, timings).

    The video is decoded once, streamed in chunks (:func:`chunk_frames`) that a background thread decodes
    ahead (:func:`~tfbench.io.video.iter_video_chunks` with ``ahead``); meanwhile the audio
    is read and each clip's audio features computed. Faces are detected every
    ``detect_every`` frames, and frames inside a clip are kept at :func:`working_scale`
    until the clip's last frame has been seen; then its track and fixed crop are computed,
    its frames cropped and the clip written, and its frames dropped. Memory is bounded by
    one clip at working resolution (~1 MB per frame for 1080p MEAD) plus 6 chunks of decoded frames
    (≤ 150 MB).

    Expected problems of the data (unreadable or damaged media, no face, ...) become failures
    of the clip or source and are cached; a storage error (disk full, read-only, permissions,
    I/O error) raises :class:`~tfbench.fsutil.StorageError` and stops the run with nothing
    cached for the source; anything else is recorded as ``unexpected error`` and not cached,
    so a re-run retries it.
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

    chunks = rescaler = sounder = None
    try:
        if not Path(source.video).exists():
            raise ClipFailure(f"missing video file {source.video}")
        tick = time.perf_counter()
        try:
            info = probe_video(source.video)
        except MediaError as error:
            raise ClipFailure(f"unreadable: {error}") from error
        count = expected_frames(info.duration_s)
        # decoding starts now, in a background thread, while the audio is read and its features computed
        chunks = iter_video_chunks(source.video, fps=FPS, chunk_frames=chunk_frames(info.width, info.height),
                                   ahead=_CHUNKS_AHEAD)
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
            "source_sha256": sha256_file(Path(source.video)),
            "source_audio": _relative(source.audio, raw_dir),
        }
        pending = []
        for plan in _plan_clips(source, count, params):
            if (plan.end - plan.first) / FPS < params.min_seconds:
                fail(plan, ClipFailure(f"too short: {(plan.end - plan.first) / FPS:.2f} s < {params.min_seconds} s"))
            else:
                pending.append(plan)
        sounder = ThreadPoolExecutor(1, thread_name_prefix="tfbench-sound")  # pocketsphinx: one thread
        for plan in pending:  # each clip's wav, log-mel and phonemes, made while the frames decode
            plan.sound = sounder.submit(_clip_sound, _clip_audio(full_audio, plan), plan.end - plan.first, timings)
        found: dict[int, np.ndarray] = {}
        kept: dict[int, np.ndarray | Future] = {}  # frame index -> frame at `scale` (frames of pending clips only)
        scale: float | None = None  # set by the first face found
        rescaler = ThreadPoolExecutor(1, thread_name_prefix="tfbench-rescale")  # cv2 releases the GIL
        rescaling: deque[Future] = deque()

        def rescaled(frame: np.ndarray) -> Future:
            """``frame`` at ``scale``, made by the rescaling thread (at most 8 frames queued)."""
            while len(rescaling) >= _RESCALE_QUEUE:
                rescaling.popleft().result()
            rescaling.append(rescaler.submit(_rescale, frame, scale))
            return rescaling[-1]

        index = 0
        started = time.perf_counter()
        for chunk in chunks if pending else ():
            timings["decode"] += time.perf_counter() - started
            for frame in chunk:
                if index % params.detect_every == 0 or index == count - 1:
                    tick = time.perf_counter()
                    found[index] = detect_in_frame(frame)
                    timings["detect"] = timings.get("detect", 0.0) + time.perf_counter() - tick
                    if scale is None and len(found[index]):
                        box = largest_box(found[index])
                        scale = working_scale(max(box[2] - box[0], box[3] - box[1]), params)
                        kept = {i: rescaled(f) for i, f in kept.items()}
                    elif scale is None and index >= 2 * FPS:  # no face yet: bound memory anyway
                        scale = _detect_scale(*frame.shape[:2])[0]
                        kept = {i: rescaled(f) for i, f in kept.items()}
                if any(p.first <= index < p.end for p in pending):
                    kept[index] = frame if scale is None else rescaled(frame)
                index += 1
                for plan in [p for p in pending if p.end <= index]:
                    pending.remove(plan)
                    frames = [_ready(kept.pop(i)) for i in range(plan.first, plan.end)]
                    try:
                        plan.track = face_track(found, plan.first, plan.end, params)
                        plan.scale = scale or 1.0
                        plan.crop = fixed_crop(plan.track * plan.scale, params.crop_scale)
                        tick = time.perf_counter()
                        plan.frames = [crop_frame(f, *plan.crop, params.size) for f in frames]
                        timings["crop"] = timings.get("crop", 0.0) + time.perf_counter() - tick
                        del frames
                        plan.sound = _ready(plan.sound)
                        _finish_clip(out, source, plan, params, source_info, timings)
                        clips.append(plan.clip_id)
                    except (ClipFailure, FaceError, InputError) as error:
                        fail(plan, error)
                    plan.frames = []
                    plan.sound = None
            started = time.perf_counter()
        if pending:
            raise RuntimeError(f"decoded {index} frames at 25 fps but expected {count}")
    except (ClipFailure, MediaError, FaceError, InputError) as error:
        reason = str(error) if isinstance(error, ClipFailure) else f"unreadable: {error}"
        failures.append({"clip_id": source.source_id, "reason": reason})
    except Exception as error:  # a bug or an environment problem: record, go on, retry next run
        reraise_storage(error, out)  # the disk failed, not the data: stop the run, cache nothing
        cacheable = False
        failures.append({
            "clip_id": source.source_id,
            "reason": f"unexpected error: {type(error).__name__}: {error}",
            "traceback": traceback.format_exc(limit=5),
        })
    finally:
        if chunks is not None:
            chunks.close()  # stops the decoding thread when the source ended early
        for executor in (rescaler, sounder):
            if executor is not None:
                executor.shutdown(cancel_futures=True)
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
