"""The Basel Face Model (BFM 2009, front part) of Deep3DFaceRecon_pytorch as a torch module.

Same computation as ``models/bfm.py`` ``ParametricFaceModel`` of Deep3DFaceRecon_pytorch
(``compute_shape``, ``compute_texture``, ``compute_norm``, ``compute_color`` with 9-band SH
lighting and ``init_lit`` = 0.8 on the first band, ``compute_rotation``, ``to_camera`` with
camera distance 10, ``to_image`` with focal 1015 and centre 112, ``get_landmarks``), so
``--tdmm deep3d`` coefficients (257 = id 80 | exp 64 | tex 80 | angle 3 | gamma 27 | trans 3)
give the reference's meshes, colours and 68 landmarks.

The file is ``BFM_model_front.mat`` (built by Deep3DFaceRecon's ``util/load_mats.py`` from
the Basel Face Model 2009, which users must obtain themselves): weights name ``bfm_front``,
import-only. Keys used: ``meanshape`` [1,3N], ``idBase`` [3N,80], ``exBase`` [3N,64],
``meantex`` [1,3N] (0-255), ``texBase`` [3N,80], ``tri`` [F,3], ``point_buf`` [N,8] and
``keypoints`` [1,68] (1-based indices, as in the file).

Coordinates: vertices in camera space [B,N,3] (z = distance in front of the camera);
projected points are in pixels of the 224x224 aligned crop with Deep3DFaceRecon's y-UP
convention (``to_image``); :func:`crop_pixels` turns them into y-down pixel coordinates.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from tfbench.errors import CheckpointError
from tfbench.weights import WeightsSpec, register

FOCAL, CENTER, CAMERA_DISTANCE = 1015.0, 112.0, 10.0
CROP = 224
KEYS = ("meanshape", "idBase", "exBase", "meantex", "texBase", "tri", "point_buf", "keypoints")

WEIGHTS = register(WeightsSpec(
    name="bfm_front",
    filename="BFM_model_front.mat",
    description="Basel Face Model 2009 front part in Deep3DFaceRecon_pytorch's layout (BFM/BFM_model_front.mat): "
                "renders --tdmm deep3d coefficients",
    license="BFM 2009 licence (University of Basel; non-commercial research, not redistributable)",
    source="download",
    urls=(),
    install_hint="build BFM_model_front.mat with Deep3DFaceRecon_pytorch (BFM/ from 01_MorphableModel.mat, "
                 "see its README), then: tfbench weights import bfm_front /path/to/BFM_model_front.mat",
))

#: Spherical-harmonics constants of Deep3DFaceRecon's ``SH`` class.
_SH_A = (math.pi, 2 * math.pi / math.sqrt(3.0), 2 * math.pi / math.sqrt(8.0))
_SH_C = (1 / math.sqrt(4 * math.pi), math.sqrt(3.0) / math.sqrt(4 * math.pi), 3 * math.sqrt(5.0) / math.sqrt(12 * math.pi))
INIT_LIT = (0.8, 0, 0, 0, 0, 0, 0, 0, 0)


class BFM(nn.Module):
    """BFM front model; every array is a buffer (float32, indices int64 0-based)."""

    def __init__(self, model: dict) -> None:
        super().__init__()
        as_float = lambda key: torch.as_tensor(np.asarray(model[key], dtype=np.float32))  # noqa: E731
        mean_shape = as_float("meanshape").reshape(-1, 3)
        self.register_buffer("mean_shape", (mean_shape - mean_shape.mean(dim=0, keepdim=True)).reshape(-1))  # recenter
        self.register_buffer("id_base", as_float("idBase"))
        self.register_buffer("exp_base", as_float("exBase"))
        self.register_buffer("mean_tex", as_float("meantex").reshape(-1))
        self.register_buffer("tex_base", as_float("texBase"))
        as_index = lambda key: torch.as_tensor(np.asarray(model[key], dtype=np.int64) - 1)  # noqa: E731
        self.register_buffer("point_buf", as_index("point_buf"))  # -1 -> the appended zero normal
        self.register_buffer("faces", as_index("tri"))
        self.register_buffer("keypoints", as_index("keypoints").reshape(-1))
        self.register_buffer("init_lit", torch.tensor(INIT_LIT, dtype=torch.float32))
        vertices = len(self.mean_shape) // 3
        shapes = {"idBase": (3 * vertices, 80), "exBase": (3 * vertices, 64), "texBase": (3 * vertices, 80)}
        for key, shape in shapes.items():
            if tuple(np.shape(model[key])) != shape:
                raise CheckpointError(f"BFM {key} has shape {np.shape(model[key])}, expected {shape}")
        if len(self.keypoints) != 68 or self.point_buf.shape[0] != vertices or self.faces.shape[1] != 3:
            raise CheckpointError("BFM keypoints / point_buf / tri do not match Deep3DFaceRecon's layout")

    @classmethod
    def load(cls, path=None) -> "BFM":
        """From ``path`` or the weights cache (``bfm_front``; a missing file raises an error naming
        ``tfbench weights import bfm_front FILE``)."""
        from scipy.io import loadmat

        from tfbench.weights import weights_path

        path = path or weights_path("bfm_front")
        try:
            model = loadmat(str(path))
        except (ValueError, OSError, TypeError) as error:
            raise CheckpointError(f"{path} is not a MATLAB file ({error})") from error
        missing = [key for key in KEYS if key not in model]
        if missing:
            raise CheckpointError(f"{path} is not Deep3DFaceRecon's BFM_model_front.mat: no {', '.join(missing)}")
        return cls(model)

    @property
    def num_vertices(self) -> int:
        return len(self.mean_shape) // 3

    def shape(self, id_coeffs: torch.Tensor, exp_coeffs: torch.Tensor) -> torch.Tensor:
        """[B,80], [B,64] -> model-space vertices [B,N,3]."""
        flat = id_coeffs @ self.id_base.T + exp_coeffs @ self.exp_base.T + self.mean_shape
        return flat.reshape(len(flat), -1, 3)

    def texture(self, tex_coeffs: torch.Tensor) -> torch.Tensor:
        """[B,80] -> albedo [B,N,3] RGB (0-1 for plausible coefficients)."""
        flat = (tex_coeffs @ self.tex_base.T + self.mean_tex) / 255.0
        return flat.reshape(len(flat), -1, 3)

    def normals(self, vertices: torch.Tensor) -> torch.Tensor:
        """Unit vertex normals [B,N,3]: mean of the adjacent face normals (``compute_norm``)."""
        v1, v2, v3 = (vertices[:, self.faces[:, k]] for k in range(3))
        face_normals = F.normalize(torch.cross(v1 - v2, v2 - v3, dim=-1), dim=-1)
        face_normals = torch.cat([face_normals, face_normals.new_zeros(len(vertices), 1, 3)], dim=1)
        return F.normalize(face_normals[:, self.point_buf].sum(dim=2), dim=-1)

    def color(self, texture: torch.Tensor, normals: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
        """SH-lit vertex colours [B,N,3] (``compute_color``): texture [B,N,3], rotated normals
        [B,N,3], gamma [B,27] (3 colours x 9 bands, added to ``init_lit``)."""
        a, c = _SH_A, _SH_C
        nx, ny, nz = normals[..., 0:1], normals[..., 1:2], normals[..., 2:3]
        basis = torch.cat([
            a[0] * c[0] * torch.ones_like(nx), -a[1] * c[1] * ny, a[1] * c[1] * nz, -a[1] * c[1] * nx,
            a[2] * c[2] * nx * ny, -a[2] * c[2] * ny * nz, 0.5 * a[2] * c[2] / math.sqrt(3.0) * (3 * nz ** 2 - 1),
            -a[2] * c[2] * nx * nz, 0.5 * a[2] * c[2] * (nx ** 2 - ny ** 2),
        ], dim=-1)
        lights = (gamma.reshape(-1, 3, 9) + self.init_lit).permute(0, 2, 1)  # [B,9,3]
        return (basis @ lights) * texture

    @staticmethod
    def rotation(angles: torch.Tensor) -> torch.Tensor:
        """angles [B,3] radians (x, y, z) -> [B,3,3] for ``points @ R`` (``compute_rotation``)."""
        x, y, z = angles[:, 0], angles[:, 1], angles[:, 2]
        one, zero = torch.ones_like(x), torch.zeros_like(x)
        rot_x = torch.stack([one, zero, zero, zero, x.cos(), -x.sin(), zero, x.sin(), x.cos()], 1).reshape(-1, 3, 3)
        rot_y = torch.stack([y.cos(), zero, y.sin(), zero, one, zero, -y.sin(), zero, y.cos()], 1).reshape(-1, 3, 3)
        rot_z = torch.stack([z.cos(), -z.sin(), zero, z.sin(), z.cos(), zero, zero, zero, one], 1).reshape(-1, 3, 3)
        return (rot_z @ rot_y @ rot_x).transpose(1, 2)

    @staticmethod
    def project(camera_vertices: torch.Tensor) -> torch.Tensor:
        """Camera-space [B,N,3] -> crop pixels [B,N,2], y up (``to_image``)."""
        return FOCAL * camera_vertices[..., :2] / camera_vertices[..., 2:] + CENTER

    def landmarks(self, coeffs: torch.Tensor) -> torch.Tensor:
        """coeffs [B,257] -> the 68 landmarks [B,68,2] in crop pixels, y up: ``forward``'s
        ``landmarks`` computed from the 68 keypoint vertices only (cheap, for losses)."""
        rows = (3 * self.keypoints[:, None] + torch.arange(3, device=self.keypoints.device)).reshape(-1)
        flat = coeffs[:, 0:80] @ self.id_base[rows].T + coeffs[:, 80:144] @ self.exp_base[rows].T + self.mean_shape[rows]
        moved = flat.reshape(len(flat), -1, 3) @ self.rotation(coeffs[:, 224:227]) + coeffs[:, None, 254:257]
        return self.project(torch.cat([moved[..., :2], CAMERA_DISTANCE - moved[..., 2:]], dim=-1))

    def forward(self, coeffs: torch.Tensor) -> dict[str, torch.Tensor]:
        """coeffs [B,257] -> {``vertices`` camera space [B,N,3], ``colors`` [B,N,3] (lit, ~0-1),
        ``landmarks`` [B,68,2] crop pixels y up} (``compute_for_render``)."""
        shape = self.shape(coeffs[:, 0:80], coeffs[:, 80:144])
        rotation = self.rotation(coeffs[:, 224:227])
        moved = shape @ rotation + coeffs[:, None, 254:257]
        vertices = torch.cat([moved[..., :2], CAMERA_DISTANCE - moved[..., 2:]], dim=-1)  # to_camera
        colors = self.color(self.texture(coeffs[:, 144:224]), self.normals(shape) @ rotation, coeffs[:, 227:254])
        return {"vertices": vertices, "colors": colors, "landmarks": self.project(vertices)[:, self.keypoints]}


def crop_pixels(points: torch.Tensor) -> torch.Tensor:
    """Crop pixels y up [...,2] -> y-down continuous pixel coordinates of the 224 crop
    (pixel (0, 0)'s centre at (0.5, 0.5)), as the reference's renderer flips y."""
    return torch.stack([points[..., 0], CROP - points[..., 1]], dim=-1)


def crop_box(align: np.ndarray) -> tuple[float, float, float, float]:
    """(left, up, scale_x, scale_y) of the 224 crop in an original frame from Deep3DFaceRecon's
    ``trans_params`` (W, H, s, t_x, t_y) as :func:`tfbench.annotate.deep3d.align_frame` cut it:
    a crop pixel ``p`` (y down) sits at frame pixel ``(p + (left, up)) * (W / new_w, H / new_h)``."""
    width, height, s, tx, ty = (float(v) for v in align)
    new_w, new_h = int(width * s), int(height * s)
    left = int(new_w / 2 - CROP / 2 + (tx - width / 2) * s)
    up = int(new_h / 2 - CROP / 2 + (height / 2 - ty) * s)
    return left, up, width / new_w, height / new_h


def write_random_bfm(path, side: int = 12, seed: int = 0) -> None:
    """A random model in BFM_model_front.mat's exact key layout (1-based indices) with a small
    ``side`` x ``side`` grid mesh of face size (~1.8 units wide, as BFM_model_front's ~180 px
    wide face in the 224 crop) facing the camera; tests only."""
    from scipy.io import savemat

    rng = np.random.default_rng(seed)
    vertices = side * side
    xs, ys = np.meshgrid(np.linspace(-0.6, 0.6, side), np.linspace(0.75, -0.75, side))
    mean = np.stack([xs, ys, 0.3 * np.cos(xs * 1.5) * np.cos(ys * 1.2)], -1).reshape(-1, 3)
    index = np.arange(vertices).reshape(side, side)
    a, b, c, d = index[:-1, :-1].ravel(), index[:-1, 1:].ravel(), index[1:, :-1].ravel(), index[1:, 1:].ravel()
    tri = np.concatenate([np.stack([a, c, b], 1), np.stack([b, c, d], 1)])
    point_buf = np.zeros((vertices, 8), dtype=np.int64)  # 0 = no face (the zero normal)
    for v in range(vertices):
        owners = np.nonzero((tri == v).any(1))[0][:8]
        point_buf[v, : len(owners)] = owners + 1
    savemat(str(path), {
        "meanshape": mean.reshape(1, -1).astype(np.float32),
        "idBase": (rng.standard_normal((3 * vertices, 80)) * 1e-2).astype(np.float32),
        "exBase": (rng.standard_normal((3 * vertices, 64)) * 1e-2).astype(np.float32),
        "meantex": rng.uniform(80, 200, (1, 3 * vertices)).astype(np.float32),
        "texBase": rng.standard_normal((3 * vertices, 80)).astype(np.float32),
        "tri": (tri + 1).astype(np.float64), "point_buf": point_buf.astype(np.float64),
        "keypoints": (rng.choice(vertices, 68, replace=False) + 1)[None].astype(np.float64),
        "frontmask2_idx": np.arange(1, vertices + 1)[:, None].astype(np.float64),
        "tri_mask2": (tri + 1).astype(np.float64), "skinmask": np.ones((1, vertices)),
    })


def frame_pixels(points: torch.Tensor, align: torch.Tensor, size: int) -> torch.Tensor:
    """y-down crop pixels [B,N,2] -> pixels of the original frame resized to ``size`` x ``size``,
    with ``align`` [B,5] the frames' ``trans_params`` (see :func:`crop_box`)."""
    rows = []
    for row in align.detach().cpu().double().numpy():
        left, up, sx, sy = crop_box(row)
        rows.append((left, up, sx * size / row[0], sy * size / row[1]))
    box = torch.as_tensor(rows, dtype=points.dtype, device=points.device)[:, None]
    return (points + box[..., :2]) * box[..., 2:]


def crop_frames(frames: torch.Tensor, align: torch.Tensor) -> torch.Tensor:
    """The 224 aligned crops Deep3DFaceRecon regressed from: frames float [B,C,S,S] (the
    original frames resized to S) and their ``align`` [B,5] -> [B,C,224,224] (bilinear,
    zeros outside the frame)."""
    size = frames.shape[-1]
    centres = torch.arange(CROP, dtype=frames.dtype, device=frames.device) + 0.5
    grid = torch.stack(torch.meshgrid(centres, centres, indexing="xy"), dim=-1).reshape(1, -1, 2)
    pixels = frame_pixels(grid.expand(len(frames), -1, -1), align, size)
    grid = (pixels / size * 2 - 1).reshape(len(frames), CROP, CROP, 2)
    return F.grid_sample(frames, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
