"""Offline 3DMM backend: tfbench's landmark model laid out in Deep3DFaceRecon's 257 slots."""

import numpy as np

from tfbench.annotate.tdmm import SLOTS, OfflineTdmm, OfflineTdmmFitter


def _template() -> np.ndarray:
    angles = np.linspace(0, 2 * np.pi, 68, endpoint=False)
    shape = np.stack([np.cos(angles), 1.2 * np.sin(angles)], axis=1) * 0.8
    ring = np.linspace(0, 2 * np.pi, 6, endpoint=False)
    eye = 0.1 * np.stack([np.cos(ring), 0.5 * np.sin(ring)], 1)  # centred on its mean
    shape[36:42] = [-0.5, 0.0] + eye
    shape[42:48] = [0.5, 0.0] + eye
    return shape


def _synthetic(seed=0, speakers=4, frames=40, k_exp=3):
    """Landmarks = (template + speaker offset + expression) under a random similarity pose."""
    rng = np.random.default_rng(seed)
    template = _template()
    basis = rng.normal(size=(k_exp, 68, 2)) * 0.03
    basis[:, 36:48] = 0.0  # keep the eyes fixed so the eye normalisation is exact
    data = {}
    for s in range(speakers):
        offset = rng.normal(size=(68, 2)) * 0.02
        offset[36:48] = 0.0
        weights = rng.normal(size=(frames, k_exp))
        shapes = template + offset + np.einsum("tk,kpc->tpc", weights, basis)
        roll = rng.uniform(-0.2, 0.2, frames)
        scale = rng.uniform(40, 60, frames)
        centre = rng.uniform(100, 150, (frames, 2))
        cos, sin = np.cos(roll), np.sin(roll)
        rotation = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], 1)
        pixels = np.einsum("tij,tkj->tki", rotation, shapes * scale[:, None, None]) + centre[:, None]
        data[f"S{s}"] = (pixels, roll, scale, centre)
    return data


def _fit(data, test=("S3",)):
    fitter = OfflineTdmmFitter(train_speakers={s for s in data if s not in test})
    for speaker, (pixels, *_rest) in data.items():
        fitter.add_identity(speaker, pixels, neutral=False)
    fitter.identity_model()
    for speaker, (pixels, *_rest) in data.items():
        if speaker not in test:
            fitter.add_expression(speaker, pixels)
    return fitter.finish()


def test_layout_pose_slots_and_round_trip():
    data = _synthetic()
    model = _fit(data)
    pixels, roll, scale, centre = data["S1"]
    coeffs, align = model.coefficients(pixels, "S1", 256, 256)
    assert coeffs.shape == (40, 257) and align.shape == (40, 5) and coeffs.dtype == np.float32
    for zero_slot in ("tex", "gamma"):
        start, end = SLOTS[zero_slot]
        assert not coeffs[:, start:end].any()
    assert not coeffs[:, 224:226].any() and not coeffs[:, 256].any()
    np.testing.assert_allclose(coeffs[:, 226], roll, atol=1e-5)
    np.testing.assert_allclose(align[:, 2], scale, rtol=1e-5)
    np.testing.assert_allclose(align[:, 3:5], centre, rtol=1e-5)
    np.testing.assert_allclose(coeffs[:, 254], (centre[:, 0] - 128) / 256, atol=1e-5)
    # 3 train speakers -> 2 identity components; 3 true expression components are recovered
    assert model.id_basis.shape[1] == 2
    assert model.exp_basis.shape[1] >= 3
    np.testing.assert_allclose(model.landmarks(coeffs, align), pixels, atol=1e-2)


def test_expression_basis_is_learned_from_train_speakers_only_and_reloads(tmp_path):
    data = _synthetic(seed=1)
    model = _fit(data, test=("S3",))
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = OfflineTdmm.load(path)
    pixels = data["S3"][0]
    np.testing.assert_array_equal(model.coefficients(pixels, "S3", 256, 256)[0],
                                  loaded.coefficients(pixels, "S3", 256, 256)[0])
    # the test speaker's expressions are still captured (same expression space)
    coeffs, align = loaded.coefficients(pixels, "S3", 256, 256)
    residual = loaded.landmarks(coeffs, align) - pixels
    identity_only = loaded.landmarks(np.where(np.arange(257) < 80, coeffs, 0) + np.where(np.arange(257) >= 144, coeffs, 0), align) - pixels
    assert np.abs(residual).mean() < 0.5 * np.abs(identity_only).mean()


def test_deterministic_signs():
    first = _fit(_synthetic(seed=2))
    second = _fit(_synthetic(seed=2))
    np.testing.assert_array_equal(first.exp_basis, second.exp_basis)
