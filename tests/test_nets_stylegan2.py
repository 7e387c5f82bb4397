"""tfbench.nets.stylegan2: rosinality's Generator layout (FFHQ / e4e decoder) and a small forward."""

from __future__ import annotations

import torch

from tfbench.nets.stylegan2 import Generator, upfirdn2d


def test_ffhq_1024_layout_matches_rosinality():
    g = Generator(1024, 512, 8, channel_multiplier=2)
    state = {key: tuple(value.shape) for key, value in g.state_dict().items()}
    assert sum(p.numel() for p in g.parameters()) == 30_370_060  # StyleGAN2 config-f generator
    assert len(state) == 171 and g.n_latent == 18 and g.num_layers == 17
    expected = {
        "style.1.weight": (512, 512), "style.8.bias": (512,), "input.input": (1, 512, 4, 4),
        "conv1.conv.weight": (1, 512, 512, 3, 3), "conv1.conv.modulation.weight": (512, 512),
        "conv1.noise.weight": (1,), "conv1.activate.bias": (512,), "to_rgb1.conv.weight": (1, 3, 512, 1, 1),
        "to_rgb1.bias": (1, 3, 1, 1), "convs.0.conv.blur.kernel": (4, 4), "convs.8.conv.weight": (1, 256, 512, 3, 3),
        "convs.10.conv.weight": (1, 128, 256, 3, 3), "convs.15.conv.weight": (1, 32, 32, 3, 3),
        "to_rgbs.7.upsample.kernel": (4, 4), "to_rgbs.7.conv.weight": (1, 3, 32, 1, 1),
        "to_rgbs.7.conv.modulation.bias": (32,), "noises.noise_0": (1, 1, 4, 4), "noises.noise_16": (1, 1, 1024, 1024),
    }
    assert {key: state[key] for key in expected} == expected
    assert "style.0.weight" not in state and "convs.16.conv.weight" not in state  # PixelNorm at 0; 16 convs
    assert torch.equal(g.state_dict()["convs.0.conv.blur.kernel"].sum(), torch.tensor(4.0))  # upsample gain 2^2


def test_upfirdn2d_upsamples_a_point_into_the_kernel():
    kernel = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    x = torch.zeros(1, 1, 3, 3)
    x[0, 0, 1, 1] = 1
    out = upfirdn2d(x, kernel, up=2, pad=(1, 0))
    assert out.shape == (1, 1, 6, 6)
    assert torch.equal(out[0, 0, 2:4, 2:4], kernel)  # FIR = correlation with the flipped kernel = convolution
    assert out.sum() == kernel.sum()
    assert torch.equal(upfirdn2d(x, torch.ones(1, 1)), x)


def test_small_generator_forward():
    torch.manual_seed(0)
    g = Generator(32, 16, 2, channels={4: 16, 8: 16, 16: 8, 32: 8}).eval()
    z = torch.randn(2, 16)
    with torch.no_grad():
        image, latent = g([z], return_latents=True, randomize_noise=False)
        again, _ = g(latent, input_is_latent=True, randomize_noise=False)
        mixed, _ = g([z, z.flip(0)], inject_index=3, randomize_noise=False)
    assert image.shape == (2, 3, 32, 32) and latent.shape == (2, g.n_latent, 16) and torch.isfinite(image).all()
    assert torch.equal(image, again) and not torch.equal(image, mixed)
    restored = Generator(32, 16, 2, channels={4: 16, 8: 16, 16: 8, 32: 8})
    restored.load_state_dict(g.state_dict(), strict=True)
    with torch.no_grad():
        assert torch.equal(restored(latent, input_is_latent=True, randomize_noise=False)[0], image)
