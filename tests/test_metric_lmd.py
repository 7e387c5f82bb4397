"""LMD / M-LMD / F-LMD against direct transcriptions of the published evaluation scripts
(ATVGnet's evaluation_matrix.py, EAT's evaluation_eat test_lmd.py) on real dlib landmarks."""

import math

import numpy as np
import pytest

from tfbench.errors import FaceError
from tfbench.evaluate.clip import ClipInputs
from tfbench.evaluate.metrics import METRICS
from tfbench.evaluate.metrics.lmd import LMDDlib, LMDFan, atvgnet_lmd, eat_lmd


def atvgnet_reference(pred_frames, gt_frames):
    """lelechen63/ATVGnet evaluation_matrix.py, transcribed: generating_landmark_lips (cv2
    BGR image -> COLOR_BGR2GRAY -> detector(gray, 1) -> predictor(gray, rect), last rect
    wins, mouth = shape[48:68] minus sum/20.0) then compare_landmarks (per frame
    sqrt(sum((rp - fp)**2, axis=1)).sum(), then sum / count over frame pairs)."""
    import cv2
    import dlib

    from tfbench.weights import weights_path

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(weights_path("dlib_landmarks68")))

    def mouth(rgb):
        image = np.ascontiguousarray(rgb[:, :, ::-1])  # what cv2.imread gives
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        saved = None
        for rect in detector(gray, 1):
            shape = predictor(gray, rect)
            shape = np.array([(shape.part(i).x, shape.part(i).y) for i in range(68)], dtype=int)  # face_utils.shape_to_np
            mouth_land = shape[48:68].copy()
            original = np.sum(mouth_land, axis=0) / 20.0
            saved = mouth_land - original
        return saved

    distances = []
    for pred, gt in zip(pred_frames, gt_frames):
        fp, rp = mouth(pred), mouth(gt)
        if fp is None or rp is None:
            continue
        dis = np.sqrt(np.sum((rp - fp) ** 2, axis=1))
        distances.append(np.sum(dis, axis=0))
    return sum(distances) / len(distances)


def eat_reference(pred_frames, gt_frames):
    """yuangan/evaluation_eat code/test_lmd.py get_lmd, transcribed (equal lengths): imageio
    RGB frames -> cv2.COLOR_BGR2GRAY -> detector(gray, 0) -> first rect -> predictor;
    calibrate_lmk centres on the mean; sums of point distances / (valid x 20 | 68)."""
    import cv2
    import dlib

    from tfbench.weights import weights_path

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(weights_path("dlib_landmarks68")))

    def get_lmk(img):
        gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        for rect in detector(gray, 0):
            shape = predictor(gray, rect)
            shape = np.array([(shape.part(i).x, shape.part(i).y) for i in range(68)], dtype=int)
            return shape[48:68], shape
        return None, None

    def ld(lmk1, lmk2):
        lmk1 = lmk1.astype(np.float64) - lmk1.astype(np.float64).mean(axis=0)
        lmk2 = lmk2.astype(np.float64) - lmk2.astype(np.float64).mean(axis=0)
        return sum(math.sqrt((p1[0] - p2[0]) ** 2 + (p1[1] - p2[1]) ** 2) for p1, p2 in zip(lmk1, lmk2))

    mouth_sum = face_sum = valid = 0
    for v1, v2 in zip(pred_frames, gt_frames):
        mouth1, face1 = get_lmk(np.ascontiguousarray(v1))
        if mouth1 is None:
            continue
        mouth2, face2 = get_lmk(np.ascontiguousarray(v2))
        if mouth2 is None:
            continue
        mouth_sum += ld(mouth1, mouth2)
        face_sum += ld(face1, face2)
        valid += 1
    return mouth_sum / (valid * 20), face_sum / (valid * 68)


