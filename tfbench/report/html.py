"""HTML building blocks shared by the run report, the comparison and the leaderboard site.

Pages are static and self-contained: inline CSS and JavaScript, no external resource (they
open from disk, offline), images and videos referenced by relative paths. Tables with class
``sortable`` sort on a click on their header; a cell's ``data-v`` attribute holds the value
it sorts by (numbers sort numerically; empty cells sort last in both directions).
"""

from __future__ import annotations

import html
import math
import re

from tfbench.leaderboard.columns import format_value as fmt

CSS = """
:root { --fg:#1f2328; --muted:#59636e; --line:#d1d9e0; --bg:#f6f8fa; --good:#1a7f37; --bad:#cf222e;
        --warn:#9a6700; --accent:#0969da; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.5 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif; color:var(--fg); background:#fff; }
header.top { background:#24292f; color:#fff; padding:18px 28px 14px; }
header.top h1 { margin:0 0 4px; font-size:22px; font-weight:600; }
header.top .sub { color:#c9d1d9; font-size:13px; }
header.top a { color:#9ecbff; }
header.top code { background:#32383f; color:#e6edf3; }
nav.toc { position:sticky; top:0; z-index:5; background:#fff; border-bottom:1px solid var(--line); padding:6px 28px; font-size:13px; }
nav.toc a { margin-right:14px; color:var(--accent); text-decoration:none; }
main { padding:8px 28px 40px; max-width:1500px; }
h2 { font-size:18px; margin:28px 0 8px; padding-bottom:4px; border-bottom:1px solid var(--line); }
h3 { font-size:15px; margin:18px 0 6px; }
p.note, .muted { color:var(--muted); font-size:13px; }
code { background:var(--bg); padding:1px 4px; border-radius:4px; font-size:12.5px; }
table { border-collapse:collapse; margin:6px 0 10px; font-size:13px; }
th, td { border:1px solid var(--line); padding:4px 8px; text-align:left; vertical-align:top; }
th { background:var(--bg); font-weight:600; white-space:nowrap; }
td.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
table.sortable th { cursor:pointer; user-select:none; }
table.sortable th::after { content:" \\2195"; color:#afb8c1; font-weight:400; }
table.sortable th[aria-sort=ascending]::after { content:" \\25B2"; color:var(--fg); }
table.sortable th[aria-sort=descending]::after { content:" \\25BC"; color:var(--fg); }
.scroll { overflow-x:auto; max-width:100%; }
.badges { margin-top:10px; }
.badge { display:inline-block; padding:2px 9px; margin:2px 6px 2px 0; border-radius:12px; font-size:12px; font-weight:600; background:#eaeef2; color:var(--fg); }
.badge.good { background:#dafbe1; color:var(--good); } .badge.bad { background:#ffebe9; color:var(--bad); }
.badge.warn { background:#fff8c5; color:var(--warn); }
.alert { border-left:4px solid var(--bad); background:#ffebe9; padding:8px 12px; margin:8px 0; border-radius:0 6px 6px 0; }
.alert.warn { border-color:#d4a72c; background:#fff8c5; }
.alert.ok { border-color:var(--good); background:#dafbe1; }
.alert b { font-weight:600; }
.grid { display:flex; flex-wrap:wrap; gap:14px; }
.card { border:1px solid var(--line); border-radius:8px; padding:10px 12px; background:#fff; }
.card h4 { margin:0 0 6px; font-size:13.5px; }
.card img { display:block; max-width:100%; height:auto; }
.pair { display:flex; flex-wrap:wrap; gap:18px; }
.pair > div { flex:1 1 520px; min-width:0; max-width:760px; }
.pair .card { margin-bottom:12px; }
.col-title { font-weight:600; text-transform:uppercase; font-size:12px; letter-spacing:.05em; margin:4px 0 6px; }
.kv td:first-child { color:var(--muted); white-space:nowrap; }
.good { color:var(--good); } .bad { color:var(--bad); } .warn { color:var(--warn); }
tr.failed td { background:#fff5f5; }
tr.low td { background:#fffbe6; }
td.err { color:var(--bad); min-width:260px; max-width:480px; font-size:12px; overflow-wrap:anywhere; }
video { max-width:100%; border-radius:6px; background:#000; }
details summary { cursor:pointer; color:var(--accent); }
footer { color:var(--muted); font-size:12px; padding:20px 28px; border-top:1px solid var(--line); }
"""

SORT_JS = """
(function () {
  function key(cell) {
    var v = cell.getAttribute('data-v');
    if (v === null) v = cell.textContent.trim();
    if (v === '' || v === '\\u2014') return null;
    var n = Number(v);
    return isNaN(n) ? v.toLowerCase() : n;
  }
  function sortBy(table, th) {
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var ascending = th.getAttribute('aria-sort') !== 'ascending';
    Array.prototype.forEach.call(th.parentNode.children, function (h) { h.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[index]), y = key(b.cells[index]);
      if (x === null && y === null) return 0;
      if (x === null) return 1;
      if (y === null) return -1;
      if (typeof x !== typeof y) { x = String(x); y = String(y); }
      var c = x < y ? -1 : x > y ? 1 : 0;
      return ascending ? c : -c;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }
  document.querySelectorAll('table.sortable').forEach(function (table) {
    var head = table.tHead;
    if (!head) return;
    Array.prototype.forEach.call(head.rows[head.rows.length - 1].cells, function (th) {
      th.addEventListener('click', function () { sortBy(table, th); });
    });
  });
})();
"""


def slug(text: str) -> str:
    """``text`` reduced to letters, digits, ``_`` and ``-``: for anchors and file names."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "x"


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def page(title: str, header: str, body: str, toc: list[tuple[str, str]] = (), footer: str = "") -> str:
    """A whole HTML document: dark header, sticky table of contents, body, footer."""
    nav = "".join(f'<a href="#{esc(anchor)}">{esc(label)}</a>' for anchor, label in toc)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="icon" href="data:,">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f'<header class="top">{header}</header>\n'
        + (f'<nav class="toc">{nav}</nav>\n' if nav else "")
        + f"<main>\n{body}\n</main>\n"
        + (f"<footer>{footer}</footer>\n" if footer else "")
        + f"<script>{SORT_JS}</script>\n</body>\n</html>\n"
    )


def num_cell(value: float | None, text: str | None = None, cls: str = "num", title: str = "", style: str = "") -> str:
    """A numeric ``<td>`` that sorts by its value (empty when None)."""
    sort = "" if value is None or not math.isfinite(value) else repr(float(value))
    attr = (f' title="{esc(title)}"' if title else "") + (f' style="{esc(style)}"' if style else "")
    return f'<td class="{cls}" data-v="{sort}"{attr}>{text if text is not None else esc(fmt(value))}</td>'


def table(header: list[str], rows: list[str], sortable: bool = True, cls: str = "") -> str:
    """``header``: HTML of each ``<th>``'s content; ``rows``: complete ``<tr>`` elements."""
    classes = " ".join(filter(None, ["sortable" if sortable else "", cls]))
    head = "".join(f"<th>{cell}</th>" for cell in header)
    return (
        f'<div class="scroll"><table class="{classes}"><thead><tr>{head}</tr></thead>'
        f"<tbody>\n{''.join(rows)}</tbody></table></div>"
    )


def kv_table(pairs: list[tuple[str, str]]) -> str:
    """A two-column key/value table (values are HTML)."""
    return '<table class="kv"><tbody>' + "".join(f"<tr><td>{esc(k)}</td><td>{v}</td></tr>" for k, v in pairs) + "</tbody></table>"
