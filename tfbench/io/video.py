"""Read, resample and write videos.

Reading uses decord with exact per-frame timestamps; every file is first read once by ffmpeg
(:func:`tfbench.io._ffmpeg.check_media`, memoised per file) so that missing, corrupt or
truncated input, and damaged frame data that decoders would conceal, raise
:class:`~tfbench.errors.MediaError` instead of failing inside native code or being scored.

Resampling rule (see docs/io.md): times are measured from the start of the first decoded
frame. Output frame ``k`` shows the instant ``t_k = k / fps``; it is the source frame whose
display interval ``[start_i, end_i)`` contains ``t_k`` (the last frame starting at or before
``t_k``). The output has ``floor(duration * fps)`` frames, ``duration`` being the end of the
last source frame, so every output instant lies inside the source.
"""

from __future__ import annotations

import queue
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from tfbench.errors import InputError, MediaError
from tfbench.fsutil import atomic_write
from tfbench.io._ffmpeg import check_media, encode_error, run_ffmpeg

#: Slack (seconds) when comparing times with frame boundaries. decord reports timestamps as
#: float32, so an exact 25 -> 25 copy would otherwise lose frames to rounding (39 frames at 25 fps
#: end at 1.5599999 s, and floor(1.5599999 * 25) = 38).
_TIME_SLACK_S = 1e-4
#: Frames decoded per decord call in read_video.
_READ_CHUNK = 64


@dataclass(frozen=True)
class VideoInfo:
    """Stream facts of a video file. ``duration_s`` spans the video frames (seconds)."""

    num_frames: int
    fps: float
    width: int
    height: int
    duration_s: float
    has_audio: bool


@dataclass(frozen=True)
class Video:
    """Decoded frames. ``frames``: uint8 [T,H,W,3] RGB; ``timestamps``: float64 [T] seconds
    from the first frame (the output instants ``k / fps`` when resampled); ``fps``: frames per
    second of ``frames`` (the native average rate when not resampled)."""

    frames: np.ndarray
    timestamps: np.ndarray
    fps: float


