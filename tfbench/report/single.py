"""The report of one run: ``tfbench report RUN_DIR`` -> ``<out>/index.html`` + ``<out>/assets/``.

Sections: what needs attention (failures, low face coverage, non-canonical weights, ...),
the result table, provenance, one distribution per metric, face coverage per clip, the
sortable per-clip table, the worst and best clips of each metric (frame strips; mouth
landmark overlays for LMD; SyncNet's offset curve for LSE), side-by-side videos of the
worst clips, and every failure with its reason. See docs/report.md.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np

from tfbench.report import figures, videos
from tfbench.report.html import esc, fmt, kv_table, num_cell, page, slug, table
from tfbench.report.run import LOW_COVERAGE, Clip, Run, load_run

#: Outputs not ranked for worst/best (a signed offset; LSE is ranked by lse_c).
NOT_RANKED = {"av_offset"}
#: Name prefixes of the files a report writes into ``<out>/assets``.
ASSET_PREFIXES = ("dist_", "coverage", "strip_", "mouth_", "offsets_", "video_")


def _arrow(higher: bool) -> str:
    return "↑" if higher else "↓"


class _Assets:
    """Files under ``<out>/assets``, each made at most once per report."""

    def __init__(self, out: Path) -> None:
        self.folder = out / "assets"
        self.made: dict[str, str | None] = {}

    def get(self, name: str, make: Callable[[Path], Path | None]) -> str | None:
        """Relative path of asset ``name`` (made by ``make(path)`` the first time), or None."""
        if name not in self.made:
            path = make(self.folder / name)
            self.made[name] = None if path is None else f"assets/{name}"
        return self.made[name]


def ranked(run: Run, output: str) -> list[tuple[Clip, float]]:
    """Scored clips of ``output``, worst first (by the output's direction), ties by clip id."""
    higher = run.metric(output).higher_is_better
    scored = [(clip, clip.values[output]) for clip in run.clips if output in clip.values and math.isfinite(clip.values[output])]
    return sorted(scored, key=lambda item: (item[1] if higher else -item[1], item[0].clip_id))


def primary_outputs(run: Run) -> list[str]:
    """One output per metric (its first), the ones worst/best clips are chosen by."""
    seen, chosen = set(), []
    for output in run.columns:
        metric_id = run.outputs.get(output, output)
        if metric_id in seen or output in NOT_RANKED:
            continue
        seen.add(metric_id)
        chosen.append(output)
    return chosen


# ------------------------------------------------------------------------- sections


def _header(run: Run) -> str:
    record = run.record
    canonical = record.canonical
    failed = record.clips_failed
    low = [clip for clip in run.clips if (c := clip.coverage) and c["fraction"] < LOW_COVERAGE]
    badges = [
        f'<span class="badge {"good" if canonical else "bad"}">{"canonical weights" if canonical else "NON-CANONICAL"}</span>',
        f'<span class="badge {"bad" if failed else "good"}">{record.clips_total - failed}/{record.clips_total} clips ok</span>',
    ]
    if low:
        badges.append(f'<span class="badge {"bad" if any(c.coverage["fraction"] < 0.5 for c in low) else "warn"}">'
                      f"{len(low)} clip(s) with low face coverage</span>")
    if run.failures:
        badges.append(f'<span class="badge bad">{len(run.failures)} failure(s)</span>')
    return (
        f"<h1>{esc(record.model)} on {esc(record.dataset)} / {esc(record.split)}</h1>"
        f'<div class="sub">protocol <b>{esc(record.protocol)}</b> · {esc(record.date)} · tfbench {esc(record.tfbench_version)}'
        f" · run folder <code>{esc(run.root)}</code></div>"
        f'<div class="badges">{"".join(badges)}</div>'
    )


def _attention(run: Run) -> str:
    record = run.record
    alerts: list[tuple[str, str]] = []
    if record.clips_failed:
        stages = Counter(f["stage"] for f in run.failures if f.get("clip_id") is not None)
        detail = ", ".join(f"{stage}: {count}" for stage, count in sorted(stages.items()))
        alerts.append(("", f"<b>{record.clips_failed} of {record.clips_total} clips failed</b> at least one metric "
                           f"({esc(detail)}). Their reasons are in <a href=\"#failures\">Failures</a>; the result covers the other clips only."))
    aggregate_failures = [f for f in run.failures if f.get("clip_id") is None]
    for failure in aggregate_failures:
        alerts.append(("", f"<b>{esc(failure.get('metric'))}</b>: {esc(failure['error'])} (stage {esc(failure['stage'])})."))
    coverage = [(clip, clip.coverage) for clip in run.clips if clip.coverage is not None]
    low = sorted(((clip, c) for clip, c in coverage if c["fraction"] < LOW_COVERAGE), key=lambda item: item[1]["fraction"])
    if low:
        names = ", ".join(f'<a href="#clip-{slug(clip.clip_id)}">{esc(clip.clip_id)}</a> ({100 * c["fraction"]:.0f}%)' for clip, c in low[:12])
        more = f" and {len(low) - 12} more" if len(low) > 12 else ""
        severity = "" if any(c["fraction"] < 0.5 for _, c in low) else "warn"
        alerts.append((severity, f"<b>{len(low)} clip(s) have a face in fewer than {100 * LOW_COVERAGE:.0f}% of frames</b>: {names}{more}. "
                                 "Face-based metrics score only the frames with a face on both sides (see <a href=\"#coverage\">Face coverage</a>)."))
    users: dict[str, list[str]] = {}
    for output in run.metric_ids:
        for name, entry in run.metric(output).weights.items():
            if not entry["canonical"]:
                users.setdefault(name, []).append(output)
    if users:
        text = "; ".join(f"{name} (used by {', '.join(outputs)})" for name, outputs in sorted(users.items()))
        alerts.append(("", f"<b>Non-canonical weights</b>: {esc(text)}. These numbers are not comparable "
                           "with published ones and the leaderboard refuses them."))
    if not record.model_canonical:
        alerts.append(("", f"<b>Model checkpoint not canonical</b>{': ' + esc(record.model_notes) if record.model_notes else ''}."))
    elif record.model_notes:
        alerts.append(("warn", f"<b>Notes</b>: {esc(record.model_notes)}."))
    if record.git_commit is None or record.git_dirty:
        alerts.append(("warn", "<b>Provenance</b>: " + ("no git commit recorded" if record.git_commit is None else
                                                       "evaluated from a dirty git tree") + " — the leaderboard will not publish this result."))
    if run.unmatched:
        alerts.append(("warn", f"<b>{len(run.unmatched)} ground-truth clip(s) had no prediction</b> and were not scored: "
                               f"{esc(', '.join(run.unmatched[:10]))}{' …' if len(run.unmatched) > 10 else ''}."))
    empty = [output for output in run.metric_ids if record.metrics[output].value is None]
    if empty:
        alerts.append(("", f"<b>No value</b> for {esc(', '.join(empty))}: no clip could be scored."))
    if run.stale_entries:
        alerts.append(("warn", f"{len(run.stale_entries)} cache entr(ies) disagree with per_clip.csv (the cache changed after the run) "
                               f"and were ignored: {esc(', '.join(run.stale_entries[:6]))}."))
    no_preview = [clip.clip_id for clip in run.clips if clip.values and clip.preview is None]
    if no_preview:
        alerts.append(("warn", f"{len(no_preview)} scored clip(s) have no stored preview (evaluated by an older tfbench): "
                               "their frame strips are missing. Re-run <code>tfbench evaluate</code> into a new <code>--out</code> to get them."))
    if not alerts:
        return '<div class="alert ok">No failures; every clip with a face-based score has a face in at least ' \
               f"{100 * LOW_COVERAGE:.0f}% of its frames; all weights canonical.</div>"
    return "".join(f'<div class="alert {severity}">{text}</div>' for severity, text in alerts)


def _weights_html(weights: dict) -> str:
    if not weights:
        return '<span class="muted">none</span>'
    return "<br>".join(
        f'{esc(name)} <code>{esc(entry["sha256"][:12])}</code> '
        + ('<span class="badge good">canonical</span>' if entry["canonical"] else '<span class="badge bad">non-canonical</span>')
        for name, entry in sorted(weights.items())
    )


def _results(run: Run) -> str:
    rows = []
    ranked_outputs = set(primary_outputs(run))
    for output in run.metric_ids:
        metric = run.metric(output)
        params = json.dumps(metric.params, sort_keys=True, indent=1)
        name = f'<a href="#metric-{slug(output)}">{esc(output)}</a>' if output in ranked_outputs else esc(output)
        notes = json.dumps(metric.notes, sort_keys=True) if metric.notes else ""
        rows.append(
            f"<tr><td><b>{name}</b></td>{num_cell(metric.value)}<td>{_arrow(metric.higher_is_better)}</td>"
            f"{num_cell(metric.clips_scored, str(metric.clips_scored))}"
            f"{num_cell(metric.clips_failed, str(metric.clips_failed), cls='num bad' if metric.clips_failed else 'num')}"
            f"<td>v{esc(metric.version)}</td><td>{_weights_html(metric.weights)}</td>"
            f"<td><details><summary>parameters</summary><pre>{esc(params)}</pre></details>"
            f"{'<div class=muted>' + esc(notes) + '</div>' if notes else ''}</td></tr>\n"
        )
    return table(["metric", "value", "better", "clips scored", "clips failed", "version", "weights (sha256)", "protocol"], rows)


def _provenance(run: Run) -> str:
    record = run.record
    commit = f"<code>{esc(record.git_commit)}</code>" if record.git_commit else '<span class="bad">not recorded</span>'
    if record.git_dirty:
        commit += ' <span class="badge bad">dirty tree</span>'
    pairs = [
        ("model", esc(record.model)),
        ("checkpoint sha256", f"<code>{esc(record.checkpoint_sha256)}</code>" if record.checkpoint_sha256 else "—"),
        ("model canonical", '<span class="good">yes</span>' if record.model_canonical else '<span class="bad">no</span>'),
        ("dataset / split", f"{esc(record.dataset)} / {esc(record.split)}"),
        ("dataset fingerprint", f"<code>{esc(record.dataset_fingerprint)}</code>" if record.dataset_fingerprint else '<span class="warn">none (not a prepared dataset)</span>'),
        ("recipe version", esc(record.recipe_version or "—")),
        ("protocol", f"<code>{esc(record.protocol)}</code>"),
        ("metric versions", esc(", ".join(f"{k} v{run.metric(k).version}" for k in run.metric_ids))),
        ("tfbench version", esc(record.tfbench_version)),
        ("git commit", commit),
        ("date", esc(record.date)),
        ("hardware", esc(record.hardware)),
        ("wall time", f"{record.wall_time_s:.1f} s"),
        ("clips", f"{record.clips_total} total, {record.clips_failed} with a failure"),
    ]
    if run.identity:
        pairs.append(("run.json", f"<code>{esc(json.dumps(run.identity, sort_keys=True))}</code>"))
    return kv_table(pairs)


def _distributions(run: Run, assets: _Assets) -> str:
    cards = []
    for output in run.columns:
        metric = run.metric(output)
        values = [clip.values[output] for clip in run.clips if output in clip.values]
        src = assets.get(f"dist_{slug(output)}.png", lambda path, o=output, v=values, m=metric: figures.distribution(
            v, m.value, o, m.higher_is_better, path))
        cards.append(f'<div class="card"><img src="{src}" alt="distribution of {esc(output)}"></div>')
    missing = [output for output in run.metric_ids if output not in run.columns]
    note = (f'<p class="note">No per-clip values (set-level metrics or nothing scored): {esc(", ".join(missing))}.</p>'
            if missing else "")
    return f'<div class="grid">{"".join(cards)}</div>{note}'


def _coverage_section(run: Run, assets: _Assets) -> str:
    rows = [(clip.clip_id, clip.coverage["fraction"]) for clip in run.clips if clip.coverage is not None]
    if not rows:
        return '<p class="note">No face-based metric ran (LMD, CSIM, EFD record how many frames had a face), so face coverage is unknown.</p>'
    src = assets.get("coverage.png", lambda path: figures.coverage(rows, LOW_COVERAGE, path))
    sources = sorted({clip.coverage["source"] for clip in run.clips if clip.coverage is not None})
    failed_face = [clip.clip_id for clip in run.clips if clip.coverage is None and clip.error]
    extra = (f'<p class="note">Clips without a coverage figure (no face-based score; their errors are in the table below): '
             f'{esc(", ".join(failed_face))}.</p>' if failed_face else "")
    return (f'<p class="note">Share of frames where both the generated and the ground-truth frame have a face '
            f"(from {esc(', '.join(sources))}); lowest first, the dotted line is {100 * LOW_COVERAGE:.0f}%.</p>"
            f'<div class="card" style="display:inline-block"><img src="{src}" alt="face coverage per clip"></div>{extra}')


def _heat(rank: float) -> str:
    """Background for a cell ranked 0 (worst) .. 1 (best)."""
    return f"background:hsl({int(120 * rank)},65%,{93 if 0.2 < rank < 0.8 else 88}%)"


def _clip_table(run: Run, with_cards: set[str]) -> str:
    columns = run.columns
    ranks: dict[str, dict[str, float]] = {}
    for output in columns:
        order = ranked(run, output)
        if len(order) > 1:
            ranks[output] = {clip.clip_id: index / (len(order) - 1) for index, (clip, _) in enumerate(order)}
    rows = []
    for clip in run.clips:
        coverage = clip.coverage
        low = coverage is not None and coverage["fraction"] < LOW_COVERAGE
        cls = "failed" if clip.error else "low" if low else ""
        name = esc(clip.clip_id)
        if clip.clip_id in with_cards:
            name = f'<a href="#clip-{slug(clip.clip_id)}">{name}</a>'
        cells = [f'<td data-v="{esc(clip.clip_id)}">{name}</td>']
        for output in columns:
            value = clip.values.get(output)
            rank = ranks.get(output, {}).get(clip.clip_id)
            style = _heat(rank) if rank is not None else ""
            cells.append(num_cell(value, style=style))
        if coverage is None:
            cells.append('<td class="num" data-v="">—</td>')
        else:
            colour = "bad" if coverage["fraction"] < 0.5 else "warn" if low else ""
            cells.append(num_cell(coverage["fraction"], f'{100 * coverage["fraction"]:.0f}%', cls=f"num {colour}".strip()))
        notes = ", ".join(f"{k}={v}" for k, v in sorted(clip.notes.items()))
        cells.append(f"<td class=\"muted\">{esc(notes)}</td>")
        cells.append(f'<td class="err">{esc(clip.error)}</td>' if clip.error else '<td class="good" data-v="">ok</td>')
        rows.append(f'<tr class="{cls}">{"".join(cells)}</tr>\n')
    header = ["clip"] + [f"{esc(o)} {_arrow(run.metric(o).higher_is_better)}" for o in columns] + ["face coverage", "policy notes", "status"]
    return table(header, rows, cls="clips")


def _clip_card(run: Run, clip: Clip, metric_output: str, title: str, assets: _Assets) -> str:
    """One clip under one metric: values, frame strip, and the metric's own picture."""
    name = slug(clip.clip_id)
    parts = [f"<h4>{esc(title)} · {esc(clip.clip_id)} · {esc(metric_output)} {esc(fmt(clip.values[metric_output]))}</h4>"]
    others = ", ".join(f"{o} {fmt(clip.values[o])}" for o in run.columns if o in clip.values and o != metric_output)
    if others:
        parts.append(f'<div class="muted">{esc(others)}</div>')
    coverage = clip.coverage
    if coverage is not None:
        colour = "bad" if coverage["fraction"] < 0.5 else "warn" if coverage["fraction"] < LOW_COVERAGE else "good"
        parts.append(f'<div class="{colour}">face in {100 * coverage["fraction"]:.0f}% of frames</div>')
    if clip.preview is not None:
        src = assets.get(f"strip_{name}.jpg", lambda path: figures.strip(clip.preview_jpg, clip.preview, path))
        parts.append(f'<img src="{src}" alt="frames of {esc(clip.clip_id)}: ground truth, generated, difference">')
    else:
        parts.append('<div class="muted">no preview stored for this clip</div>')
    metric_id = run.outputs.get(metric_output, metric_output)
    if metric_id.startswith("lmd@") and clip.preview is not None and "pred" in clip.preview["rows"]:
        state = clip.state(metric_id)
        if "mouth_gt" in state:
            src = assets.get(f"mouth_{name}_{slug(metric_id)}.jpg", lambda path: figures.mouth_overlay(
                clip.preview_jpg, clip.preview, state["mouth_gt"], state["mouth_pred"], path))
            faceless = [
                f"{frame} ({'generated' if np.isnan(state['mouth_pred'][frame]).any() else 'ground truth'})"
                for frame in clip.preview["indices"]
                if frame < len(state["mouth_gt"]) and (np.isnan(state["mouth_pred"][frame]).any() or np.isnan(state["mouth_gt"][frame]).any())
            ]
            note = f' <span class="warn">no face in frame {esc(", ".join(faceless))}</span>' if faceless else ""
            parts.append(f'<div class="muted">mouth landmarks on the generated frames: '
                         f'<span class="good">● ground truth</span> <span class="bad">✕ generated</span>{note}</div>'
                         + (f'<img src="{src}" alt="mouth landmarks of {esc(clip.clip_id)}">' if src else ""))
    curve = clip.entries.get(metric_id, {}).get("info", {}).get("offset_distances")
    if curve and "av_offset" in clip.values:
        src = assets.get(f"offsets_{name}.png", lambda path: figures.offset_curve(
            curve, clip.values["av_offset"], clip.values.get("lse_c"), clip.values.get("lse_d"), path))
        parts.append(f'<img src="{src}" alt="SyncNet distance per offset of {esc(clip.clip_id)}">')
    return f'<div class="card">{"".join(parts)}</div>'


def _worst_best(run: Run, assets: _Assets, per_metric: int) -> tuple[str, set[str]]:
    blocks, shown = [], set()
    for output in primary_outputs(run):
        order = ranked(run, output)
        if not order:
            continue
        count = min(per_metric, max(1, len(order) // 3))  # small runs: not every clip under every metric
        worst = order[:count]
        best = [item for item in order[::-1][:count] if item not in worst]
        metric = run.metric(output)
        blocks.append(f'<h3 id="metric-{slug(output)}">{esc(output)} {_arrow(metric.higher_is_better)} '
                      f'<span class="muted">result {esc(fmt(metric.value))} over {metric.clips_scored} clip(s)</span></h3>')
        columns = []
        for label, items in (("worst", worst), ("best", best)):
            cards = [f'<div class="col-title {"bad" if label == "worst" else "good"}">{label}</div>']
            for rank, (clip, _) in enumerate(items, 1):
                card = _clip_card(run, clip, output, f"{label} #{rank}", assets)
                if clip.clip_id not in shown:
                    card = card.replace('<div class="card"', f'<div class="card" id="clip-{slug(clip.clip_id)}"', 1)
                    shown.add(clip.clip_id)
                cards.append(card)
            columns.append(f'<div>{"".join(cards)}</div>')
        blocks.append(f'<div class="pair">{"".join(columns)}</div>')
    return "".join(blocks), shown


def _videos(run: Run, assets: _Assets, limit: int) -> str:
    chosen: list[Clip] = []
    for output in primary_outputs(run):
        for clip, _ in ranked(run, output)[:1]:
            if clip not in chosen and clip.preview is not None and "gt" in clip.preview["rows"]:
                chosen.append(clip)
    chosen = chosen[:limit]
    if not chosen:
        return '<p class="note">No clip with a stored preview and a ground truth to show.</p>'
    cards = []
    for clip in chosen:
        files = clip.preview["files"]
        reason: list[str] = []

        def make(path: Path, clip: Clip = clip, files: dict = files, reason: list = reason) -> Path | None:
            problem = videos.side_by_side(Path(files["pred"]), Path(files["gt"]), tuple(clip.preview["frame_size"]), clip.preview["fps"], path)
            if problem:
                reason.append(problem)
                return None
            return path

        src = assets.get(f"video_{slug(clip.clip_id)}.webm", make)
        worst_of = [o for o in primary_outputs(run) if ranked(run, o)[:1] and ranked(run, o)[0][0] is clip]
        caption = f"<h4>{esc(clip.clip_id)} <span class=\"muted\">worst clip of {esc(', '.join(worst_of))}</span></h4>"
        if src:
            body = f'<video controls preload="metadata" src="{src}"></video><div class="muted">ground truth | generated | |difference|</div>'
        else:
            body = f'<div class="bad">no video: {esc(reason[0] if reason else "unknown reason")}</div>'
        cards.append(f'<div class="card" style="max-width:820px">{caption}{body}</div>')
    return f'<div class="grid">{"".join(cards)}</div>'


def _failures(run: Run) -> str:
    if not run.failures:
        return '<p class="good">No failures.</p>'
    rows = [
        f"<tr><td>{esc(f.get('clip_id') or '(aggregate)')}</td><td>{esc(f.get('metric') or 'all')}</td>"
        f"<td>{esc(f['stage'])}</td><td class=\"err\">{esc(f['error'])}</td></tr>\n"
        for f in run.failures
    ]
    stages = Counter(f["stage"] for f in run.failures)
    summary = ", ".join(f"{stage}: {count}" for stage, count in sorted(stages.items()))
    return f'<p class="bad">{len(run.failures)} failure(s) — {esc(summary)}. Failed clips are tried again by the next run.</p>' + table(
        ["clip", "metric", "stage", "reason"], rows)


# ---------------------------------------------------------------------------- entry


def write_report(run_dir: Path, out: Path | None = None, *, per_metric: int = 3, max_videos: int = 4) -> Path:
    """Write the report of the run in ``run_dir`` to ``out`` (default ``<run_dir>/report``);
    return the path of its ``index.html``."""
    run = load_run(run_dir)
    out = Path(out) if out is not None else run.root / "report"
    if (out / "assets").is_dir():  # drop the previous report's files (only those: the folder may be shared)
        for path in (out / "assets").iterdir():
            if path.is_file() and path.name.startswith(ASSET_PREFIXES):
                path.unlink()
    assets = _Assets(out)
    worst_best, with_cards = _worst_best(run, assets, per_metric)
    sections = [
        ("attention", "Needs attention" if run.failures or run.record.clips_failed else "Status", _attention(run)),
        ("results", "Results", _results(run)),
        ("provenance", "Provenance", _provenance(run)),
        ("distributions", "Distributions", _distributions(run, assets)),
        ("coverage", "Face coverage", _coverage_section(run, assets)),
        ("clips", "Per-clip table", '<p class="note">Click a column to sort. Colour: green best, red worst, per column. '
                                    "Rows: red failed, yellow low face coverage.</p>" + _clip_table(run, with_cards)),
        ("worst-best", "Worst and best clips", worst_best or '<p class="note">No per-clip values.</p>'),
        ("videos", "Videos", _videos(run, assets, max_videos)),
        ("failures", "Failures", _failures(run)),
    ]
    body = "".join(f'<section id="{anchor}"><h2>{esc(title)}</h2>{content}</section>\n' for anchor, title, content in sections)
    text = page(
        f"tfbench report: {run.record.model} on {run.record.dataset}/{run.record.split}",
        _header(run),
        body,
        toc=[(anchor, title) for anchor, title, _ in sections],
        footer=f"Written by <code>tfbench report</code> from <code>{esc(run.root)}</code> (result.json, per_clip.csv, "
               "clips/ cache, previews). Nothing was recomputed.",
    )
    out.mkdir(parents=True, exist_ok=True)
    index = out / "index.html"
    index.write_text(text)
    return index
