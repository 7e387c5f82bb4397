"""LMD: landmark distance between generated and ground-truth frames.

Two published protocols, each matched number for number (docs/metrics/lmd.md):

- ``lmd`` (Chen et al. 2019, ATVGnet; ``lelechen63/ATVGnet`` ``evaluation_matrix.py``,
  ``generating_landmark_lips`` + ``compare_landmarks``): dlib's detector (upsample 1) and
  68-point predictor on the grey frame (``cv2.COLOR_BGR2GRAY`` of the BGR image = grey of
  the true colours); the 20 mouth points (48-67) of each side are centred on their own
  centroid; per frame the sum of the 20 point distances; the mean over frames.
- ``m_lmd`` / ``f_lmd`` (EAT, ``yuangan/evaluation_eat`` ``code/test_lmd.py``, ``get_lmd``;
  the M-LMD/F-LMD of the EAT and StyleTalk tables): dlib's detector with upsample 0 and the
  predictor on ``cv2.COLOR_BGR2GRAY`` of the RGB frame (the script feeds imageio's RGB
  frames to it); mouth points centred on the mouth centroid, all 68 on the 68-point
  centroid; sum of distances over frames / (frames x 20), resp. / (frames x 68).

Distances are in pixels of the evaluated frames. Per clip, then the mean over clips. A
frame where either side has no face is skipped (as both scripts do) and counted; a clip
scoring less than ``min_coverage`` of its frames fails with FaceError.
The clip's mouth points of the ATVGnet pass (float32 [T,20,2], NaN where no face) are kept
in the score's ``state`` for the report's overlays.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from tfbench.evaluate.metrics.base import ClipScore, FaceMetric

MOUTH = slice(48, 68)
#: Landmark detection of each protocol (``clip.landmarks`` options); see tfbench.face.detect.GREY_MODES.
ATVGNET_DETECTION = {"upsample": 1, "grey": "luma"}
EAT_DETECTION = {"upsample": 0, "grey": "bgr2gray_of_rgb"}


def centred_distances(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """float64 [T,N] distances between point sets float [T,N,2], each centred on its own centroid."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    pred = pred - pred.mean(axis=1, keepdims=True)
    gt = gt - gt.mean(axis=1, keepdims=True)
    return np.linalg.norm(pred - gt, axis=2)


def atvgnet_lmd(pred: np.ndarray, gt: np.ndarray) -> float:
    """ATVGnet LMD (pixels) of 68-point sets float [T,68,2]: mean over frames of the summed
    distances of the 20 mouth points, each mouth centred on its own centroid."""
    return float(centred_distances(pred[:, MOUTH], gt[:, MOUTH]).sum(axis=1).mean())


def eat_lmd(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """EAT ``m_lmd`` / ``f_lmd`` (pixels per point and frame) of 68-point sets float [T,68,2]."""
    frames = len(pred)
    return {
        "m_lmd": float(centred_distances(pred[:, MOUTH], gt[:, MOUTH]).sum() / (frames * 20)),
        "f_lmd": float(centred_distances(pred, gt).sum() / (frames * 68)),
    }


class LMDDlib(FaceMetric):
    """Landmark distance with dlib's 68-point predictor; pixels, lower is better."""

    id = "lmd@dlib"
    backend: ClassVar[str] = "dlib"
    outputs = ("lmd@dlib", "m_lmd@dlib", "f_lmd@dlib")
    version = "2"  # v1 centred the mouth on the 68-point mean and detected on RGB
    higher_is_better = False
    weights = ("dlib_landmarks68",)
    needs = frozenset({"pred", "gt"})
    #: (outputs, ``clip.landmarks`` options) per detection pass.
    passes: ClassVar[tuple[tuple[tuple[str, ...], dict], ...]] = (
        (("lmd",), ATVGNET_DETECTION),
        (("m_lmd", "f_lmd"), EAT_DETECTION),
    )

    def score_clip(self, clip) -> ClipScore:
        suffix = f"@{self.backend}"
        values: dict[str, float] = {}
        info: dict[str, dict] = {}
        state: dict[str, np.ndarray] = {}
        for names, detection in self.passes:
            pred = clip.landmarks("pred", self.backend, **detection)
            gt = clip.landmarks("gt", self.backend, **detection)
            usable = pred.found & gt.found
            counts = {
                "frames": int(usable.size),
                "frames_scored": int(usable.sum()),
                "frames_no_face_pred": int((~pred.found).sum()),
                "frames_no_face_gt": int((~gt.found).sum()),
                "frames_several_faces_pred": int((pred.num_faces > 1).sum()),
                "frames_several_faces_gt": int((gt.num_faces > 1).sum()),
            }
            info[names[0] + suffix] = counts
            why = f"{counts['frames_no_face_pred']} prediction and {counts['frames_no_face_gt']} ground-truth frames without a face"
            values.update(self.coverage_values({names[0] + suffix: (counts["frames_scored"], counts["frames"])}, why))
            found = {"lmd": atvgnet_lmd(pred.points[usable], gt.points[usable])} if "lmd" in names else {}
            if "lmd" in names:  # per-frame mouth points for `tfbench report`'s overlays (the mean aggregate ignores them)
                state = {"mouth_pred": pred.points[:, MOUTH].astype(np.float32),
                         "mouth_gt": gt.points[:, MOUTH].astype(np.float32)}
            if "m_lmd" in names:
                found.update(eat_lmd(pred.points[usable], gt.points[usable]))
            values.update({name + suffix: found[name] for name in names})
        return ClipScore(values=values, state=state, info=info)

    def protocol_params(self) -> dict:
        return {
            **super().protocol_params(),
            "landmarks": self.backend,
            "lmd": "ATVGnet evaluation_matrix.py: dlib HOG upsample 1 on cv2 grey; mouth centred on its centroid; mean over frames of the 20-point sum",
            "m_lmd/f_lmd": "EAT test_lmd.py get_lmd: dlib HOG upsample 0 on COLOR_BGR2GRAY of RGB; centred on own centroid; sum / (frames x 20 | 68)",
            "several_faces": "largest face; clip fails when > 10% of frames have several",
            "missing_face": "frame skipped; clip fails below min_coverage",
            "reduction": "per clip, then mean over clips",
        }


class LMDFan(LMDDlib):
    """Landmark distance with FAN (face-alignment 2DFAN4) landmarks; pixels, lower is better.

    No published table used FAN for LMD: the same formulas on FAN's points, one detection
    pass (dlib HOG on RGB, upsample 1, FAN on the RGB crop) for all three outputs.
    """

    id = "lmd@fan"
    backend = "fan"
    outputs = ("lmd@fan", "m_lmd@fan", "f_lmd@fan")
    weights = ("fan2d",)
    passes = ((("lmd", "m_lmd", "f_lmd"), {}),)

    def protocol_params(self) -> dict:
        return {**super().protocol_params(), "lmd": "ATVGnet formula on FAN points", "m_lmd/f_lmd": "EAT formulas on FAN points"}
