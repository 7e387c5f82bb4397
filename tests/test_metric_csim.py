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
