"""``tfbench report``: static HTML reports of evaluation runs, read from the run folder.

- :func:`write_report` (``single.py``): one run — result with provenance, distributions,
  face coverage, the sortable per-clip table, worst and best clips with frame strips,
  LMD mouth overlays and SyncNet offset curves, side-by-side videos, failures;
- :func:`write_comparison` (``compare.py``): several runs on the clips they share, with
  paired per-clip differences and bootstrap confidence intervals.

``run.py`` reads a run folder, ``figures.py`` draws (matplotlib), ``videos.py`` makes the
side-by-side videos (ffmpeg), ``html.py`` holds the page parts shared with the leaderboard
site. Nothing recomputes a metric; see docs/report.md.
"""

from tfbench.report.compare import write_comparison
from tfbench.report.single import write_report

__all__ = ["write_comparison", "write_report"]
