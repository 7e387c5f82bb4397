"""Build every leaderboard file from a leaderboards folder, write them, or check that the
committed ones are up to date (what CI runs)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from tfbench.fsutil import write_text_atomic
from tfbench.errors import TfbenchError
from tfbench.leaderboard.inputs import PaperFile, PaperTable, SubmittedResult, load_papers, load_results
from tfbench.leaderboard.markdown import GENERATED_MARKER, render_local, render_published

LOCAL_DIR = "local"


@dataclass
class Leaderboards:
    """Rendered files by path relative to the leaderboards folder."""

    published: dict[str, str] = field(default_factory=dict)
    local: dict[str, str] = field(default_factory=dict)
    refused: list[SubmittedResult] = field(default_factory=list)
    paper_omissions: list[PaperFile] = field(default_factory=list)


def build(root: Path) -> Leaderboards:
    """Render every leaderboard file from ``root``'s results and paper data (no writes)."""
    root = Path(root)
    if not root.is_dir():
        raise TfbenchError(f"no leaderboards folder at {root}: run from the repository root or pass --dir")
    results = load_results(root)
    papers = load_papers(root)
    tables_by_dataset: dict[str, list[tuple[PaperFile, PaperTable]]] = {}
    for paper in papers:
        for table in paper.tables:
            tables_by_dataset.setdefault(table.dataset, []).append((paper, table))
    published_by_dataset: dict[str, list[SubmittedResult]] = {}
    refused_by_dataset: dict[str, list[SubmittedResult]] = {}
    for result in results:
        target = published_by_dataset if result.published else refused_by_dataset
        target.setdefault(result.record.dataset, []).append(result)
    out = Leaderboards(
        refused=[r for r in results if not r.published],
        paper_omissions=[p for p in papers if p.omitted],
    )
    for dataset in sorted(set(published_by_dataset) | set(tables_by_dataset)):
        out.published[f"{dataset}.md"] = render_published(
            dataset, published_by_dataset.get(dataset, []), tables_by_dataset.get(dataset, [])
        )
    for dataset, group in sorted(refused_by_dataset.items()):
        out.local[f"{LOCAL_DIR}/{dataset}.md"] = render_local(dataset, group)
    return out


def _generated_files(folder: Path) -> list[Path]:
    """Markdown files in ``folder`` (not recursive) that carry the generated marker."""
    return sorted(p for p in folder.glob("*.md") if p.read_text().startswith(GENERATED_MARKER))


def sync_generated(root: Path, expected: dict[str, str], generated: list[Path]) -> list[str]:
    """Make ``root`` hold exactly ``expected`` (relative path -> text) among its ``generated``
    files: remove the generated ones no longer expected, write (atomically) the new or changed
    ones; return the changed paths relative to ``root``, sorted."""
    changed = []
    for path in generated:
        relative = path.relative_to(root).as_posix()
        if relative not in expected:
            path.unlink()
            changed.append(relative)
    for relative, text in sorted(expected.items()):
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            write_text_atomic(path, text)
            changed.append(relative)
    return sorted(changed)


def write(root: Path, boards: Leaderboards) -> list[str]:
    """Write the rendered files and remove generated files no longer produced; return the
    paths (relative to ``root``) that changed."""
    root = Path(root)
    generated = [path for folder in (root, root / LOCAL_DIR) if folder.is_dir() for path in _generated_files(folder)]
    return sync_generated(root, {**boards.published, **boards.local}, generated)


def check(root: Path, boards: Leaderboards) -> list[str]:
    """Problems that make the committed (published) files differ from ``boards``: one
    message per file, quoting the rows that differ. Empty list: up to date."""
    root = Path(root)
    problems = []
    for relative, expected in sorted(boards.published.items()):
        path = root / relative
        if not path.exists():
            problems.append(f"leaderboards/{relative} is missing (run `tfbench leaderboard` and commit it)")
            continue
        actual = path.read_text()
        if actual != expected:
            problems.append(f"leaderboards/{relative} is stale:{_differences(actual, expected)}")
    for path in _generated_files(root):
        relative = path.relative_to(root).as_posix()
        if relative not in boards.published:
            problems.append(f"leaderboards/{relative} is no longer generated from any data (remove it)")
    return problems


def _differences(actual: str, expected: str, limit: int = 12) -> str:
    """The committed and regenerated versions of the lines that differ (at most ``limit``)."""
    actual_lines, expected_lines = actual.splitlines(), expected.splitlines()
    shown: list[str] = []
    for tag, a0, a1, e0, e1 in difflib.SequenceMatcher(None, actual_lines, expected_lines, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        shown.append(f"  at line {a0 + 1}:")
        shown += [f"    committed:   {line}" for line in actual_lines[a0:a1]]
        shown += [f"    regenerated: {line}" for line in expected_lines[e0:e1]]
    if not shown:
        return "whitespace or line endings differ"
    if len(shown) > limit:
        shown = shown[:limit] + [f"  ... and {len(shown) - limit} more lines"]
    return "\n" + "\n".join(shown)
