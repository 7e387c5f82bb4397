"""Generate tfbench's bundled sample: a tiny synthetic dataset in MEAD's raw layout.

What it is: a still public-domain photograph (scikit-image's ``astronaut()``, NASA) whose
lower face is warped to follow espeak-ng speech, plus a small head motion. It exists so
that recipes, methods, metrics and the CLI can be smoke-tested and demonstrated offline.
Numbers computed on it say nothing about real data. See docs/sample.md.

Layout written under ``--out`` (MEAD's: ``<speaker>/video/front/<emotion>/level_<k>/<nnn>.mp4``
and ``<speaker>/audio/<emotion>/level_<k>/<nnn>.m4a``), 25 fps, 256x256. The mp4 carries the
same AAC track as the m4a, as MEAD's videos do. ``manifest.json`` lists every clip with its
sentence, voice and the checks it passed.

Regenerate the committed tree with ``python -m tfbench.samplegen --out tfbench/sample_raw``.
Everything is deterministic: the same versions of espeak-ng, dlib, scikit-image and ffmpeg
give identical decoded frames and audio samples.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tfbench.errors import FaceError, MediaError
from tfbench.io._ffmpeg import run_ffmpeg
from tfbench.io.audio import resample_audio
from tfbench.io.video import write_video

from tfbench.io.constants import SAMPLE_RATE

FPS = 25  # an int here: SAMPLES_PER_FRAME below is integer arithmetic
SIZE = 256  # output frames are SIZE x SIZE
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS
CROP_SIDE = 192  # side of the square taken around the face in the 512x512 photo, scaled to SIZE
SILENCE_S = 0.2  # silence before and after the speech
JAW_DROP_PX = 10.0  # lower-lip displacement at full mouth opening, photo pixels (face ~90 px wide)
SMILE_PX = 3.0  # mouth-corner lift per unit of expression, photo pixels
MOUTH_COLOUR = np.array([0.24, 0.07, 0.09])  # the dark inside of an open mouth, RGB in [0, 1]


@dataclass(frozen=True)
class Speaker:
    """How one synthetic speaker looks and sounds."""

    voice: str  # espeak-ng voice
    mirrored: bool  # flip the photo left-right
    colour_gain: tuple[float, float, float]  # per-channel gain applied to the photo


@dataclass(frozen=True)
class Clip:
    speaker: str
    emotion: str
    level: int
    index: int  # MEAD numbers clips 001, 002, ...
    sentence: str

    @property
    def clip_id(self) -> str:
        return f"{self.speaker}_{self.emotion}_level_{self.level}_{self.index:03d}"

    def video_path(self, root: Path) -> Path:
        return root / self.speaker / "video" / "front" / self.emotion / f"level_{self.level}" / f"{self.index:03d}.mp4"

    def audio_path(self, root: Path) -> Path:
        return root / self.speaker / "audio" / self.emotion / f"level_{self.level}" / f"{self.index:03d}.m4a"


SPEAKERS = {
    "W001": Speaker(voice="en-us+f3", mirrored=False, colour_gain=(1.0, 1.0, 1.0)),
    "W002": Speaker(voice="en-gb+f4", mirrored=True, colour_gain=(1.06, 0.96, 0.86)),
}

#: Mouth-corner lift for each (emotion, level), relative to the photo (which smiles a little).
EXPRESSION = {("neutral", 1): -0.6, ("happy", 1): 0.5, ("happy", 2): 1.2}

SENTENCES = [
    "She had your dark suit in greasy wash water.",
    "Please call Stella and ask her to come.",
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "A large size in stockings is hard to sell.",
    "Four hours of steady work faced us.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "It is easy to tell the depth of a well.",
    "Help the woman get back to her feet.",
]


def sample_clips() -> list[Clip]:
    """The 12 clips of the sample: 2 speakers x (neutral 1, happy 1, happy 2) x 2 clips."""
    clips = []
    sentences = iter(SENTENCES)
    for speaker in SPEAKERS:
        for emotion, level in EXPRESSION:
            for index in (1, 2):
                clips.append(Clip(speaker, emotion, level, index, next(sentences)))
    return clips


# ------------------------------------------------------------------------- speech


def synthesize_speech(sentence: str, voice: str) -> np.ndarray:
    """espeak-ng speech of ``sentence``: float32 [N] mono at 16 kHz, peak 0.7, with
    ``SILENCE_S`` of silence before and after."""
    import soundfile

    with tempfile.TemporaryDirectory(prefix="tfbench-tts-") as scratch:
        wav = Path(scratch) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", "165", "-w", str(wav), sentence], check=True,
                       capture_output=True)
        speech, rate = soundfile.read(str(wav), dtype="float64")
    speech = resample_audio(speech, rate, SAMPLE_RATE).astype(np.float64)
    speech *= 0.7 / np.abs(speech).max()
    pad = np.zeros(int(SILENCE_S * SAMPLE_RATE))
    return np.concatenate([pad, speech, pad]).astype(np.float32)


def frame_energy(audio: np.ndarray, num_frames: int) -> np.ndarray:
    """RMS of the audio over each 40 ms video frame: float64 [num_frames]."""
    padded = np.zeros(num_frames * SAMPLES_PER_FRAME)
    used = min(len(audio), len(padded))
    padded[:used] = audio[:used]
    return np.sqrt(np.mean(padded.reshape(num_frames, SAMPLES_PER_FRAME) ** 2, axis=1))


def mouth_opening(audio: np.ndarray, num_frames: int) -> np.ndarray:
    """How far the mouth opens in each frame, float64 [num_frames] in [0, 1]: the frame RMS,
    smoothed over 3 frames ([1, 2, 1] / 4), divided by its maximum, compressed by ^0.7."""
    energy = np.convolve(np.pad(frame_energy(audio, num_frames), 1, mode="edge"), [0.25, 0.5, 0.25], "valid")
    return (energy / energy.max()) ** 0.7


# ------------------------------------------------------------------------- face


@dataclass
class Portrait:
    """The still photo of one speaker: float64 [512,512,3] RGB in [0, 1], its 68 dlib
    landmarks (x, y) in photo pixels, and the centre of the face."""

    image: np.ndarray
    landmarks: np.ndarray
    centre: np.ndarray


def dlib_models():
    """dlib's HOG face detector and 68-point shape predictor (weights from the manager)."""
    import dlib

    from tfbench.weights import weights_path

    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(weights_path("dlib_landmarks68")))


