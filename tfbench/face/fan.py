"""FAN 2D landmarks (Bulat & Tzimiropoulos 2017) as face-alignment 1.4 runs them.

The weights ``fan2d`` are face-alignment's ``2DFAN4-cd938726ad.zip``, a TorchScript
archive loaded with ``torch.jit.load``: input float [B,3,256,256] RGB in [0,1], output
heatmaps [B,68,64,64]. Cropping and heatmap decoding reproduce face-alignment 1.4's
``crop`` and ``get_preds_fromhm`` step by step, including their integer truncations, so
given the same face box and network the points are the same. Given a box
``(x1, y1, x2, y2)`` (exclusive ends) we pass face-alignment's dlib-detector convention
``[x1, y1, x2 - 1, y2 - 1]`` (dlib's inclusive right/bottom) and its reference scale 195.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Sequence

import numpy as np

from tfbench.errors import TfbenchError
from tfbench.weights import weights_path

INPUT_SIZE = 256
HEATMAP_SIZE = 64
#: face-alignment's ``reference_scale`` of its dlib and SFD detectors.
REFERENCE_SCALE = 195.0
BATCH_SIZE = 16


def load_fan() -> Any:
    """The TorchScript FAN module (eval mode, CPU). Raises MissingWeightsError when absent."""
    path = weights_path("fan2d")
    return _load_torchscript(str(path), path.stat().st_mtime_ns)


@lru_cache(maxsize=2)
def _load_torchscript(path: str, mtime_ns: int) -> Any:
    """Loaded once per (file, modification time)."""
    import torch

    try:
        net = torch.jit.load(path, map_location="cpu")
    except (RuntimeError, ValueError) as error:
        raise TfbenchError(
            f"{path} is not a TorchScript archive ({error}). Re-import face-alignment's "
            "2DFAN4-cd938726ad.zip: tfbench weights import fan2d FILE"
        ) from None
    return net.eval()


def center_scale(box: np.ndarray) -> tuple[np.ndarray, float]:
    """face-alignment's crop centre (float32 [2], computed as its torch tensor) and scale
    for an exclusive-end box."""
    import torch

    x1, y1, x2, y2 = (float(value) for value in box[:4])
    x2, y2 = x2 - 1.0, y2 - 1.0  # dlib's inclusive right/bottom, as face-alignment receives them
    center = torch.tensor([x2 - (x2 - x1) / 2.0, y2 - (y2 - y1) / 2.0])
    center[1] = center[1] - (y2 - y1) * 0.12
    return center.numpy(), (x2 - x1 + y2 - y1) / REFERENCE_SCALE


def _crop_corner(point: tuple[float, float], center: np.ndarray, scale: float, resolution: float) -> np.ndarray:
    """face-alignment ``transform(point, ..., invert=True)``: float32 torch maths, truncated to int."""
    import torch

    center_t = torch.from_numpy(np.asarray(center, dtype=np.float32))
    h = 200.0 * scale
    t = torch.eye(3)
    t[0, 0] = resolution / h
    t[1, 1] = resolution / h
    t[0, 2] = resolution * (-center_t[0] / h + 0.5)
    t[1, 2] = resolution * (-center_t[1] / h + 0.5)
    point_t = torch.ones(3)
    point_t[0], point_t[1] = point[0], point[1]
    return torch.matmul(torch.inverse(t), point_t)[0:2].int().numpy()


def crop_face(image: np.ndarray, center: np.ndarray, scale: float, resolution: int = INPUT_SIZE) -> np.ndarray:
    """uint8 [resolution,resolution,3] crop around ``center`` (zero padding), bilinear resize."""
    import cv2

    ul = _crop_corner((1, 1), center, scale, float(resolution))
    br = _crop_corner((resolution, resolution), center, scale, float(resolution))
    out = np.zeros((br[1] - ul[1], br[0] - ul[0], image.shape[2]), dtype=np.uint8)
    height, width = image.shape[:2]
    new_x = (max(1, -ul[0] + 1), min(br[0], width) - ul[0])
    new_y = (max(1, -ul[1] + 1), min(br[1], height) - ul[1])
    old_x = (max(1, ul[0] + 1), min(br[0], width))
    old_y = (max(1, ul[1] + 1), min(br[1], height))
    out[new_y[0] - 1:new_y[1], new_x[0] - 1:new_x[1]] = image[old_y[0] - 1:old_y[1], old_x[0] - 1:old_x[1], :]
    return cv2.resize(out, dsize=(resolution, resolution), interpolation=cv2.INTER_LINEAR)


def heatmap_peaks(heatmaps: np.ndarray) -> np.ndarray:
    """Sub-pixel peaks of float32 [B,C,H,W] heatmaps in heatmap pixels: float32 [B,C,2] (x, y).

    face-alignment 1.4: arg-max, a quarter-pixel step towards the larger neighbour (only
    for peaks off the 1-pixel border, which face-alignment hard-codes as 0 < p < 63), then
    -0.5.
    """
    batch, channels, height, width = heatmaps.shape
    flat = heatmaps.reshape(batch, channels, height * width)
    index = np.argmax(flat, axis=-1)
    x = index % width
    y = np.floor(index / height).astype(np.int64)
    preds = np.stack([x + 1, y + 1], axis=-1).astype(np.float32)
    inside = (x > 0) & (x < 63) & (y > 0) & (y < 63)
    b, c = np.nonzero(inside)
    px, py = x[b, c], y[b, c]
    step_x = heatmaps[b, c, py, px + 1] - heatmaps[b, c, py, px - 1]
    step_y = heatmaps[b, c, py + 1, px] - heatmaps[b, c, py - 1, px]
    preds[b, c, 0] += np.sign(step_x).astype(np.float32) * np.float32(0.25)
    preds[b, c, 1] += np.sign(step_y).astype(np.float32) * np.float32(0.25)
    preds -= np.float32(0.5)
    return preds


def peaks_to_image(peaks: np.ndarray, center: np.ndarray, scale: float, resolution: int = HEATMAP_SIZE) -> np.ndarray:
    """Map heatmap peaks float [68,2] back to image pixels: face-alignment's numba-compiled
    ``transform_np`` (float64 maths, pseudo-inverse), truncated to int like the reference.
    Returns float32 [68,2]."""
    cx, cy = float(center[0]), float(center[1])
    h = 200.0 * float(scale)
    t = np.eye(3)
    t[0, 0] = resolution / h
    t[1, 1] = resolution / h
    t[0, 2] = resolution * (-cx / h + 0.5)
    t[1, 2] = resolution * (-cy / h + 0.5)
    inverse = np.linalg.pinv(t)
    homogeneous = np.concatenate([peaks.astype(np.float64), np.ones((len(peaks), 1))], axis=1)
    return (homogeneous @ inverse.T)[:, :2].astype(np.int32).astype(np.float32)


def fan_landmarks(frames: Sequence[np.ndarray], boxes: np.ndarray) -> np.ndarray:
    """FAN landmarks of one face per frame.

    frames: N uint8 [H,W,3] RGB frames; boxes: float [N,4] (x1, y1, x2, y2), all finite.
    Returns float32 [N,68,2] pixel (x, y). Runs the network in batches of 16.
    """
    import torch

    net = load_fan()
    points = np.empty((len(frames), 68, 2), dtype=np.float32)
    for start in range(0, len(frames), BATCH_SIZE):
        stop = min(start + BATCH_SIZE, len(frames))
        geometry = [center_scale(boxes[i]) for i in range(start, stop)]
        crops = np.stack([crop_face(frames[i], *geometry[i - start]) for i in range(start, stop)])
        batch = torch.from_numpy(crops.transpose(0, 3, 1, 2)).float().div_(255.0)
        with torch.no_grad():
            heatmaps = net(batch)
        if isinstance(heatmaps, (list, tuple)):
            heatmaps = heatmaps[-1]
        heatmaps = heatmaps.detach().to(dtype=torch.float32).numpy()
        if heatmaps.shape[1:] != (68, HEATMAP_SIZE, HEATMAP_SIZE):
            raise TfbenchError(f"fan2d returned {list(heatmaps.shape)}, expected [B,68,64,64]: wrong weights file?")
        peaks = heatmap_peaks(heatmaps)
        for offset, (center, scale) in enumerate(geometry):
            points[start + offset] = peaks_to_image(peaks[offset], center, scale)
    return points
