"""CLIP (Radford et al. 2021) through ``open-clip-torch``: the exact OpenAI architectures.

open-clip-torch bundles the BPE vocabulary and the model configs, so :func:`build_clip`
builds the exact ViT-B/32 offline with random weights (``pretrained=None``); the real
weights come only from the weights manager as ``clip_vit_b32`` (OpenAI's ``ViT-B-32.pt``,
a TorchScript archive whose state dict uses OpenAI's key names, which open_clip's
``CLIP`` shares). Nothing here downloads anything.

Preprocessing (OpenAI's ``_transform``): resize the short side to 224 (PIL bicubic),
centre crop 224 x 224, scale to [0, 1], normalise with :data:`MEAN` / :data:`STD`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfbench.weights import WeightsSpec, register

#: OpenAI CLIP image normalisation (RGB).
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
#: Tokens per text (CLIP's context length).
CONTEXT_LENGTH = 77

WEIGHTS = register(WeightsSpec(
    name="clip_vit_b32",
    filename="ViT-B-32.pt",
    description="OpenAI CLIP ViT-B/32 (TorchScript archive); built as open_clip's CLIP with quick GELU. "
                "Preprocessing: short side 224 bicubic, centre crop 224, OpenAI mean/std",
    license="MIT (openai/CLIP)",
    source="download",
    urls=("https://openaipublic.azureedge.net/clip/models/"
          "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt",),
    # the sha256 OpenAI's URL carries (clip.py checks the download against it)
    sha256="40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af",
))


def build_clip(config: str | dict = "ViT-B-32"):
    """A randomly initialised ``open_clip.model.CLIP`` of the exact architecture, eval mode.

    ``config``: an open_clip model name (``"ViT-B-32"``, built with OpenAI's quick GELU) or
    an open_clip model config dict ``{"embed_dim", "vision_cfg", "text_cfg"}`` for tiny tests.
    """
    import open_clip
    from open_clip.model import CLIP

    if isinstance(config, str):
        return open_clip.create_model(config, pretrained=None, force_quick_gelu=True).eval()
    config = dict(config)
    config.setdefault("quick_gelu", True)
    return CLIP(**config).eval()


def load_clip(device: str = "cpu"):
    """The frozen eval ViT-B/32 with the weights ``clip_vit_b32`` (float32 on ``device``).

    Raises :class:`~tfbench.errors.MissingWeightsError` naming
    ``tfbench weights import clip_vit_b32 FILE`` when the file is absent, and
    :class:`~tfbench.errors.CheckpointError` for a file that is not a ViT-B/32 state.
    """
    import torch
    from open_clip.model import build_model_from_openai_state_dict

    from tfbench.errors import CheckpointError
    from tfbench.weights import weights_path

    path = weights_path("clip_vit_b32")
    state = _read_state(path)
    try:
        model = build_model_from_openai_state_dict(dict(state), quick_gelu=True, cast_dtype=None).float()
        # open_clip casts to fp16 while building; reload so float32 files keep every bit
        model.load_state_dict({key: value for key, value in state.items()
                               if key not in ("input_resolution", "context_length", "vocab_size")})
    except (KeyError, RuntimeError, IndexError) as error:
        raise CheckpointError(f"{path} is not an OpenAI CLIP checkpoint ({type(error).__name__}: {str(error)[:200]})") from error
    if model.visual.conv1.weight.shape != torch.Size([768, 3, 32, 32]):
        raise CheckpointError(f"{path} is a CLIP checkpoint but not ViT-B/32 (patch embedding {list(model.visual.conv1.weight.shape)})")
    return model.float().eval().requires_grad_(False).to(device)


def _read_state(path: Path) -> dict:
    """State dict of an OpenAI TorchScript archive, or of a ``torch.save``d state dict."""
    import torch

    from tfbench.errors import CheckpointError

    try:
        return dict(torch.jit.load(str(path), map_location="cpu").state_dict())
    except RuntimeError:
        pass
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # unpickling raises many types
        raise CheckpointError(f"{path} is neither a TorchScript archive nor a state dict ({str(error)[:200]})") from error
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} does not hold a state dict")
    return state


def write_random_weights(path: Path, config: str | dict = "ViT-B-32") -> Path:
    """Write a random CLIP state dict in the public OpenAI key layout to ``path`` (tests only).

    :func:`load_clip` reads such a file exactly as it reads ``ViT-B-32.pt``.
    """
    import torch

    state = build_clip(config).state_dict()
    torch.save(state, path)
    return Path(path)


def tokenize(texts: list[str]):
    """``texts`` -> int64 ``[N, 77]`` BPE token ids (start/end tokens, zero padded, truncated)."""
    import open_clip

    return open_clip.tokenize(list(texts), context_length=CONTEXT_LENGTH)


def preprocess_images(frames: np.ndarray, size: int = 224):
    """uint8 ``[N, H, W, 3]`` RGB -> float32 ``[N, 3, size, size]`` normalised as CLIP expects.

    Short side resized to ``size`` (PIL bicubic, as OpenAI's transform), centre crop.
    """
    import torch
    from PIL import Image
    from torchvision.transforms import CenterCrop, InterpolationMode, Normalize, Resize, ToTensor

    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 [N,H,W,3] RGB, got {frames.dtype} {list(frames.shape)}")
    resize, crop = Resize(size, interpolation=InterpolationMode.BICUBIC), CenterCrop(size)
    to_tensor, normalise = ToTensor(), Normalize(MEAN, STD)
    return torch.stack([normalise(to_tensor(crop(resize(Image.fromarray(frame))))) for frame in frames])
