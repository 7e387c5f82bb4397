"""File-system helpers shared by the whole code base: atomic writes, file sha256, output locks.

- :func:`atomic_write` (and :func:`write_text_atomic`, :func:`write_json_atomic`): a file
  appears complete or not at all. It is written to a uniquely named temporary file
  ``.<name>.<random>.part`` beside it and renamed into place; on any error (or a kill) the
  temporary file is removed (a SIGKILL can leave one; :func:`remove_stale_temps` removes
  those when a run owns the folder).
- :class:`StorageError`: an operating-system error of the *storage* (disk full, read-only,
  permission denied, I/O error, quota) while writing or reading a run's files. It is never a
  data failure: callers let it stop the run with one line naming the path and the cause.
- :class:`OutputLock`: one run at a time per output folder (an ``fcntl.flock`` on
  ``<folder>/.tfbench.lock``, released by the kernel on any exit, SIGKILL included). Shard
  runs of one sharded job share the folder with each other (a shared lock plus an
  exclusive lock per shard), never with a non-shard run. See docs/reliability.md.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re
import shlex
import socket
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from tfbench.errors import OutputBusyError, StorageError  # noqa: F401  (re-exported)

CHUNK = 1 << 20
_UMASK = os.umask(0o022)
os.umask(_UMASK)
TEMP_SUFFIX = ".part"
LOCK_NAME = ".tfbench.lock"

#: errno -> what the user reads. These come from the storage, not from the data.
STORAGE_ERRNOS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EIO: "input/output error",
}


def is_storage_error(error: BaseException) -> bool:
    return isinstance(error, StorageError) or (isinstance(error, OSError) and error.errno in STORAGE_ERRNOS)


def storage_cause(error: BaseException | None) -> BaseException | None:
    """The storage error in ``error``'s chain (libraries such as ``datasets`` wrap it), else None."""
    seen = set()
    while error is not None and id(error) not in seen:
        if is_storage_error(error):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def reraise_storage(error: BaseException, path: str | Path | None = None) -> None:
    """Raise a :class:`StorageError` when ``error`` comes from the storage; else return."""
    cause = storage_cause(error)
    if isinstance(cause, StorageError):
        raise cause
    if cause is not None:
        raise storage_error(cause, path) from error


def storage_error(error: OSError, path: str | Path | None = None) -> StorageError:
    """A :class:`StorageError` with one line: the path, the cause, and how to go on."""
    named = getattr(error, "filename", None)
    where = path if path is not None and (named is None or is_temp(Path(named))) else named  # never a temp name
    cause = STORAGE_ERRNOS.get(error.errno, error.strerror or str(error))
    name = errno.errorcode.get(error.errno, "")
    return StorageError(f"cannot write or read {where}: {cause}" + (f" ({name})" if name else "")
                        + "; fix the storage and run the same command again to resume")


