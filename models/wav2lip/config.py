"""Wav2Lip training configurations.

``paper`` is ``hq_wav2lip_train.py`` of Rudrabha/Wav2Lip (the recipe of ``wav2lip_gan.pth``),
``paper_nogan`` is ``wav2lip_train.py`` (the recipe of ``wav2lip.pth``); both read
``hparams.py``: batch 16 windows of 5 frames, Adam lr 1e-4, expert sync-loss weight 0 until
the expert's loss falls below 0.75 at an evaluation, then 0.03 (0.01 without the GAN),
quality-discriminator weight 0.07. ``tiny`` is a CPU demo: every channel count divided by 8,
batch 2, no expert sync loss (its weights cannot be downloaded here).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from tfbench.errors import TfbenchError


@dataclass(frozen=True)
class Wav2LipConfig:
    """Every size and hyper-parameter of one Wav2Lip run (stored in each checkpoint)."""

    name: str
    width_divisor: int  # channel counts divided by this (1: the public network)
    batch_size: int  # windows per step (hparams.batch_size 16)
    window: int  # consecutive frames per window (syncnet_T 5)
    learning_rate: float  # generator Adam lr (hparams.initial_learning_rate 1e-4)
    disc_learning_rate: float  # discriminator Adam lr (hparams.disc_initial_learning_rate 1e-4)
    adam_beta1: float  # 0.5 in hq_wav2lip_train.py, torch's 0.9 in wav2lip_train.py
    disc_weight: float  # visual-quality GAN weight (hparams.disc_wt 0.07; 0 = no discriminator)
    sync_weight: float  # expert sync-loss weight once switched on (0.03 with GAN, 0.01 without; 0 = no expert)
    sync_switch_loss: float  # switch the sync loss on when the mean expert loss falls below this (0.75)
    eval_interval: int  # steps between those checks (hparams.eval_interval 3000)
    steps: int  # default number of optimisation steps
    checkpoint_every: int
    notes: str = ""
    #: How ``generate`` finds the face when the request carries no cached face boxes (a request's
    #: ``options["face_box"]`` overrides it): "detect" (S3FD, the public procedure), "full" (the
    #: frames are face crops already) or "top,bottom,left,right" (the public ``--box``).
    face_box: str = "detect"

    @property
    def uses_expert(self) -> bool:
        return self.sync_weight > 0

    @property
    def canonical(self) -> bool:
        return self.name in ("paper", "paper_nogan") and self.uses_expert

    def required_weights(self) -> tuple[str, ...]:
        return ("wav2lip_syncnet",) if self.uses_expert else ()

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Wav2LipConfig":
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise TfbenchError(f"Wav2Lip config has unknown fields {unknown}")
        return cls(**data)

    def validate(self) -> "Wav2LipConfig":
        parse_face_box(self.face_box)
        if self.width_divisor < 1 or 16 % self.width_divisor:
            raise TfbenchError(f"width_divisor must divide 16, got {self.width_divisor}")
        if self.batch_size < 1 or self.window < 1 or self.eval_interval < 1:
            raise TfbenchError("batch_size, window and eval_interval must be >= 1")
        return self


PAPER = Wav2LipConfig(
    name="paper", width_divisor=1, batch_size=16, window=5, learning_rate=1e-4, disc_learning_rate=1e-4,
    adam_beta1=0.5, disc_weight=0.07, sync_weight=0.03, sync_switch_loss=0.75, eval_interval=3000,
    steps=300_000, checkpoint_every=3000,
    notes="hq_wav2lip_train.py: L1 + expert sync loss (weight 0 -> 0.03) + visual-quality GAN (0.07), batch 16, lr 1e-4",
)
PAPER_NOGAN = Wav2LipConfig(
    name="paper_nogan", width_divisor=1, batch_size=16, window=5, learning_rate=1e-4, disc_learning_rate=1e-4,
    adam_beta1=0.9, disc_weight=0.0, sync_weight=0.01, sync_switch_loss=0.75, eval_interval=3000,
    steps=300_000, checkpoint_every=3000,
    notes="wav2lip_train.py: L1 + expert sync loss (weight 0 -> 0.01), no GAN, batch 16, lr 1e-4",
)
TINY = Wav2LipConfig(
    name="tiny", width_divisor=8, batch_size=2, window=5, learning_rate=3e-3, disc_learning_rate=3e-3,
    adam_beta1=0.5, disc_weight=0.07, sync_weight=0.0, sync_switch_loss=0.75, eval_interval=3000,
    steps=300, checkpoint_every=100,
    notes=("DEMO checkpoint (tiny config): every channel count / 8, batch 2, lr 3e-3, minutes of CPU training; "
           "trained WITHOUT the lip-sync expert loss (lipsync_expert.pth cannot be downloaded here). Not Wav2Lip's "
           "numbers; not comparable with the paper."),
)

CONFIGS = {"paper": PAPER, "paper_nogan": PAPER_NOGAN, "tiny": TINY}


def get_config(name: str) -> Wav2LipConfig:
    if name not in CONFIGS:
        raise TfbenchError(f"unknown Wav2Lip config {name!r}; choose one of: {', '.join(CONFIGS)}")
    return CONFIGS[name]


def parse_face_box(value: str) -> str | tuple[int, int, int, int]:
    """``"detect"``, ``"full"`` or the public ``--box`` order ``(top, bottom, left, right)`` pixels."""
    text = str(value).strip().lower()
    if text in ("detect", "full"):
        return text
    parts = [part.strip() for part in text.split(",")]
    try:
        top, bottom, left, right = (int(part) for part in parts)
    except ValueError:
        raise TfbenchError(f"face_box must be 'detect', 'full' or 'top,bottom,left,right' pixels, got {value!r}") from None
    if bottom <= top or right <= left or top < 0 or left < 0:
        raise TfbenchError(f"face_box {value!r} is an empty box")
    return top, bottom, left, right
