"""E_r: PIRenderer's FaceGenerator (Ren et al., ICCV 2021), as TalkCLIP uses it (§2.1.2).

Follows RenYurui/PIRender ``generators/face_model.py`` + ``generators/base_function.py``
(identical copies in StyleTalk's repository, whose ``configs/renderer_conf.yaml`` gives the
sizes) module for module with the same parameter names, so the public checkpoints load:
``load_public_renderer`` reads StyleTalk's ``renderer_checkpoint.pt`` / PIRenderer's
``epoch_00190_iteration_000400000_checkpoint.pt`` (key ``net_G_ema``).

Inputs: ``image`` float ``[B, 3, H, W]`` in [-1, 1] (the reference face) and ``coeffs``
float ``[B, 73, 27]``: per frame of a 27-frame window (radius 13) the 64 expression, 3
angle, 3 translation and 3 crop parameters of Deep3DFaceRecon. Output dict:
``warp_image`` and (unless ``stage="warp"``) ``fake_image``, both ``[B, 3, H, W]`` in [-1, 1].

One quirk is kept on purpose: in ``FineADAINResBlock2d`` the public code computes
``dx = actvn(norm1(conv1(x)))`` and then overwrites it with ``norm2(conv2(x))``, so
``conv1``/``norm1`` never affect the output. Released weights were trained that way.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm2d(nn.Module):
    def __init__(self, n_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n_out, 1, 1))
        self.bias = nn.Parameter(torch.zeros(n_out, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape[1:]
        return F.layer_norm(x, shape, self.weight.expand(shape), self.bias.expand(shape))


class ADAIN(nn.Module):
    def __init__(self, norm_nc: int, feature_nc: int) -> None:
        super().__init__()
        self.param_free_norm = nn.InstanceNorm2d(norm_nc, affine=False)
        self.mlp_shared = nn.Sequential(nn.Linear(feature_nc, 128), nn.ReLU())
        self.mlp_gamma = nn.Linear(128, norm_nc)
        self.mlp_beta = nn.Linear(128, norm_nc)

    def forward(self, x: torch.Tensor, feature: torch.Tensor) -> torch.Tensor:
        actv = self.mlp_shared(feature.view(feature.size(0), -1))
        gamma, beta = self.mlp_gamma(actv)[..., None, None], self.mlp_beta(actv)[..., None, None]
        return self.param_free_norm(x) * (1 + gamma) + beta


_ACT = nn.LeakyReLU(0.1)


class ADAINEncoderBlock(nn.Module):
    def __init__(self, cin: int, cout: int, feature_nc: int) -> None:
        super().__init__()
        self.conv_0 = nn.Conv2d(cin, cout, 4, 2, 1)
        self.conv_1 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.norm_0, self.norm_1 = ADAIN(cin, feature_nc), ADAIN(cout, feature_nc)

    def forward(self, x, z):
        x = self.conv_0(_ACT(self.norm_0(x, z)))
        return self.conv_1(_ACT(self.norm_1(x, z)))


class ADAINDecoderBlock(nn.Module):
    def __init__(self, cin: int, cout: int, hidden: int, feature_nc: int) -> None:
        super().__init__()
        self.conv_0 = nn.Conv2d(cin, hidden, 3, 1, 1)
        self.conv_1 = nn.ConvTranspose2d(hidden, cout, 3, 2, 1, output_padding=1)
        self.conv_s = nn.ConvTranspose2d(cin, cout, 3, 2, 1, output_padding=1)
        self.norm_0, self.norm_1, self.norm_s = ADAIN(cin, feature_nc), ADAIN(hidden, feature_nc), ADAIN(cin, feature_nc)

    def forward(self, x, z):
        shortcut = self.conv_s(_ACT(self.norm_s(x, z)))
        dx = self.conv_1(_ACT(self.norm_1(self.conv_0(_ACT(self.norm_0(x, z))), z)))
        return shortcut + dx


class ADAINEncoder(nn.Module):
    def __init__(self, image_nc, pose_nc, ngf, img_f, layers) -> None:
        super().__init__()
        self.layers = layers
        self.input_layer = nn.Conv2d(image_nc, ngf, 7, 1, 3)
        for i in range(layers):
            setattr(self, f"encoder{i}", ADAINEncoderBlock(min(ngf * 2 ** i, img_f), min(ngf * 2 ** (i + 1), img_f), pose_nc))

    def forward(self, x, z):
        out = self.input_layer(x)
        outs = [out]
        for i in range(self.layers):
            out = getattr(self, f"encoder{i}")(out, z)
            outs.append(out)
        return outs


class ADAINDecoder(nn.Module):
    def __init__(self, pose_nc, ngf, img_f, encoder_layers, decoder_layers) -> None:
        super().__init__()
        self.encoder_layers, self.decoder_layers = encoder_layers, decoder_layers
        for i in reversed(range(encoder_layers - decoder_layers, encoder_layers)):
            cin = min(ngf * 2 ** (i + 1), img_f) * (1 if i == encoder_layers - 1 else 2)
            cout = min(ngf * 2 ** i, img_f)
            setattr(self, f"decoder{i}", ADAINDecoderBlock(cin, cout, cout, pose_nc))
        self.output_nc = cout * 2

    def forward(self, x, z):
        out = x.pop()
        for i in reversed(range(self.encoder_layers - self.decoder_layers, self.encoder_layers)):
            out = torch.cat([getattr(self, f"decoder{i}")(out, z), x.pop()], 1)
        return out


class ADAINHourglass(nn.Module):
    def __init__(self, image_nc, pose_nc, ngf, img_f, encoder_layers, decoder_layers) -> None:
        super().__init__()
        self.encoder = ADAINEncoder(image_nc, pose_nc, ngf, img_f, encoder_layers)
        self.decoder = ADAINDecoder(pose_nc, ngf, img_f, encoder_layers, decoder_layers)
        self.output_nc = self.decoder.output_nc

    def forward(self, x, z):
        return self.decoder(self.encoder(x, z), z)


def _conv_norm_act(cin, cout, kernel, pad):
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, 1, pad), LayerNorm2d(cout), _ACT)


class FirstBlock2d(nn.Module):
    def __init__(self, cin, cout) -> None:
        super().__init__()
        self.model = _conv_norm_act(cin, cout, 7, 3)

    def forward(self, x):
        return self.model(x)


class DownBlock2d(nn.Module):
    def __init__(self, cin, cout) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1), LayerNorm2d(cout), _ACT, nn.AvgPool2d(2))

    def forward(self, x):
        return self.model(x)


class UpBlock2d(nn.Module):
    def __init__(self, cin, cout) -> None:
        super().__init__()
        self.model = _conv_norm_act(cin, cout, 3, 1)

    def forward(self, x):
        return self.model(F.interpolate(x, scale_factor=2))


class Jump(nn.Module):
    def __init__(self, c) -> None:
        super().__init__()
        self.model = _conv_norm_act(c, c, 3, 1)

    def forward(self, x):
        return self.model(x)


class FineADAINResBlock2d(nn.Module):
    def __init__(self, c, feature_nc) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(c, c, 3, 1, 1), nn.Conv2d(c, c, 3, 1, 1)
        self.norm1, self.norm2 = ADAIN(c, feature_nc), ADAIN(c, feature_nc)

    def forward(self, x, z):
        return self.norm2(self.conv2(x), z) + x  # the public code's overwritten first branch (module docstring)


class FineADAINResBlocks(nn.Module):
    def __init__(self, count, c, feature_nc) -> None:
        super().__init__()
        self.num_block = count
        for i in range(count):
            setattr(self, f"res{i}", FineADAINResBlock2d(c, feature_nc))

    def forward(self, x, z):
        for i in range(self.num_block):
            x = getattr(self, f"res{i}")(x, z)
        return x


class FineEncoder(nn.Module):
    def __init__(self, image_nc, ngf, img_f, layers) -> None:
        super().__init__()
        self.layers = layers
        self.first = FirstBlock2d(image_nc, ngf)
        for i in range(layers):
            setattr(self, f"down{i}", DownBlock2d(min(ngf * 2 ** i, img_f), min(ngf * 2 ** (i + 1), img_f)))

    def forward(self, x):
        x = self.first(x)
        outs = [x]
        for i in range(self.layers):
            x = getattr(self, f"down{i}")(x)
            outs.append(x)
        return outs


class FinalBlock2d(nn.Module):
    def __init__(self, cin, cout) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.Conv2d(cin, cout, 7, 1, 3), nn.Tanh())

    def forward(self, x):
        return self.model(x)


class FineDecoder(nn.Module):
    def __init__(self, image_nc, feature_nc, ngf, img_f, layers, num_block) -> None:
        super().__init__()
        self.layers = layers
        for i in reversed(range(layers)):
            cin, cout = min(ngf * 2 ** (i + 1), img_f), min(ngf * 2 ** i, img_f)
            setattr(self, f"up{i}", UpBlock2d(cin, cout))
            setattr(self, f"res{i}", FineADAINResBlocks(num_block, cin, feature_nc))
            setattr(self, f"jump{i}", Jump(cout))
        self.final = FinalBlock2d(cout, image_nc)

    def forward(self, x, z):
        out = x.pop()
        for i in reversed(range(self.layers)):
            out = getattr(self, f"res{i}")(out, z)
            out = getattr(self, f"up{i}")(out)
            out = getattr(self, f"jump{i}")(x.pop()) + out
        return self.final(out)


class MappingNet(nn.Module):
    """Coefficient window ``[B, 73, 27]`` -> descriptor ``[B, descriptor_nc, 1]``."""

    def __init__(self, coeff_nc, descriptor_nc, layer) -> None:
        super().__init__()
        self.layer = layer
        self.first = nn.Sequential(nn.Conv1d(coeff_nc, descriptor_nc, 7))
        for i in range(layer):
            setattr(self, f"encoder{i}", nn.Sequential(nn.LeakyReLU(0.1), nn.Conv1d(descriptor_nc, descriptor_nc, 3, dilation=3)))
        self.pooling = nn.AdaptiveAvgPool1d(1)

    def forward(self, coeffs):
        out = self.first(coeffs)
        for i in range(self.layer):
            out = getattr(self, f"encoder{i}")(out) + out[:, :, 3:-3]
        return self.pooling(out)


def _warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """PIRenderer flow_util: pixel flow [B,2,h,w] -> sampling grid, resized to the image, grid_sample."""
    b, _, h, w = flow.shape
    norm = 2 * torch.cat([flow[:, :1] / (w - 1), flow[:, 1:] / (h - 1)], 1)
    xs = 2 * (torch.arange(w).to(flow) / (w - 1)) - 1
    ys = 2 * (torch.arange(h).to(flow) / (h - 1)) - 1
    grid = torch.stack([xs.view(1, w).expand(h, w), ys.view(h, 1).expand(h, w)], -1).expand(b, -1, -1, -1)
    deformation = grid + norm.permute(0, 2, 3, 1)
    if (h, w) != tuple(image.shape[2:]):
        deformation = F.interpolate(deformation.permute(0, 3, 1, 2), size=image.shape[2:], mode="bilinear").permute(0, 2, 3, 1)
    return F.grid_sample(image, deformation, align_corners=False)


class WarpingNet(nn.Module):
    def __init__(self, image_nc, descriptor_nc, base_nc, max_nc, encoder_layer, decoder_layer) -> None:
        super().__init__()
        self.hourglass = ADAINHourglass(image_nc, descriptor_nc, base_nc, max_nc, encoder_layer, decoder_layer)
        self.flow_out = nn.Sequential(LayerNorm2d(self.hourglass.output_nc), nn.LeakyReLU(0.1),
                                      nn.Conv2d(self.hourglass.output_nc, 2, 7, 1, 3))

    def forward(self, image, descriptor):
        flow = self.flow_out(self.hourglass(image, descriptor))
        return {"flow_field": flow, "warp_image": _warp(image, flow)}


class EditingNet(nn.Module):
    def __init__(self, image_nc, descriptor_nc, layer, base_nc, max_nc, num_res_blocks) -> None:
        super().__init__()
        self.encoder = FineEncoder(image_nc * 2, base_nc, max_nc, layer)
        self.decoder = FineDecoder(image_nc, descriptor_nc, base_nc, max_nc, layer, num_res_blocks)

    def forward(self, image, warp_image, descriptor):
        return self.decoder(self.encoder(torch.cat([image, warp_image], 1)), descriptor)


class FaceGenerator(nn.Module):
    """PIRenderer: ``forward(image [B,3,H,W] in [-1,1], coeffs [B,73,27], stage=None|"warp")``."""

    def __init__(self, config) -> None:
        super().__init__()
        c = config
        self.mapping_net = MappingNet(73, c.descriptor_nc, c.mapping_layers)
        self.warpping_net = WarpingNet(3, c.descriptor_nc, c.warp_base, c.max_nc, c.warp_encoder_layers, c.warp_decoder_layers)
        self.editing_net = EditingNet(3, c.descriptor_nc, c.edit_layers, c.edit_base, c.max_nc, c.edit_res_blocks)

    def forward(self, image: torch.Tensor, coeffs: torch.Tensor, stage: str | None = None) -> dict:
        descriptor = self.mapping_net(coeffs)
        out = self.warpping_net(image, descriptor)
        if stage != "warp":
            out["fake_image"] = self.editing_net(image, out["warp_image"], descriptor)
        return out


def load_public_renderer(network: FaceGenerator, path) -> FaceGenerator:
    """Load PIRenderer/StyleTalk's released renderer file (``net_G_ema`` state dict) into
    ``network`` (strict: every key and shape must match); raises CheckpointError naming the mismatch."""
    from tfbench.weights import load_state_dict

    return load_state_dict(network, path, "net_G_ema", "a PIRenderer checkpoint (net_G_ema of FaceGenerator)")
