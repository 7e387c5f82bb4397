"""CPNet configurations: ``paper`` (the paper's sizes and hyper-parameters) and ``tiny`` (CPU demo).

Geometry: the paper trains on 224 x 224 frames "centrally cropped around the center of
facial region". tfbench's processed clips are square face crops (256 x 256 for the
sample and ObamaSet); CPNet's frame is their central ``crop_fraction`` = 224/256, resized
to ``image_size`` (224 in ``paper``, 56 in ``tiny``). See docs/models/cpnet.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from tfbench.errors import TfbenchError

#: Losses of eq. (8) plus tiny's L1 stand-in for the VGG loss; the weights each pretrained one needs.
ALL_LOSSES = ("adv", "perceptual", "temporal", "probability")
STAND_INS = ("l1",)
LOSS_WEIGHTS = {"perceptual": "vgg19"}
#: The paper's ViT-B/32 as an open_clip model name, or a dict (open_clip model config) for tiny random towers.
CLIP_PAPER = "ViT-B-32"
#: Side of the processed clip that CPNet's 224 crop is taken from (tfbench's recipes write 256 x 256 clips).
CROP_FRACTION = 224 / 256


@dataclass(frozen=True)
class CPNetConfig:
    """Every size and hyper-parameter of one CPNet run (stored in each checkpoint)."""

    name: str
    image_size: int  # generator frame side, pixels (paper: 224)
    ngf: int  # generator stem width; encoder e1..e3 have 2/4/8 x ngf (paper: silent; pix2pix's 64)
    transition_blocks: int  # residual "transition" blocks at 1/8 resolution (paper: silent; pix2pix's 6)
    landmark_window: int  # landmark images t-k .. t+k fed to G (paper: "seven consecutive frames")
    clip: object  # open_clip model name or config dict of the frozen CLIP image tower (paper: CLIP ViT)
    clip_pretrained: bool  # True: the tower comes from weights `clip_vit_b32`; False: random frozen (non-canonical)
    p_ngf: int  # probability-map predictor U-Net width (paper: "lightweight pix2pix")
    p_depth: int  # its down-sampling levels
    ndf: int  # discriminators' first layer (PatchGAN)
    d_layers: int  # PatchGAN stride-2 layers (pix2pix's 70x70 PatchGAN: 3)
    temporal_frames: int  # frames the temporal discriminator D_t sees (paper: "several"; 3 as vid2vid)
    batch_size: int  # windows per step, each of temporal_frames generated frames
    learning_rate: float  # Adam (paper: 1e-4, momentum 0.5)
    density_scale: float  # the density maps (mass 1 per landmark) are multiplied by this (paper: silent)
    dmp_lambda: float  # λ of eq. (3)
    dmp_margin: float  # hinge margin of eq. (3)'s push term (paper: "design idea of hinge loss")
    a2l_channels: int  # width of tfbench's audio-to-landmark front end (not in the paper)
    steps: int
    checkpoint_every: int
    losses: tuple[str, ...] = ALL_LOSSES
    lambdas: dict = field(default_factory=lambda: {"adv": 1.0, "perceptual": 5.0, "temporal": 1.0,
                                                   "probability": 0.1})
    notes: str = ""

    @property
    def missing_losses(self) -> tuple[str, ...]:
        return tuple(loss for loss in ALL_LOSSES if loss not in self.losses)

    @property
    def canonical(self) -> bool:
        return self.name == "paper" and not self.missing_losses and self.clip_pretrained and self.clip == CLIP_PAPER

    def required_weights(self) -> tuple[str, ...]:
        needed = [LOSS_WEIGHTS[loss] for loss in self.losses if loss in LOSS_WEIGHTS]
        return tuple((["clip_vit_b32"] if self.clip_pretrained else []) + needed)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["losses"] = list(self.losses)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "CPNetConfig":
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise TfbenchError(f"CPNet config has unknown fields {unknown}")
        return cls(**{**data, "losses": tuple(data.get("losses", ALL_LOSSES))})

    def validate(self) -> "CPNetConfig":
        if self.image_size % 8:
            raise TfbenchError(f"image_size must be a multiple of 8 (three stride-2 encoder levels), got {self.image_size}")
        if self.image_size % (2 ** self.p_depth):
            raise TfbenchError(f"image_size {self.image_size} must be divisible by 2**p_depth = {2 ** self.p_depth}")
        unknown = sorted(set(self.losses) - set(ALL_LOSSES) - set(STAND_INS))
        if unknown:
            raise TfbenchError(f"unknown CPNet losses {unknown}; known: {', '.join(ALL_LOSSES + STAND_INS)}")
        unweighted = sorted(set(self.losses) - set(self.lambdas))
        if unweighted:
            raise TfbenchError(f"losses {unweighted} have no weight in this config's lambdas {self.lambdas}")
        if self.landmark_window < 1 or self.landmark_window % 2 == 0:
            raise TfbenchError(f"landmark_window must be odd (t-k .. t+k), got {self.landmark_window}")
        if self.temporal_frames < 1 or self.batch_size < 1:
            raise TfbenchError("temporal_frames and batch_size must be >= 1")
        if self.clip_pretrained and self.clip != CLIP_PAPER:
            raise TfbenchError(f"pretrained CLIP weights exist only for {CLIP_PAPER} (clip_vit_b32)")
        return self


PAPER = CPNetConfig(
    name="paper",
    image_size=224,
    ngf=64,
    transition_blocks=6,
    landmark_window=7,
    clip=CLIP_PAPER,
    clip_pretrained=True,
    p_ngf=16,
    p_depth=4,
    ndf=64,
    d_layers=3,
    temporal_frames=3,
    batch_size=1,
    learning_rate=1e-4,
    density_scale=100.0,
    dmp_lambda=0.1,
    dmp_margin=0.05,
    a2l_channels=64,
    steps=100_000,
    checkpoint_every=1000,
    notes="paper sizes: 224x224 frames, 7 landmark images, CLIP ViT-B/32 condenser, losses "
          "1 adv + 5 VGG-19 + 1 temporal + 0.1 probability map, Adam 1e-4 (beta1 0.5), 100k steps",
)

TINY = CPNetConfig(
    name="tiny",
    image_size=56,
    ngf=8,
    transition_blocks=1,
    landmark_window=7,
    clip={"embed_dim": 32, "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16},
          "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}},
    clip_pretrained=False,
    p_ngf=4,
    p_depth=3,
    ndf=8,
    d_layers=2,
    temporal_frames=3,
    batch_size=2,
    learning_rate=1e-3,
    density_scale=100.0,
    dmp_lambda=0.1,
    dmp_margin=0.05,
    a2l_channels=16,
    steps=600,
    checkpoint_every=100,
    losses=("adv", "temporal", "probability", "l1"),
    lambdas={"adv": 1.0, "temporal": 1.0, "probability": 0.1, "l1": 10.0},
    notes=("DEMO checkpoint (tiny config): 56x56 frames, few channels, lr 1e-3, a few minutes of CPU training; "
           "trained WITHOUT the VGG-19 perceptual loss L_r (its weights cannot be downloaded here; an L1 "
           "stand-in weighted 10 replaces it) and with a RANDOM frozen CLIP image tower of ViT architecture "
           "(2 layers, width 64) instead of CLIP ViT-B/32. Person-specific. Not CPNet's numbers and not "
           "comparable with the paper."),
)

CONFIGS = {"paper": PAPER, "tiny": TINY}


def get_config(name: str) -> CPNetConfig:
    if name not in CONFIGS:
        raise TfbenchError(f"unknown CPNet config {name!r}; choose one of: {', '.join(CONFIGS)}")
    return CONFIGS[name]
