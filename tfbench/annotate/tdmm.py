"""3DMM coefficients per frame in the Deep3DFaceRecon layout, from one of two backends.

Layout of the 257 coefficients (Deep3DFaceRecon_pytorch ``split_coeff``):
``id 0:80 | exp 80:144 | tex 144:224 | angle 224:227 | gamma 227:254 | trans 254:257``,
plus 5 alignment parameters per frame.

Backends:

* ``offline`` — tfbench's own landmark model, NOT the Basel Face Model. It is fitted to
  the 68 dlib landmarks of the prepared dataset itself: each frame is eye-normalised
  (:mod:`tfbench.annotate.shape`); a speaker's mean shape (over its neutral-emotion frames
  when it has any) is its identity; identity slots hold that mean's coordinates in a PCA
  basis of the train speakers' means; expression slots hold the frame's residual from the
  identity shape in a PCA basis learned from the train split's residuals. Filled slots:
  ``id[:k_id]`` (k_id ≤ train speakers − 1), ``exp[:k_exp]`` (k_exp ≤ 64), ``angle[2]`` =
  roll in radians, ``trans[0:2]`` = eye midpoint offset from the clip centre divided by
  the clip width. Always zero: ``tex``, ``gamma``, ``angle[0:2]`` (pitch and yaw are not
  observable from a 2D landmark fit), ``trans[2]``. Alignment parameters:
  ``(width, height, inter-ocular distance px, eye-mid x px, eye-mid y px)``.
  :meth:`OfflineTdmm.landmarks` inverts the representation back to pixel landmarks.
* ``deep3d`` — Deep3DFaceRecon_pytorch's regressor on the processed crops
  (:mod:`tfbench.annotate.deep3d`); needs the user-imported weights ``deep3d_recon`` and
  ``deep3d_lm3d``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tfbench.annotate.shape import denormalise_shapes, normalise_shapes

NUM_COEFFS = 257
NUM_ALIGN = 5
SLOTS = {"id": (0, 80), "exp": (80, 144), "tex": (144, 224), "angle": (224, 227), "gamma": (227, 254), "trans": (254, 257)}
SHAPE_DIM = 68 * 2
BACKENDS = ("offline", "deep3d")


def _sign_fixed(vectors: np.ndarray) -> np.ndarray:
    """Columns flipped so each one's largest-magnitude entry is positive (deterministic PCA)."""
    if vectors.size == 0:
        return vectors
    pivots = vectors[np.argmax(np.abs(vectors), axis=0), np.arange(vectors.shape[1])]
    return vectors * np.where(pivots < 0, -1.0, 1.0)


def _top_eigenvectors(second_moment: np.ndarray, count: int) -> np.ndarray:
    values, vectors = np.linalg.eigh(second_moment)
    order = np.argsort(values)[::-1][:count]
    keep = order[values[order] > 1e-12 * max(values.max(), 1e-300)]
    return _sign_fixed(vectors[:, keep])


@dataclass
class OfflineTdmmFitter:
    """Streaming statistics for the offline model: memory does not grow with frames.

    Pass 1: :meth:`add_identity` for every clip. Pass 2 (after :meth:`identity_model`):
    :meth:`add_expression` for every train clip. Then :meth:`finish`.
    """

    train_speakers: set[str]
    _sums: dict[str, np.ndarray] = field(default_factory=dict)
    _counts: dict[str, int] = field(default_factory=dict)
    _neutral_sums: dict[str, np.ndarray] = field(default_factory=dict)
    _neutral_counts: dict[str, int] = field(default_factory=dict)
    _moment: np.ndarray = field(default_factory=lambda: np.zeros((SHAPE_DIM, SHAPE_DIM)))
    _moment_count: int = 0
    _identity: "OfflineTdmm | None" = None

    def add_identity(self, speaker: str, landmarks: np.ndarray, neutral: bool) -> None:
        """landmarks: float [T,68,2] pixels of one clip of ``speaker``."""
        flat = normalise_shapes(landmarks).shapes.reshape(len(landmarks), SHAPE_DIM)
        self._sums[speaker] = self._sums.get(speaker, 0.0) + flat.sum(axis=0)
        self._counts[speaker] = self._counts.get(speaker, 0) + len(flat)
        if neutral:
            self._neutral_sums[speaker] = self._neutral_sums.get(speaker, 0.0) + flat.sum(axis=0)
            self._neutral_counts[speaker] = self._neutral_counts.get(speaker, 0) + len(flat)

    def identity_model(self) -> "OfflineTdmm":
        """Speaker means + identity basis (no expression basis yet)."""
        means = {}
        for speaker in sorted(self._sums):
            if self._neutral_counts.get(speaker):
                means[speaker] = self._neutral_sums[speaker] / self._neutral_counts[speaker]
            else:
                means[speaker] = self._sums[speaker] / self._counts[speaker]
        train = [means[s] for s in sorted(means) if s in self.train_speakers] or list(means.values())
        stacked = np.stack(train)
        global_mean = stacked.mean(axis=0)
        centred = stacked - global_mean
        id_basis = _top_eigenvectors(centred.T @ centred, min(80, len(train) - 1)) if len(train) > 1 else np.zeros((SHAPE_DIM, 0))
        self._identity = OfflineTdmm(global_mean, id_basis, np.zeros((SHAPE_DIM, 0)), means)
        return self._identity

    def add_expression(self, speaker: str, landmarks: np.ndarray) -> None:
        assert self._identity is not None, "call identity_model() after pass 1"
        residual = self._identity.residuals(landmarks, speaker)
        self._moment += residual.T @ residual
        self._moment_count += len(residual)

    def finish(self) -> "OfflineTdmm":
        assert self._identity is not None, "call identity_model() after pass 1"
        moment = self._moment / max(self._moment_count, 1)
        exp_basis = _top_eigenvectors(moment, 64) if self._moment_count else np.zeros((SHAPE_DIM, 0))
        return OfflineTdmm(self._identity.global_mean, self._identity.id_basis, exp_basis, self._identity.speaker_means)


