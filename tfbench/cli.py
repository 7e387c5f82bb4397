"""The ``tfbench`` command line.

Each sub-command lives in ``tfbench/commands/<name>.py`` with a ``register(app)``
function; those modules import heavy libraries (torch, datasets) only inside the command
bodies, so ``tfbench --help`` stays fast and torch-free.
"""

from __future__ import annotations

import importlib
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


def main() -> None:
    """Console entry point: user-facing errors print as one message, exit status 2."""
    try:
        app()
    except TfbenchError as error:
        from rich.console import Console

        Console(stderr=True).print(f"[bold red]error:[/] {error}", highlight=False, markup=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
