"""`tfbench evaluate`: placeholder registration, replaced by the module's owner."""

import typer


def register(app: typer.Typer) -> None:
    @app.command("evaluate")
    def evaluate() -> None:
        """Not built yet."""
        raise typer.Exit(1)
