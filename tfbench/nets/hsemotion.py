"""HSEmotion EfficientNet-B0 (Savchenko 2022), an AffectNet-trained facial-expression network.

The public file ``enet_b0_8_best_afew.pt`` (face-emotion-recognition repository,
``models/affectnet_emotions/``; loaded by ``hsemotion.facial_emotions.HSEmotionRecognizer``)
is a whole pickled timm ``tf_efficientnet_b0`` whose ``classifier`` is ``Linear(1280, 8)``
(AffectNet's 8 classes: Anger, Contempt, Disgust, Fear, Happiness, Neutral, Sadness,
Surprise). Preprocessing as HSEmotion: RGB resized to 224x224, in [0, 1], normalised with the
ImageNet mean/std. :meth:`HSEmotionNet.features` is the 1280-d pooled backbone output before
the last linear layer (HSEmotion's ``extract_features``).

Loading never runs pickled code: the file is unpickled with an unpickler that resolves only
tensor rebuilding and plain containers and turns every timm / torch class into an inert stub
recording attributes; the parameters and buffers are collected from the stubs' ``_parameters``
/ ``_buffers`` / ``_modules`` and loaded into a freshly built network (strict), so a file
pickled by any timm version works. A plain state dict file of the same network works too.
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


class _Stub:
    """Stands in for every timm / torch.nn class (and function) the pickle names: it only
    records the attributes the pickle sets, so no pickled code ever runs and the timm version
    that saved the file does not matter (HSEmotion's files predate timm 1.0's module layout)."""

    def __init__(self, *args, **kwargs) -> None:
        pass

    def __setstate__(self, state) -> None:
        if isinstance(state, tuple):  # (dict state, slot state)
            state = {key: value for part in state if isinstance(part, dict) for key, value in part.items()}
        if isinstance(state, dict):
            self.__dict__.update(state)


def _unpickler_module():
    """A ``pickle`` stand-in for ``torch.load(pickle_module=...)`` whose unpickler resolves only
    tensor rebuilding, a few containers, and stubs for timm / torch classes."""
    import collections
    import pickle
    import types

    import torch._utils

    real = {("torch._utils", name): getattr(torch._utils, name)
            for name in ("_rebuild_tensor_v2", "_rebuild_parameter", "_rebuild_parameter_with_state")}
    real.update({("collections", "OrderedDict"): collections.OrderedDict, ("builtins", "set"): set,
                 ("builtins", "frozenset"): frozenset, ("__builtin__", "set"): set})

    class Unpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str):
            if (module, name) in real:
                return real[(module, name)]
            if module.split(".")[0] in ("timm", "torch", "functools", "copyreg"):
                return type(name, (_Stub,), {})
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a weights file")

    return types.SimpleNamespace(Unpickler=Unpickler, load=pickle.load, __name__="tfbench_weights_pickle")


def _module_state(module, prefix: str = "") -> dict:
    """The state dict of an unpickled module stub (parameters, persistent buffers, children)."""
    state = {}
    skipped = getattr(module, "_non_persistent_buffers_set", set()) or set()
    for key in ("_parameters", "_buffers"):
        for name, value in (getattr(module, key, None) or {}).items():
            if value is not None and name not in skipped:
                state[prefix + name] = value.detach() if isinstance(value, torch.Tensor) else value
    for name, child in (getattr(module, "_modules", None) or {}).items():
        if child is not None:
            state.update(_module_state(child, f"{prefix}{name}."))
    return state


def read_state(path) -> dict:
    """State dict of an HSEmotion file (whole pickled model or state dict), classifier keys as
    ``classifier.weight`` / ``classifier.bias``."""
    import pickle
    import zipfile

    try:
        loaded = torch.load(path, map_location="cpu", weights_only=False, pickle_module=_unpickler_module())
    except (RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile, EOFError, AttributeError, TypeError) as error:
        raise CheckpointError(f"{path} is not an HSEmotion EfficientNet file: {str(error).splitlines()[0][:200]}") from error
    state = _module_state(loaded) if isinstance(loaded, _Stub) else loaded
    if not isinstance(state, dict) or not state:
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