def test_formulas_on_hand_made_points():
    rng = np.random.default_rng(1)
    gt = rng.uniform(0, 256, size=(3, 68, 2))
    shifted = gt + np.array([7.0, -3.0])  # the whole face moves: centring removes it
    assert atvgnet_lmd(shifted, gt) == pytest.approx(0.0, abs=1e-9)
    assert eat_lmd(shifted, gt) == pytest.approx({"m_lmd": 0.0, "f_lmd": 0.0}, abs=1e-9)
    opened = gt.copy()
    opened[:, 57, 1] += 8.0  # lower lip moves down 8 px: the mouth centroid moves 0.4 px
    # point 57 is 7.6 px off, the 19 other mouth points 0.4 px (v1's 68-point centring gave 7.88 + 19 * 0.12)
    assert atvgnet_lmd(opened, gt) == pytest.approx(7.6 + 19 * 0.4)
    assert eat_lmd(opened, gt)["m_lmd"] == pytest.approx((7.6 + 19 * 0.4) / 20)
    assert eat_lmd(opened, gt)["f_lmd"] == pytest.approx((8.0 * 67 / 68 + 67 * 8.0 / 68) / 68)


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

    def landmarks(self, which, backend="dlib", **detection):
        return self._marks[which]


def test_frames_without_a_face_are_skipped_counted_and_low_coverage_fails():
    rng = np.random.default_rng(2)
    gt = rng.uniform(0, 256, size=(4, 68, 2))
    pred = gt + rng.normal(0, 2, size=gt.shape)
    pred[1] = np.nan
    gt[3] = np.nan
    score = LMDDlib().score_clip(StubClip(pred, gt))
    assert score.info["lmd@dlib"]["frames_scored"] == 2
    assert score.info["lmd@dlib"]["frames_no_face_pred"] == 1 and score.info["lmd@dlib"]["frames_no_face_gt"] == 1
    assert score.values["lmd@dlib:frames_scored"] == 2 and score.values["lmd@dlib:frames"] == 4
    assert score.values["m_lmd@dlib:frames_scored"] == 2
    assert score.values["lmd@dlib"] == pytest.approx(atvgnet_lmd(pred[[0, 2]], gt[[0, 2]]), rel=1e-12)
    assert score.values["f_lmd@dlib"] == pytest.approx(eat_lmd(pred[[0, 2]], gt[[0, 2]])["f_lmd"], rel=1e-12)

    pred[0] = np.nan  # 1 of 4 frames left: below the default 50 % coverage
    with pytest.raises(FaceError, match=r"scored only 1 of 4 frames .*min_coverage=0.5"):
        LMDDlib().score_clip(StubClip(pred, gt))
    assert LMDDlib(min_coverage=0.25).score_clip(StubClip(pred, gt)).values["lmd@dlib:frames_scored"] == 1
    pred[:] = np.nan
    with pytest.raises(FaceError, match="scored only 0 of 4"):
        LMDDlib(min_coverage=0.0).score_clip(StubClip(pred, gt))


def test_aggregate_reports_coverage():
    rng = np.random.default_rng(3)
    metric = LMDDlib(min_coverage=0.5)
    scores = []
    for missing in (0, 1):
        gt = rng.uniform(0, 256, size=(4, 68, 2))
        pred = gt + 1.0
        pred[:missing] = np.nan
        scores.append(metric.score_clip(StubClip(pred, gt)))
    values = metric.aggregate(iter(scores))
    assert values["lmd@dlib"] == pytest.approx(0.0, abs=1e-9)
    assert metric.aggregate_notes["coverage"]["lmd@dlib"] == {"frames": 8, "frames_scored": 7, "fraction": 7 / 8}
    assert metric.protocol_params()["min_coverage"] == 0.5


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


def test_matches_the_published_scripts_on_real_faces(face_video):
    """Real dlib landmarks on real frames: tfbench equals both transcriptions exactly; the v1
    formula (68-point centring, RGB detection) would have been about 2x off here."""
    import cv2

    blurred = np.stack([cv2.GaussianBlur(frame, (7, 7), 2.0) for frame in face_video])
    gt = np.concatenate([np.repeat(face_video[:1], 4, axis=0), blurred[:3]])
    pred = np.concatenate([face_video, face_video[[1, 2, 0]]])
    score = LMDDlib().score_clip(ClipInputs.from_arrays(pred, gt))
    assert score.values["lmd@dlib:frames_scored"] == 6  # the blank frame has no face
    assert score.values["lmd@dlib"] == pytest.approx(atvgnet_reference(pred, gt), rel=1e-12, abs=1e-12)
    m_lmd, f_lmd = eat_reference(pred, gt)
    assert score.values["m_lmd@dlib"] == pytest.approx(m_lmd, rel=1e-12)
    assert score.values["f_lmd@dlib"] == pytest.approx(f_lmd, rel=1e-12)
    assert score.values["lmd@dlib"] > 0.5


