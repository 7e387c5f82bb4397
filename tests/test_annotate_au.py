"""Offline AU estimator: landmark geometry, normalised per speaker."""

import numpy as np
import pytest

from tfbench.annotate.au import AU_NAMES, SpeakerAuNormaliser, raw_measures, require_network_backend
from tfbench.errors import TfbenchError


@pytest.fixture(scope="module")
def neutral_face() -> np.ndarray:
    from tfbench.face.landmarks import detect_landmarks
    import skimage.data

    points = detect_landmarks(skimage.data.astronaut()[:300, 80:380][None]).points[0]
    assert np.isfinite(points).all()
    return points.astype(np.float64)


def _jitter(face, frames=30, seed=0):
    return face + np.random.default_rng(seed).normal(scale=0.3, size=(frames, 68, 2))


def _index(name):
    return AU_NAMES.index(name)


def test_open_mouth_raises_au25_au26_not_au12(neutral_face):
    normaliser = SpeakerAuNormaliser()
    rest = _jitter(neutral_face)
    normaliser.add("A", rest, neutral=True)
    opened = neutral_face.copy()
    opened[[56, 57, 58, 65, 66, 67]] += [0, 8]  # lower lip down
    opened[5:12] += [0, 8]  # jaw down
    normaliser.add("A", _jitter(opened, seed=1), neutral=False)
    values = normaliser.intensities("A", opened[None])[0]
    assert values[_index("AU25")] > 1.0 and values[_index("AU26")] > 1.0
    assert values[_index("AU12")] == 0.0  # the lower lip went down, the corners did not go up
    neutral_values = normaliser.intensities("A", neutral_face[None])[0]
    assert neutral_values[_index("AU25")] < 0.5
    assert np.all((values >= 0) & (values <= 5))


def test_smile_is_au12_and_frown_is_au15(neutral_face):
    normaliser = SpeakerAuNormaliser()
    normaliser.add("B", _jitter(neutral_face), neutral=True)
    smile, frown = neutral_face.copy(), neutral_face.copy()
    smile[[48, 54]] += [0, -4]
    frown[[48, 54]] += [0, 4]
    normaliser.add("B", np.concatenate([_jitter(smile, 10, 2), _jitter(frown, 10, 3)]), neutral=False)
    smile_values = normaliser.intensities("B", smile[None])[0]
    frown_values = normaliser.intensities("B", frown[None])[0]
    assert smile_values[_index("AU12")] > 0.5 and smile_values[_index("AU15")] == 0.0
    assert frown_values[_index("AU15")] > 0.5 and frown_values[_index("AU12")] == 0.0


def test_measures_ignore_pose(neutral_face):
    angle = 0.3
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = (neutral_face - 100) @ rotation.T * 1.7 + 40
    np.testing.assert_allclose(raw_measures(moved[None]), raw_measures(neutral_face[None]), atol=1e-9)


def test_network_backend_without_weights_names_the_fix():
    with pytest.raises(TfbenchError, match="--au offline") as error:
        require_network_backend()
    assert "tfbench weights import libreface_au" in str(error.value)
