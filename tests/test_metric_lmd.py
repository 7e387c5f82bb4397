"""LMD / M-LMD / F-LMD: the published formula on hand-made landmarks, then end to end on real faces."""

import math

import numpy as np
import pytest

from tfbench.errors import FaceError
from tfbench.evaluate.clip import ClipInputs
from tfbench.evaluate.metrics import METRICS
from tfbench.evaluate.metrics.lmd import LMDDlib, LMDFan, lmd_values
from tfbench.face.landmarks import detect_landmarks


def reference_lmd(pred, gt):
    """Chen et al. 2019 written out with loops: centre each frame's 68 points on their mean,
    sum point distances (mouth = 48..67), average over frames (and points for M-/F-LMD)."""
    frames = len(pred)
    mouth_total = face_total = 0.0
    for t in range(frames):
        mp = [sum(pred[t][p][k] for p in range(68)) / 68 for k in range(2)]
        mg = [sum(gt[t][p][k] for p in range(68)) / 68 for k in range(2)]
        for p in range(68):
            d = math.hypot((pred[t][p][0] - mp[0]) - (gt[t][p][0] - mg[0]), (pred[t][p][1] - mp[1]) - (gt[t][p][1] - mg[1]))
            face_total += d
            if 48 <= p <= 67:
                mouth_total += d
    return {"lmd": mouth_total / frames, "m_lmd": mouth_total / (frames * 20), "f_lmd": face_total / (frames * 68)}


def test_formula_matches_a_direct_computation():
    rng = np.random.default_rng(0)
    gt = rng.uniform(0, 256, size=(5, 68, 2)).astype(np.float32)
    pred = gt + rng.normal(0, 3, size=gt.shape).astype(np.float32)
    ours, expected = lmd_values(pred, gt), reference_lmd(pred.tolist(), gt.tolist())
    for key in expected:
        assert ours[key] == pytest.approx(expected[key], rel=1e-9)


def test_translation_is_ignored_and_mouth_only_moves_lmd():
    rng = np.random.default_rng(1)
    gt = rng.uniform(0, 256, size=(3, 68, 2))
    shifted = gt + np.array([7.0, -3.0])  # the whole face moves: centring removes it
    assert lmd_values(shifted, gt) == pytest.approx({"lmd": 0.0, "m_lmd": 0.0, "f_lmd": 0.0}, abs=1e-9)
    opened = gt.copy()
    opened[:, 57, 1] += 6.8  # lower lip moves down 6.8 px: the mean moves 0.1 px
    values = lmd_values(opened, gt)
    # point 57 is 6.7 px off, the 67 others 0.1 px: per frame 6.7 + 19 * 0.1 in the mouth
    assert values["lmd"] == pytest.approx(6.7 + 19 * 0.1)
    assert values["m_lmd"] == pytest.approx((6.7 + 19 * 0.1) / 20)
    assert values["f_lmd"] == pytest.approx((6.7 + 67 * 0.1) / 68)


class StubLandmarks:
    def __init__(self, points):
        self.points = points
        self.num_faces = (~np.isnan(points[:, 0, 0])).astype(int)

    @property
    def found(self):
        return ~np.isnan(self.points[:, 0, 0])


class StubClip:
    """Only ``landmarks``: checks the metric's frame policy without any detector."""

    def __init__(self, pred, gt):
        self._marks = {"pred": StubLandmarks(pred), "gt": StubLandmarks(gt)}

    def landmarks(self, which, backend="dlib"):
        return self._marks[which]


def test_frames_without_a_face_are_skipped_and_counted():
    rng = np.random.default_rng(2)
    gt = rng.uniform(0, 256, size=(4, 68, 2))
    pred = gt + rng.normal(0, 2, size=gt.shape)
    pred[1] = np.nan
    gt[3] = np.nan
    score = LMDDlib().score_clip(StubClip(pred, gt))
    assert score.info["frames_scored"] == 2
    assert score.info["frames_no_face_pred"] == 1 and score.info["frames_no_face_gt"] == 1
    expected = reference_lmd(pred[[0, 2]].tolist(), gt[[0, 2]].tolist())
    assert score.values["lmd@dlib"] == pytest.approx(expected["lmd"], rel=1e-9)
    assert score.values["f_lmd@dlib"] == pytest.approx(expected["f_lmd"], rel=1e-9)

    pred[:] = np.nan
    with pytest.raises(FaceError, match="no frame has a face"):
        LMDDlib().score_clip(StubClip(pred, gt))


def test_registered_with_three_outputs():
    assert METRICS.get("lmd@dlib") is LMDDlib and METRICS.get("lmd@fan") is LMDFan
    assert LMDDlib.output_ids() == ("lmd@dlib", "m_lmd@dlib", "f_lmd@dlib")
    assert LMDFan.output_ids() == ("lmd@fan", "m_lmd@fan", "f_lmd@fan")
    assert LMDDlib.higher_is_better is False and LMDFan.weights == ("fan2d",)


@pytest.fixture(scope="module")
def face_video():
    """uint8 [4,256,256,3]: astronaut's face, then shifted 6 px, then zoomed 12%, then blank."""
    import cv2
    from skimage.data import astronaut

    face = np.ascontiguousarray(astronaut()[0:256, 96:352])
    shifted = np.roll(face, (6, -6), axis=(0, 1))
    zoom = cv2.getRotationMatrix2D((130.0, 125.0), 0.0, 1.12)
    zoomed = cv2.warpAffine(face, zoom, (256, 256), borderMode=cv2.BORDER_REFLECT)
    return np.stack([face, shifted, zoomed, np.zeros_like(face)])


def test_end_to_end_on_a_real_face(face_video):
    gt = np.repeat(face_video[:1], 4, axis=0)
    clip = ClipInputs.from_arrays(face_video, gt)
    score = LMDDlib().score_clip(clip)
    assert score.info["frames_scored"] == 3 and score.info["frames_no_face_pred"] == 1
    marks_pred = detect_landmarks(face_video[:3])
    marks_gt = detect_landmarks(gt[:3])
    expected = lmd_values(marks_pred.points, marks_gt.points)
    assert score.values["lmd@dlib"] == pytest.approx(expected["lmd"], rel=1e-12)

    per_frame = [lmd_values(marks_pred.points[[t]], marks_gt.points[[t]])["m_lmd"] for t in range(3)]
    assert per_frame[0] == 0.0  # the same frame
    assert per_frame[1] < 1.5  # a shift moves points by about one pixel at most after centring
    assert per_frame[2] > per_frame[1] + 1.0  # a 12% zoom spreads the mouth points


def test_identical_videos_score_zero(face_video):
    clip = ClipInputs.from_arrays(face_video[:3], face_video[:3].copy())
    assert LMDDlib().score_clip(clip).values == {"lmd@dlib": 0.0, "m_lmd@dlib": 0.0, "f_lmd@dlib": 0.0}