@contextmanager
def storage_errors(path: str | Path | None = None) -> Iterator[None]:
    """Turn storage ``OSError``s raised inside the block (also wrapped ones) into :class:`StorageError`."""
    try:
        yield
    except StorageError:
        raise
    except Exception as error:
        reraise_storage(error, path)
        raise


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Make ``path`` by calling ``write(tmp)`` on a unique temporary file beside it, then renaming.

    ``write`` must create ``tmp``'s content (it may reopen or overwrite it; a writer that
    picks the format from the extension must be told the format). Storage errors become
    :class:`StorageError`; on any exception the temporary file is removed.
    """
    path = Path(path)
    with storage_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
        os.fchmod(handle, 0o666 & ~_UMASK)  # mkstemp makes 0600; the file gets the usual permissions
        os.close(handle)
        tmp = Path(name)
        try:
            _fill(write, tmp, path)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return path


def _fill(write: Callable[[Path], None], tmp: Path, path: Path) -> None:
    """Run one writer (the single place every output file is written through; the
    fault-injection tests replace it to raise ENOSPC / EROFS / EIO at each write site)."""
    write(tmp)


def write_text_atomic(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def append_text_atomic(path: str | Path, text: str) -> Path:
    """Append ``text`` to a small file (a log) by rewriting it atomically: no half-written line."""
    path = Path(path)
    with storage_errors(path):
        old = path.read_text(encoding="utf-8") if path.exists() else ""
    return write_text_atomic(path, old + text)


def write_json_atomic(path: str | Path, value: Any, indent: int | None = 1) -> Path:
    """``value`` as JSON (sorted keys) written atomically."""
    return write_text_atomic(path, json.dumps(value, indent=indent, sort_keys=True))


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


#: Temporary names of tfbench versions before :func:`atomic_write` (``x.json.tmp``, ``x.npz.tmp.npz``, ...).
_LEGACY_TEMP = re.compile(r"\.(json|jsonl)\.tmp$|\.tmp\.(npz|wav|mp4|npy)$")


def is_temp(path: Path) -> bool:
    """A temporary file of :func:`atomic_write` (``.NAME.RANDOM.part``) or of older tfbench versions."""
    name = path.name
    return (name.startswith(".") and name.endswith(TEMP_SUFFIX)) or bool(_LEGACY_TEMP.search(name))


def remove_stale_temps(root: str | Path) -> list[Path]:
    """Remove temporary files left under ``root`` by killed runs; call only while owning ``root``."""
    removed = []
    root = Path(root)
    if not root.is_dir():
        return removed
    for current, folders, files in os.walk(root):
        folders[:] = [f for f in folders if f != "dataset"]  # datasets' own files are never ours
        for name in files:
            path = Path(current) / name
            if is_temp(path):
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


# ---------------------------------------------------------------------- the output lock


def _who() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "command": shlex.join(sys.argv)}


def _describe(info_text: str) -> str:
    try:
        info = json.loads(info_text)
        return f"pid {info['pid']} on {info['host']}: {info['command']}"
    except (ValueError, KeyError, TypeError):
        return "a run that did not say who it is"


class OutputLock:
    """Own ``folder`` for one run (see the module docstring).

    ``shard``: ``(index, count)`` for one shard of a sharded run, else None. Raises
    :class:`OutputBusyError` naming the other run (pid, host, command) when the folder is
    taken. Use as a context manager; the lock also goes when the process dies.
    """

    def __init__(self, folder: str | Path, shard: tuple[int, int] | None = None) -> None:
        self.folder = Path(folder)
        self.shard = shard
        self._handles: list = []

    def _open(self, path: Path):
        with storage_errors(path):
            return open(path, "a+")

    def _lock(self, handle, mode: int) -> bool:
        try:
            fcntl.flock(handle, mode | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False
        except OSError as error:
            if error.errno in (errno.ENOLCK, errno.EOPNOTSUPP):  # file system without locks: see docs
                return True
            raise

    @staticmethod
    def _sign(handle) -> None:
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(_who()))
        handle.flush()

    def _holders(self) -> list[str]:
        """Who holds the folder: the exclusive owner, or the shard runs still alive."""
        main = self.folder / LOCK_NAME
        found = []
        for path in [main, *sorted(self.folder.glob(".tfbench-shard-*.lock"))]:
            try:
                with open(path, "r+") as probe:
                    if path != main and self._lock(probe, fcntl.LOCK_EX):
                        continue  # nobody holds this shard any more
                    text = probe.read()
            except OSError:
                continue
            if text.strip():
                found.append(_describe(text))
        return found

    def _busy(self, what: str) -> OutputBusyError:
        holders = "; ".join(dict.fromkeys(self._holders())) or "another run"
        return OutputBusyError(f"{self.folder} is in use by {holders}. {what} Wait for it to finish (or stop it), "
                               "or use another --out.")

    def acquire(self) -> "OutputLock":
        with storage_errors(self.folder):
            self.folder.mkdir(parents=True, exist_ok=True)
        main = self._open(self.folder / LOCK_NAME)
        self._handles.append(main)
        if self.shard is None:
            if not self._lock(main, fcntl.LOCK_EX):
                self.release()
                raise self._busy("One run at a time owns an output folder.")
            with storage_errors(self.folder / LOCK_NAME):
                self._sign(main)
            return self
        index, count = self.shard
        if not self._lock(main, fcntl.LOCK_SH):
            self.release()
            raise self._busy("Shard runs cannot start while a run without shard flags owns the folder.")
        mine = self._open(self.folder / f".tfbench-shard-{index:05d}-of-{count:05d}.lock")
        self._handles.append(mine)
        if not self._lock(mine, fcntl.LOCK_EX):
            self.release()
            raise self._busy(f"Shard {index} of {count} is already running.")
        with storage_errors(mine.name):
            self._sign(mine)
        return self

    def release(self) -> None:
        for handle in reversed(self._handles):
            handle.close()  # closing drops the flock
        self._handles = []

    def __enter__(self) -> "OutputLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
