"""`tfbench weights {list,download,import,verify}`."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

weights_app = typer.Typer(help="List, download, import and verify pretrained weights.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(weights_app, name="weights")


def _names(names: Optional[List[str]]) -> list[str]:
    from tfbench import weights

    return names or [spec.name for spec in weights.specs()]


@weights_app.command("list")
def list_weights(verify: bool = typer.Option(False, "--verify", help="Hash every present file (slow for big files).")) -> None:
    """Every known weights file, where it comes from, and whether it is here."""
    from rich.console import Console
    from rich.table import Table

    from tfbench import weights
    from tfbench.registry import weights_users

    users = weights_users()
    table = Table(title=f"tfbench weights (cache: {weights.weights_dir()})")
    for column in ("name", "status", "source", "used by", "file"):
        table.add_column(column)
    for spec in weights.specs():
        state = weights.status(spec.name, verify=verify)
        colour = "green" if state.state in ("ok", "present") else "yellow" if state.state.startswith("unverified") else "red"
        source = f"package {spec.package}" if spec.source == "package" else "download"
        table.add_row(spec.name, f"[{colour}]{state.state}[/]", source, ", ".join(users.get(spec.name, ())), str(state.path or spec.filename))
    Console().print(table)


@weights_app.command("download")
def download(names: Optional[List[str]] = typer.Argument(None, help="Weights names; all downloadable ones if omitted.")) -> None:
    """Download weights into the cache, verifying their hash."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    from tfbench import weights

    for name in _names(names):
        spec = weights.get_spec(name)
        if spec.source == "package":
            typer.echo(f"{name}: ships in package {spec.package} ({weights.status(name).state})")
            continue
        with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn()) as bar:
            task = bar.add_task(name, total=spec.size)
            path = weights.download(name, progress=lambda done, total: bar.update(task, completed=done, total=total))
        typer.echo(f"{name}: {path}")


@weights_app.command("import")
def import_file(
    name: str = typer.Argument(..., help="Weights name, see `tfbench weights list`."),
    path: Path = typer.Argument(..., help="A file you downloaded yourself."),
) -> None:
    """Copy a local file into the cache after checking its hash."""
    from tfbench import weights

    dest = weights.install_file(name, path)
    typer.echo(f"{name}: imported to {dest}")


@weights_app.command("verify")
def verify(names: Optional[List[str]] = typer.Argument(None)) -> None:
    """Hash present files and compare with the known sha256; exit 1 on a mismatch."""
    from tfbench import weights

    bad = False
    for name in _names(names):
        state = weights.status(name, verify=True)
        typer.echo(f"{name}: {state.state}" + (f" sha256={state.sha256}" if state.sha256 else ""))
        bad |= state.state == "hash mismatch"
    raise typer.Exit(1 if bad else 0)
