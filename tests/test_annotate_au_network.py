"""The network AU backend (LibreFace AU-intensity ResNet-18): parity with the libreface
package's own alignment, input transform and model class on random weights, and
``prepare --au network`` end to end."""

import ast
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from tfbench.annotate import au_network
from tfbench.errors import CheckpointError, MissingWeightsError


def _libreface_file(relative: str) -> Path:
    """A source file of the installed libreface package (its __init__ needs mediapipe, so it is
    never imported as a package)."""
    spec = importlib.util.find_spec("libreface")
    assert spec is not None, "libreface is not installed: pip install --no-deps libreface==0.2.0 (scripts/install.sh)"
    return Path(spec.submodule_search_locations[0]) / relative


def _reference_definitions(relative: str, names: tuple[str, ...], namespace: dict) -> dict:
    """Execute only the top-level functions/classes ``names`` of a libreface file (its module
    imports mediapipe/gdown/timm, which are not installed) in ``namespace``."""
    tree = ast.parse(_libreface_file(relative).read_text())
    wanted = [node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in names]
    assert {node.name for node in wanted} == set(names)
    exec(compile(ast.Module(body=wanted, type_ignores=[]), relative, "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def reference():
    """libreface's image_align, image_test transform and ResNet18 class."""
    import scipy.ndimage
    from PIL import Image
    from torchvision import transforms

    class PillowWithAntialias:  # image_align's shrink branch uses Image.ANTIALIAS (= LANCZOS, gone in Pillow 10)
        ANTIALIAS = Image.Resampling.LANCZOS

        def __getattr__(self, name):
            return getattr(Image, name)

    namespace = _reference_definitions("detect_mediapipe_image.py", ("image_align",),
                                       {"np": np, "Image": PillowWithAntialias(), "scipy": scipy})
    transform = _reference_definitions("AU_Recognition/solver_inference_image.py", ("image_test",), {"transforms": transforms})
    spec = importlib.util.spec_from_file_location("libreface_au_resnet18", _libreface_file("AU_Recognition/models/resnet18.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {"image_align": namespace["image_align"], "image_test": transform["image_test"], "ResNet18": module.ResNet18}


@pytest.fixture(scope="module")
def face():
    """(uint8 [512,512,3] astronaut photo, float64 [68,2] dlib landmarks)."""
    import skimage.data

    from tfbench.face.landmarks import detect_landmarks

    image = skimage.data.astronaut()
    points = detect_landmarks(image[None]).points[0]
    assert np.isfinite(points).all()
    return image, points.astype(np.float64)


def _mediapipe_layout(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """The [72,2] normalised point list libreface builds from MediaPipe (16 points of the
    image-right eye, 16 of the image-left eye, 40 lip points), made from dlib points."""
    right_eye = np.repeat(points[42:48].mean(axis=0)[None], 16, axis=0)
    left_eye = np.repeat(points[36:42].mean(axis=0)[None], 16, axis=0)
    lips = np.concatenate([points[48:68], points[48:68]])
    return np.concatenate([right_eye, left_eye, lips]) / [width, height]


@pytest.mark.parametrize("crop, zoom", [((0, 512, 0, 512), 1), ((20, 260, 150, 350), 1), ((20, 260, 150, 350), 8)],
                         ids=["whole-photo", "tight-crop-padded", "large-face-shrunk"])
def test_alignment_matches_libreface(reference, face, crop, zoom):
    import cv2
    from PIL import Image

    image, points = face
    top, bottom, left, right = crop
    frame = np.ascontiguousarray(image[top:bottom, left:right])
    points = points - [left, top]
    if zoom > 1:  # a face so large that both implementations shrink the frame first
        frame = cv2.resize(frame, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_LINEAR)
        points = (points + 0.5) * zoom - 0.5
        assert au_network.alignment_quad(points)[1] >= 4 * au_network.SHRINK_UNIT  # shrink >= 2
    height, width = frame.shape[:2]
    expected = np.asarray(reference["image_align"](Image.fromarray(frame), _mediapipe_layout(points, width, height)))
    ours = au_network.align_face(frame, points)
    assert ours.shape == expected.shape == (512, 512, 3)
    np.testing.assert_array_equal(ours, expected)  # same operations in the same order: bit-exact
    assert ours.std() > 10  # a face, not a blank image


def test_the_tight_crop_case_covers_the_padding_branch(face):
    """In the tight crop the aligned square leaves the 200×240 frame (LibreFace pads once it
    comes within 4 px of an edge), so the parity case above runs the zero-pad/blur/fade branch."""
    _image, points = face
    quad, _side = au_network.alignment_quad(points - [150, 20])
    outside = max(-np.floor(quad.min(axis=0)).min(), np.ceil(quad[:, 0].max()) - 200, np.ceil(quad[:, 1].max()) - 240)
    assert outside > 4


def test_input_transform_matches_libreface(reference, face):
    from PIL import Image

    aligned = au_network.align_face(*face)
    expected = reference["image_test"](img_size=256, crop_size=224)(Image.fromarray(aligned)).numpy()
    ours = au_network.network_input(aligned)
    assert ours.shape == (3, 224, 224) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-6)


def _random_reference_model(reference, monkeypatch):
    """libreface's ResNet18 (random init: its ImageNet download is replaced by weights=None),
    with random BatchNorm statistics so the loaded buffers matter."""
    import torch
    import torchvision

    original = torchvision.models.resnet18
    monkeypatch.setattr(torchvision.models, "resnet18", lambda weights=None, **kwargs: original(weights=None, **kwargs))

    class Options:
        fm_distillation = False
        dropout = 0.1
        num_labels = 12

    torch.manual_seed(0)
    model = reference["ResNet18"](Options())
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(module.running_var.shape, generator=generator) + 0.5)
    return model.eval()


def test_network_matches_libreface_on_the_same_weights(reference, face, monkeypatch):
    import torch

    from tfbench.testing import install_random_weights
    from tfbench.weights import weights_record

    model = _random_reference_model(reference, monkeypatch)
    install_random_weights("libreface_au", {"model": model.state_dict()})  # libreface's checkpoint layout
    aligned = au_network.align_face(*face)
    inputs = np.stack([au_network.network_input(aligned), au_network.network_input(aligned[:, ::-1].copy())])
    with torch.inference_mode():
        # libreface's image_inference: clamp(model(x) * 5, 0, 5)
        expected = torch.clamp(model(torch.from_numpy(inputs)) * 5.0, 0.0, 5.0).numpy()
        ours = au_network.load_model()(torch.from_numpy(inputs)).numpy()
    assert ours.shape == (2, 12)
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-5)
    assert np.ptp(expected) > 0.05  # the outputs differ across AUs and inputs
    assert weights_record("libreface_au").canonical is False

    values = au_network.au_intensities(np.stack([face[0], face[0]]), np.stack([face[1], face[1]]), batch=1)
    assert values.dtype == np.float32 and values.shape == (2, 12)
    np.testing.assert_allclose(values, expected[[0, 0]], rtol=1e-5, atol=1e-5)


def test_missing_weights_name_the_import_command():
    with pytest.raises(MissingWeightsError) as error:
        au_network.load_model()
    assert "tfbench weights import libreface_au" in str(error.value)
    assert "tfbench weights download libreface_au" in str(error.value)


def test_a_wrong_checkpoint_is_a_checkpoint_error():
    import torch

    from tfbench.testing import install_random_weights

    install_random_weights("libreface_au", {"model": {"fc.weight": torch.zeros(3)}})
    with pytest.raises(CheckpointError, match="LibreFace"):
        au_network.load_model()


def test_cli_prepare_au_network_fails_before_any_work_without_weights(tmp_path):
    from typer.testing import CliRunner

    from tfbench.cli import app

    result = CliRunner().invoke(app, ["prepare", "sample", "--au", "network", "--out", str(tmp_path / "out")])
    assert isinstance(result.exception, MissingWeightsError)  # main() prints it and exits 2
    assert "tfbench weights import libreface_au" in str(result.exception) and "--au offline" in str(result.exception)
    assert not (tmp_path / "out").exists()


def test_prepare_with_au_network_stores_the_network_intensities(tmp_path):
    import datasets
    import torch

    from _fixtures_raw import mead_tree
    from tfbench.annotate.text import _data_file, au_levels, au_phrases, load_au_table
    from tfbench.recipes import RECIPES
    from tfbench.recipes.build import BuildParams, prepare
    from tfbench.testing import install_random_weights

    torch.manual_seed(0)
    install_random_weights("libreface_au", {"model": au_network.build_network().state_dict()})
    raw = mead_tree(tmp_path / "raw", speakers=("W011",), groups=(("happy", 2),), seconds=1.2)
    summary = prepare(RECIPES.get("mead"), raw, tmp_path / "out", size=96, build=BuildParams(au="network"))
    assert summary["clips"] == 1, summary["failures"]
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert meta["backends"]["au"]["name"] == "network"
    assert meta["backends"]["au"]["weights"]["canonical"] is False
    assert meta["au_names"] == list(au_network.AU_NAMES)

    row = datasets.load_from_disk(str(tmp_path / "out" / "dataset"))["train"].with_format("numpy")[0]
    intensities = row["au"]
    assert intensities.shape == (30, 12) and intensities.dtype == np.float32
    assert np.all((intensities >= 0) & (intensities <= 5))
    np.testing.assert_allclose(row["au_mean"], intensities.mean(axis=0), rtol=1e-5)
    # the stored values are the network's output on the aligned (pre-encoding) crop
    from tfbench.io.video import read_video

    frame = read_video(tmp_path / "out" / "clips" / f"{row['clip_id']}.mp4").frames[0]
    direct = au_network.au_intensities(frame[None], row["landmarks"][:1])[0]
    assert np.abs(direct - intensities[0]).max() < 0.05
    assert np.ptp(intensities[0]) > 1e-3  # not a constant
    # the text uses the network's threshold table (DISFA scale), which covers all 12 AUs
    assert meta["backends"]["text"]["au_table"] == "au_thresholds_network.csv"
    table_path = str(_data_file("au_thresholds_network.csv"))
    assert [row.au for row in load_au_table(table_path)] == list(au_network.AU_NAMES)
    phrases = au_phrases(au_levels(dict(zip(meta["au_names"], row["au_mean"].tolist())), table_path), table_path)
    assert phrases and all(phrase in row["text"][0] for phrase in phrases)
