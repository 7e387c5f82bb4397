"""S3FD face detector (Zhang et al. 2017) as shipped with joonson/syncnet_python.

The network keeps the reference's parameter names (``vgg.N``, ``L2Norm3_3`` ..., ``extras``,
``loc``, ``conf``) so ``sfd_face.pth`` (a state dict) loads as is. Detection reproduces the
reference's ``S3FD.detect_faces`` step for step:

1. resize the RGB image by ``scale`` with ``cv2.INTER_LINEAR``; subtract the mean
   (R 123, G 117, B 104) -- the reference converts to BGR, subtracts (104, 117, 123) and
   converts back, so the network sees RGB;
2. the network: VGG-16 + L2-normalised conv3_3/4_3/5_3 + extras, six heads (the first with
   "max-out" background: max of 3 background logits), softmax;
3. anchors of size 16..512 at strides 4..128 (square in pixels), decoded with variances
   (0.1, 0.2); per image: scores > 0.05, greedy NMS at IoU 0.3 over the 5000 best, 750 kept;
4. detections with score > ``conf_threshold`` scaled to the original image's pixels, then a
   second greedy NMS at IoU 0.1.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tfbench.weights import WeightsSpec, register

MEAN_RGB = np.array([123.0, 117.0, 104.0], dtype=np.float32)
ANCHOR_SIZES = (16, 32, 64, 128, 256, 512)
ANCHOR_STRIDES = (4, 8, 16, 32, 64, 128)
VARIANCES = (0.1, 0.2)
CANDIDATE_SCORE = 0.05
CANDIDATE_NMS_IOU = 0.3
CANDIDATE_TOP_K = 5000
KEEP_TOP_K = 750
FINAL_NMS_IOU = 0.1

WEIGHTS = register(WeightsSpec(
    name="s3fd",
    filename="sfd_face.pth",
    description="S3FD face detector of syncnet_python's full pipeline",
    license="BSD-3-Clause (S3FD)",
    source="download",
    used_by=("lse (full pipeline mode)",),
    urls=("https://www.robots.ox.ac.uk/~vgg/software/lipsync/data/sfd_face.pth",),
))


class L2Norm(nn.Module):
    """Channel-wise L2 normalisation with a learned per-channel scale (init ``scale``)."""

    def __init__(self, channels: int, scale: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((channels,), float(scale)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = x.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10
        return self.weight.view(1, -1, 1, 1) * (x / norm)


def _vgg_layers() -> list[nn.Module]:
    layers: list[nn.Module] = []
    channels = 3
    for block, (width, convs) in enumerate(((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))):
        for _ in range(convs):
            layers += [nn.Conv2d(channels, width, 3, 1, padding=1), nn.ReLU(inplace=True)]
            channels = width
        layers.append(nn.MaxPool2d(2, 2, ceil_mode=(block == 2)))
    layers += [
        nn.Conv2d(512, 1024, 3, 1, padding=6, dilation=6),
        nn.ReLU(inplace=True),
        nn.Conv2d(1024, 1024, 1, 1),
        nn.ReLU(inplace=True),
    ]
    return layers


class S3FDNet(nn.Module):
    """S3FD network. Input float32 [N,3,H,W] RGB minus mean; output per anchor
    (boxes float32 [N,A,4] as encoded offsets, face probability float32 [N,A])."""

    #: Indices into ``vgg`` after which conv3_3, conv4_3, conv5_3 and fc7 are taken.
    SOURCE_ENDS = (16, 23, 30, 35)

    def __init__(self) -> None:
        super().__init__()
        self.vgg = nn.ModuleList(_vgg_layers())
        self.L2Norm3_3 = L2Norm(256, 10)
        self.L2Norm4_3 = L2Norm(512, 8)
        self.L2Norm5_3 = L2Norm(512, 5)
        self.extras = nn.ModuleList([
            nn.Conv2d(1024, 256, 1, 1),
            nn.Conv2d(256, 512, 3, 2, padding=1),
            nn.Conv2d(512, 128, 1, 1),
            nn.Conv2d(128, 256, 3, 2, padding=1),
        ])
        source_channels = (256, 512, 512, 1024, 512, 256)
        self.loc = nn.ModuleList([nn.Conv2d(c, 4, 3, 1, padding=1) for c in source_channels])
        self.conf = nn.ModuleList(
            [nn.Conv2d(source_channels[0], 4, 3, 1, padding=1)]
            + [nn.Conv2d(c, 2, 3, 1, padding=1) for c in source_channels[1:]]
        )

    def sources(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The six feature maps the heads read (strides 4, 8, 16, 32, 64, 128)."""
        norms = (self.L2Norm3_3, self.L2Norm4_3, self.L2Norm5_3, None)
        maps, start = [], 0
        for end, norm in zip(self.SOURCE_ENDS, norms):
            for layer in self.vgg[start:end]:
                x = layer(x)
            maps.append(norm(x) if norm is not None else x)
            start = end
        for index, layer in enumerate(self.extras):
            x = F.relu(layer(x), inplace=True)
            if index % 2 == 1:
                maps.append(x)
        return maps

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[tuple[int, int]]]:
        """x: [N,3,H,W] -> (loc [N,A,4], face probability [N,A], feature-map sizes)."""
        maps = self.sources(x)
        locs, logits = [], []
        for index, feature in enumerate(maps):
            conf = self.conf[index](feature)
            if index == 0:  # max-out background: 3 background logits -> their max
                conf = torch.cat([conf[:, 0:3].max(dim=1, keepdim=True).values, conf[:, 3:]], dim=1)
            locs.append(self.loc[index](feature).permute(0, 2, 3, 1).reshape(x.shape[0], -1, 4))
            logits.append(conf.permute(0, 2, 3, 1).reshape(x.shape[0], -1, 2))
        probability = torch.softmax(torch.cat(logits, 1), dim=-1)[..., 1]
        return torch.cat(locs, 1), probability, [tuple(feature.shape[2:]) for feature in maps]


