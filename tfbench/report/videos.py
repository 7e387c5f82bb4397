"""Playable side-by-side videos (ground truth | generated | |difference|) of the worst clips.

The only media the report reads: each shown clip's two files, once, by one ffmpeg call that
scales both to the same size, takes their per-pixel absolute difference, stacks the three
and encodes VP9 WebM (plays in every current browser, from disk) with the ground truth's
audio (Opus) when it has some. Input paths come from the clip's stored preview.
"""

from __future__ import annotations

from pathlib import Path

from tfbench.io._ffmpeg import run_ffmpeg

#: Height of each panel in the side-by-side video, pixels.
VIDEO_HEIGHT = 240


def side_by_side(pred: Path, gt: Path, frame_size: tuple[int, int], fps: float, path: Path) -> str | None:
    """Write ``path`` (.webm); return None on success, else the reason it could not be made."""
    missing = [str(p) for p in (pred, gt) if not Path(p).is_file()]
    if missing:
        return f"input file(s) no longer there: {', '.join(missing)}"
    height = min(VIDEO_HEIGHT, frame_size[0]) // 2 * 2
    width = max(2, int(round(frame_size[1] * height / frame_size[0])) // 2 * 2)
    size = f"{width}:{height}"
    graph = (
        f"[0:v]fps={fps},scale={size}:flags=area,setsar=1,format=gbrp,split[g1][g2];"
        f"[1:v]fps={fps},scale={size}:flags=area,setsar=1,format=gbrp,split[p1][p2];"
        "[g2][p2]blend=all_mode=difference[d];"
        "[g1][p1][d]hstack=inputs=3,format=yuv420p[v]"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".part.webm")
    args = ["-y", "-loglevel", "error", "-i", str(gt), "-i", str(pred), "-filter_complex", graph,
            "-map", "[v]", "-map", "0:a?", "-c:v", "libvpx-vp9", "-b:v", "0", "-crf", "34", "-deadline", "realtime",
            "-cpu-used", "8", "-row-mt", "1", "-c:a", "libopus", "-b:a", "48k", "-shortest", str(tmp)]
    result = run_ffmpeg(args, timeout=600)
    if result.returncode != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        return "ffmpeg failed: " + result.stderr.decode(errors="replace").strip()[-300:]
    tmp.replace(path)
    return None
