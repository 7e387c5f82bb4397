"""The ffmpeg binary, and a demux check that turns broken media into a :class:`MediaError`.

decord and the audio reader trust the container; a truncated or corrupt file can make them
fail late, deep inside native code, and decoders conceal damaged frame data with plausible
pixels. :func:`check_media` reads the whole file once with ffmpeg (video: decoded, counting
the frames the decoder flags as corrupt; audio: demuxed, its decode errors are counted by
:func:`tfbench.io.audio.read_audio`'s own decode) and refuses any file that ffmpeg reports an
error for.
"""

from __future__ import annotations

import errno
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tfbench.errors import EncodeError, MediaError

#: ffmpeg log lines at these levels mean the file is damaged (see ``-loglevel level``).
_ERROR_LEVELS = re.compile(r"\[(error|fatal|panic)\]\s*(.*)")
_STREAM = re.compile(r"Stream #0:\d+.*?: (Video|Audio): (.*)")
_PACKETS_READ = re.compile(r"Input stream #0:\d+ \((video|audio)\): (\d+) packets read")


@cache
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary: imageio-ffmpeg's pinned build, else the one on PATH."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        found = shutil.which("ffmpeg")
        if found is None:
            raise MediaError("ffmpeg not found: pip install imageio-ffmpeg (or install ffmpeg on PATH)")
        return found


