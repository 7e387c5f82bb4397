"""tfbench.face: detection, landmarks (dlib, FAN loader/decoding) and embeddings on real faces."""

import importlib.util

import numpy as np
import pytest

from tfbench.errors import InputError, MissingWeightsError, TfbenchError, UnknownNameError
from tfbench.face import fan
from tfbench.face.detect import detect_faces, detect_faces_batch, largest_box
from tfbench.face.embed import ARCFACE_DST, align_arcface, arcface_matrix, face_embeddings, five_points_from_68
from tfbench.face.landmarks import detect_landmarks
from tfbench.testing import install_random_file


@pytest.fixture(scope="session")
def face() -> np.ndarray:
    """uint8 [256,256,3]: scikit-image's astronaut, cropped around her face."""
    from skimage.data import astronaut

    return np.ascontiguousarray(astronaut()[0:256, 96:352])


def test_one_face_found_with_68_points_on_it(face):
    boxes = detect_faces(face)
    assert boxes.shape == (1, 5) and boxes.dtype == np.float32
    x1, y1, x2, y2, _ = boxes[0]
    assert 60 < x1 < x2 < 200 and 50 < y1 < y2 < 200  # the face, not the whole crop

    result = detect_landmarks(face[None])
    points = result.points[0]
    assert result.num_faces.tolist() == [1] and result.found.tolist() == [True]
    np.testing.assert_array_equal(result.boxes[0], boxes[0, :4])
    # dlib's jaw line may stick out of the HOG box by a few pixels: allow 15% of its size
    margin = 0.15 * (x2 - x1)
    assert np.all(points[:, 0] > x1 - margin) and np.all(points[:, 0] < x2 + margin)
    assert np.all(points[:, 1] > y1 - margin) and np.all(points[:, 1] < y2 + margin)
    # anatomy: brows above eyes above nose tip above mouth above chin; image-left eye first
    brows, eyes, nose, mouth, chin = points[17:27, 1].mean(), points[36:48, 1].mean(), points[30, 1], points[48:68, 1].mean(), points[8, 1]
    assert brows < eyes < nose < mouth < chin
    assert points[36:42, 0].mean() < points[42:48, 0].mean()


def test_blank_frame_has_no_face_and_nan_rows(face):
    frames = np.stack([np.zeros_like(face), face])
    result = detect_landmarks(frames)
    assert result.num_faces.tolist() == [0, 1]
    assert np.isnan(result.points[0]).all() and np.isnan(result.boxes[0]).all()
    assert not np.isnan(result.points[1]).any()
    assert detect_faces(np.zeros_like(face)).shape == (0, 5)


def test_two_faces_counted_and_largest_used(face):
    import cv2

    smaller = cv2.resize(face, None, fx=0.7, fy=0.7)  # box area 0.48 of the big one: counted
    padded = np.zeros_like(face)
    padded[40:40 + smaller.shape[0], 40:40 + smaller.shape[1]] = smaller
    pair = np.ascontiguousarray(np.concatenate([face, padded], axis=1))
    result = detect_landmarks(pair[None])
    assert result.num_faces.tolist() == [2]
    assert result.boxes[0, 0] < 256  # the big face on the left, not the smaller one
    np.testing.assert_array_equal(largest_box(detect_faces(pair))[:4], result.boxes[0])
    half = np.zeros_like(face)
    half[64:192, 64:192] = face[::2, ::2]  # box area 0.24 of the big one: a background face
    assert detect_landmarks(np.concatenate([face, half], axis=1)[None]).num_faces.tolist() == [1]


def test_mmod_detector_agrees_with_hog(face):
    hog = detect_faces(face)[0]
    mmod = detect_faces_batch(np.stack([face, face]), backend="mmod")
    assert len(mmod) == 2 and len(mmod[0]) == 1
    np.testing.assert_array_equal(mmod[0], mmod[1])
    a, b = hog[:4], mmod[0][0, :4]
    inter = max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    assert inter / union > 0.5


def test_bad_input_and_names_rejected(face):
    with pytest.raises(InputError):
        detect_faces(face.astype(np.float32))
    with pytest.raises(InputError):
        detect_landmarks(face)  # one frame, not [T,H,W,3]
    with pytest.raises(UnknownNameError):
        detect_landmarks(face[None], backend="dlib5")
    with pytest.raises(InputError):
        detect_landmarks(face[None], boxes=np.zeros((2, 4)))


def test_given_boxes_are_used(face):
    box = detect_faces(face)[0, :4]
    boxes = np.stack([box, np.full(4, np.nan, dtype=np.float32)])
    result = detect_landmarks(np.stack([face, face]), boxes=boxes)
    assert result.found.tolist() == [True, False]
    np.testing.assert_array_equal(result.points[0], detect_landmarks(face[None]).points[0])


# ---------------------------------------------------------------- embeddings


def test_dlib_embedding_normalised_and_stable(face):
    frames = np.stack([face, face, np.zeros_like(face), face[:, ::-1]])
    embeddings = face_embeddings(frames)
    assert embeddings.shape == (4, 128) and embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeddings[[0, 1, 3]], axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(embeddings[0], embeddings[1])
    assert np.isnan(embeddings[2]).all()
    assert embeddings[0] @ embeddings[3] > 0.9  # her mirror image is still her


