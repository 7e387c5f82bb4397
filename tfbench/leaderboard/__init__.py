"""Leaderboards (markdown, and a static HTML site) from result records and paper-reported numbers.

Inputs, all under one leaderboards folder (``leaderboards/`` in the repository):

- ``results/*.json``: one :class:`tfbench.results.ResultRecord` per evaluation;
- ``papers/*.yaml``: numbers reported in papers, entered as printed (see
  ``docs/leaderboards.md`` for the format).

Outputs: ``<dataset>.md`` per dataset (published, committed, checked by CI) and
``local/<dataset>.md`` (git-ignored) for results that may not be published: made with
non-canonical weights, from a dirty or unknown git tree, or on the bundled sample.

Everything is rendered from the inputs alone (no clock, no environment), with a fixed
row order, so regenerating gives identical bytes and ``--check`` can compare files.

The package: ``inputs`` (load and validate, publication rules), ``columns`` (format-neutral
table pieces), ``markdown`` (the ``.md`` files), ``files`` (build / write / check),
``submit`` (``evaluate --save``), ``site`` (the static HTML site).
"""

from tfbench.leaderboard.columns import format_value
from tfbench.leaderboard.files import LOCAL_DIR, Leaderboards, build, check, write
from tfbench.leaderboard.inputs import (
    SMOKE_DATASETS,
    PaperColumn,
    PaperFile,
    PaperRow,
    PaperTable,
    SubmittedResult,
    load_paper,
    load_papers,
    load_results,
    refusal_reasons,
)
from tfbench.leaderboard.markdown import DOCS_LINK, GENERATED_MARKER, render_local, render_published
from tfbench.leaderboard.submit import result_file_name, save_result

__all__ = [
    "DOCS_LINK", "GENERATED_MARKER", "LOCAL_DIR", "SMOKE_DATASETS", "Leaderboards",
    "PaperColumn", "PaperFile", "PaperRow", "PaperTable", "SubmittedResult", "build", "check",
    "format_value", "load_paper", "load_papers", "load_results", "refusal_reasons", "render_local",
    "render_published", "result_file_name", "save_result", "write",
]