def dlib_landmarks(image: np.ndarray, models, upsample: int = 1) -> tuple[int, np.ndarray | None]:
    """(number of faces, float64 [68,2] landmarks of the largest face or None) for uint8 RGB;
    ``upsample``: how many times dlib doubles the image before detecting."""
    detector, predictor = models
    faces = detector(image, upsample)
    if len(faces) == 0:
        return 0, None
    face = max(faces, key=lambda r: r.width() * r.height())
    shape = predictor(image, face)
    return len(faces), np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)


def load_portrait(speaker: Speaker, models) -> Portrait:
    """The astronaut photo, mirrored and colour-shifted for ``speaker``, with its landmarks."""
    from skimage.data import astronaut

    image = astronaut()
    if speaker.mirrored:
        image = image[:, ::-1]
    image = np.clip(image * np.array(speaker.colour_gain), 0, 255).round().astype(np.uint8)
    count, landmarks = dlib_landmarks(image, models, upsample=0)  # the face is large in the 512 px photo
    if count != 1:
        raise FaceError(f"expected one face in the sample photo, dlib found {count}")
    centre = np.array([landmarks[:, 0].mean(), landmarks[:, 1].mean() - 5.0])
    return Portrait(image=image / 255.0, landmarks=landmarks, centre=centre)


def moved_landmarks(landmarks: np.ndarray, opening: float, expression: float) -> np.ndarray:
    """Landmarks (x, y) after opening the mouth by ``opening`` in [0, 1] and lifting the
    mouth corners by ``expression`` (negative lowers them). dlib numbering: jaw 0-16, outer
    lips 48-59, inner lips 60-67."""
    moved = landmarks.copy()
    drop = JAW_DROP_PX * opening
    for i in range(3, 14):  # jaw follows the chin, fading towards the ears
        moved[i, 1] += drop * max(0.0, 1.0 - abs(i - 8) / 5.5)
    moved[[55, 56, 57, 58, 59, 65, 66, 67], 1] += drop
    moved[[49, 50, 51, 52, 53, 61, 62, 63], 1] -= 0.1 * drop
    moved[[48, 54, 60, 64], 1] += 0.35 * drop
    lift = SMILE_PX * expression
    mouth_centre_x = landmarks[[48, 54], 0].mean()
    for i in (48, 54, 60, 64):
        outward = np.sign(landmarks[i, 0] - mouth_centre_x)
        moved[i] += [0.6 * lift * outward, -lift]
    return moved


