"""The ``network`` AU backend: LibreFace's AU-intensity ResNet-18 (Chang et al., WACV 2024).

Per frame, 12 DISFA AU intensities on the DISFA 0–5 scale (:data:`AU_NAMES`), from:

1. **alignment** (:func:`align_face`) — LibreFace's FFHQ-style oriented square. From the
   eye centres ``e_l``, ``e_r`` and the mouth centre ``m`` (midpoint of the leftmost and
   rightmost lip points): ``x = (e_r − e_l) − rot90(m − ē)``, normalised to length
   ``max(2·|e_r − e_l|, 1.8·|m − ē|)``; ``y = rot90(x)``; centre ``c = ē + 0.1·(m − ē)``
   (``ē`` = mean eye centre). The square ``c ± x ± y`` is cropped with a border of 10 % of
   its side; where it leaves the frame, the frame is zero-padded (by at least 30 % of the
   side), the padding blurred (Gaussian σ = 2 % of the side) and faded to the image median,
   exactly as LibreFace does; the square is then mapped to 512×512 (PIL bilinear quad
   transform). LibreFace finds the points with MediaPipe Face Mesh (16 + 16 eye-contour
   points, 40 lip points); tfbench uses the clip's dlib/FAN 68 landmarks instead: eye
   centre = mean of points 36–41 / 42–47, lip points 48–67 (docs/datasets/schema.md
   lists what this changes).
2. **input transform** — PIL bilinear resize 512 → 256, centre crop 224, RGB / 255,
   ImageNet mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225).
3. **network** — torchvision ResNet-18 up to its average pool (512-d), then
   Linear(512,128) → ReLU → BatchNorm1d(128) → Dropout → Linear(128,12) → sigmoid;
   intensity = clamp(5 × output, 0, 5).

Weights: ``libreface_au`` = LibreFace's ``AU_Recognition/weights/resnet.pt`` (its
``"model"`` state dict is used), imported by the user; never random outside tests.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

AU_NAMES = ("AU1", "AU2", "AU4", "AU5", "AU6", "AU9", "AU12", "AU15", "AU17", "AU20", "AU25", "AU26")
ALIGNED_SIZE = 512  # side of LibreFace's aligned face image
SHRINK_UNIT = 256  # image_align's output_size: frames are shrunk by floor(side / 512) when that is >= 2
RESIZE = 256
CROP = 224
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
MAX_INTENSITY = 5.0


# ------------------------------------------------------------------ alignment


def alignment_quad(landmarks: np.ndarray) -> tuple[np.ndarray, float]:
    """(float64 [4,2] corners (top-left, bottom-left, bottom-right, top-right), side length) of
    the aligned face square, in the pixels of float [68,2] landmarks (x, y down)."""
    points = np.asarray(landmarks, dtype=np.float64)
    eye_left = points[36:42].mean(axis=0)  # the eye on the image's left
    eye_right = points[42:48].mean(axis=0)
    lips = points[48:68]
    mouth = (lips[np.argmin(lips[:, 0])] + lips[np.argmax(lips[:, 0])]) / 2.0
    eye_mid = (eye_left + eye_right) / 2.0
    eye_to_eye = eye_right - eye_left
    eye_to_mouth = mouth - eye_mid
    x = eye_to_eye - np.array([-eye_to_mouth[1], eye_to_mouth[0]])
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.array([-x[1], x[0]])
    centre = eye_mid + 0.1 * eye_to_mouth
    return np.stack([centre - x - y, centre - x + y, centre + x + y, centre + x - y]), float(np.hypot(*x) * 2)


def _blend_padding(image: np.ndarray, pad: np.ndarray, side: float) -> np.ndarray:
    """uint8 image zero-padded by ``pad`` (left, top, right, bottom) with the padding blurred
    and faded towards the median colour, as LibreFace (after FFHQ) does."""
    from scipy.ndimage import gaussian_filter

    left, top, right, bottom = (int(p) for p in pad)
    padded = np.pad(image.astype(np.float32), ((top, bottom), (left, right), (0, 0)))
    height, width = padded.shape[:2]
    rows = np.arange(height, dtype=np.float32)[:, None, None]
    cols = np.arange(width, dtype=np.float32)[None, :, None]
    # 0 at the original image's edge, 1 at the outer edge of the padding (float64 like the reference)
    outside = np.maximum(1.0 - np.minimum(cols / np.int64(left), (width - 1 - cols) / np.int64(right)),
                         1.0 - np.minimum(rows / np.int64(top), (height - 1 - rows) / np.int64(bottom)))
    sigma = side * 0.02
    padded += (gaussian_filter(padded, [sigma, sigma, 0]) - padded) * np.clip(outside * 3.0 + 1.0, 0.0, 1.0)
    padded += (np.median(padded, axis=(0, 1)) - padded) * np.clip(outside, 0.0, 1.0)
    return np.uint8(np.clip(np.rint(padded), 0, 255))


def align_face(frame: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """uint8 [512,512,3] LibreFace-aligned face of a uint8 [H,W,3] RGB frame with float
    [68,2] pixel landmarks."""
    from PIL import Image

    quad, side = alignment_quad(landmarks)
    image = Image.fromarray(np.ascontiguousarray(frame))
    shrink = int(np.floor(side / SHRINK_UNIT * 0.5))
    if shrink > 1:  # very large faces: downscale first (LibreFace: PIL ANTIALIAS = LANCZOS)
        image = image.resize((int(np.rint(image.width / shrink)), int(np.rint(image.height / shrink))),
                             Image.Resampling.LANCZOS)
        quad /= shrink
        side /= shrink
    border = max(int(np.rint(side * 0.1)), 3)
    low, high = np.floor(quad.min(axis=0)).astype(int), np.ceil(quad.max(axis=0)).astype(int)
    box = (max(low[0] - border, 0), max(low[1] - border, 0),
           min(high[0] + border, image.width), min(high[1] + border, image.height))
    if box[2] - box[0] < image.width or box[3] - box[1] < image.height:
        image = image.crop(box)
        quad -= box[0:2]
    low, high = np.floor(quad.min(axis=0)).astype(int), np.ceil(quad.max(axis=0)).astype(int)
    pad = np.array([max(border - low[0], 0), max(border - low[1], 0),
                    max(high[0] - image.width + border, 0), max(high[1] - image.height + border, 0)])
    if pad.max() > border - 4:
        pad = np.maximum(pad, int(np.rint(side * 0.3)))
        image = Image.fromarray(_blend_padding(np.asarray(image), pad, side))
        quad += pad[:2]
    aligned = image.transform((ALIGNED_SIZE, ALIGNED_SIZE), Image.Transform.QUAD, tuple((quad + 0.5).flatten()),
                              Image.Resampling.BILINEAR)
    return np.asarray(aligned)


def network_input(aligned: np.ndarray) -> np.ndarray:
    """float32 [3,224,224] normalised network input of one uint8 [512,512,3] aligned face."""
    from PIL import Image

    resized = np.asarray(Image.fromarray(aligned).resize((RESIZE, RESIZE), Image.Resampling.BILINEAR))
    top = int(round((RESIZE - CROP) / 2.0))
    crop = resized[top : top + CROP, top : top + CROP].astype(np.float32) / 255.0
    return ((crop - MEAN) / STD).transpose(2, 0, 1)


# ------------------------------------------------------------------ network


def build_network():
    """LibreFace's AU-intensity network with random weights; its state-dict keys match
    LibreFace checkpoints (``encoder.*`` = ResNet-18 children, ``classifier.*``)."""
    import torch
    import torchvision

    class AuIntensityNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            resnet = torchvision.models.resnet18(weights=None)
            self.encoder = torch.nn.Sequential(*list(resnet.children())[:-1])  # up to the average pool
            self.classifier = torch.nn.Sequential(
                torch.nn.Linear(512, 128), torch.nn.ReLU(), torch.nn.BatchNorm1d(128), torch.nn.Dropout(0.1),
                torch.nn.Linear(128, len(AU_NAMES)), torch.nn.Sigmoid(),
            )

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            """images: float32 [B,3,224,224] normalised -> intensities [B,12] in [0, 5]."""
            scores = self.classifier(self.encoder(images).flatten(1))
            return torch.clamp(scores * MAX_INTENSITY, 0.0, MAX_INTENSITY)

    return AuIntensityNet()


def load_model():
    """The network in eval mode with the ``libreface_au`` weights (loaded once per file); raises
    :class:`MissingWeightsError` (naming ``tfbench weights import libreface_au FILE``) when
    the file is missing and :class:`CheckpointError` when it is not a LibreFace checkpoint."""
    from tfbench.weights import weights_path

    path = weights_path("libreface_au")
    stat = path.stat()
    return _load_file(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=1)
def _load_file(path: str, size: int, mtime_ns: int):
    """(size and mtime_ns only key the cache: a replaced file is loaded again.)"""
    from tfbench.weights import load_state_dict

    return load_state_dict(
        build_network(), path, "model",
        "a LibreFace AU-intensity checkpoint (AU_Recognition/weights/resnet.pt with a 'model' ResNet-18 state dict)",
    )


def au_intensities(frames: np.ndarray, landmarks: np.ndarray, batch: int = 32) -> np.ndarray:
    """frames uint8 [T,H,W,3] RGB, landmarks float [T,68,2] pixels -> float32 [T,12] intensities 0–5
    (order of :data:`AU_NAMES`). Frames are aligned and run ``batch`` at a time."""
    import torch

    network = load_model()
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(frames), batch):
            inputs = np.stack([network_input(align_face(frame, points))
                               for frame, points in zip(frames[start : start + batch], landmarks[start : start + batch])])
            outputs.append(network(torch.from_numpy(inputs)).numpy())
    return np.concatenate(outputs).astype(np.float32)
