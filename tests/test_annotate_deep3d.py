"""The deep3d 3DMM backend: Deep3DFaceRecon alignment and regressor, with random weights."""

import json

import numpy as np
import pytest

from tfbench.annotate import deep3d
from tfbench.errors import CheckpointError, MissingWeightsError


def _standard_68() -> np.ndarray:
    """A [68,3] stand-in for similarity_Lm3D_all.mat (decimetres, y up): only the points
    that make the 5 alignment points matter."""
    lm = np.zeros((68, 3))
    lm[36], lm[39] = (-0.45, 0.35, 0.0), (-0.15, 0.35, 0.0)  # eye corners
    lm[42], lm[45] = (0.15, 0.35, 0.0), (0.45, 0.35, 0.0)
    lm[30] = (0.0, 0.0, 0.35)  # nose tip
    lm[48], lm[54] = (-0.25, -0.35, 0.05), (0.25, -0.35, 0.05)  # mouth corners
    return lm


def _install_files():
    from scipy.io import savemat

    from tfbench.testing import install_random_file, install_random_weights

    import torch

    torch.manual_seed(0)
    install_random_weights("deep3d_recon", {"net_recon": deep3d.build_network().state_dict()})
    install_random_file("deep3d_lm3d", lambda path: savemat(str(path), {"lm": _standard_68()}))
    deep3d.load_model.cache_clear()


def test_projection_fit_recovers_scale_and_translation():
    rng = np.random.default_rng(0)
    model = rng.normal(size=(5, 3))
    angle = 0.3
    rotation = np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0]])
    image = 37.5 * model @ rotation.T + [120.0, -40.0]
    translation, scale = deep3d.fit_projection(image, model)
    np.testing.assert_allclose(translation, [120.0, -40.0], atol=1e-9)
    assert scale == pytest.approx(37.5, rel=1e-9)


def test_alignment_puts_the_face_where_the_reference_does():
    """A frontal face projected at scale 300 px/dm: after alignment the 5 points sit at
    102 × their standard x/y around the crop centre (y flipped to image rows)."""
    standard68 = _standard_68()
    height, width = 360, 480
    centre = np.array([250.0, 170.0])  # y up
    points = np.zeros((68, 2))
    for index in range(68):
        x, y, _z = standard68[index]
        points[index] = centre + 300.0 * np.array([x, y])
    pixels = points.copy()
    pixels[:, 1] = height - 1 - pixels[:, 1]  # to y-down pixel rows
    frame = np.zeros((height, width, 3), np.uint8)
    nose = np.rint(pixels[30]).astype(int)
    frame[nose[1] - 2 : nose[1] + 3, nose[0] - 2 : nose[0] + 3] = 255
    crop, params = deep3d.align_frame(frame, pixels, deep3d.five_points(standard68))
    assert crop.shape == (224, 224, 3)
    assert params[0:2].tolist() == [width, height]
    assert params[2] == pytest.approx(102.0 / 300.0, rel=1e-6)
    rows, cols = np.nonzero(crop[..., 0] > 100)
    # nose tip: x = 0, y = 0 in the standard frame -> the crop centre (± resampling/rounding)
    assert abs(cols.mean() - 112) < 2.5 and abs(rows.mean() - 112) < 2.5


def test_missing_files_name_the_import_commands():
    deep3d.load_model.cache_clear()
    with pytest.raises(MissingWeightsError) as error:
        deep3d.load_model()
    assert "tfbench weights import deep3d_recon" in str(error.value)
    assert "tfbench weights import deep3d_lm3d" in str(error.value)


def test_a_wrong_checkpoint_is_a_checkpoint_error():
    from tfbench.testing import install_random_weights

    import torch

    _install_files()
    install_random_weights("deep3d_recon", {"net_recon": {"fc.weight": torch.zeros(3)}})
    deep3d.load_model.cache_clear()
    with pytest.raises(CheckpointError, match="net_recon"):
        deep3d.load_model()
    deep3d.load_model.cache_clear()


def test_prepare_with_deep3d_stores_the_regressed_coefficients(tmp_path):
    import torch

    from _fixtures_raw import mead_tree
    from tfbench.recipes import RECIPES
    from tfbench.recipes.build import BuildParams, prepare

    _install_files()
    raw = mead_tree(tmp_path / "raw", speakers=("W011",), groups=(("neutral", 1),), seconds=1.2)
    summary = prepare(RECIPES.get("mead"), raw, tmp_path / "out", size=96, build=BuildParams(tdmm="deep3d"))
    assert summary["clips"] == 1, summary["failures"]
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert meta["backends"]["tdmm"]["name"] == "deep3d"
    assert meta["backends"]["tdmm"]["weights"]["canonical"] is False
    import datasets

    row = datasets.load_from_disk(str(tmp_path / "out" / "dataset"))["train"].with_format("numpy")[0]
    coeffs, align = row["coeffs_3dmm"], row["coeffs_3dmm_align"]
    assert coeffs.shape == (30, 257) and align.shape == (30, 5)
    assert np.all(align[:, 0:2] == 96)
    # every head is filled (tex and gamma too, unlike the offline backend) and the values are
    # the network's output on the aligned crop of the stored landmarks' frame
    assert np.abs(coeffs[:, 144:254]).sum() > 0
    network, standard = deep3d.load_model()
    from tfbench.io.video import read_video

    frame = read_video(tmp_path / "out" / "clips" / f"{row['clip_id']}.mp4").frames[0]
    crop, params = deep3d.align_frame(frame, row["landmarks"][0], standard)
    np.testing.assert_allclose(params, align[0], rtol=1e-5)
    with torch.inference_mode():
        direct = network(torch.from_numpy(np.array(crop[None])).permute(0, 3, 1, 2).float() / 255.0).numpy()[0]
    # the stored value came from the pre-encoding crop: close to, not equal to, the decoded one
    assert np.corrcoef(direct, coeffs[0])[0, 1] > 0.99
    deep3d.load_model.cache_clear()
