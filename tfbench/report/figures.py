"""The report's pictures, drawn with matplotlib (Agg, no display) into PNG files.

Every function takes data already read from the run folder and a target path; none
decodes a video or recomputes a metric.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

GOOD, BAD, NEUTRAL, WARN = "#1a7f37", "#cf222e", "#0969da", "#bf8700"
#: The absolute-difference rows are shown on this scale: black 0, white at or above DIFF_MAX grey levels.
DIFF_MAX = 64.0
DPI = 100


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False, "figure.dpi": DPI})
    return plt


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jpg":  # photographs (strips, mouths): JPEG is a tenth of PNG's size
        fig.savefig(path, dpi=DPI, pil_kwargs={"quality": 90})
    else:
        fig.savefig(path, dpi=DPI, metadata={"Software": None})
    _plt().close(fig)
    return path


def distribution(values: list[float], aggregate: float | None, label: str, higher_is_better: bool, path: Path) -> Path:
    """Histogram of per-clip values with every clip as a tick below, and the aggregate marked."""
    plt = _plt()
    data = np.asarray([v for v in values if np.isfinite(v)], dtype=np.float64)
    fig, ax = plt.subplots(figsize=(4.2, 2.4), layout="constrained")
    if data.size:
        bins = min(30, max(5, int(np.sqrt(data.size)) * 2))
        span = data.max() - data.min()
        ax.hist(data, bins=bins if span > 0 else 1, color=NEUTRAL, alpha=0.75, edgecolor="white")
        ax.plot(data, np.zeros_like(data), "|", color="#333333", markersize=12, alpha=0.6, clip_on=False)
    if aggregate is not None and np.isfinite(aggregate):
        ax.axvline(aggregate, color=BAD if not data.size else "#222222", linestyle="--", linewidth=1.2)
        ax.annotate(f"result {aggregate:.4g}", (aggregate, 1), xycoords=("data", "axes fraction"),
                    xytext=(3, -10), textcoords="offset points", fontsize=8)
    direction = "higher is better" if higher_is_better else "lower is better"
    ax.set_title(f"{label} ({direction})", fontsize=10, loc="left")
    ax.set_xlabel(f"per-clip {label}")
    ax.set_ylabel("clips")
    non_finite = len(values) - data.size
    if non_finite:
        ax.text(0.99, 0.95, f"{non_finite} non-finite not shown", transform=ax.transAxes, ha="right", va="top", color=BAD, fontsize=8)
    return _save(fig, path)


def coverage(rows: list[tuple[str, float]], threshold: float, path: Path, limit: int = 40) -> Path:
    """Horizontal bars: share of frames with a face, lowest first (at most ``limit`` clips)."""
    plt = _plt()
    rows = sorted(rows, key=lambda row: (row[1], row[0]))[:limit]
    height = 0.6 + 0.22 * len(rows)
    fig, ax = plt.subplots(figsize=(6.4, height), layout="constrained")
    names = [name for name, _ in rows][::-1]
    shares = [share for _, share in rows][::-1]
    colours = [BAD if s < 0.5 else WARN if s < threshold else GOOD for s in shares]
    ax.barh(range(len(rows)), [100 * s for s in shares], color=colours, height=0.7)
    ax.set_yticks(range(len(rows)), names, fontsize=8)
    ax.axvline(100 * threshold, color="#555555", linestyle=":", linewidth=1)
    ax.set_xlim(0, 100)
    ax.set_xlabel("frames with a face (%)")
    for index, share in enumerate(shares):
        ax.text(min(100 * share + 1, 92), index, f"{100 * share:.0f}%", va="center", fontsize=7)
    return _save(fig, path)


def _grid(image: np.ndarray, meta: dict) -> tuple[np.ndarray, int, int]:
    """The preview grid with its |difference| row coloured (magma, 0..DIFF_MAX)."""
    from matplotlib import colormaps

    tile_h, tile_w = meta["tile_size"]
    rows = []
    for index, name in enumerate(meta["rows"]):
        row = image[index * tile_h : (index + 1) * tile_h].astype(np.float32) / 255.0
        if name == "absdiff":
            grey = np.clip(row.mean(axis=2) * 255.0 / DIFF_MAX, 0, 1)
            row = colormaps["magma"](grey)[..., :3]
        rows.append(row)
    return np.concatenate(rows, axis=0), tile_h, tile_w


ROW_LABELS = {"gt": "ground truth", "pred": "generated", "absdiff": "|difference|"}


def strip(preview_jpg: Path, meta: dict, path: Path) -> Path:
    """Frames of one clip in columns; rows ground truth | generated | absolute difference."""
    from PIL import Image

    plt = _plt()
    grid, tile_h, tile_w = _grid(np.asarray(Image.open(preview_jpg).convert("RGB")), meta)
    height, width = grid.shape[:2]
    left, bottom = 92, 22
    fig = plt.figure(figsize=((width + left + 8) / DPI, (height + bottom + 6) / DPI))
    ax = fig.add_axes([left / (width + left + 8), bottom / (height + bottom + 6), width / (width + left + 8), height / (height + bottom + 6)])
    ax.imshow(grid, interpolation="nearest")
    ax.set_yticks([tile_h * (i + 0.5) for i in range(len(meta["rows"]))], [ROW_LABELS.get(r, r) for r in meta["rows"]])
    ax.set_xticks([tile_w * (i + 0.5) for i in range(len(meta["indices"]))], [f"frame {i}" for i in meta["indices"]], fontsize=8)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return _save(fig, path)


def mouth_overlay(preview_jpg: Path, meta: dict, mouth_gt: np.ndarray, mouth_pred: np.ndarray, path: Path) -> Path | None:
    """Zoomed mouths of the generated preview frames, with the ground-truth (green) and
    generated (red) mouth landmarks drawn on; None when no preview frame has both."""
    from PIL import Image

    plt = _plt()
    image = np.asarray(Image.open(preview_jpg).convert("RGB"))
    tile_h, tile_w = meta["tile_size"]
    scale = tile_h / meta["frame_size"][0]
    row = meta["rows"].index("pred")
    panels = []
    for column, frame in enumerate(meta["indices"]):
        if frame >= len(mouth_gt) or np.isnan(mouth_gt[frame]).any() or np.isnan(mouth_pred[frame]).any():
            continue
        tile = image[row * tile_h : (row + 1) * tile_h, column * tile_w : (column + 1) * tile_w]
        gt, pred = mouth_gt[frame] * scale, mouth_pred[frame] * scale
        both = np.concatenate([gt, pred])
        centre = (both.max(axis=0) + both.min(axis=0)) / 2
        half = max(12.0, 0.8 * float((both.max(axis=0) - both.min(axis=0)).max()))
        panels.append((frame, tile, gt, pred, centre, half))
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(1.7 * len(panels), 2.0), layout="constrained", squeeze=False)
    for ax, (frame, tile, gt, pred, centre, half) in zip(axes[0], panels, strict=True):
        ax.imshow(tile, interpolation="bilinear")
        for points, colour, marker in ((gt, "#2ecc40", "o"), (pred, "#ff4136", "x")):
            for ring in (slice(0, 12), slice(12, 20)):
                loop = np.concatenate([points[ring], points[ring][:1]])
                ax.plot(loop[:, 0], loop[:, 1], "-", color=colour, linewidth=1)
            ax.plot(points[:, 0], points[:, 1], marker, color=colour, markersize=3, markeredgewidth=0.8)
        ax.set_xlim(centre[0] - half, centre[0] + half)
        ax.set_ylim(centre[1] + half, centre[1] - half)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"frame {frame}", fontsize=8)
    return _save(fig, path)


def offset_curve(distances: list[float], av_offset: float, lse_c: float | None, lse_d: float | None, path: Path) -> Path:
    """SyncNet mean distance per audio-video offset; the chosen offset (the minimum) marked."""
    plt = _plt()
    distances = np.asarray(distances, dtype=np.float64)
    vshift = (len(distances) - 1) // 2
    offsets = vshift - np.arange(len(distances))  # reference convention: AV offset = vshift - index
    fig, ax = plt.subplots(figsize=(4.2, 2.4), layout="constrained")
    ax.plot(offsets, distances, "-o", color=NEUTRAL, markersize=3, linewidth=1.2)
    median = float(np.median(distances))
    ax.axhline(median, color="#777777", linestyle=":", linewidth=1)
    ax.text(offsets.min(), median, " median", va="bottom", fontsize=7, color="#555555")
    best = int(np.argmin(distances))
    ax.axvline(av_offset, color=BAD, linewidth=1.2, linestyle="--")
    ax.plot([offsets[best]], [distances[best]], "o", color=BAD, markersize=6)
    text = f"chosen offset {int(av_offset):+d}"
    if lse_d is not None:
        text += f"\nLSE-D {lse_d:.3f} (min)"
    if lse_c is not None:
        text += f"\nLSE-C {lse_c:.3f} (median − min)"
    ax.text(0.02, 0.97, text, transform=ax.transAxes, va="top", fontsize=7.5,
            bbox={"facecolor": "white", "edgecolor": "#dddddd", "boxstyle": "round,pad=0.3"})
    ax.set_xlabel("audio-video offset (frames)")
    ax.set_ylabel("mean SyncNet distance")
    return _save(fig, path)


def paired_intervals(rows: list[tuple[str, float, float, float, bool]], title: str, path: Path) -> Path:
    """Mean paired difference with its confidence interval, one line per (label, mean, low,
    high, better): green when the interval excludes 0 in the better direction, red when it
    excludes 0 in the worse direction, grey otherwise."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.6, 0.7 + 0.35 * len(rows)), layout="constrained")
    for index, (_, mean, low, high, better) in enumerate(rows[::-1]):
        significant = low > 0 or high < 0
        colour = ("#1a7f37" if better else BAD) if significant else "#6e7781"
        ax.plot([low, high], [index, index], "-", color=colour, linewidth=2.2)
        ax.plot([mean], [index], "o", color=colour, markersize=5)
    ax.axvline(0, color="#333333", linewidth=0.8)
    ax.set_yticks(range(len(rows)), [row[0] for row in rows[::-1]], fontsize=8)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_title(title, fontsize=10, loc="left")
    ax.set_xlabel("mean paired difference (method − baseline), 95% bootstrap interval")
    return _save(fig, path)
