"""`tfbench generate NAME`: one talking-face video from a user's audio and video (or image).

The request is built by :func:`tfbench.models.request.request_from_files` (the builder
``evaluate --model`` and training data share). Next to ``--out`` goes ``<out>.json``: the
model, checkpoint sha256, canonical flag, notes, the input files and every generation
option (``--text``, ``--emotion``, ``--level``, ``--emotion-image``, ``--pose-from``,
``--set``), so a video can always be traced to what made it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from tfbench.io.constants import FPS
from tfbench.registry import registry_help


def register(app: typer.Typer) -> None:
    @app.command("generate")
    def generate(
        name: str = typer.Argument(..., help="Model: " + registry_help("model") + "."),
        checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="Checkpoint file of the model."),
        audio: Path = typer.Option(..., "--audio", help="Driving speech (wav, m4a, mp4 ...)."),
        video: Optional[Path] = typer.Option(None, "--video", help="Face-cropped source video (like a prepared clip)."),
        image: Optional[Path] = typer.Option(None, "--image", help="Face-cropped source image."),
        out: Path = typer.Option(..., "--out", help="Output mp4 (H.264 + AAC); provenance goes to <out>.json."),
        text: Optional[str] = typer.Option(None, "--text", help="Text prompt / description (text-driven methods)."),
        emotion: Optional[str] = typer.Option(None, "--emotion", help="Emotion label (e.g. happy, angry)."),
        level: Optional[int] = typer.Option(None, "--level", help="Emotion intensity level (MEAD: 1-3)."),
        emotion_image: Optional[Path] = typer.Option(None, "--emotion-image", help="Image whose expression to transfer."),
        pose_from: Optional[Path] = typer.Option(None, "--pose-from", help="Video whose head pose to follow."),
        set_: List[str] = typer.Option([], "--set", help="Generation option KEY=VALUE (e.g. modality=text, iterations=50; repeatable)."),
        device: str = typer.Option("cpu", "--device", help="torch device."),
    ) -> None:
        """Generate one video: NAME driven by --audio from --video or --image, written with the audio."""
        from tfbench.io.constants import SAMPLE_RATE
        from tfbench.io.video import write_video
        from tfbench.models import load_model
        from tfbench.models.base import check_audio_covers
        from tfbench.models.request import request_from_files
        from tfbench.train.config import parse_overrides

        options = parse_overrides(set_)
        model = load_model(name, checkpoint, device=device)
        request = request_from_files(audio, model.needs, video=video, image=image, text=text, emotion=emotion,
                                     level=level, emotion_image=emotion_image, pose_from=pose_from, options=options,
                                     accepts=model.accepts)
        check_audio_covers(request)  # the output carries this audio, whatever the model reads
        frames = model.generate(request)
        samples = round(request.num_frames / FPS * SAMPLE_RATE)
        write_video(out, frames, fps=FPS, audio=request.audio[:samples], sample_rate=SAMPLE_RATE)
        provenance = {
            "model": model.name, "checkpoint": str(checkpoint) if checkpoint else None,
            "checkpoint_sha256": model.checkpoint_sha256, "canonical": model.canonical, "notes": model.notes,
            "inputs": {"audio": str(audio), "video": str(video) if video else None, "image": str(image) if image else None},
            "options": request.options, "num_frames": int(len(frames)), "fps": FPS,
        }
        Path(str(out) + ".json").write_text(json.dumps(provenance, indent=2, default=str) + "\n")
        typer.echo(f"wrote {out}: {len(frames)} frames at {FPS:g} fps with audio")
        if not model.canonical:
            typer.echo(f"NOT CANONICAL ({model.name}): {model.notes}")

