"""The ``deep3d`` 3DMM backend: Deep3DFaceRecon_pytorch's coefficient regressor (Deng et al. 2019).

Per frame: the 68 landmarks give 5 points (eye centres, nose tip, mouth corners); a
least-squares fit of a scaled orthographic projection of Deep3DFaceRecon's 5 standard 3D
points (from ``similarity_Lm3D_all.mat``) gives translation ``t`` and scale; the frame is
resized by ``s = 102 / scale`` (PIL bicubic) and cropped to 224×224 around ``t`` — the
reference's ``align_img`` with its y-up landmark convention. The crop, RGB in [0, 1], goes
through a ResNet-50 whose 2048-d pooled feature feeds 7 parallel 1×1 convolutions
(id 80, exp 64, tex 80, angle 3, gamma 27, trans xy 2, trans z 1) = 257 coefficients.
The 5 alignment parameters are the reference's ``trans_params`` = (W, H, s, t_x, t_y).

Files (not redistributable; users import them): ``deep3d_recon`` = the checkpoint
``epoch_20.pth`` (its ``net_recon`` state dict is used) and ``deep3d_lm3d`` =
``BFM/similarity_Lm3D_all.mat``. The BFM model itself is only needed to render meshes,
not to regress coefficients.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

RESCALE = 102.0
CROP = 224
HEADS = (80, 64, 80, 3, 27, 2, 1)
_FIVE = np.array([31, 37, 40, 43, 46, 49, 55]) - 1  # nose tip, eye corners, mouth corners (68-point indices)


def five_points(points: np.ndarray) -> np.ndarray:
    """[5,D] (left eye centre, right eye centre, nose tip, left and right mouth corner) of [68,D] points."""
    nose, eye_l1, eye_l2, eye_r1, eye_r2, mouth_l, mouth_r = (points[i] for i in _FIVE)
    return np.stack([(eye_l1 + eye_l2) / 2, (eye_r1 + eye_r2) / 2, nose, mouth_l, mouth_r])


def fit_projection(image_points: np.ndarray, model_points: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares affine camera mapping model_points [N,3] to image_points [N,2]:
    returns translation [2] and scale (mean norm of the two projection rows)."""
    count = len(model_points)
    system = np.zeros((2 * count, 8))
    system[0::2, 0:3] = model_points
    system[0::2, 3] = 1.0
    system[1::2, 4:7] = model_points
    system[1::2, 7] = 1.0
    solution = np.linalg.lstsq(system, image_points.reshape(-1), rcond=None)[0]
    scale = (np.linalg.norm(solution[0:3]) + np.linalg.norm(solution[4:7])) / 2.0
    return np.array([solution[3], solution[7]]), float(scale)


def align_frame(frame: np.ndarray, landmarks: np.ndarray, standard: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 [224,224,3] crop, float64 [5] (W, H, s, t_x, t_y)) of a uint8 [H,W,3] RGB frame
    with float [68,2] pixel landmarks (y down); ``standard``: [5,3] standard 3D points."""
    from PIL import Image

    height, width = frame.shape[:2]
    points = np.asarray(landmarks, dtype=np.float64).copy()
    points[:, 1] = height - 1 - points[:, 1]  # the reference works with y up
    translation, scale = fit_projection(five_points(points), standard)
    s = RESCALE / scale
    new_w, new_h = int(width * s), int(height * s)
    left = int(new_w / 2 - CROP / 2 + (translation[0] - width / 2) * s)
    up = int(new_h / 2 - CROP / 2 + (height / 2 - translation[1]) * s)
    resized = Image.fromarray(frame).resize((new_w, new_h), resample=Image.Resampling.BICUBIC)
    crop = np.asarray(resized.crop((left, up, left + CROP, up + CROP)))
    return crop, np.array([width, height, s, translation[0], translation[1]])


def standard_points(path) -> np.ndarray:
    """[5,3] standard 3D points from ``similarity_Lm3D_all.mat`` (its ``lm`` [68,3])."""
    from scipy.io import loadmat

    return five_points(np.asarray(loadmat(str(path))["lm"], dtype=np.float64))


def build_network():
    """The regressor with random weights: torchvision ResNet-50 without ``fc`` + 7 heads."""
    import torch
    import torchvision

    class ReconNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = torchvision.models.resnet50(weights=None)
            self.backbone.fc = torch.nn.Identity()
            self.final_layers = torch.nn.ModuleList(torch.nn.Conv2d(2048, n, kernel_size=1, bias=True) for n in HEADS)

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            """images: float32 [B,3,224,224] RGB in [0,1] -> [B,257]."""
            features = self.backbone(images)[:, :, None, None]
            return torch.cat([head(features) for head in self.final_layers], dim=1).flatten(1)

    return ReconNet()


@lru_cache(maxsize=1)
def load_model():
    """(network in eval mode, standard points) from the weights cache; raises
    :class:`MissingWeightsError` naming ``tfbench weights import ...`` when a file is missing."""
    from tfbench.weights import load_state_dict, require, weights_path

    require(["deep3d_recon", "deep3d_lm3d"])
    network = load_state_dict(
        build_network(), weights_path("deep3d_recon"), "net_recon",
        "a Deep3DFaceRecon_pytorch checkpoint with a 'net_recon' ResNet-50 state dict",
    )
    return network, standard_points(weights_path("deep3d_lm3d"))


def deep3d_coefficients(frames: np.ndarray, landmarks: np.ndarray, batch: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """frames uint8 [T,H,W,3] RGB, landmarks float [T,68,2] pixels -> (float32 [T,257], float32 [T,5])."""
    import torch

    network, standard = load_model()
    crops, params = zip(*(align_frame(f, p, standard) for f, p in zip(frames, landmarks)))
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(crops), batch):
            images = torch.from_numpy(np.stack(crops[start : start + batch])).permute(0, 3, 1, 2).float() / 255.0
            outputs.append(network(images).numpy())
    return np.concatenate(outputs).astype(np.float32), np.stack(params).astype(np.float32)