def _head_pose(clip: Clip, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Small deterministic head motion: rotation (radians) [T] and translation (px) [T,2]."""
    rng = np.random.default_rng(zlib.crc32(clip.clip_id.encode()))
    t = np.arange(num_frames) / FPS
    periods, phases = rng.uniform(2.0, 4.0, 3), rng.uniform(0, 2 * np.pi, 3)
    angle = np.deg2rad(1.5) * np.sin(2 * np.pi * t / periods[0] + phases[0])
    shift = 3.0 * np.stack([np.sin(2 * np.pi * t / periods[1] + phases[1]),
                            np.sin(2 * np.pi * t / periods[2] + phases[2])], axis=1)
    return angle, shift


def _fixed_ring(landmarks: np.ndarray) -> np.ndarray:
    """Fixed control points on a rectangle 30 px outside the landmarks' bounding box, float64
    [16,2]. The warp moves pixels inside the rectangle only."""
    low, high = landmarks.min(axis=0) - 30, landmarks.max(axis=0) + 30
    ring = [[x, y] for x in np.linspace(low[0], high[0], 5) for y in np.linspace(low[1], high[1], 5)
            if x in (low[0], high[0]) or y in (low[1], high[1])]
    return np.array(ring, dtype=np.float64)


def piecewise_affine(points: np.ndarray, moved: np.ndarray, original: np.ndarray) -> np.ndarray:
    """Map ``points`` [N,2] through the piecewise-affine map that sends each ``moved`` control
    point to its ``original`` position (Delaunay triangles of ``moved``, barycentric
    interpolation). Points outside every triangle are returned unchanged."""
    from scipy.spatial import Delaunay

    triangles = Delaunay(moved)
    simplex = triangles.find_simplex(points, bruteforce=True)  # few triangles: 10x faster than the walk
    inside = simplex >= 0
    transform = triangles.transform[simplex[inside]]
    first_two = np.einsum("nij,nj->ni", transform[:, :2], points[inside] - transform[:, 2])
    weights = np.column_stack([first_two, 1.0 - first_two.sum(axis=1)])
    corners = original[triangles.simplices[simplex[inside]]]  # [n, 3, 2]
    mapped = points.astype(np.float64).copy()
    mapped[inside] = np.einsum("ni,nij->nj", weights, corners)
    return mapped


def render_frame(portrait: Portrait, opening: float, expression: float, angle: float,
                 shift: np.ndarray) -> np.ndarray:
    """One uint8 [SIZE,SIZE,3] RGB frame: the face warped (piecewise affine between the photo's
    landmarks and their moved positions), the opened mouth painted dark, and the crop rotated
    by ``angle`` and shifted by ``shift`` output pixels around the face centre."""
    from scipy.ndimage import map_coordinates
    from skimage.measure import points_in_poly

    fixed = _fixed_ring(portrait.landmarks)
    original = np.vstack([portrait.landmarks, fixed])
    moved = np.vstack([moved_landmarks(portrait.landmarks, opening, expression), fixed])

    scale = CROP_SIDE / SIZE
    cos, sin = np.cos(angle), np.sin(angle)

    def output_to_photo(xy: np.ndarray) -> np.ndarray:
        centred = (xy - SIZE / 2 - shift) * scale
        rotated = centred @ np.array([[cos, sin], [-sin, cos]])
        return rotated + portrait.centre

    ys, xs = np.mgrid[0:SIZE, 0:SIZE]
    pixels = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float64)
    photo_xy = output_to_photo(pixels)
    source_xy = piecewise_affine(photo_xy, moved, original)
    frame = np.stack([map_coordinates(portrait.image[:, :, c], [source_xy[:, 1], source_xy[:, 0]], order=1,
                                      mode="nearest") for c in range(3)], axis=1).reshape(SIZE, SIZE, 3)

    # The inside of the opened mouth: below the upper teeth (the photo's gap between the inner
    # lips) and above the moved lower inner lip. Anti-aliased with 2x2 supersampling.
    teeth = portrait.landmarks[66, 1] - portrait.landmarks[62, 1]
    upper = moved[[60, 61, 62, 63, 64]].copy()
    upper[1:4, 1] += teeth
    polygon = np.vstack([upper, moved[[65, 66, 67]]])
    offsets = np.array([[0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.75, 0.75]])
    near_mouth = np.all(np.abs(photo_xy - polygon.mean(axis=0)) < np.ptp(polygon, axis=0) + 4, axis=1)
    coverage = np.zeros(len(pixels))
    for offset in offsets:
        coverage[near_mouth] += points_in_poly(output_to_photo(pixels[near_mouth] + offset - 0.5), polygon)
    alpha = (coverage / len(offsets)).reshape(SIZE, SIZE, 1)
    frame = frame * (1 - alpha) + MOUTH_COLOUR * alpha
    return np.clip(frame * 255.0, 0, 255).round().astype(np.uint8)


# ------------------------------------------------------------------------- checks


def lip_opening(landmarks: np.ndarray) -> float:
    """Mean vertical gap between the inner lips (points 61-63 vs 67-65), in pixels."""
    return float(np.mean(landmarks[[67, 66, 65], 1] - landmarks[[61, 62, 63], 1]))


def check_clip(frames: np.ndarray, audio: np.ndarray, models) -> dict:
    """dlib on every frame: exactly one face (HOG detector without and with 2x upsampling),
    68 landmarks, and the correlation between the inner-lip gap and the audio RMS per frame.
    Raises :class:`FaceError` if a frame has not exactly one face."""
    gaps = []
    for index, frame in enumerate(frames):
        plain_count, _ = dlib_landmarks(frame, models, upsample=0)
        count, landmarks = dlib_landmarks(frame, models, upsample=1)
        if plain_count != 1 or count != 1:
            raise FaceError(f"dlib found {plain_count} / {count} faces (upsample 0 / 1) in frame {index} "
                            "of a sample clip; expected exactly one")
        gaps.append(lip_opening(landmarks))
    energy = frame_energy(audio, len(frames))
    return {"faces_per_frame": 1, "lip_audio_correlation": round(float(np.corrcoef(gaps, energy)[0, 1]), 4)}


# ------------------------------------------------------------------------- writing


def generate_clip(clip: Clip, root: Path, portrait: Portrait, models) -> dict:
    """Render, check and write one clip (mp4 with audio + m4a); returns its manifest entry."""
    audio = synthesize_speech(clip.sentence, SPEAKERS[clip.speaker].voice)
    num_frames = int(np.ceil(len(audio) / SAMPLES_PER_FRAME))
    if not 2 * FPS <= num_frames <= 4 * FPS:
        raise MediaError(f"{clip.clip_id}: speech lasts {num_frames / FPS:.2f} s, the sample needs 2-4 s")
    opening = mouth_opening(audio, num_frames)
    angle, shift = _head_pose(clip, num_frames)
    expression = EXPRESSION[(clip.emotion, clip.level)]
    frames = np.stack([render_frame(portrait, opening[t], expression, angle[t], shift[t])
                       for t in range(num_frames)])
    checks = check_clip(frames, audio, models)
    video_path = write_video(clip.video_path(root), frames, fps=FPS, audio=audio, sample_rate=SAMPLE_RATE)
    audio_path = clip.audio_path(root)
    audio_path.parent.mkdir(parents=True, exist_ok=True)
    result = run_ffmpeg(["-loglevel", "error", "-y", "-i", str(video_path), "-map", "0:a:0", "-c:a", "copy",
                         "-fflags", "+bitexact", "-map_metadata", "-1", "-f", "ipod", str(audio_path)])
    if result.returncode != 0:
        raise MediaError(f"{audio_path}: {result.stderr.decode('utf-8', 'replace')[-300:]}")
    return {**asdict(clip), "clip_id": clip.clip_id, "voice": SPEAKERS[clip.speaker].voice,
            "video": str(video_path.relative_to(root)), "audio": str(audio_path.relative_to(root)),
            "num_frames": num_frames, "audio_samples": len(audio), "expression": expression, **checks}


def generate(out: str | Path, only: list[str] | None = None,
             on_clip: Callable[[dict], None] | None = None) -> list[dict]:
    """Write the sample (or the clips whose ``clip_id`` is in ``only``) under ``out``;
    returns the manifest entries, also written to ``out/manifest.json`` for a full run.
    ``on_clip`` is called with each entry as soon as its clip is written."""
    root = Path(out)
    clips = [c for c in sample_clips() if only is None or c.clip_id in only]
    if only is not None and len(clips) != len(set(only)):
        known = ", ".join(c.clip_id for c in sample_clips())
        raise ValueError(f"unknown clip id in {only}; known: {known}")
    models = dlib_models()
    portraits: dict[str, Portrait] = {}
    entries = []
    for clip in clips:
        if clip.speaker not in portraits:
            portraits[clip.speaker] = load_portrait(SPEAKERS[clip.speaker], models)
        entries.append(generate_clip(clip, root, portraits[clip.speaker], models))
        if on_clip is not None:
            on_clip(entries[-1])
    if only is None:
        manifest = {"description": "tfbench synthetic sample (see README.md); not real data",
                    "fps": FPS, "size": [SIZE, SIZE], "sample_rate": SAMPLE_RATE, "clips": entries}
        (root / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return entries


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Generate tfbench's synthetic MEAD-layout sample.")
    parser.add_argument("--out", required=True, help="output folder, e.g. tfbench/sample_raw")
    parser.add_argument("--only", nargs="*", help="clip ids to generate (default: all)")
    args = parser.parse_args(argv)

    def report(entry: dict) -> None:
        print(f"{entry['clip_id']}: {entry['num_frames']} frames, lip/audio r = {entry['lip_audio_correlation']}",
              flush=True)

    generate(args.out, args.only, on_clip=report)


if __name__ == "__main__":
    main()
