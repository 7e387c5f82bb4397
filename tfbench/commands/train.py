"""`tfbench train`: placeholder registration, replaced by the module's owner."""

import typer


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train() -> None:
        """Not built yet."""
        raise typer.Exit(1)