def test_arcface_alignment_inverts_a_known_similarity():
    angle, scale, shift = np.deg2rad(12.0), 2.5, np.array([40.0, -7.0])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    keypoints = ARCFACE_DST @ rotation.T + shift  # where the template lands in a bigger image
    matrix = arcface_matrix(keypoints)
    mapped = np.c_[keypoints, np.ones(5)] @ matrix.T
    np.testing.assert_allclose(mapped, ARCFACE_DST, atol=1e-3)
    np.testing.assert_allclose(matrix[:, :2], np.linalg.inv(rotation), atol=1e-6)


def test_arcface_crop_puts_the_eyes_on_the_template(face):
    points = detect_landmarks(face[None]).points[0]
    keypoints = five_points_from_68(points)
    np.testing.assert_allclose(keypoints[0], points[36:42].mean(axis=0))
    np.testing.assert_array_equal(keypoints[3:], points[[48, 54]])
    crop = align_arcface(face, keypoints)
    assert crop.shape == (112, 112, 3) and crop.dtype == np.uint8
    # a frontal face fits the template closely (least squares, so not exactly)
    matrix = arcface_matrix(keypoints)
    fitted = np.c_[keypoints, np.ones(5)] @ matrix.T
    assert np.abs(fitted - ARCFACE_DST).max() < 6
    # a dot painted on the image-left eye centre lands where the matrix sends it
    marked = face.copy()
    x, y = np.round(keypoints[0]).astype(int)
    marked[y - 1:y + 2, x - 1:x + 2] = (0, 255, 0)
    diff = np.abs(align_arcface(marked, keypoints).astype(int) - crop.astype(int)).sum(axis=2)
    ys, xs = np.nonzero(diff)
    target = matrix @ [x, y, 1.0]
    assert abs(xs.mean() - target[0]) < 1 and abs(ys.mean() - target[1]) < 1


def test_arcface_names_its_fix_when_unavailable(face):
    if importlib.util.find_spec("onnxruntime") is None:
        with pytest.raises(TfbenchError, match=r'pip install "tfbench\[insightface\]"'):
            face_embeddings(face[None], backend="arcface")
    else:
        with pytest.raises(MissingWeightsError, match="tfbench weights import arcface_r50"):
            face_embeddings(face[None], backend="arcface")


# ---------------------------------------------------------------- FAN


def test_fan_missing_weights_names_the_fix(face):
    with pytest.raises(MissingWeightsError, match="tfbench weights download fan2d"):
        detect_landmarks(face[None], backend="fan")


def test_heatmap_decoding_matches_face_alignment_rules():
    heatmaps = np.zeros((1, 3, 64, 64), dtype=np.float32)
    heatmaps[0, 0, 30, 20] = 1.0  # peak at x=20, y=30; right and lower neighbours larger
    heatmaps[0, 0, 30, 21] = 0.5
    heatmaps[0, 0, 31, 20] = 0.5
    heatmaps[0, 1, 10, 40] = 1.0  # left and upper neighbours larger
    heatmaps[0, 1, 10, 39] = 0.5
    heatmaps[0, 1, 9, 40] = 0.5
    heatmaps[0, 2, 0, 5] = 1.0  # on the border: no quarter-pixel step
    heatmaps[0, 2, 0, 6] = 0.5
    peaks = fan.heatmap_peaks(heatmaps)
    # face-alignment: 1-based arg-max, +-0.25 towards the larger neighbour, then -0.5
    np.testing.assert_array_equal(peaks[0], [[21.25 - 0.5, 31.25 - 0.5], [40.75 - 0.5, 10.75 - 0.5], [6 - 0.5, 1 - 0.5]])


def test_crop_and_back_projection_are_consistent(face):
    box = np.array([86.0, 76.0, 176.0, 167.0])
    center, scale = fan.center_scale(box)
    np.testing.assert_allclose(center, [130.5, 121.0 - 90 * 0.12])
    assert scale == pytest.approx((89 + 90) / 195.0)
    crop = fan.crop_face(face, center, scale)
    assert crop.shape == (256, 256, 3)
    # the crop's centre pixel shows the image near ``center``; heatmap centre maps back to it
    back = fan.peaks_to_image(np.array([[32.0, 32.0]], dtype=np.float32), center, scale)
    assert np.all(np.abs(back[0] - center) <= 1.0)
    np.testing.assert_array_equal(back, np.trunc(back))  # integer pixels, like face-alignment


