"""`tfbench report`: a static HTML report of one evaluation run, or a comparison of several."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report(
        runs: list[Path] = typer.Argument(..., metavar="RUN_DIR", help="Run folder(s) written by `tfbench evaluate --out`. Several: a comparison (the first is the baseline)."),
        out: Path = typer.Option(None, "--out", help="Output folder (default: RUN_DIR/report, or RUN_A/compare for several runs)."),
        per_metric: int = typer.Option(3, "--per-metric", min=1, help="Worst and best clips shown per metric."),
        videos: int = typer.Option(4, "--videos", min=0, help="Side-by-side videos of worst clips (at most)."),
        resamples: int = typer.Option(10000, "--resamples", min=100, help="Bootstrap resamples of a comparison's intervals."),
    ) -> None:
        """Write a self-contained HTML report (opens from disk, offline) of RUN_DIR, or compare RUN_A RUN_B ...

        Everything shown is read from the run folder (result.json, per_clip.csv, the per-clip
        cache and the previews evaluate stored): no metric is recomputed.
        """
        from tfbench.report import write_comparison, write_report

        if len(runs) == 1:
            index = write_report(runs[0], out, per_metric=per_metric, max_videos=videos)
        else:
            index = write_comparison(runs, out, resamples=resamples)
        typer.echo(f"report: {index}")
        typer.echo(f"open it: file://{index.resolve()}")
