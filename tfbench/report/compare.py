"""``tfbench report RUN_A RUN_B ...``: methods side by side on the clips they share.

The first run is the baseline. For every per-clip output that all runs measured with the
same metric version and parameters, and each other run: the paired differences
``d_i = method_i - baseline_i`` over the clips both scored, their mean, and a 95%
percentile-bootstrap confidence interval of that mean (``resamples`` resamples of the
clips with replacement, seed 0, so the same runs give the same interval). An interval that
excludes 0 is called a clear difference, better or worse by the output's direction.
Outputs measured differently (version or parameters) are listed and not compared.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from tfbench.report import figures
from tfbench.report.html import esc, fmt, kv_table, num_cell, page, slug, table
from tfbench.report.run import Run, load_run
from tfbench.report.single import NOT_RANKED

CONFIDENCE = 0.95


def bootstrap_interval(differences: np.ndarray, resamples: int = 10000, seed: int = 0) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the mean of ``differences`` (float [N], N >= 2)."""
    rng = np.random.default_rng(seed)
    count = len(differences)
    means = np.empty(resamples)
    chunk = max(1, 4_000_000 // count)  # resamples per step: index arrays stay near 32 MB
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        means[start:stop] = differences[rng.integers(0, count, size=(stop - start, count))].mean(axis=1)
    alpha = (1 - CONFIDENCE) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(low), float(high)


def _measured_alike(runs: list[Run], output: str) -> str | None:
    """Why ``output`` cannot be compared across ``runs`` (None when it can)."""
    base = runs[0].metric(output)
    for run in runs[1:]:
        if output not in run.record.metrics:
            return f"not measured by {run.label}"
        other = run.metric(output)
        if other.version != base.version:
            return f"metric version {base.version} vs {other.version} ({run.label})"
        if json.dumps(other.params, sort_keys=True) != json.dumps(base.params, sort_keys=True):
            return f"different protocol parameters in {run.label}"
    return None


def paired(runs: list[Run], output: str, resamples: int, seed: int = 0) -> list[dict]:
    """One dict per non-baseline run: clips, means, mean difference, interval, wins."""
    base = runs[0]
    higher = base.metric(output).higher_is_better
    rows = []
    for run in runs[1:]:
        shared = [
            clip.clip_id for clip in base.clips
            if output in clip.values and math.isfinite(clip.values[output])
            and any(c.clip_id == clip.clip_id and output in c.values and math.isfinite(c.values[output]) for c in run.clips)
        ]
        mine = {clip.clip_id: clip.values.get(output) for clip in run.clips}
        a = np.asarray([base.clip(c).values[output] for c in shared], dtype=np.float64)
        b = np.asarray([mine[c] for c in shared], dtype=np.float64)
        d = b - a
        row = {"run": run, "clips": len(shared), "shared": shared, "differences": d,
               "baseline_mean": float(a.mean()) if len(a) else None, "mean": float(b.mean()) if len(b) else None,
               "difference": float(d.mean()) if len(d) else None, "low": None, "high": None,
               "wins": int(((d > 0) if higher else (d < 0)).sum()), "ties": int((d == 0).sum())}
        if len(d) >= 2:
            row["low"], row["high"] = bootstrap_interval(d, resamples, seed)
        rows.append(row)
    return rows


def _verdict(row: dict, higher: bool) -> str:
    if row["low"] is None:
        return '<span class="muted">too few shared clips</span>'
    if row["low"] > 0 or row["high"] < 0:
        better = (row["low"] > 0) == higher
        return '<span class="good">better</span>' if better else '<span class="bad">worse</span>'
    return '<span class="muted">no clear difference</span>'


def write_comparison(run_dirs: list[Path], out: Path | None = None, *, resamples: int = 10000) -> Path:
    """Write the comparison of ``run_dirs`` (first = baseline) to ``out`` (default
    ``<first run>/compare``); return the path of its ``index.html``."""
    runs = [load_run(path) for path in run_dirs]
    out = Path(out) if out is not None else runs[0].root / "compare"
    assets = out / "assets"
    assets.mkdir(parents=True, exist_ok=True)
    base = runs[0]
    alerts = []
    for field, label in (("dataset", "datasets"), ("split", "splits"), ("dataset_fingerprint", "dataset fingerprints"), ("protocol", "protocols")):
        values = {getattr(run.record, field) for run in runs}
        if len(values) > 1:
            alerts.append(f"<b>Different {label}</b>: {esc(', '.join(str(v) for v in values))} — the runs may not score the same clips the same way.")
    for run in runs:
        if not run.record.canonical:
            alerts.append(f"<b>{esc(run.label)}</b> used non-canonical weights or model.")
        if run.record.clips_failed:
            alerts.append(f"<b>{esc(run.label)}</b>: {run.record.clips_failed} of {run.record.clips_total} clips failed; "
                          "only clips scored by every run are compared.")
    overview_rows = []
    for index, run in enumerate(runs):
        report = run.root / "report" / "index.html"
        link = f'<a href="{esc(os.path.relpath(report, out))}">report</a>' if report.is_file() else '<span class="muted">no report</span>'
        cells = [f"<td>{'<b>baseline</b> ' if index == 0 else ''}{esc(run.label)}</td>"]
        cells += [num_cell(run.record.metrics[o].value) if o in run.record.metrics else '<td data-v="">—</td>' for o in base.metric_ids]
        cells += [f"<td>{run.record.clips_total - run.record.clips_failed}/{run.record.clips_total}</td>",
                  f"<td><code>{esc((run.record.checkpoint_sha256 or '—')[:12])}</code></td>",
                  f"<td><code>{esc((run.record.dataset_fingerprint or '—')[:12])}</code></td>",
                  f"<td>{'yes' if run.record.canonical else '<span class=bad>no</span>'}</td><td>{link}</td>"]
        overview_rows.append(f"<tr>{''.join(cells)}</tr>\n")
    overview = table(["run"] + [esc(o) for o in base.metric_ids] + ["clips ok", "checkpoint", "fingerprint", "canonical", ""], overview_rows)

    blocks, per_clip_columns, skipped, summary = [], [], [], []
    for output in base.columns:
        if output in NOT_RANKED:
            continue
        problem = _measured_alike(runs, output)
        if problem:
            skipped.append(f"{output}: {problem}")
            continue
        higher = base.metric(output).higher_is_better
        rows = paired(runs, output, resamples)
        table_rows = []
        forest = []
        for row in rows:
            interval = "—" if row["low"] is None else f"[{fmt(row['low'])}, {fmt(row['high'])}]"
            table_rows.append(
                f"<tr><td>{esc(row['run'].label)}</td>{num_cell(row['clips'], str(row['clips']))}"
                f"{num_cell(row['baseline_mean'])}{num_cell(row['mean'])}{num_cell(row['difference'])}<td>{interval}</td>"
                f"<td>{row['wins']}/{row['clips']}</td><td>{_verdict(row, higher)}</td></tr>\n"
            )
            if row["low"] is not None:
                forest.append((row["run"].label, row["difference"], row["low"], row["high"], (row["difference"] > 0) == higher))
        picture = ""
        if forest:
            name = f"paired_{slug(output)}.png"
            figures.paired_intervals(forest, f"{output} ({'higher' if higher else 'lower'} is better)", assets / name)
            picture = f'<div class="card" style="display:inline-block"><img src="assets/{name}" alt="paired differences of {esc(output)}"></div>'
        blocks.append(f"<h3>{esc(output)} {'↑' if higher else '↓'}</h3>" + table(
            ["method", "shared clips", "baseline mean", "method mean", "mean difference",
             f"{int(CONFIDENCE * 100)}% bootstrap CI", "clips better", "verdict"], table_rows) + picture)
        for row in rows:
            interval = "—" if row["low"] is None else f"[{fmt(row['low'])}, {fmt(row['high'])}]"
            summary.append(f"<tr><td>{esc(output)} {'↑' if higher else '↓'}</td><td>{esc(row['run'].label)}</td>"
                           f"{num_cell(row['clips'], str(row['clips']))}{num_cell(row['difference'])}"
                           f"<td>{esc(interval)}</td><td>{_verdict(row, higher)}</td></tr>\n")
        per_clip_columns.append((output, rows))

    clip_ids = sorted({c for _, rows in per_clip_columns for row in rows for c in row["shared"]})
    clip_rows = []
    for clip_id in clip_ids:
        cells = [f"<td>{esc(clip_id)}</td>"]
        for output, rows in per_clip_columns:
            base_value = base.clip(clip_id).values.get(output)
            cells.append(num_cell(base_value))
            for row in rows:
                position = row["shared"].index(clip_id) if clip_id in row["shared"] else None
                cells.append(num_cell(None if position is None else float(row["differences"][position])))
        clip_rows.append(f"<tr>{''.join(cells)}</tr>\n")
    clip_header = ["clip"] + [h for output, rows in per_clip_columns for h in
                              [f"{esc(output)} (baseline)"] + [f"Δ {esc(output)} {esc(r['run'].record.model)}" for r in rows]]
    skipped_html = (f'<div class="alert warn">Not compared: {esc("; ".join(skipped))}.</div>' if skipped else "")
    sections = [
        ("runs", "Runs", "".join(f'<div class="alert">{a}</div>' for a in alerts) + overview + kv_table(
            [("baseline", esc(base.label)), ("method", "paired per-clip differences method − baseline on the clips both scored"),
             ("interval", f"{int(CONFIDENCE * 100)}% percentile bootstrap over clips, {resamples} resamples, seed 0")])),
        ("summary", "Summary", skipped_html + (table(["output", "method", "shared clips", "mean difference",
                                                         f"{int(CONFIDENCE * 100)}% bootstrap CI", "verdict"], summary)
                                                  if summary else '<p class="note">No output to compare.</p>')),
        ("paired", "Paired differences", "".join(blocks)),
        ("clips", "Per-clip differences", '<p class="note">Click a column to sort.</p>' + table(clip_header, clip_rows)),
    ]
    body = "".join(f'<section id="{a}"><h2>{esc(t)}</h2>{c}</section>\n' for a, t, c in sections)
    header = (f"<h1>Comparison: {esc(' vs '.join(run.record.model for run in runs))}</h1>"
              f'<div class="sub">baseline {esc(base.label)} · {esc(base.record.dataset)} / {esc(base.record.split)} · '
              f"{len(runs)} runs</div>")
    index = out / "index.html"
    index.write_text(page("tfbench comparison", header, body, toc=[(a, t) for a, t, _ in sections],
                          footer="Written by <code>tfbench report</code> from the runs' folders. Nothing was recomputed."))
    return index
