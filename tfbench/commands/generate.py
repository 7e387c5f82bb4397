"""`tfbench generate NAME`: one talking-face video from a user's audio and video (or image)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

FPS = 25.0


def build_request(audio_path: Path, video: Optional[Path], image: Optional[Path], needs: frozenset[str]):
    """A GenerationRequest from user files: 25 fps frames, 16 kHz audio, dlib landmarks if needed.

    With ``--video`` the output has the video's length (audio shorter than it is an error);
    with ``--image`` it has the audio's length and the image is the source of every frame.
    """
    import math

    import numpy as np

    from tfbench.errors import InputError, MediaError
    from tfbench.io.audio import read_audio
    from tfbench.models.base import SAMPLE_RATE, GenerationRequest

    if (video is None) == (image is None):
        raise InputError("give exactly one of --video FILE or --image FILE")
    audio = read_audio(audio_path, sample_rate=SAMPLE_RATE)
    if video is not None:
        from tfbench.io.video import read_video

        frames = read_video(video, fps=FPS).frames
    else:
        import cv2

        if not Path(image).is_file():
            raise MediaError(f"{image}: no such image file")
        picture = cv2.imread(str(image), cv2.IMREAD_COLOR)
        if picture is None:
            raise MediaError(f"{image}: cannot decode the image")
        count = math.floor(len(audio) / SAMPLE_RATE * FPS)
        if count < 1:
            raise InputError(f"{audio_path}: the audio is shorter than one frame")
        frames = np.broadcast_to(cv2.cvtColor(picture, cv2.COLOR_BGR2RGB), (count, *picture.shape))
    landmarks = None
    if "landmarks" in needs:
        from tfbench.face.landmarks import detect_landmarks

        distinct = frames[:1] if image is not None else np.ascontiguousarray(frames)
        points = detect_landmarks(np.ascontiguousarray(distinct), backend="dlib").points
        landmarks = np.broadcast_to(points, (len(frames), 68, 2)) if image is not None else points
    return GenerationRequest(
        clip_id=Path(video or image).stem, num_frames=len(frames), fps=FPS, audio=audio,
        source_frames=frames, reference_image=np.asarray(frames[0]), landmarks=landmarks,
    )


def register(app: typer.Typer) -> None:
    @app.command("generate")
    def generate(
        name: str = typer.Argument(..., help="Model (e.g. g4g, static, ground_truth)."),
        checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="Checkpoint file of the model."),
        audio: Path = typer.Option(..., "--audio", help="Driving speech (wav, m4a, mp4 ...)."),
        video: Optional[Path] = typer.Option(None, "--video", help="Face-cropped source video (like a prepared clip)."),
        image: Optional[Path] = typer.Option(None, "--image", help="Face-cropped source image."),
        out: Path = typer.Option(..., "--out", help="Output mp4 (H.264 + AAC)."),
        device: str = typer.Option("cpu", "--device", help="torch device."),
    ) -> None:
        """Generate one video: NAME driven by --audio from --video or --image, written with the audio."""
        from tfbench.io.video import write_video
        from tfbench.models import load_model
        from tfbench.models.base import SAMPLE_RATE, check_audio_covers

        model = load_model(name, checkpoint, device=device)
        request = build_request(audio, video, image, model.needs)
        check_audio_covers(request)  # the output carries this audio, whatever the model reads
        frames = model.generate(request)
        samples = round(request.num_frames / FPS * SAMPLE_RATE)
        write_video(out, frames, fps=FPS, audio=request.audio[:samples], sample_rate=SAMPLE_RATE)
        typer.echo(f"wrote {out}: {len(frames)} frames at {FPS:g} fps with audio")
        if not model.canonical:
            typer.echo(f"NOT CANONICAL ({model.name}): {model.notes}")