def anchors(image_height: int, image_width: int, map_sizes: list[tuple[int, int]]) -> torch.Tensor:
    """float32 [A,4] anchors (cx, cy, w, h), normalised to the network input, row-major per map."""
    rows = []
    for (height, width), size, stride in zip(map_sizes, ANCHOR_SIZES, ANCHOR_STRIDES):
        i, j = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
        cx = (j.ravel() + 0.5) / (image_width / stride)
        cy = (i.ravel() + 0.5) / (image_height / stride)
        wh = np.broadcast_to([size / image_width, size / image_height], (cx.size, 2))
        rows.append(np.column_stack([cx, cy, wh]))
    return torch.from_numpy(np.concatenate(rows).astype(np.float32))


def decode_boxes(loc: torch.Tensor, priors: torch.Tensor) -> torch.Tensor:
    """Encoded offsets [A,4] + anchors [A,4] -> boxes (x1, y1, x2, y2) normalised, float32 [A,4]."""
    centre = priors[:, :2] + loc[:, :2] * VARIANCES[0] * priors[:, 2:]
    size = priors[:, 2:] * torch.exp(loc[:, 2:] * VARIANCES[1])
    top_left = centre - size / 2
    return torch.cat([top_left, top_left + size], 1)


def greedy_nms(boxes, priority, iou_threshold: float) -> list[int]:
    """Greedy NMS: visit boxes in ``priority`` order (indices, best first), keep a box and drop
    every remaining box whose IoU with it exceeds ``iou_threshold``. Works on float32 torch
    tensors and float64 numpy arrays alike (the reference uses one of each); the visiting
    order -- including how score ties are broken -- is the caller's, as in the reference."""
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    area = (x2 - x1) * (y2 - y1)
    remaining = priority
    kept = []
    while len(remaining) > 0:
        best, rest = remaining[0], remaining[1:]
        kept.append(int(best))
        width = (_minimum(x2[rest], x2[best]) - _maximum(x1[rest], x1[best])).clip(min=0.0)
        height = (_minimum(y2[rest], y2[best]) - _maximum(y1[rest], y1[best])).clip(min=0.0)
        inter = width * height
        iou = inter / ((area[rest] - inter) + area[best])
        remaining = rest[iou <= iou_threshold]
    return kept


