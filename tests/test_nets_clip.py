"""tfbench.nets.clip: exact open_clip architectures offline, OpenAI-layout weights through the manager."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tfbench.errors import MissingWeightsError
from tfbench.nets import clip

TINY = {"embed_dim": 32, "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "patch_size": 16},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1}}


def test_tokenize_and_preprocess():
    tokens = clip.tokenize(["a happy face", "an angry face"])
    assert tokens.shape == (2, 77) and tokens.dtype == torch.int64
    assert tokens[0, 0] == 49406 and (tokens[0] == 49407).sum() == 1  # start / end of text
    frames = np.random.default_rng(0).integers(0, 256, (2, 48, 64, 3), dtype=np.uint8)
    images = clip.preprocess_images(frames, size=32)
    assert images.shape == (2, 3, 32, 32) and images.dtype == torch.float32
    with pytest.raises(ValueError, match="uint8"):
        clip.preprocess_images(frames.astype(np.float32))


def test_load_clip_needs_the_weights_and_reads_the_public_layout(tmp_path, monkeypatch):
    monkeypatch.setenv("TFBENCH_HOME", str(tmp_path))
    with pytest.raises(MissingWeightsError, match="clip_vit_b32"):
        clip.load_clip()
    from tfbench import weights

    source = clip.write_random_weights(tmp_path / "ViT-B-32.pt")
    weights.install_file("clip_vit_b32", source, check_hash=False)
    weights.mark_non_canonical("clip_vit_b32")
    model = clip.load_clip()
    state = model.state_dict()  # the exact OpenAI ViT-B/32 architecture, from the public key layout
    assert state["visual.conv1.weight"].shape == (768, 3, 32, 32)
    assert state["token_embedding.weight"].shape == (49408, 512)
    assert state["text_projection"].shape == (512, 512) and state["visual.proj"].shape == (768, 512)
    assert sum(p.numel() for p in model.parameters()) == 151_277_313
    expected = torch.load(source, weights_only=True)
    assert torch.equal(model.state_dict()["visual.conv1.weight"], expected["visual.conv1.weight"])
    assert not any(p.requires_grad for p in model.parameters()) and not model.training
    assert not weights.weights_record("clip_vit_b32").canonical


def test_tiny_config_encodes_text_and_images():
    model = clip.build_clip(TINY)
    with torch.no_grad():
        text = model.encode_text(clip.tokenize(["hello"]))
        image = model.encode_image(torch.zeros(1, 3, 32, 32))
    assert text.shape == (1, 32) and image.shape == (1, 32)
