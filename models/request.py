"""The one request builder: dataset rows (``evaluate --model``, training data) and user
files (``tfbench generate``) become a :class:`~tfbench.models.base.GenerationRequest` here.

:func:`build_request` is the core: it receives every input a caller can provide (values
or zero-argument callables computed only when the model needs them), keeps the inputs
the model declares in ``needs`` (a method never sees ground truth it did not ask for),
checks per-frame arrays against ``num_frames``, and always fills ``options`` (recorded in
results). :func:`request_from_row` and :func:`request_from_files` only gather sources.

Representations carried by the request:

- ``coeffs_3dmm_kind``: ``"offline_pca"`` for tfbench's landmark-PCA fit (``tfbench prepare
  --tdmm offline``), ``"deep3d"`` for Deep3DFaceRecon / BFM (``--tdmm deep3d``);
- ``phonemes``: int64 ids into :data:`PHONE_SET` (the 39 CMU phones of PocketSphinx's
  en-us model in alphabetical order, then ``SIL`` = 39, then ``NOISE`` = 40 for fillers
  such as ``+NSN+`` and anything unknown).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from tfbench.errors import InputError, MediaError
from tfbench.io.constants import FPS, SAMPLE_RATE
from tfbench.models.base import GenerationRequest

#: tfbench's phoneme set: index = phone id in ``GenerationRequest.phonemes``.
PHONE_SET = ("AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH", "IH", "IY",
             "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH", "UH", "UW", "V", "W", "Y",
             "Z", "ZH", "SIL", "NOISE")
SIL_ID, NOISE_ID = PHONE_SET.index("SIL"), PHONE_SET.index("NOISE")
_PHONE_ID = {phone: index for index, phone in enumerate(PHONE_SET)}

#: ``meta.json`` backend name of the 3DMM fit -> ``coeffs_3dmm_kind``.
TDMM_KINDS = {"offline": "offline_pca", "deep3d": "deep3d"}


def phoneme_ids(labels) -> np.ndarray:
    """Phone labels (``"AA"``, ``"SIL"``, ``"+NSN+"`` ...) -> int64 ``[T]`` ids into :data:`PHONE_SET`."""
    return np.array([_PHONE_ID.get(str(label).upper(), NOISE_ID) for label in labels], dtype=np.int64)


def tdmm_kind(meta: Mapping[str, Any] | None) -> str | None:
    """``coeffs_3dmm_kind`` of a prepared dataset from its ``meta.json`` (None if unknown)."""
    name = (((meta or {}).get("backends") or {}).get("tdmm") or {}).get("name")
    return TDMM_KINDS.get(name)


def _value(source):
    return source() if callable(source) else source


def build_request(
    clip_id: str,
    needs: frozenset[str],
    *,
    num_frames: int,
    fps: float = FPS,
    audio=None,
    source_frames=None,
    reference_image=None,
    text=None,
    emotion=None,
    level=None,
    emotion_image=None,
    landmarks=None,
    coeffs_3dmm=None,
    coeffs_3dmm_kind: str | None = None,
    coeffs_3dmm_align=None,
    phonemes=None,
    pose_frames=None,
    options: dict | None = None,
    extra: dict | None = None,
    accepts: frozenset[str] = frozenset(),
) -> GenerationRequest:
    """The request of one clip holding only the inputs in ``needs`` and, where given, ``accepts``
    (a model's optional inputs).

    Every input may be a value or a zero-argument callable (evaluated only when needed).
    Shapes: ``audio`` float32 ``[N]`` 16 kHz; ``source_frames`` uint8 ``[T,H,W,3]``;
    ``reference_image`` / ``emotion_image`` uint8 ``[H,W,3]``; ``landmarks`` float32
    ``[T,68,2]``; ``coeffs_3dmm`` float32 ``[T,257]``; ``coeffs_3dmm_align`` float32
    ``[T,5]``; ``phonemes`` int64 ``[T]`` (labels are converted); ``pose_frames`` uint8
    ``[T',H,W,3]``. Per-frame arrays must cover ``num_frames``.
    """
    request = GenerationRequest(clip_id=str(clip_id), num_frames=int(num_frames), fps=float(fps),
                                options=dict(options or {}), extra=dict(extra or {}))
    needs = frozenset(needs) | frozenset(accepts)
    if "audio" in needs:
        request.audio = _value(audio)
    if "source_video" in needs:
        request.source_frames = _value(source_frames)
    if "reference_image" in needs:
        request.reference_image = _value(reference_image)
    if "text" in needs:
        request.text = _value(text)
    if "emotion" in needs:
        request.emotion = _value(emotion)
        value = _value(level)
        request.emotion_level = int(value) if value is not None else None
    if "emotion_image" in needs:
        request.emotion_image = _value(emotion_image)
    if "pose_video" in needs:
        request.pose_frames = _value(pose_frames)
    if "landmarks" in needs:
        request.landmarks = _per_frame(clip_id, "landmarks", _value(landmarks), np.float32, num_frames)
    if needs & {"coeffs_3dmm", "coeffs_3dmm_align"}:
        request.coeffs_3dmm = _per_frame(clip_id, "coeffs_3dmm", _value(coeffs_3dmm), np.float32, num_frames)
        request.coeffs_3dmm_align = _per_frame(clip_id, "coeffs_3dmm_align", _value(coeffs_3dmm_align), np.float32, num_frames)
        request.coeffs_3dmm_kind = coeffs_3dmm_kind
    if "phonemes" in needs:
        value = _value(phonemes)
        if value is not None and len(value) and not np.issubdtype(np.asarray(value).dtype, np.integer):
            value = phoneme_ids(value)
        request.phonemes = _per_frame(clip_id, "phonemes", value, np.int64, num_frames)
    return request


def _per_frame(clip_id: str, name: str, value, dtype, num_frames: int) -> np.ndarray | None:
    if value is None:
        return None
    array = np.asarray(value, dtype=dtype)
    if array.shape[0] != num_frames:
        raise InputError(f"clip {clip_id!r}: {name} cover {array.shape[0]} frames but the clip has {num_frames}; "
                         "re-prepare the dataset (or give inputs of the video's length)")
    return array


def request_from_row(row: Mapping[str, Any], needs: frozenset[str], *, frames, audio, fps: float = FPS,
                     meta: Mapping[str, Any] | None = None, options: dict | None = None,
                     accepts: frozenset[str] = frozenset()) -> GenerationRequest:
    """Self-reconstruction request of a prepared-dataset row (``evaluate --model``, training data).

    ``frames``: the decoded ground-truth uint8 ``[T,H,W,3]`` at ``fps`` (or a callable);
    ``audio``: float32 ``[N]`` 16 kHz (or a callable); ``meta``: the dataset's ``meta.json``
    (gives ``coeffs_3dmm_kind``). Reference image = frame 0; text = the row's first
    sentence; emotion/level, landmarks, 3DMM and phonemes from the row's columns.
    """
    frames_value = _value(frames)
    extra = {key: row[key] for key in ("speaker", "view", "split") if row.get(key) is not None}
    if "source_video" in needs and row.get("boxes") is not None:  # the source frames' cached face boxes
        extra["face_boxes"] = np.asarray(row["boxes"], dtype=np.float32)  # [T,4] x1, y1, x2, y2 pixels
    texts = row.get("text") or []
    text = texts[0] if isinstance(texts, (list, tuple)) and texts else (texts or None)
    return build_request(
        row["clip_id"], needs, num_frames=int(frames_value.shape[0]), fps=fps, audio=audio,
        source_frames=frames_value, reference_image=lambda: frames_value[0], text=text, emotion=row.get("emotion"),
        level=row.get("level"), landmarks=row.get("landmarks"), coeffs_3dmm=row.get("coeffs_3dmm"),
        coeffs_3dmm_kind=tdmm_kind(meta), coeffs_3dmm_align=row.get("coeffs_3dmm_align"), phonemes=row.get("phonemes"),
        options=options, extra=extra, accepts=accepts,
    )


def read_image(path: Path) -> np.ndarray:
    """uint8 ``[H, W, 3]`` RGB of an image file; MediaError when missing or undecodable.

    Decoded with Pillow, not OpenCV: once decord is imported (it bundles its own zlib),
    ``cv2.imread`` fails on PNG files in the same process ("bad parameters to zlib").
    """
    from PIL import Image, UnidentifiedImageError

    if not Path(path).is_file():
        raise MediaError(f"{path}: no such image file")
    try:
        with Image.open(path) as picture:
            return np.asarray(picture.convert("RGB"))
    except (UnidentifiedImageError, OSError) as error:
        raise MediaError(f"{path}: cannot decode the image ({error})") from error


def request_from_files(
    audio_path: Path,
    needs: frozenset[str],
    *,
    video: Path | None = None,
    image: Path | None = None,
    text: str | None = None,
    emotion: str | None = None,
    level: int | None = None,
    emotion_image: Path | None = None,
    pose_from: Path | None = None,
    options: dict | None = None,
    landmarks_backend: str = "dlib",
    accepts: frozenset[str] = frozenset(),
) -> GenerationRequest:
    """A request from user files: 25 fps frames, 16 kHz audio; landmarks, phonemes and
    Deep3DFaceRecon coefficients computed only if the model needs them.

    With ``video`` the output has the video's length (audio shorter than it is an error
    at generation); with ``image`` it has the audio's length and the image is every frame.
    The audio is always kept (the output video carries it). ``options`` (and the other
    arguments) are recorded in ``request.options``. Inputs in ``accepts`` are optional: filled
    when given (Deep3DFaceRecon coefficients only when ``needs`` asks for them).
    """
    from tfbench.io.audio import read_audio

    if (video is None) == (image is None):
        raise InputError("give exactly one of --video FILE or --image FILE")
    audio = read_audio(audio_path, sample_rate=SAMPLE_RATE)
    if video is not None:
        from tfbench.io.video import read_video

        frames = read_video(video, fps=FPS).frames
    else:
        picture = read_image(image)
        count = math.floor(len(audio) / SAMPLE_RATE * FPS)
        if count < 1:
            raise InputError(f"{audio_path}: the audio is shorter than one frame")
        frames = np.broadcast_to(picture, (count, *picture.shape))
    if "emotion_image" in needs and emotion_image is None:
        raise InputError("this model needs an emotion reference image: pass --emotion-image FILE")
    if "pose_video" in needs and pose_from is None:
        raise InputError("this model needs a head-pose video: pass --pose-from VIDEO")
    if "text" in needs and text is None:
        raise InputError("this model needs a text prompt: pass --text TEXT")
    if "emotion" in needs and emotion is None:
        raise InputError("this model needs an emotion: pass --emotion NAME (and --level K)")

    def landmarks():
        from tfbench.face.landmarks import detect_landmarks

        distinct = frames[:1] if image is not None else np.ascontiguousarray(frames)
        points = detect_landmarks(np.ascontiguousarray(distinct), backend=landmarks_backend).points
        return np.broadcast_to(points, (len(frames), 68, 2)) if image is not None else points

    cache: dict[str, Any] = {}

    def deep3d():
        if "coeffs" not in cache:
            from tfbench.annotate.deep3d import deep3d_coefficients

            cache["coeffs"] = deep3d_coefficients(np.ascontiguousarray(frames), landmarks())
        return cache["coeffs"]

    def phonemes():
        from tfbench.annotate.phonemes import frame_phonemes, phone_segments

        return frame_phonemes(phone_segments(audio, SAMPLE_RATE), len(frames), FPS)

    def pose_frames():
        from tfbench.io.video import read_video

        return read_video(pose_from, fps=FPS).frames

    wants_3dmm = bool(frozenset(needs) & {"coeffs_3dmm", "coeffs_3dmm_align"})
    recorded = {key: value for key, value in (
        ("text", text), ("emotion", emotion), ("level", level),
        ("emotion_image", str(emotion_image) if emotion_image else None),
        ("pose_from", str(pose_from) if pose_from else None)) if value is not None}
    return build_request(
        Path(video or image).stem, frozenset(needs) | {"audio"}, num_frames=len(frames), fps=FPS, audio=audio, source_frames=frames,
        reference_image=lambda: np.asarray(frames[0]), text=text, emotion=emotion, level=level,
        emotion_image=(lambda: read_image(emotion_image)) if emotion_image is not None else None,
        landmarks=landmarks, coeffs_3dmm=(lambda: deep3d()[0]) if wants_3dmm else None, coeffs_3dmm_kind="deep3d",
        coeffs_3dmm_align=(lambda: deep3d()[1]) if wants_3dmm else None, phonemes=phonemes,
        pose_frames=pose_frames if pose_from is not None else None,
        options={**recorded, **(options or {})}, accepts=accepts,
    )
