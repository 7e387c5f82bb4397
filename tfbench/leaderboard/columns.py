"""Format-neutral pieces of a leaderboard table, shared by the markdown and HTML renderers:
how values are displayed, which columns a measured table has, how rows are ordered."""

from __future__ import annotations

import json
import math

from tfbench.leaderboard.inputs import SubmittedResult
from tfbench.results import MetricResult


ColumnKey = tuple[str, str, str, bool]  # (metric id, version, params as JSON, higher_is_better)


def format_value(value: float | None) -> str:
    """Display form of a measured value: 4 decimals, or 3 significant digits in
    scientific notation below 0.01 (so small MSE/LPIPS values are not rounded to 0)."""
    if value is None:
        return "—"
    if not math.isfinite(value):
        return str(value)
    if value != 0 and abs(value) < 0.01:
        return f"{value:.3e}"
    return f"{value:.4f}"


def arrow(higher_is_better: bool) -> str:
    return "↑" if higher_is_better else "↓"


def params_text(params: dict) -> str:
    return ", ".join(f"{key}={json.dumps(params[key], sort_keys=True)}" for key in sorted(params))


def column_key(metric_id: str, metric: MetricResult) -> ColumnKey:
    return (metric_id, metric.version, json.dumps(metric.params, sort_keys=True), metric.higher_is_better)


def row_order(result: SubmittedResult) -> tuple:
    record = result.record
    return (record.model.casefold(), record.model, record.checkpoint_sha256 or "", record.date, result.path)


def short(text: str | None, length: int = 12) -> str:
    return text[:length] if text else "—"


def column_label(key: ColumnKey, keys: list[ColumnKey]) -> str:
    """``lse_c ↑``, or ``lse_c ⟨v1; min_track_frames=0⟩ ↑`` when the table has several variants of lse_c."""
    metric_id, version, params, higher = key
    variant = ""
    if sum(other[0] == metric_id for other in keys) > 1:
        text = params_text(json.loads(params))
        variant = f" ⟨v{version}{'; ' + text if text else ''}⟩"
    return f"{metric_id}{variant} {arrow(higher)}"


def dataset_title(dataset: str) -> str:
    from tfbench.registry import dataset_titles

    return dataset_titles().get(dataset, dataset)