def run_ffmpeg(args: list[str], *, stdin: bytes | None = None, timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run ffmpeg with ``args`` (no banner, no stats, no stdin prompts); capture both pipes."""
    command = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-nostats", *args]
    if stdin is not None:
        command.remove("-nostdin")
    return subprocess.run(command, input=stdin, capture_output=True, timeout=timeout, check=False)


#: ffmpeg's wording of storage errors (strerror of the errno) -> the errno.
_STORAGE_WORDS = {
    "No space left on device": errno.ENOSPC, "Disk quota exceeded": errno.EDQUOT, "Read-only file system": errno.EROFS,
    "Permission denied": errno.EACCES, "Operation not permitted": errno.EPERM, "Input/output error": errno.EIO,
}


def encode_error(path: str | Path, count: int, stderr: str) -> Exception:
    """The error of a failed ffmpeg encode to ``path``: a :class:`~tfbench.fsutil.StorageError`
    when ffmpeg reports a storage errno, else an :class:`EncodeError` (neither is a data failure)."""
    return _storage_in_log(stderr, path) or EncodeError(f"{path}: ffmpeg could not encode {count} frames ({stderr.strip()[-500:]})")


def _storage_in_log(log: str, path: str | Path) -> Exception | None:
    """A :class:`~tfbench.fsutil.StorageError` when an ffmpeg log reports a storage errno."""
    from tfbench.fsutil import storage_error

    for words, code in _STORAGE_WORDS.items():
        if words in log:
            return storage_error(OSError(code, words), path)
    return None


@dataclass(frozen=True)
class MediaStreams:
    """What ffmpeg saw in a file that demuxed without errors."""

    has_video: bool
    has_audio: bool


def require_file(path: str | Path) -> Path:
    """``path`` as a Path; :class:`MediaError` if it does not exist, is not a file or is empty."""
    from tfbench.fsutil import storage_errors

    path = Path(path)
    with storage_errors(path):  # e.g. permission denied on the folder: the storage, not the data
        exists, is_file = path.exists(), path.is_file()
        size = path.stat().st_size if is_file else 0
    if not exists:
        raise MediaError(f"{path}: no such file")
    if not is_file:
        raise MediaError(f"{path}: not a file")
    if size == 0:
        raise MediaError(f"{path}: file is empty (0 bytes)")
    return path


#: Frames of a video stream that may be damaged (flagged corrupt by the decoder) before the
#: file is refused. Zero: a decoder conceals damage with plausible pixels, so any damaged
#: frame would silently change a clip and every score computed on it (docs/reliability.md).
MAX_DAMAGED_FRAMES = 0
_CORRUPT_FRAME = "corrupt decoded frame"
_DECODED_AT = re.compile(r"decoder -> .*?pts_time:(\S+)")
_CONTEXT = re.compile(r"^\[([^\]@]+?) @ ")


def _decoder_line(line: str, codec: str | None) -> bool:
    """Whether a log line comes from the stream's decoder (not from the demuxer)."""
    context = _CONTEXT.match(line)
    return bool(context) and (context.group(1).strip() == codec or "[dec:" in line)


def _damaged_frames(log: str, codec: str | None) -> tuple[int, list[str], list[float]]:
    """(frames flagged corrupt, the decoder's error messages, times in seconds of the corrupt frames)."""
    corrupt, messages, times, waiting = 0, [], [], 0
    for line in log.splitlines():
        if _CORRUPT_FRAME in line:
            corrupt += 1
            waiting += 1
        elif waiting and (found := _DECODED_AT.search(line)):
            try:
                times.append(float(found.group(1)))
            except ValueError:
                pass
            waiting -= 1
        elif (level := _ERROR_LEVELS.search(line)) and _decoder_line(line, codec):
            messages.append(level.group(2).strip())
    return corrupt, messages, times


@cache
def _checked(path: str, size: int, mtime_ns: int, stream: str, decode: bool) -> MediaStreams | MediaError:
    """The result of one check of a file version (memoised: each file is checked once per process)."""
    try:
        return _check(Path(path), stream, decode)
    except MediaError as error:
        return MediaError(str(error))  # without its traceback (which holds the whole ffmpeg log)


def check_media(path: str | Path, stream: str = "v", decode: bool = False) -> MediaStreams:
    """Read every packet of ``path`` with ffmpeg; raise :class:`MediaError` for broken media.

    ``stream`` is ``"v"`` (the file must have a video stream) or ``"a"`` (an audio stream).
    Errors caught: missing/empty file, not a media file, truncated file (missing index, or
    "partial file"), corrupt packets the parser reports, a missing stream of the requested
    kind, a stream with zero packets. With ``decode=True`` (what every video read uses) the stream
    is decoded in this same pass and frames the decoder flags as corrupt are counted: damaged
    bytes inside compressed frames, which a decoder conceals silently. More than
    :data:`MAX_DAMAGED_FRAMES` of them refuse the file, naming how many and where. Each file
    version (path, size, mtime) is checked once per process.
    """
    path = require_file(path)
    stat = path.stat()
    result = _checked(str(path), stat.st_size, stat.st_mtime_ns, stream, decode)
    if isinstance(result, MediaError):
        raise MediaError(str(result))
    return result


def _read(path: Path, stream: str, decode: bool, timestamps: bool = False) -> subprocess.CompletedProcess:
    """One ffmpeg pass over ``stream`` of ``path`` (decoded, or only demuxed), its log at verbose level."""
    try:
        return run_ffmpeg(["-loglevel", "repeat+level+verbose", *(["-debug_ts"] if timestamps else []), "-i", str(path),
                           "-map", f"0:{stream}:0", *([] if decode else ["-c", "copy"]), "-f", "null", "-"], timeout=600)
    except subprocess.TimeoutExpired as error:
        raise MediaError(f"{path}: ffmpeg did not finish reading the file in {error.timeout} s") from error


def _check(path: Path, stream: str, decode: bool) -> MediaStreams:
    result = _read(path, stream, decode)
    log = result.stderr.decode("utf-8", "replace")
    input_part = log.split("Output #0", 1)[0]
    found = [(m.group(1), m.group(2)) for m in _STREAM.finditer(input_part) if "attached pic" not in m.group(2)]
    kinds = [kind for kind, _ in found]
    streams = MediaStreams(has_video="Video" in kinds, has_audio="Audio" in kinds)
    wanted = {"v": ("video", streams.has_video), "a": ("audio", streams.has_audio)}[stream]
    opened = "Input #0" in log
    if "matches no streams" in log or (opened and not wanted[1]):
        raise MediaError(f"{path}: the file has no {wanted[0]} stream")
    codec = next((detail.split()[0].rstrip(",") for kind, detail in found if kind.lower() == wanted[0]), None)
    corrupt, decoder_errors, _ = _damaged_frames(log, codec) if decode else (0, [], [])
    # container and demuxer errors refuse the file; decoder errors are judged by the frames they damage, below
    errors = [found.group(2).strip() for line in log.splitlines()
              if (found := _ERROR_LEVELS.search(line)) and not (decode and _decoder_line(line, codec))]
    if result.returncode != 0 or errors:
        storage = _storage_in_log("\n".join(errors), path)
        if storage is not None:  # the disk failed, not the data: never cached as a data failure
            raise storage
        detail = "; ".join(dict.fromkeys(errors))[:500] or f"ffmpeg exit status {result.returncode}"
        raise MediaError(f"{path}: corrupt, truncated or not a media file ({detail})")
    packets = _PACKETS_READ.search(log)
    if packets is not None and int(packets.group(2)) == 0:
        raise MediaError(f"{path}: the {wanted[0]} stream is empty (zero frames)")
    damaged = max(corrupt, 1 if decoder_errors else 0)
    if damaged > MAX_DAMAGED_FRAMES:
        times = []
        if corrupt:  # rare: read again with per-frame timestamps to say where (-debug_ts logs every frame)
            times = _damaged_frames(_read(path, stream, decode, timestamps=True).stderr.decode("utf-8", "replace"), codec)[2]
        total = int(packets.group(2)) if packets is not None else None
        where = ", ".join(f"{t:.2f}" for t in times[:10]) + (" …" if len(times) > 10 else "")
        detail = decoder_errors[0][:120] if decoder_errors else ""
        raise MediaError(
            f"{path}: damaged frame data: {corrupt or 'some'} of {total or '?'} {wanted[0]} frames are corrupt"
            + (f" (at {where} s)" if where else "") + (f" (first decoder error: {detail})" if detail else "")
            + f"; decoders would conceal the damage, so the file is refused (tolerance: {MAX_DAMAGED_FRAMES} frames)"
        )
    return streams
