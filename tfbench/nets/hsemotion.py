"""HSEmotion EfficientNet-B0 (Savchenko 2022), an AffectNet-trained facial-expression network.

The public file ``enet_b0_8_best_afew.pt`` (face-emotion-recognition repository,
``models/affectnet_emotions/``; loaded by ``hsemotion.facial_emotions.HSEmotionRecognizer``)
is a whole pickled timm ``tf_efficientnet_b0`` whose ``classifier`` is ``Linear(1280, 8)``
(AffectNet's 8 classes: Anger, Contempt, Disgust, Fear, Happiness, Neutral, Sadness,
Surprise). Preprocessing as HSEmotion: RGB resized to 224x224, in [0, 1], normalised with the
ImageNet mean/std. :meth:`HSEmotionNet.features` is the 1280-d pooled backbone output before
the last linear layer (HSEmotion's ``extract_features``).

Loading never runs arbitrary pickled code: the pickle is opened with ``weights_only=True``
and an allowlist of the timm / torch.nn classes it names, its ``state_dict()`` is copied
into a freshly built network (strict). A plain state dict file of the same network works too.
"""

from __future__ import annotations

import torch
from torch import nn

from tfbench.errors import CheckpointError
from tfbench.weights import WeightsSpec, register, weights_path

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
SIZE = 224
ARCH = "tf_efficientnet_b0"
CLASSES = ("Anger", "Contempt", "Disgust", "Fear", "Happiness", "Neutral", "Sadness", "Surprise")

WEIGHTS = register(WeightsSpec(
    name="hsemotion_enet_b0_8",
    filename="enet_b0_8_best_afew.pt",
    description="HSEmotion EfficientNet-B0 (AffectNet, 8 emotions), a whole pickled timm model; "
                "the emotion network of the emospace paper config's L_emo",
    license="Apache-2.0 (face-emotion-recognition)",
    source="download",
    # the URL hsemotion 0.3.0 downloads from (get_model_path); sha256 not pinned: no machine with internet verified it
    urls=("https://github.com/HSE-asavchenko/face-emotion-recognition/blob/main/models/affectnet_emotions/enet_b0_8_best_afew.pt?raw=true",),
    install_hint="tfbench weights download hsemotion_enet_b0_8, or fetch models/affectnet_emotions/enet_b0_8_best_afew.pt "
                 "of github.com/HSE-asavchenko/face-emotion-recognition, then: "
                 "tfbench weights import hsemotion_enet_b0_8 /path/to/enet_b0_8_best_afew.pt",
))


class HSEmotionNet(nn.Module):
    """images float [B,3,H,W] RGB in [-1, 1] -> :meth:`features` [B,1280] / ``forward`` logits [B,8]."""

    def __init__(self) -> None:
        super().__init__()
        import timm

        self.net = timm.create_model(ARCH, pretrained=False, num_classes=len(CLASSES))
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[-2:] != (SIZE, SIZE):
            images = nn.functional.interpolate(images, size=(SIZE, SIZE), mode="bilinear", align_corners=False,
                                               antialias=True)
        return ((images + 1) / 2 - self.mean) / self.std

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.net.forward_head(self.net.forward_features(self._prepare(images)), pre_logits=True)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(self._prepare(images))


def _allowed_globals(path) -> list:
    """The timm / torch.nn classes a pickled-module file names (its allowlist)."""
    import importlib
    import pickletools
    import zipfile

    with zipfile.ZipFile(path) as archive:
        data = archive.read(next(name for name in archive.namelist() if name.endswith("data.pkl")))
    names, recent = set(), []
    for op, arg, _ in pickletools.genops(data):
        if op.name == "GLOBAL":
            names.add(arg.replace(" ", "."))
        elif op.name == "STACK_GLOBAL" and len(recent) >= 2:
            names.add(f"{recent[-2]}.{recent[-1]}")
        if isinstance(arg, str):
            recent.append(arg)
    allowed = []
    for name in sorted(names):
        module, _, attr = name.rpartition(".")
        if not (module.startswith("timm.") or module.startswith("torch.nn.")):
            continue
        try:
            allowed.append(getattr(importlib.import_module(module), attr))
        except (ImportError, AttributeError) as error:
            raise CheckpointError(
                f"{path} was pickled with a timm that had {name}, which the installed timm lacks; save its "
                "state_dict() where hsemotion's timm is installed and import that file instead") from error
    return allowed


def read_state(path) -> dict:
    """State dict of an HSEmotion file (whole pickled model or state dict), classifier keys as
    ``classifier.weight`` / ``classifier.bias``."""
    import pickle
    import zipfile

    try:
        allowed = _allowed_globals(path)
        with torch.serialization.safe_globals(allowed):
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile, StopIteration, EOFError) as error:
        raise CheckpointError(f"{path} is not an HSEmotion EfficientNet file: {str(error).splitlines()[0][:200]}") from error
    state = loaded.state_dict() if isinstance(loaded, nn.Module) else loaded
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} is not an HSEmotion EfficientNet file (holds {type(loaded).__name__})")
    return {key.replace("classifier.0.", "classifier."): value for key, value in state.items()}


def load_hsemotion(device: str = "cpu") -> HSEmotionNet:
    """The network with weights ``hsemotion_enet_b0_8`` from the cache (strict), frozen, eval mode."""
    path = weights_path("hsemotion_enet_b0_8")
    network = HSEmotionNet()
    try:
        network.net.load_state_dict(read_state(path))
    except RuntimeError as error:
        raise CheckpointError(f"{path} is not an HSEmotion {ARCH} with 8 classes: {str(error).splitlines()[0][:200]}") from error
    return network.eval().requires_grad_(False).to(device)


def write_random_weights(path, seed: int = 0) -> None:
    """A random network saved as the public file is (a whole pickled timm model); tests only."""
    import timm

    torch.manual_seed(seed)
    torch.save(timm.create_model(ARCH, pretrained=False, num_classes=len(CLASSES)), path)