def test_identical_videos_score_zero(face_video):
    clip = ClipInputs.from_arrays(face_video[:3], face_video[:3].copy())
    values = LMDDlib().score_clip(clip).values
    assert {key: values[key] for key in LMDDlib.output_ids()} == {"lmd@dlib": 0.0, "m_lmd@dlib": 0.0, "f_lmd@dlib": 0.0}


def test_runner_records_coverage_per_clip_and_in_the_result(face_video, tmp_path):
    """End to end: per_clip.csv has the frames scored, result.json the coverage, and a clip
    with a face in 1 of 4 frames fails with the threshold named instead of being scored."""
    import csv
    import json

    from tfbench.evaluate.runner import ClipJob, Runner, RunInfo
    from tfbench.io.video import write_video

    good = face_video[[0, 1, 2, 0]]
    sparse = face_video[[0, 3, 3, 3]]  # a face in the first frame only
    jobs = []
    for clip_id, pred in (("good", good), ("sparse", sparse)):
        pred_path = write_video(tmp_path / "pred" / f"{clip_id}.mp4", pred, fps=25.0, lossless=True)
        gt_path = write_video(tmp_path / "gt" / f"{clip_id}.mp4", np.repeat(face_video[:1], 4, axis=0), fps=25.0, lossless=True)
        jobs.append(ClipJob(clip_id, pred_path, gt_path))
    info = RunInfo(model="test", dataset="unit", split="test", protocol="pred-vs-gt/v1")
    summary = Runner([LMDDlib()], tmp_path / "out", info, progress=False).run(jobs)
    rows = {row["clip_id"]: row for row in csv.DictReader(open(summary.per_clip_csv))}
    assert rows["good"]["lmd@dlib:frames_scored"] == "4.0" and rows["good"]["m_lmd@dlib:frames"] == "4.0"
    assert rows["sparse"]["lmd@dlib"] == "" and "scored only 1 of 4 frames" in rows["sparse"]["error"]
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    notes = result["metrics"]["lmd@dlib"]["notes"]
    assert notes["coverage"]["lmd@dlib"] == {"frames": 4, "frames_scored": 4, "fraction": 1.0}
    assert notes["min_coverage"] == 0.5 and result["metrics"]["lmd@dlib"]["clips_scored"] == 1


def test_evaluate_summary_prints_coverage_and_unverified(capsys):
    from pathlib import Path
    from types import SimpleNamespace

    from rich.console import Console

    from tfbench.commands.evaluate import _print_summary
    from tfbench.results import MetricResult, ResultRecord

    lmd = MetricResult("lmd@dlib", 3.0, "2", False, 1, 0, weights={"dlib_landmarks68": {"sha256": "a", "canonical": True, "status": "canonical"}},
                       notes={"coverage": {"lmd@dlib": {"frames": 10, "frames_scored": 9, "fraction": 0.9}}})
    fvd = MetricResult("fvd", 3.0, "1", False, 1, 0, weights={"fvd_i3d": {"sha256": "a", "canonical": False, "status": "unverified"}})
    record = ResultRecord(model="m", dataset="d", split="t", protocol="p", metrics={"lmd@dlib": lmd, "fvd": fvd}, wall_time_s=1.0)
    summary = SimpleNamespace(record=record, scores_computed=1, scores_reused=0, out=Path("out"), notes={}, failures=[],
                              result_json="result.json", per_clip_csv="per_clip.csv")
    _print_summary(Console(width=200), summary, [])
    printed = capsys.readouterr().out
    assert "face coverage: lmd@dlib scored 9 of 10 frames (90.0%)" in printed and "UNVERIFIED" in printed
