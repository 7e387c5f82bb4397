"""`tfbench leaderboard`: placeholder registration, replaced by the module's owner."""

import typer


def register(app: typer.Typer) -> None:
    @app.command("leaderboard")
    def leaderboard() -> None:
        """Not built yet."""
        raise typer.Exit(1)
