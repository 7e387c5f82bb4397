"""G4G configurations: ``paper`` (the paper's sizes and hyper-parameters) and ``tiny`` (CPU demo).

Geometry follows the paper (and DINet, on which G4G builds): the face crop is
``face_height x face_width`` = (3r + r/4) x (2r + r/2) for a mouth region of ``2r`` pixels,
i.e. 416 x 320 with a 256 x 256 mouth region. The mouth region is the square at rows
``[r, r + 2r)`` and columns ``[r/4, r/4 + 2r)`` of the face crop; it is what the source
image hides and what the generator fills in.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from tfbench.errors import TfbenchError

#: Losses that need pretrained networks, and the weights name each needs.
LOSS_WEIGHTS = {"perceptual": "vgg19", "sync": "syncnet_v2"}
ALL_LOSSES = ("attribute", "perceptual", "gan", "reconstruction", "contrastive", "sync")


@dataclass(frozen=True)
class G4GConfig:
    """Every size and hyper-parameter of one G4G run (stored in each checkpoint)."""

    name: str
    mouth_size: int  # side of the square mouth region, pixels (paper: 256)
    base_channels: int  # first encoder layer (paper/DINet: 64)
    feature_channels: int  # encoder output = AdaAT channels (paper: 256)
    align_channels: int  # alignment encoder / audio feature width d (DINet: 128)
    embed_dim: int  # contrastive projection width (paper: silent; 256)
    appearance_blocks: int  # residual blocks before and after AdaAT (DINet: 4)
    adain_blocks: int  # residual AdaIN blocks of the intra-modality alignment (paper: silent; 2)
    blend_channels: int  # blend network width (paper: silent; 64)
    disc_channels: int  # discriminators' first layer (paper: silent; 64)
    num_references: int  # reference images (paper: 5)
    clip_frames: int  # consecutive frames per sample = temporal-GAN / SyncNet window (paper: 5)
    batch_size: int  # samples per step (paper: 3)
    learning_rate: float  # Adam, generator and discriminators (paper: 1e-4)
    temperature: float  # contrastive softmax temperature (paper: silent; 0.07 as CLIP)
    momentum: float  # EMA of the negative-sample encoders g'_v, g'_a (paper: silent; 0.995 as ALBEF)
    sync_negatives: int  # unsynced audio windows per sample for the sync loss (paper: silent; 4)
    steps: int  # default number of optimisation steps
    checkpoint_every: int  # steps between checkpoints
    losses: tuple[str, ...] = ALL_LOSSES
    lambdas: dict = field(default_factory=lambda: {"attribute": 1.0, "perceptual": 2.0, "gan": 3.0,
                                                   "reconstruction": 4.0, "contrastive": 5.0, "sync": 5.0})
    notes: str = ""

    @property
    def radius(self) -> int:
        return self.mouth_size // 2

    @property
    def face_height(self) -> int:
        return 3 * self.radius + self.radius // 4

    @property
    def face_width(self) -> int:
        return 2 * self.radius + 2 * (self.radius // 4)

    @property
    def mouth_box(self) -> tuple[int, int, int, int]:
        """(top, left, bottom, right) of the mouth region in face-crop pixels."""
        top, left = self.radius, self.radius // 4
        return top, left, top + self.mouth_size, left + self.mouth_size

    @property
    def missing_losses(self) -> tuple[str, ...]:
        """Losses of the paper this config leaves out."""
        return tuple(loss for loss in ALL_LOSSES if loss not in self.losses)

    @property
    def canonical(self) -> bool:
        return self.name == "paper" and not self.missing_losses

    def required_weights(self) -> tuple[str, ...]:
        return tuple(LOSS_WEIGHTS[loss] for loss in self.losses if loss in LOSS_WEIGHTS)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["losses"] = list(self.losses)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "G4GConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise TfbenchError(f"G4G config has unknown fields {unknown}")
        data = dict(data)
        data["losses"] = tuple(data.get("losses", ALL_LOSSES))
        return cls(**data)

    def validate(self) -> "G4GConfig":
        if self.mouth_size % 32:  # keeps both face sides divisible by 4 (two stride-2 encoder stages)
            raise TfbenchError(f"mouth_size must be a positive multiple of 32, got {self.mouth_size}")
        unknown = sorted(set(self.losses) - set(ALL_LOSSES))
        if unknown:
            raise TfbenchError(f"unknown G4G losses {unknown}; known: {', '.join(ALL_LOSSES)}")
        if self.clip_frames < 1 or self.num_references < 1 or self.batch_size < 1:
            raise TfbenchError("clip_frames, num_references and batch_size must be >= 1")
        return self


PAPER = G4GConfig(
    name="paper",
    mouth_size=256,
    base_channels=64,
    feature_channels=256,
    align_channels=128,
    embed_dim=256,
    appearance_blocks=4,
    adain_blocks=2,
    blend_channels=64,
    disc_channels=64,
    num_references=5,
    clip_frames=5,
    batch_size=3,
    learning_rate=1e-4,
    temperature=0.07,
    momentum=0.995,
    sync_negatives=4,
    steps=200_000,
    checkpoint_every=1000,
    notes="paper sizes: 416x320 face, 256x256 mouth region, 5 references, batch 3, lr 1e-4, all five losses",
)

TINY = G4GConfig(
    name="tiny",
    mouth_size=32,
    base_channels=8,
    feature_channels=32,
    align_channels=32,
    embed_dim=32,
    appearance_blocks=1,
    adain_blocks=1,
    blend_channels=8,
    disc_channels=8,
    num_references=5,
    clip_frames=5,
    batch_size=2,
    learning_rate=1e-3,
    temperature=0.07,
    momentum=0.995,
    sync_negatives=4,
    steps=600,
    checkpoint_every=100,
    losses=("attribute", "gan", "reconstruction", "contrastive"),
    notes=("DEMO checkpoint (tiny config): 52x40 face, 32x32 mouth region, few channels, lr 1e-3, a few minutes "
           "of CPU training; trained WITHOUT the VGG-19 perceptual loss and the SyncNet sync loss (their pretrained "
           "weights cannot be downloaded here). Its numbers are not G4G's and not comparable with the paper."),
)

CONFIGS = {"paper": PAPER, "tiny": TINY}


def get_config(name: str) -> G4GConfig:
    if name not in CONFIGS:
        raise TfbenchError(f"unknown G4G config {name!r}; choose one of: {', '.join(CONFIGS)}")
    return CONFIGS[name]