class _Source:
    """An opened, checked video: decord reader plus start times of every source frame."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.streams = check_media(self.path, "v", decode=True)  # counts damaged frames; once per file (check_video)
        import decord

        try:
            self.reader = decord.VideoReader(str(self.path), ctx=decord.cpu(0))
            count = len(self.reader)
            if count == 0:
                raise MediaError(f"{self.path}: the video stream has zero frames")
            spans = np.asarray(self.reader.get_frame_timestamp(np.arange(count)), dtype=np.float64)
        except MediaError:
            raise
        except Exception as error:  # decord raises RuntimeError / DECORDError with C++ traces
            raise MediaError(f"{self.path}: cannot decode video ({str(error).splitlines()[0][:300]})") from error
        origin = spans[0, 0]
        self.starts = spans[:, 0] - origin
        self.duration_s = float(spans[-1, 1] - origin)
        self.native_fps = float(self.reader.get_avg_fps())

    def indices(self, fps: float | None) -> np.ndarray:
        """Source frame index of every output frame (int64 [T]) for target rate ``fps``."""
        if fps is None:
            return np.arange(len(self.starts))
        if not fps > 0:
            raise InputError(f"fps must be positive or None, got {fps}")
        count = int(np.floor((self.duration_s + _TIME_SLACK_S) * fps))
        if count == 0:
            raise MediaError(f"{self.path}: {self.duration_s:.4f} s is shorter than one frame at {fps} fps")
        instants = np.arange(count) / fps
        picked = np.searchsorted(self.starts, instants + _TIME_SLACK_S, side="right") - 1
        return np.clip(picked, 0, len(self.starts) - 1)

    def output_times(self, fps: float | None, count: int) -> np.ndarray:
        if fps is None:
            return self.starts.copy()
        return np.arange(count, dtype=np.float64) / fps

    def decode(self, indices: np.ndarray) -> np.ndarray:
        """uint8 [len(indices),H,W,3] RGB; each distinct source frame is decoded once."""
        unique, inverse = np.unique(indices, return_inverse=True)
        try:
            batch = self.reader.get_batch(unique.tolist()).asnumpy()
        except Exception as error:
            detail = str(error).splitlines()[0][:300]
            if "from_size == to_size" in detail:
                width = self.reader[0].shape[1] if len(self.reader) else "this"
                raise MediaError(
                    f"{self.path}: decord 0.6.0 cannot decode frames {width} px wide (a decord bug that hits "
                    "some small widths, e.g. 16, 24, 48 and 72 px); re-encode the video at another width"
                ) from error
            raise MediaError(f"{self.path}: decoding failed ({detail})") from error
        return batch if len(unique) == len(indices) else batch[inverse]

    def chunks(self, indices: np.ndarray, chunk_frames: int) -> Iterator[np.ndarray]:
        for begin in range(0, len(indices), chunk_frames):
            yield self.decode(indices[begin:begin + chunk_frames])


def probe_video(path: str | Path) -> VideoInfo:
    """Frame count, native fps, size, duration and audio presence of a video file.

    Raises :class:`MediaError` for a missing, corrupt, truncated or frameless file, or one
    with damaged frame data (see :func:`tfbench.io._ffmpeg.check_media`).
    """
    source = _Source(path)
    try:
        height, width = source.reader[0].shape[:2]
    except Exception as error:
        raise MediaError(f"{source.path}: cannot decode the first frame ({error})") from error
    return VideoInfo(num_frames=len(source.starts), fps=source.native_fps, width=int(width),
                     height=int(height), duration_s=source.duration_s, has_audio=source.streams.has_audio)


def check_video(path: str | Path) -> None:
    """Run the ffmpeg check every read of ``path`` starts with (:func:`check_media`, decoded;
    memoised per file version), raising :class:`MediaError` as a read would. Calling it ahead
    (e.g. in a thread, for the next file while this one is processed) lets the read skip it."""
    check_media(path, "v", decode=True)


def read_video(path: str | Path, fps: float | None = 25.0) -> Video:
    """Decode a whole video, resampled by timestamp to ``fps`` (None keeps every frame).

    Returns frames uint8 [T,H,W,3] RGB. Only the source frames that are kept are decoded.
    Raises :class:`MediaError` for missing, corrupt, truncated or zero-frame files.
    """
    source = _Source(path)
    indices = source.indices(fps)
    frames = None
    for begin, chunk in zip(range(0, len(indices), _READ_CHUNK), source.chunks(indices, _READ_CHUNK)):
        if frames is None:  # filled chunk by chunk: peak memory is the video plus one chunk
            frames = np.empty((len(indices), *chunk.shape[1:]), dtype=np.uint8)
        frames[begin:begin + len(chunk)] = chunk
    return Video(frames=frames, timestamps=source.output_times(fps, len(indices)),
                 fps=float(fps) if fps is not None else source.native_fps)


def iter_video_chunks(path: str | Path, fps: float | None = 25.0, chunk_frames: int = 64,
                      ahead: int = 0) -> Iterator[np.ndarray]:
    """Yield the frames :func:`read_video` would return, as uint8 [t,H,W,3] RGB chunks of at
    most ``chunk_frames`` frames, so memory is bounded by the chunk size, not the video.

    ``ahead`` > 0: a background thread opens the file and decodes at once, up to ``ahead``
    chunks ahead of the consumer (decord releases the GIL while it decodes), so decoding
    overlaps the consumer's work; memory is then bounded by ``ahead`` + 2 chunks. The
    chunks and errors are the same as without it. Close the iterator (``close()``, or a
    ``with contextlib.closing(...)``) when not reading it to the end, to stop the thread.
    """
    if chunk_frames < 1:
        raise InputError(f"chunk_frames must be >= 1, got {chunk_frames}")
    chunks = _chunks(path, fps, chunk_frames)
    return _DecodeAhead(chunks, ahead) if ahead > 0 else chunks


def _chunks(path: str | Path, fps: float | None, chunk_frames: int) -> Iterator[np.ndarray]:
    source = _Source(path)
    yield from source.chunks(source.indices(fps), chunk_frames)


class _DecodeAhead:
    """Iterator over ``chunks`` consumed by a daemon thread into a queue of at most ``depth`` items."""

    _END = object()

    def __init__(self, chunks: Iterator[np.ndarray], depth: int):
        self._items: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._produce, args=(chunks,), name="tfbench-decode", daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._items.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self, chunks: Iterator[np.ndarray]) -> None:
        try:
            for chunk in chunks:
                if not self._put(chunk):
                    return
            self._put(self._END)
        except BaseException as error:  # handed to the consumer, raised where the chunk was expected
            self._put(error)
        finally:
            chunks.close()

    def __iter__(self) -> "_DecodeAhead":
        return self

    def __next__(self) -> np.ndarray:
        if self._done:
            raise StopIteration
        item = self._items.get()
        if item is self._END or isinstance(item, BaseException):
            self.close()
            if item is self._END:
                raise StopIteration
            raise item
        return item

    def close(self) -> None:
        """Stop the thread and drop the decoded chunks (idempotent)."""
        self._done = True
        self._stop.set()
        self._thread.join()
        while not self._items.empty():
            self._items.get_nowait()


def _check_frames(frames: np.ndarray, lossless: bool) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] == 0:
        raise InputError(f"frames must be uint8 [T,H,W,3] RGB with T >= 1, got shape {frames.shape}")
    if frames.dtype != np.uint8:
        raise InputError(f"frames must be uint8 (0-255), got {frames.dtype}; convert with "
                         "np.clip(x, 0, 255).round().astype(np.uint8)")
    height, width = frames.shape[1:3]
    if not lossless and (height % 2 or width % 2):
        raise InputError(f"H.264 yuv420p needs an even width and height, got {width}x{height}: "
                         "crop or pad the frames to even size, or write with lossless=True")
    return np.ascontiguousarray(frames)


def write_video(path: str | Path, frames: np.ndarray, fps: float = 25.0, audio: np.ndarray | None = None,
                sample_rate: int = 16000, lossless: bool = False) -> Path:
    """Write frames (uint8 [T,H,W,3] RGB) and optional mono audio (float32 [N] in [-1,1]) to mp4.

    Video: H.264 yuv420p, crf 18 (needs even width and height); with ``lossless=True``,
    libx264rgb ``-qp 0`` in RGB so decoding returns the identical frames. Audio: AAC 128 kb/s at
    ``sample_rate``, full length (no ``-shortest``). Encoding is single-threaded with bit-exact
    flags, so the same input gives the same file. The file appears atomically: it is written
    to a unique temporary name beside ``path`` and renamed (:func:`tfbench.fsutil.atomic_write`).
    An encoder failure caused by the storage (disk full, read-only, ...) raises
    :class:`~tfbench.fsutil.StorageError`; any other encoder failure a :class:`MediaError`.
    """
    path = Path(path)
    frames = _check_frames(frames, lossless)
    if not fps > 0:
        raise InputError(f"fps must be positive, got {fps}")
    count, height, width = frames.shape[:3]
    video_in = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", _rate(fps), "-i", "-"]
    if lossless:
        video_out = ["-c:v", "libx264rgb", "-qp", "0", "-pix_fmt", "rgb24", "-preset", "medium"]
    else:
        video_out = ["-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p", "-preset", "medium"]

    def encode(partial: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="tfbench-write-") as scratch:
            audio_args: list[str] = []
            if audio is not None:
                wav = Path(scratch) / "audio.wav"
                _write_wav(wav, audio, sample_rate)
                audio_args = ["-i", str(wav)]
            mapping = ["-map", "0:v:0"] + (["-map", "1:a:0", "-c:a", "aac", "-b:a", "128k", "-ar", str(sample_rate)]
                                           if audio is not None else [])
            args = ["-loglevel", "error", "-y", *video_in, *audio_args, *mapping, *video_out,
                    "-threads", "1", "-x264-params", "threads=1", "-fflags", "+bitexact",
                    "-flags:v", "+bitexact", "-flags:a", "+bitexact", "-map_metadata", "-1",
                    "-movflags", "+faststart", "-f", "mp4", str(partial)]
            result = run_ffmpeg(args, stdin=frames.tobytes())
        if result.returncode != 0:
            raise encode_error(path, count, result.stderr.decode("utf-8", "replace"))

    atomic_write(path, encode)
    return path


def _rate(fps: float) -> str:
    """ffmpeg frame rate for ``fps``: the closest fraction with denominator <= 1001, so that
    29.97002997 becomes NTSC's exact 30000/1001."""
    rate = Fraction(fps).limit_denominator(1001)
    return f"{rate.numerator}/{rate.denominator}"


def _write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    """Float32 mono WAV for ffmpeg to encode; values outside [-1, 1] are an error, not clipped."""
    import soundfile

    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1 or audio.size == 0:
        raise InputError(f"audio must be mono float32 [N] with N >= 1, got shape {audio.shape}")
    if not np.all(np.isfinite(audio)) or np.abs(audio).max() > 1.0:
        raise InputError("audio must be finite and within [-1, 1]; normalise it before writing")
    soundfile.write(str(path), audio, sample_rate, subtype="FLOAT")


__all__ = ["VideoInfo", "Video", "check_video", "probe_video", "read_video", "iter_video_chunks", "write_video"]
