"""CPNet's networks (paper §III), built from a :class:`~tfbench.models.cpnet.config.CPNetConfig`.

Tensor conventions: images float32 ``[N, C, H, W]`` in [0, 1] with ``H = W = image_size``
(224 in the paper); ``N`` counts frames (batch x temporal frames flattened).

- :class:`DenseGenerator` — pix2pix ResNet generator (stem, encoder e1..e3, transition
  blocks, decoder) where the input of every transition block and decoder layer gets the
  dense feature reuse of eq. (1), ``x += Σ_i Pool(H_i(e_i))``, then the CLIP channel gate
  of eq. (2), ``x *= σ(W v)``.
- :class:`ClipCondenserTower` — the frozen CLIP image tower giving ``v`` from frame t's
  landmark image.
- :class:`ProbabilityPredictor` — P, a light U-Net from a face image to its landmark
  density map (eq. 3, 7).
- :class:`PatchDiscriminator` — pix2pix's PatchGAN, used for D (one frame) and D_t
  (``temporal_frames`` frames stacked on channels).
- :class:`AudioToLandmarks` — tfbench's addition (not in the paper): mel window -> lower
  face landmarks, so ``tfbench generate`` can drive CPNet from speech.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tfbench.models.cpnet.config import CPNetConfig
from tfbench.nets.clip import MEAN as CLIP_MEAN
from tfbench.nets.clip import STD as CLIP_STD


def generator_in_channels(config: CPNetConfig) -> int:
    """Landmark images t-k..t+k (1 channel each) + the current frame with its lower half masked (3)."""
    return config.landmark_window + 3


def _norm(channels: int) -> nn.Module:
    return nn.InstanceNorm2d(channels, affine=False)


class ResidualBlock(nn.Module):
    """pix2pix's ResnetBlock: (reflect pad, conv 3x3, IN, ReLU, reflect pad, conv 3x3, IN) + skip."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _norm(channels), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _norm(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class DenseReuse(nn.Module):
    """Eq. (1) for one layer: ``x + Σ_i Pool(H_i(e_i))`` with ``H_i`` a 1x1 convolution.

    ``Pool`` is adaptive average pooling to ``x``'s size where ``e_i`` is larger and
    bilinear resampling where it is smaller (adaptive pooling cannot enlarge).
    """

    def __init__(self, encoder_channels: list[int], channels: int) -> None:
        super().__init__()
        self.project = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in encoder_channels)

    def forward(self, x: torch.Tensor, encoder_features: list[torch.Tensor]) -> torch.Tensor:
        size = x.shape[-2:]
        for project, feature in zip(self.project, encoder_features):
            y = project(feature)
            if y.shape[-1] >= size[-1]:
                y = F.adaptive_avg_pool2d(y, size)
            else:
                y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
            x = x + y
        return x


class DenseGenerator(nn.Module):
    """The densely connected generator with CLIP attention gates.

    ``forward(inputs [N, landmark_window + 3, S, S], clip_code [N, E]) -> [N, 3, S, S]``
    in [0, 1]. Encoder e1..e3 are stride-2 (S/2, S/4, S/8) with 2/4/8 x ngf channels; the
    gated layers are the inputs of the ``transition_blocks`` residual blocks and of the
    three decoder up-convolutions.
    """

    def __init__(self, config: CPNetConfig, clip_dim: int) -> None:
        super().__init__()
        ngf = config.ngf
        enc = [2 * ngf, 4 * ngf, 8 * ngf]
        self.stem = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(generator_in_channels(config), ngf, 7),
                                  _norm(ngf), nn.ReLU(True))
        self.encoder = nn.ModuleList(
            nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1), _norm(cout), nn.ReLU(True))
            for cin, cout in zip([ngf] + enc[:-1], enc))
        self.transitions = nn.ModuleList(ResidualBlock(enc[-1]) for _ in range(config.transition_blocks))
        decoder = [(8 * ngf, 4 * ngf), (4 * ngf, 2 * ngf), (2 * ngf, ngf)]
        self.decoder = nn.ModuleList(
            nn.Sequential(nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1), _norm(cout),
                          nn.ReLU(True)) for cin, cout in decoder)
        self.head = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh())
        gated = [enc[-1]] * config.transition_blocks + [cin for cin, _ in decoder]
        self.reuse = nn.ModuleList(DenseReuse(enc, c) for c in gated)
        self.gates = nn.ModuleList(nn.Linear(clip_dim, c) for c in gated)

    def _condition(self, index: int, x: torch.Tensor, encoder_features: list[torch.Tensor],
                   clip_code: torch.Tensor) -> torch.Tensor:
        x = self.reuse[index](x, encoder_features)  # eq. (1)
        gate = torch.sigmoid(self.gates[index](clip_code))  # eq. (2): σ(W v), one scalar per channel
        return x * gate[:, :, None, None]

    def forward(self, inputs: torch.Tensor, clip_code: torch.Tensor) -> torch.Tensor:
        x = self.stem(inputs * 2 - 1)
        features = []
        for layer in self.encoder:
            x = layer(x)
            features.append(x)
        index = 0
        for block in self.transitions:
            x = block(self._condition(index, x, features, clip_code))
            index += 1
        for layer in self.decoder:
            x = layer(self._condition(index, x, features, clip_code))
            index += 1
        return (self.head(x) + 1) / 2


