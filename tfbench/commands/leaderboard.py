"""`tfbench leaderboard`: regenerate (or, with --check, verify) the markdown leaderboards and, with --html, the static site."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("leaderboard")
    def leaderboard(
        directory: Path = typer.Option(Path("leaderboards"), "--dir", help="Leaderboards folder (with results/ and papers/)."),
        check: bool = typer.Option(False, "--check", help="Write nothing; exit 1 if a committed table is stale."),
        strict: bool = typer.Option(False, "--strict", help="Also exit 1 if results/ holds a result that may not be published."),
        html: Path = typer.Option(None, "--html", help="Also render the leaderboards as a static HTML site into this folder (checked too with --check)."),
    ) -> None:
        """Render one markdown leaderboard per dataset from results/*.json and papers/*.yaml.

        Results made with non-canonical weights, from a dirty or unknown git tree, or on
        the bundled sample go to the git-ignored local/ folder instead, with the reason.
        """
        from tfbench import leaderboard as lb

        boards = lb.build(directory)
        for result in boards.refused:
            typer.echo(f"not published: {result.path}: {'; '.join(result.refusals)}", err=True)
        for paper in boards.paper_omissions:
            typer.echo(f"note: {paper.path}: {paper.omitted}", err=True)
        failed = False
        if check:
            problems = lb.check(directory, boards)
            for problem in problems:
                typer.echo(problem, err=True)
            if problems:
                typer.echo("Leaderboards are stale: run `tfbench leaderboard` and commit the result.", err=True)
                failed = True
            else:
                typer.echo(f"{len(boards.published)} leaderboard file(s) up to date.")
            if html is not None:
                from tfbench.leaderboard.site import check_site

                site_problems = check_site(directory, html)
                for problem in site_problems:
                    typer.echo(problem, err=True)
                failed = failed or bool(site_problems)
                if not site_problems:
                    typer.echo(f"HTML site in {html} up to date.")
        else:
            for relative in lb.write(directory, boards):
                typer.echo(f"updated {directory / relative}")
            typer.echo(f"{len(boards.published)} published and {len(boards.local)} local leaderboard file(s) in {directory}.")
            if html is not None:
                from tfbench.leaderboard.site import write_site

                for relative in write_site(directory, html):
                    typer.echo(f"updated {html / relative}")
                typer.echo(f"HTML site: {(html / 'index.html').resolve()}")
        if strict and boards.refused:
            typer.echo(f"--strict: {len(boards.refused)} result file(s) may not be published (see above).", err=True)
            failed = True
        if failed:
            raise typer.Exit(1)
