"""Leaderboard inputs: result records from ``results/*.json`` and paper-reported numbers
from ``papers/*.yaml`` (format: ``docs/leaderboards.md``), validated, and the rules that
decide whether a result may be published."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

from tfbench.errors import TfbenchError
from tfbench.results import ResultRecord

SMOKE_DATASETS = frozenset({"sample"})


@dataclass(frozen=True)
class SubmittedResult:
    """One result file: ``path`` relative to the leaderboards folder, its record, and
    the reasons it may not be published (empty when it may)."""

    path: str
    record: ResultRecord
    refusals: tuple[str, ...]

    @property
    def published(self) -> bool:
        return not self.refusals


@dataclass(frozen=True)
class PaperColumn:
    """One metric column of a paper table."""

    label: str  # the paper's metric name, e.g. "M-LMD"
    higher_is_better: bool
    tfbench_id: str | None  # set only where the mapping is unambiguous
    caveat: str


@dataclass(frozen=True)
class PaperRow:
    """One method's row of a paper table."""

    method: str
    paper_label: str  # the row's name exactly as printed in the paper text
    values: tuple[str | None, ...]  # exactly as printed; None for an empty cell


@dataclass(frozen=True)
class PaperTable:
    """One paper table (or the part of it about one dataset)."""

    table: str  # e.g. "Table 1 (HDTF columns)"
    location: str  # section (and page where known)
    dataset: str
    setting: str
    notes: str
    columns: tuple[PaperColumn, ...]
    rows: tuple[PaperRow, ...]
    values_after: int = 0  # printed numbers that precede this table's values on each row


@dataclass(frozen=True)
class PaperFile:
    """One ``papers/*.yaml`` file: a paper's citation and its tables."""

    path: str  # relative to the leaderboards folder
    key: str
    short: str
    title: str
    citation: str
    year: str
    url: str | None
    text_file: str  # file name of the paper's plain text (used by the tests)
    tables: tuple[PaperTable, ...]
    omitted: str = ""


def refusal_reasons(record: ResultRecord) -> list[str]:
    """Why ``record`` may not enter a published table (empty list: it may)."""
    reasons = []
    if record.dataset in SMOKE_DATASETS:
        reasons.append(f"made on the '{record.dataset}' dataset (a smoke test, not a benchmark)")
    if not record.model_canonical:
        note = f": {record.model_notes}" if record.model_notes else ""
        reasons.append(f"model checkpoint is not canonical{note}")
    non_canonical = sorted(
        f"{metric_id} ({name}" + (f", unverified: no pinned sha256, file {entry['sha256']}" if entry.get("status") == "unverified" else "") + ")"
        for metric_id, metric in record.metrics.items()
        for name, entry in metric.weights.items()
        if not entry["canonical"]
    )
    if non_canonical:
        reasons.append("non-canonical weights: " + ", ".join(non_canonical))
    if record.git_commit is None:
        reasons.append("no git commit recorded (evaluate from a git checkout of tfbench)")
    elif record.git_dirty is None:
        reasons.append("git working-tree state unknown")
    if record.git_dirty:
        reasons.append("made from a dirty git tree (commit or stash local changes, then re-run)")
    if not record.dataset_fingerprint:
        reasons.append("no dataset fingerprint recorded")
    if all(metric.value is None for metric in record.metrics.values()):
        reasons.append("no metric values")
    not_finite = sorted(
        metric_id for metric_id, metric in record.metrics.items() if metric.value is not None and not math.isfinite(metric.value)
    )
    if not_finite:
        reasons.append("non-finite values: " + ", ".join(not_finite))
    return reasons


def load_results(root: Path) -> list[SubmittedResult]:
    """Every ``results/*.json`` under ``root``, validated; raises TfbenchError naming a bad file."""
    results, seen = [], {}
    for path in sorted((root / "results").glob("*.json")):
        relative = path.relative_to(root).as_posix()
        try:
            data = json.loads(path.read_text())
            record = ResultRecord.from_dict(data)
        except (json.JSONDecodeError, TfbenchError, TypeError) as error:
            raise TfbenchError(f"{relative}: not a valid result record ({error}). Fix or remove the file.") from None
        digest = hashlib.sha256(json.dumps(record.to_dict(), sort_keys=True).encode()).hexdigest()
        if digest in seen:
            raise TfbenchError(f"{relative} holds the same record as {seen[digest]}: remove one of them.")
        seen[digest] = relative
        results.append(SubmittedResult(relative, record, tuple(refusal_reasons(record))))
    return results