def _minimum(values, bound):
    return torch.clamp(values, max=bound) if isinstance(values, torch.Tensor) else np.minimum(values, bound)


def _maximum(values, bound):
    return torch.clamp(values, min=bound) if isinstance(values, torch.Tensor) else np.maximum(values, bound)


def candidate_detections(loc: torch.Tensor, probability: torch.Tensor, priors: torch.Tensor) -> torch.Tensor:
    """One image's detections before thresholding: float32 [K<=750, 5] (score, x1, y1, x2, y2),
    normalised boxes, best score first (scores > 0.05, NMS 0.3 over the 5000 best).

    Ties in score (common: softmax saturates at 1.0) are visited as the reference visits them:
    ascending ``torch.sort``, taken from the end.
    """
    boxes = decode_boxes(loc, priors)
    keep = probability > CANDIDATE_SCORE
    boxes, scores = boxes[keep], probability[keep]
    priority = scores.sort(0)[1][-CANDIDATE_TOP_K:].flip(0)
    kept = greedy_nms(boxes, priority, CANDIDATE_NMS_IOU)[:KEEP_TOP_K]
    return torch.cat([scores[kept, None], boxes[kept]], 1)


def _preprocess(image_rgb: np.ndarray, scale: float) -> torch.Tensor:
    import cv2

    resized = cv2.resize(image_rgb, dsize=(0, 0), fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    return torch.from_numpy((resized.astype(np.float32) - MEAN_RGB).transpose(2, 0, 1).copy())


@torch.no_grad()
def detect_faces(
    net: S3FDNet,
    images_rgb: np.ndarray,
    conf_threshold: float = 0.9,
    scale: float = 0.25,
    batch_size: int = 16,
    device: str | torch.device = "cpu",
) -> list[np.ndarray]:
    """Faces in each image: a list of float64 [K,5] (x1, y1, x2, y2, score) in pixels.

    ``images_rgb``: uint8 [T,H,W,3] RGB (all the same size). Images are batched through the
    network; results equal the reference's one-image-at-a-time ``detect_faces``.
    """
    height, width = images_rgb.shape[1:3]
    pixel_scale = torch.tensor([width, height, width, height], dtype=torch.float32)
    results: list[np.ndarray] = []
    priors = None
    for start in range(0, len(images_rgb), batch_size):
        batch = torch.stack([_preprocess(image, scale) for image in images_rgb[start : start + batch_size]])
        loc, probability, map_sizes = net(batch.to(device))
        loc, probability = loc.cpu(), probability.cpu()
        if priors is None:
            priors = anchors(batch.shape[2], batch.shape[3], map_sizes)
        for index in range(len(batch)):
            found = candidate_detections(loc[index], probability[index], priors)
            found = found[found[:, 0] > conf_threshold]
            boxes = (found[:, 1:] * pixel_scale).numpy().astype(np.float64)
            detections = np.column_stack([boxes, found[:, 0].numpy().astype(np.float64)]).reshape(-1, 5)
            priority = detections[:, 4].argsort()[::-1]  # the reference's order, ties included
            results.append(detections[greedy_nms(detections, priority, FINAL_NMS_IOU)])
    return results


def load_s3fd(device: str | torch.device = "cpu") -> S3FDNet:
    """S3FD with weights ``s3fd`` (``sfd_face.pth``) from the weights manager, eval mode, frozen."""
    from tfbench.errors import CheckpointError
    from tfbench.weights import weights_path

    path = weights_path("s3fd")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        net = S3FDNet()
        net.load_state_dict(state)
    except Exception as error:  # unpickling and key/shape errors have many types
        raise CheckpointError(f"{path} is not an S3FD state dict (sfd_face.pth): {error}") from error
    return net.eval().requires_grad_(False).to(device)
