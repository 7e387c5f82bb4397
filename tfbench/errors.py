"""Exceptions that carry a message a user can act on.

Every error tfbench raises on purpose derives from :class:`TfbenchError`; the CLI prints
its message without a traceback and exits with status 2.
"""


class TfbenchError(Exception):
    """Base class: the message says what went wrong and how to fix it."""


class UnknownNameError(TfbenchError, KeyError):
    """A registry lookup failed; the message lists close matches."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class MissingWeightsError(TfbenchError):
    """A weights file is not in the cache; the message names the command or file that fixes it."""


class WeightsHashError(TfbenchError):
    """A downloaded or imported file does not have the expected sha256."""


class MediaError(TfbenchError):
    """A video or audio file is missing, corrupt, truncated, empty or lacks a stream."""


class StorageError(TfbenchError):
    """The storage failed (disk full, read-only, permissions, I/O error): not the data's fault.

    The run stops; nothing half-written is kept; the same command resumes after the fix."""


class OutputBusyError(TfbenchError):
    """Another run owns the output folder (see tfbench.fsutil.OutputLock)."""


class EncodeError(TfbenchError):
    """Writing a video failed for a reason other than the storage (never a fault of the input data)."""


class FaceError(TfbenchError):
    """No face, or several faces where one is required."""


class CheckpointError(TfbenchError):
    """A checkpoint is missing, of another model or config, or corrupt."""


class InputError(TfbenchError):
    """A model or metric was given inputs it cannot use (missing, wrong length, wrong shape)."""