def _require(mapping: dict, key: str, kind: type | tuple, where: str):
    if not isinstance(mapping, dict):
        raise TfbenchError(f"{where}: expected a mapping, got {mapping!r}")
    if key not in mapping:
        raise TfbenchError(f"{where}: missing '{key}'")
    value = mapping[key]
    if not isinstance(value, kind):
        raise TfbenchError(f"{where}: '{key}' must be {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


def _paper_value(value, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TfbenchError(f"{where}: value {value!r} must be a quoted string exactly as printed in the paper")
    try:
        float(value)
    except ValueError:
        raise TfbenchError(f"{where}: value {value!r} is not a number") from None
    return value


def load_paper(path: Path, root: Path) -> PaperFile:
    """Parse and validate one ``papers/*.yaml`` file."""
    import yaml

    relative = path.relative_to(root).as_posix()
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise TfbenchError(f"{relative}: not valid YAML ({error})") from None
    if not isinstance(data, dict):
        raise TfbenchError(f"{relative}: expected a mapping with 'paper' and 'tables'")
    paper = _require(data, "paper", dict, relative)
    tables = []
    for t_index, table in enumerate(_require(data, "tables", list, relative)):
        where = f"{relative}: tables[{t_index}]"
        columns = tuple(
            PaperColumn(
                label=_require(column, "label", str, f"{where}.columns[{c}]"),
                higher_is_better=_require(column, "higher_is_better", bool, f"{where}.columns[{c}]"),
                tfbench_id=_require(column, "tfbench_id", (str, type(None)), f"{where}.columns[{c}]"),
                caveat=_require(column, "caveat", str, f"{where}.columns[{c}]"),
            )
            for c, column in enumerate(_require(table, "columns", list, where))
        )
        rows = []
        for r, row in enumerate(_require(table, "rows", list, where)):
            row_where = f"{where}.rows[{r}]"
            values = _require(row, "values", list, row_where)
            if len(values) != len(columns):
                raise TfbenchError(f"{row_where}: {len(values)} values for {len(columns)} columns")
            method = _require(row, "method", str, row_where)
            rows.append(
                PaperRow(
                    method=method,
                    paper_label=_require(row, "paper_label", str, row_where) if "paper_label" in row else method,
                    values=tuple(_paper_value(value, row_where) for value in values),
                )
            )
        if not rows:
            raise TfbenchError(f"{where}: no rows")
        dataset = _require(table, "dataset", str, where)
        if dataset != dataset.lower() or not dataset:
            raise TfbenchError(f"{where}: dataset must be a lower-case tfbench dataset name, got {dataset!r}")
        tables.append(
            PaperTable(
                table=_require(table, "table", str, where),
                location=_require(table, "location", str, where),
                dataset=dataset,
                setting=_require(table, "setting", str, where).strip(),
                notes=table.get("notes", "").strip(),
                columns=columns,
                rows=tuple(rows),
                values_after=_require(table, "values_after", int, where) if "values_after" in table else 0,
            )
        )
    omitted = data.get("omitted", "").strip()
    if not tables and not omitted:
        raise TfbenchError(f"{relative}: no tables; say why in 'omitted'")
    citation = _require(paper, "citation", str, f"{relative}: paper").strip()
    if not citation:
        raise TfbenchError(f"{relative}: paper.citation is empty")
    return PaperFile(
        path=relative,
        key=_require(paper, "key", str, f"{relative}: paper"),
        short=_require(paper, "short", str, f"{relative}: paper"),
        title=_require(paper, "title", str, f"{relative}: paper"),
        citation=citation,
        year=_require(paper, "year", str, f"{relative}: paper"),
        url=_require(paper, "url", (str, type(None)), f"{relative}: paper"),
        text_file=_require(paper, "text_file", str, f"{relative}: paper"),
        tables=tuple(tables),
        omitted=omitted,
    )


def load_papers(root: Path) -> list[PaperFile]:
    """Every ``papers/*.yaml`` and ``papers/*.yml`` under ``root``, sorted by file name."""
    paths = sorted([*(root / "papers").glob("*.yaml"), *(root / "papers").glob("*.yml")])
    return [load_paper(path, root) for path in paths]