class ClipCondenserTower(nn.Module):
    """The frozen CLIP image tower of the attention condenser: landmark image -> ``v``.

    ``visual``: an open_clip ``CLIP.visual`` module (ViT). ``forward(images [N, 3, S, S]
    in [0, 1]) -> [N, E]`` (E = CLIP embedding width, 512 for ViT-B/32): images are
    resized to the tower's input size (bilinear) and normalised with CLIP's mean / std.
    Never trained (``requires_grad`` off, always eval).
    """

    def __init__(self, visual: nn.Module) -> None:
        super().__init__()
        self.visual = visual.eval().requires_grad_(False)
        size = visual.image_size
        self.size = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
        self.dim = int(visual.output_dim)
        self.register_buffer("mean", torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(CLIP_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            x = F.interpolate(images, size=self.size, mode="bilinear", align_corners=False)
            return self.visual((x - self.mean) / self.std).float()

    def train(self, mode: bool = True) -> "ClipCondenserTower":
        return super().train(False)


class ProbabilityPredictor(nn.Module):
    """P: a light pix2pix U-Net, face image [N, 3, S, S] in [0, 1] -> density map [N, 1, S, S] >= 0 (softplus)."""

    def __init__(self, config: CPNetConfig) -> None:
        super().__init__()
        widths = [config.p_ngf * 2 ** min(level, 3) for level in range(config.p_depth)]
        self.down = nn.ModuleList()
        cin = 3
        for level, cout in enumerate(widths):
            layers = [nn.Conv2d(cin, cout, 4, stride=2, padding=1)]
            if level:
                layers.append(_norm(cout))
            self.down.append(nn.Sequential(*layers, nn.LeakyReLU(0.2, True)))
            cin = cout
        self.up = nn.ModuleList()
        for level in reversed(range(config.p_depth)):
            cout = widths[level - 1] if level else config.p_ngf
            cin = widths[level] * (1 if level == config.p_depth - 1 else 2)
            self.up.append(nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1), _norm(cout),
                                         nn.ReLU(True)))
        self.head = nn.Conv2d(config.p_ngf, 1, 3, padding=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x, skips = images * 2 - 1, []
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        skips.pop()
        for layer in self.up:
            x = layer(x)
            if skips:
                x = torch.cat([x, skips.pop()], 1)
        return F.softplus(self.head(x))


class PatchDiscriminator(nn.Module):
    """pix2pix's NLayerDiscriminator (70 x 70 PatchGAN for 3 layers): ``[N, C, H, W] -> [N, 1, h, w]`` scores."""

    def __init__(self, in_channels: int, ndf: int, layers: int) -> None:
        super().__init__()
        blocks: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        width = ndf
        for index in range(1, layers + 1):
            out = ndf * 2 ** min(index, 3)
            stride = 2 if index < layers else 1
            blocks += [nn.Conv2d(width, out, 4, stride=stride, padding=1), _norm(out), nn.LeakyReLU(0.2, True)]
            width = out
        blocks.append(nn.Conv2d(width, 1, 4, stride=1, padding=1))
        self.body = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x * 2 - 1)


#: Landmarks the audio front end predicts: jaw 2..14 and mouth 48..67 (68-point layout, 0-based).
LOWER_FACE = tuple(range(2, 15)) + tuple(range(48, 68))


class AudioToLandmarks(nn.Module):
    """tfbench's audio-to-landmark front end: mel window ``[N, 16, 80]`` -> ``[N, 33, 2]``.

    The output is the lower-face landmarks (:data:`LOWER_FACE`) in the eye-normalised frame
    of :func:`tfbench.models.cpnet.data.normalise_landmarks` (origin between the eyes,
    unit inter-ocular distance, eyes horizontal). Trained with an L2 loss on the training
    clips, beside (not through) the image networks.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        c = channels
        self.body = nn.Sequential(
            nn.Conv2d(1, c, 3, padding=1), nn.ReLU(True),  # no batch norm: ranks of a data-parallel run stay identical
            nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), nn.ReLU(True),
            nn.Conv2d(2 * c, 4 * c, 3, stride=2, padding=1), nn.ReLU(True),
            nn.AdaptiveAvgPool2d((2, 5)), nn.Flatten(),
            nn.Linear(4 * c * 10, 4 * c), nn.ReLU(True), nn.Linear(4 * c, 2 * len(LOWER_FACE)),
        )
        self.register_buffer("mean_shape", torch.zeros(len(LOWER_FACE), 2))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.mean_shape + self.body(mel[:, None]).view(-1, len(LOWER_FACE), 2)
