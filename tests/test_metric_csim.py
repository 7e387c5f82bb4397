"""CSIM: cosine similarity of identity embeddings to the reference frame, on real faces."""

import importlib.util

import numpy as np
import pytest

from tfbench.errors import FaceError, MissingWeightsError, TfbenchError
from tfbench.evaluate.clip import ClipInputs
from tfbench.evaluate.metrics import METRICS
from tfbench.evaluate.metrics.csim import CSIMArcFace, CSIMDlib
from tfbench.face.embed import face_embeddings


@pytest.fixture(scope="module")
def astronaut_face() -> np.ndarray:
    from skimage.data import astronaut

    return np.ascontiguousarray(astronaut()[0:256, 96:352])


@pytest.fixture(scope="module")
def other_people() -> np.ndarray:
    """uint8 [3,256,256,3]: three LFW faces (scikit-image's lfw_subset), enlarged to 200 px, on grey."""
    import cv2
    from skimage.data import lfw_subset

    frames = []
    for index in (0, 5, 10):
        face = cv2.resize((lfw_subset()[index] * 255).astype(np.uint8), (200, 200), interpolation=cv2.INTER_CUBIC)
        canvas = np.full((256, 256), 128, dtype=np.uint8)
        canvas[28:228, 28:228] = face
        frames.append(np.repeat(canvas[..., None], 3, axis=2))
    return np.stack(frames)


def test_identical_frames_score_one(astronaut_face):
    clip = ClipInputs.from_arrays(np.stack([astronaut_face] * 3), reference=astronaut_face)
    score = CSIMDlib().score_clip(clip)
    assert score.values["csim@dlib"] == pytest.approx(1.0, abs=1e-6)
    assert score.info == {"frames": 3, "frames_scored": 3, "frames_no_face": 0}


def test_other_people_score_lower_than_the_same_person(astronaut_face, other_people):
    mirrored = np.ascontiguousarray(astronaut_face[:, ::-1])
    same = CSIMDlib().score_clip(ClipInputs.from_arrays(mirrored[None], reference=astronaut_face)).values["csim@dlib"]
    others = CSIMDlib().score_clip(ClipInputs.from_arrays(other_people, reference=astronaut_face)).values["csim@dlib"]
    assert same > 0.95
    assert others < 0.9 and others < same - 0.1


def test_value_is_the_mean_cosine_and_faceless_frames_are_skipped(astronaut_face, other_people):
    pred = np.concatenate([other_people[:2], np.zeros_like(astronaut_face)[None], astronaut_face[None]])
    clip = ClipInputs.from_arrays(pred, gt=pred.copy(), reference=None)  # reference = gt frame 0
    score = CSIMDlib().score_clip(clip)
    embeddings = face_embeddings(pred)
    expected = np.mean([embeddings[t].astype(np.float64) @ embeddings[0] for t in (0, 1, 3)])
    assert score.values["csim@dlib"] == pytest.approx(expected, rel=1e-6)
    assert score.info["frames_scored"] == 3 and score.info["frames_no_face"] == 1


def test_reference_without_a_face_fails_the_clip(astronaut_face):
    blank = np.zeros_like(astronaut_face)
    with pytest.raises(FaceError, match="reference"):
        CSIMDlib().score_clip(ClipInputs.from_arrays(astronaut_face[None], reference=blank))
    with pytest.raises(FaceError, match="generated frames"):
        CSIMDlib().score_clip(ClipInputs.from_arrays(blank[None], reference=astronaut_face))


def test_registered():
    assert METRICS.get("csim@dlib") is CSIMDlib and METRICS.get("csim@arcface") is CSIMArcFace
    assert CSIMDlib.higher_is_better and CSIMDlib.needs == frozenset({"pred", "reference"})
    assert "arcface_r50" in CSIMArcFace.weights


def test_arcface_names_its_fix(astronaut_face):
    if importlib.util.find_spec("onnxruntime") is None:
        with pytest.raises(TfbenchError, match=r'pip install "tfbench\[insightface\]"'):
            CSIMArcFace()
    else:
        clip = ClipInputs.from_arrays(astronaut_face[None], reference=astronaut_face)
        with pytest.raises(MissingWeightsError, match="arcface_r50"):
            CSIMArcFace().score_clip(clip)


def random_arcface_onnx(path, seed: int = 0) -> None:
    """A random ONNX recognition network with w600k_r50's interface: input [N,3,112,112]
    float, output [N,512]; nodes named like a PyTorch export (no leading Sub/Mul, so
    insightface normalises with mean 127.5, std 127.5 as for the real file)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    conv = rng.normal(0, 0.1, (16, 3, 8, 8)).astype(np.float32)
    dense = rng.normal(0, 0.1, (16 * 14 * 14, 512)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["input.1", "conv_w"], ["c"], name="Conv_0", strides=[8, 8]),
            helper.make_node("Relu", ["c"], ["r"], name="Relu_1"),
            helper.make_node("Flatten", ["r"], ["f"], name="Flatten_2", axis=1),
            helper.make_node("MatMul", ["f", "dense_w"], ["683"], name="MatMul_3"),
        ],
        "random_arcface",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["None", 3, 112, 112])],
        [helper.make_tensor_value_info("683", TensorProto.FLOAT, ["None", 512])],
        [numpy_helper.from_array(conv, "conv_w"), numpy_helper.from_array(dense, "dense_w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))


def test_arcface_csim_equals_insightface_recognition_model(astronaut_face, other_people):
    """insightface's own ArcFaceONNX (its norm_crop alignment, its cv2.dnn blob with BGR->RGB
    swap and 127.5 normalisation, the same ONNX session type) on the same random ONNX network
    and the same 5 keypoints (from dlib's 68: insightface's SCRFD detector weights are not
    available offline): tfbench's embeddings and CSIM equal insightface's."""
    from insightface.app.common import Face  # installed --no-deps by scripts/install.sh
    from insightface.model_zoo.arcface_onnx import ArcFaceONNX

    from tfbench.face.embed import five_points_from_68
    from tfbench.face.landmarks import detect_landmarks
    from tfbench.testing import install_random_file

    path = install_random_file("arcface_r50", random_arcface_onnx)
    frames = np.concatenate([astronaut_face[None], other_people])
    ours = face_embeddings(frames, backend="arcface")
    model = ArcFaceONNX(model_file=str(path))
    assert (model.input_mean, model.input_std) == (127.5, 127.5)
    marks = detect_landmarks(frames)
    for t, frame in enumerate(frames):
        face = Face(kps=five_points_from_68(marks.points[t]))
        reference = model.get(np.ascontiguousarray(frame[:, :, ::-1]), face)  # insightface takes BGR
        np.testing.assert_allclose(ours[t], reference / np.linalg.norm(reference), rtol=0, atol=2e-6)
    score = CSIMArcFace().score_clip(ClipInputs.from_arrays(other_people, reference=astronaut_face))
    expected = np.mean([model.compute_sim(ours[0], ours[t]) for t in (1, 2, 3)])
    assert score.values["csim@arcface"] == pytest.approx(expected, abs=1e-6)
    assert abs(expected) > 1e-3
