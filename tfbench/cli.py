"""The ``tfbench`` command line.

Each sub-command lives in ``tfbench/commands/<name>.py`` with a ``register(app)``
function; those modules import heavy libraries (torch, datasets) only inside the command
bodies, so ``tfbench --help`` stays fast and torch-free.
"""

from __future__ import annotations

import importlib
import signal
import sys

import typer

from tfbench import __version__
from tfbench.errors import TfbenchError

COMMAND_MODULES = ("prepare", "evaluate", "train", "generate", "leaderboard", "weights", "demo", "report")

app = typer.Typer(
    name="tfbench",
    help="Prepare talking-face datasets, run methods, and evaluate them with reference-exact metrics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tfbench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """tfbench: talking-face generation benchmark toolkit."""


for _name in COMMAND_MODULES:
    importlib.import_module(f"tfbench.commands.{_name}").register(app)


class Terminated(KeyboardInterrupt):
    """SIGTERM (e.g. a scheduler pre-empting the job), handled like Ctrl-C."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated()


def _interrupt_in(error: BaseException | None) -> KeyboardInterrupt | None:
    """The KeyboardInterrupt in ``error``'s chain, else None."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, KeyboardInterrupt):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def main() -> None:
    """Console entry point: user-facing errors print as one message, exit status 2.

    Storage errors (disk full, read-only, ...) are such errors. Ctrl-C or SIGTERM print one
    line saying the same command resumes the run and exit with 130 / 143 (docs/reliability.md).
    """
    from tfbench.fsutil import storage_cause, storage_error

    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        app()
    except (KeyboardInterrupt, SystemExit) as stop:
        interrupt = _interrupt_in(stop)  # typer turns Ctrl-C into a silent exit 130: find it
        if interrupt is None:
            raise
        terminated = isinstance(interrupt, Terminated)
        sys.stderr.write(f"\ninterrupted ({'SIGTERM' if terminated else 'Ctrl-C'}): nothing half-written was kept; "
                         "run the same command again to resume where it stopped\n")
        sys.exit(143 if terminated else 130)
    except Exception as error:
        cause = storage_cause(error)
        if not isinstance(error, TfbenchError) and cause is None:
            raise
        if not isinstance(error, TfbenchError):
            error = storage_error(cause)
        from rich.console import Console
        from rich.text import Text

        # one line (soft wrap), the message verbatim (no markup: paths may hold brackets)
        Console(stderr=True, soft_wrap=True).print(Text("error: ", style="bold red") + Text(str(error)))
        sys.exit(2)
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    main()