def _write_fake_fan(path):
    """TorchScript stand-in of 2DFAN4 (same input/output shapes): a zero-weight convolution
    plus one heatmap peak per point at a fixed heatmap pixel, so the decoded points are known."""
    import torch

    class FakeFan(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 68, kernel_size=4, stride=4, bias=False)
            torch.nn.init.zeros_(self.conv.weight)
            peaks = torch.zeros(68, 64, 64)
            for point in range(68):
                peaks[point, 8 + (point % 8) * 6, 8 + (point // 8) * 6] = 10.0
            self.register_buffer("peaks", peaks)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.peaks.unsqueeze(0) + self.conv(x)

    torch.jit.save(torch.jit.script(FakeFan()), str(path))


def test_fan_loader_runs_a_torchscript_archive(face):
    install_random_file("fan2d", _write_fake_fan)
    frames = np.stack([face, np.zeros_like(face), face])
    result = detect_landmarks(frames, backend="fan")
    assert result.points.shape == (3, 68, 2) and result.found.tolist() == [True, False, True]
    np.testing.assert_array_equal(result.points[0], result.points[2])
    # each point is the known heatmap peak mapped back through the face box
    center, scale = fan.center_scale(result.boxes[0])
    expected_peaks = np.array([[8 + (p // 8) * 6 + 1 - 0.5, 8 + (p % 8) * 6 + 1 - 0.5] for p in range(68)], dtype=np.float32)
    np.testing.assert_array_equal(result.points[0], fan.peaks_to_image(expected_peaks, center, scale))


def test_fan_rejects_a_file_that_is_not_torchscript(face):
    install_random_file("fan2d", lambda path: path.write_bytes(b"not a zip"))
    with pytest.raises(TfbenchError, match="not a TorchScript archive"):
        detect_landmarks(face[None], backend="fan")


@pytest.fixture
def face_alignment_api(monkeypatch):
    """face-alignment 1.4.1's own ``api`` module (installed with --no-deps). Its utils
    decorate two functions with ``numba.jit``; where numba is absent a pass-through
    decorator stands in, which runs the same Python code uncompiled."""
    import sys
    import types

    if importlib.util.find_spec("face_alignment") is None:
        pytest.fail("face-alignment is a test dependency: pip install --no-deps face-alignment==1.4.1")
    if importlib.util.find_spec("numba") is None:
        stub = types.ModuleType("numba")
        stub.jit = lambda *args, **kwargs: (lambda function: function)
        monkeypatch.setitem(sys.modules, "numba", stub)
    from face_alignment import api

    return api


def _write_random_fan(path):
    """Random-weight TorchScript net with 2DFAN4's shapes ([B,3,256,256] -> [B,68,64,64])."""
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, kernel_size=4, stride=4), torch.nn.ReLU(), torch.nn.Conv2d(16, 68, kernel_size=3, padding=1)
    )
    torch.jit.save(torch.jit.script(net), str(path))


def test_fan_points_match_face_alignment(face_alignment_api, face):
    import torch

    install_random_file("fan2d", _write_random_fan)
    reference = object.__new__(face_alignment_api.FaceAlignment)
    reference.device, reference.dtype, reference.flip_input = "cpu", torch.float32, False
    reference.landmarks_type = face_alignment_api.LandmarksType.TWO_D
    reference.face_alignment_net = fan.load_fan()
    reference.face_detector = type("Detector", (), {"reference_scale": 195})()

    box = detect_faces(face)[0, :4]
    edge = box + np.array([-80, -70, -80, -70], dtype=np.float32)  # half off the frame: zero padding
    frames = np.stack([face, face])
    ours = detect_landmarks(frames, backend="fan", boxes=np.stack([box, edge]))
    for index, (x1, y1, x2, y2) in enumerate((box, edge)):
        dlib_style = [int(x1), int(y1), int(x2) - 1, int(y2) - 1]
        expected = reference.get_landmarks_from_image(face, detected_faces=[dlib_style])[0]
        np.testing.assert_array_equal(ours.points[index], expected.astype(np.float32))


def test_one_several_faces_policy_for_metrics_and_recipes():
    """One rule: a face counts when its box has >= 1/4 of the largest one's area; a video
    with several counted faces in more than 10 % of frames fails. The recipes use it too."""
    from recipes.base import ClipParams, _faces_counted

    from tfbench.errors import FaceError
    from tfbench.face.detect import SEVERAL_FACES_MAX_FRACTION, faces_counted
    from tfbench.face.landmarks import check_one_face

    big, small, twin = [0, 0, 100, 100, 1], [200, 0, 240, 40, 1], [300, 0, 400, 100, 1]
    assert faces_counted(np.array([big, small], np.float32)) == 1  # a background face 16 % the size
    assert faces_counted(np.array([big, twin], np.float32)) == 2 and faces_counted(np.zeros((0, 5))) == 0
    for boxes in ([big, small], [big, twin], []):
        assert _faces_counted(np.array(boxes, np.float32).reshape(-1, 5)) == faces_counted(np.array(boxes, np.float32).reshape(-1, 5))
    assert ClipParams(recipe="x", recipe_version="1").max_multi_face == SEVERAL_FACES_MAX_FRACTION
    check_one_face(np.array([1] * 9 + [2]), "pred")  # 1 of 10 frames: the largest face is used
    with pytest.raises(FaceError, match="pred: several faces in 2 of 10 frames"):
        check_one_face(np.array([1] * 8 + [2, 2]), "pred")