@dataclass
class OfflineTdmm:
    """global_mean [136]; id_basis [136,k_id]; exp_basis [136,k_exp]; speaker_means {speaker: [136]}
    (eye-normalised flattened (x, y) of the 68 points)."""

    global_mean: np.ndarray
    id_basis: np.ndarray
    exp_basis: np.ndarray
    speaker_means: dict[str, np.ndarray]

    def identity_coefficients(self, speaker: str) -> np.ndarray:
        return self.id_basis.T @ (self.speaker_means[speaker] - self.global_mean)

    def identity_shape(self, speaker: str) -> np.ndarray:
        return self.global_mean + self.id_basis @ self.identity_coefficients(speaker)

    def residuals(self, landmarks: np.ndarray, speaker: str) -> np.ndarray:
        flat = normalise_shapes(landmarks).shapes.reshape(len(landmarks), SHAPE_DIM)
        return flat - self.identity_shape(speaker)

    def coefficients(self, landmarks: np.ndarray, speaker: str, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """landmarks float [T,68,2] clip pixels -> (coeffs float32 [T,257], align float32 [T,5])."""
        return self.coefficients_for_identity(landmarks, self.identity_coefficients(speaker), width, height)

    def coefficients_for_identity(self, landmarks: np.ndarray, id_coeffs: np.ndarray, width: int,
                                  height: int) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`coefficients` with the identity given as coefficients ``[k_id]`` (e.g. of a face
        the model never saw: :meth:`unseen_identity`)."""
        normalised = normalise_shapes(landmarks)
        count = len(landmarks)
        coeffs = np.zeros((count, NUM_COEFFS), dtype=np.float64)
        coeffs[:, 0 : len(id_coeffs)] = id_coeffs
        identity_shape = self.global_mean + self.id_basis @ id_coeffs
        residual = normalised.shapes.reshape(count, SHAPE_DIM) - identity_shape
        exp_coeffs = residual @ self.exp_basis
        coeffs[:, 80 : 80 + exp_coeffs.shape[1]] = exp_coeffs
        coeffs[:, 226] = normalised.roll
        coeffs[:, 254] = (normalised.centre[:, 0] - width / 2.0) / width
        coeffs[:, 255] = (normalised.centre[:, 1] - height / 2.0) / width
        align = np.column_stack([
            np.full(count, float(width)), np.full(count, float(height)),
            normalised.interocular, normalised.centre[:, 0], normalised.centre[:, 1],
        ])
        return coeffs.astype(np.float32), align.astype(np.float32)

    def unseen_identity(self, landmarks: np.ndarray) -> np.ndarray:
        """Identity coefficients [k_id] of a face outside the fit: its first frame's normalised
        shape projected on the identity basis (its expression then counts as identity)."""
        flat = normalise_shapes(np.asarray(landmarks)[:1]).shapes.reshape(SHAPE_DIM)
        return self.id_basis.T @ (flat - self.global_mean)

    def landmarks(self, coeffs: np.ndarray, align: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`coefficients`: float64 [T,68,2] clip pixels."""
        coeffs = np.asarray(coeffs, dtype=np.float64)
        k_id, k_exp = self.id_basis.shape[1], self.exp_basis.shape[1]
        flat = self.global_mean + coeffs[:, :k_id] @ self.id_basis.T + coeffs[:, 80 : 80 + k_exp] @ self.exp_basis.T
        centre = np.asarray(align, dtype=np.float64)[:, 3:5]
        return denormalise_shapes(flat.reshape(-1, 68, 2), coeffs[:, 226], np.asarray(align, dtype=np.float64)[:, 2], centre)

    def torch_landmarks(self, coeffs, align):
        """:meth:`landmarks` in torch, differentiable in ``coeffs``: coeffs [B,257], align [B,5]
        (tensors) -> [B,68,2] clip pixels, in ``coeffs``' dtype."""
        import torch

        k_id, k_exp = self.id_basis.shape[1], self.exp_basis.shape[1]
        as_tensor = lambda array: torch.as_tensor(array, dtype=coeffs.dtype, device=coeffs.device)  # noqa: E731
        flat = (as_tensor(self.global_mean) + coeffs[:, :k_id] @ as_tensor(self.id_basis).T
                + coeffs[:, 80 : 80 + k_exp] @ as_tensor(self.exp_basis).T)
        roll = coeffs[:, 226]
        rotation = torch.stack([torch.stack([roll.cos(), -roll.sin()], -1), torch.stack([roll.sin(), roll.cos()], -1)], 1)
        scaled = flat.reshape(-1, 68, 2) * align[:, 2, None, None]
        return torch.einsum("tij,tkj->tki", rotation, scaled) + align[:, None, 3:5]

    def save(self, path: Path) -> None:
        speakers = sorted(self.speaker_means)
        np.savez(
            path, global_mean=self.global_mean, id_basis=self.id_basis, exp_basis=self.exp_basis,
            speakers=np.array(speakers), speaker_means=np.stack([self.speaker_means[s] for s in speakers]),
        )

    @classmethod
    def load(cls, path: Path) -> "OfflineTdmm":
        with np.load(path) as data:
            means = dict(zip(data["speakers"].tolist(), data["speaker_means"]))
            return cls(data["global_mean"], data["id_basis"], data["exp_basis"], means)
