"""The ffmpeg binary, and a demux check that turns broken media into a :class:`MediaError`.

decord and the audio reader trust the container; a truncated or corrupt file can make them
fail late, deep inside native code. :func:`check_media` demuxes the whole file once with
ffmpeg (``-c copy``: packets are read, not decoded, so it is fast) and refuses any file that
ffmpeg reports an error for.
"""

from __future__ import annotations

import errno
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tfbench.errors import MediaError

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
    when ffmpeg reports a storage errno (never a data failure), else a :class:`MediaError`."""
    from tfbench.fsutil import storage_error

    for words, code in _STORAGE_WORDS.items():
        if words in stderr:
            return storage_error(OSError(code, words), path)
    return MediaError(f"{path}: ffmpeg could not encode {count} frames ({stderr.strip()[-500:]})")


@dataclass(frozen=True)
class MediaStreams:
    """What ffmpeg saw in a file that demuxed without errors."""

    has_video: bool
    has_audio: bool


def require_file(path: str | Path) -> Path:
    """``path`` as a Path; :class:`MediaError` if it does not exist, is not a file or is empty."""
    path = Path(path)
    if not path.exists():
        raise MediaError(f"{path}: no such file")
    if not path.is_file():
        raise MediaError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: file is empty (0 bytes)")
    return path


def check_media(path: str | Path, stream: str = "v", decode: bool = False) -> MediaStreams:
    """Demux every packet of ``path``; raise :class:`MediaError` on any ffmpeg error.

    ``stream`` is ``"v"`` (the file must have a video stream; its packets are read) or
    ``"a"`` (an audio stream). Errors caught here: missing/empty file, not a media file,
    truncated file (missing index, or "partial file"), corrupt packets the parser reports,
    a missing stream of the requested kind, and a stream with zero packets. With
    ``decode=True`` the stream is also fully decoded, which catches damaged bytes inside
    compressed frames (decoders conceal those silently) at the cost of a full decode.
    """
    path = require_file(path)
    try:
        result = run_ffmpeg(["-loglevel", "repeat+level+verbose", "-i", str(path),
                             "-map", f"0:{stream}:0", *([] if decode else ["-c", "copy"]),
                             "-f", "null", "-"], timeout=600)
    except subprocess.TimeoutExpired as error:
        raise MediaError(f"{path}: ffmpeg did not finish reading the file in {error.timeout} s") from error
    log = result.stderr.decode("utf-8", "replace")
    input_part = log.split("Output #0", 1)[0]
    kinds = [m.group(1) for m in _STREAM.finditer(input_part) if "attached pic" not in m.group(2)]
    streams = MediaStreams(has_video="Video" in kinds, has_audio="Audio" in kinds)
    wanted = {"v": ("video", streams.has_video), "a": ("audio", streams.has_audio)}[stream]
    errors = [m.group(2).strip() for m in _ERROR_LEVELS.finditer(log)]
    opened = "Input #0" in log
    if "matches no streams" in log or (opened and not wanted[1]):
        raise MediaError(f"{path}: the file has no {wanted[0]} stream")
    if result.returncode != 0 or errors:
        detail = "; ".join(dict.fromkeys(errors))[:500] or f"ffmpeg exit status {result.returncode}"
        raise MediaError(f"{path}: corrupt, truncated or not a media file ({detail})")
    packets = _PACKETS_READ.search(log)
    if packets is not None and int(packets.group(2)) == 0:
        raise MediaError(f"{path}: the {wanted[0]} stream is empty (zero frames)")
    return streams
