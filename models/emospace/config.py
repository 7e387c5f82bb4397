"""Emotion-space configurations: ``paper`` (Xu et al., CVPR 2023, §4.1) and ``tiny`` (CPU demo).

Sizes the paper leaves open are tfbench's choices (docs/models/emospace.md lists each one).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from tfbench.errors import TfbenchError

#: MEAD's eight emotions and the word each puts into the prompt template.
EMOTION_WORDS = {
    "angry": "angry", "contempt": "contemptuous", "disgusted": "disgusted", "fear": "fearful",
    "happy": "happy", "neutral": "neutral", "sad": "sad", "surprised": "surprised",
}
#: Prompt template for an emotion label (the paper does not give its own; ours follows CLIP's
#: "a photo of ..." zero-shot prompts).
PROMPT_TEMPLATE = "a photo of a {word} face."

#: The three emotion sources of the paper's Table 1 (Ours-T / Ours-I / Ours-A).
MODALITIES = ("text", "image", "audio")


@dataclass(frozen=True)
class EmoSpaceConfig:
    """Every size and hyper-parameter of one run (stored in each checkpoint)."""

    name: str
    # CLIP towers of the emotion space: "ViT-B-32" (the real, frozen ViT-B/32) or an open_clip
    # model config dict for a random tiny tower of the same architecture family.
    clip: str | dict
    clip_embed: int  # CLIP joint embedding width (ViT-B/32: 512)
    # CLIP-space audio encoder (Transformer + CLS; paper: sizes unstated).
    audio_dim: int
    audio_layers: int
    audio_heads: int
    # EAC (eq. 3-4; paper: sizes unstated).
    eac_dim: int
    eac_layers: int
    eac_heads: int
    window: int  # T, frames per EAC sample (paper: 32)
    # HEF (eq. 7-10).
    image_size: int  # output side (paper: 512)
    blocks: int  # N, HEF blocks from 4x4 (paper: 7 -> 512)
    channels: tuple[int, ...]  # StyleConv output channels per block (4x4 first), len = blocks + 1
    encoder_channels: tuple[int, ...]  # E_src / E_rd feature channels per block resolution, len = blocks
    style_dim: int  # z_sty width
    disc_channels: int  # discriminator's widest layer
    # Optimisation (§4.1).
    eac_batch: int
    eac_lr: float
    hef_batch: int
    hef_lr: float
    eac_steps: int
    hef_steps: int
    checkpoint_every: int
    eac_losses: tuple[str, ...]
    hef_losses: tuple[str, ...]
    lambdas: dict = field(default_factory=dict)
    # "render": Deep3DFaceRecon/BFM render as E_rd's input (paper); "sketch": a landmark sketch
    # drawn from the offline 3DMM's landmarks (tiny, no BFM offline).
    geometry: str = "render"
    notes: str = ""

    def to_dict(self) -> dict:
        data = asdict(self)
        data["channels"], data["encoder_channels"] = list(self.channels), list(self.encoder_channels)
        data["eac_losses"], data["hef_losses"] = list(self.eac_losses), list(self.hef_losses)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "EmoSpaceConfig":
        data = dict(data)
        for key in ("channels", "encoder_channels", "eac_losses", "hef_losses"):
            data[key] = tuple(data[key])
        return cls(**data)


PAPER_LAMBDAS = {"clip": 1.0, "emo": 1.0, "rec": 100.0, "lm": 0.1, "reg": 0.01,
                 "hef_rec": 5.0, "hef_lpips": 5.0, "hef_adv": 1.0}

PAPER = EmoSpaceConfig(
    name="paper", clip="ViT-B-32", clip_embed=512,
    audio_dim=512, audio_layers=4, audio_heads=8,
    eac_dim=512, eac_layers=4, eac_heads=8, window=32,
    image_size=512, blocks=7,
    channels=(512, 512, 512, 512, 512, 256, 128, 64),
    encoder_channels=(256, 256, 256, 128, 64, 32, 16),
    style_dim=512, disc_channels=256,
    eac_batch=128, eac_lr=2e-4, hef_batch=8, hef_lr=2e-3,
    eac_steps=100_000, hef_steps=300_000, checkpoint_every=1000,
    eac_losses=("clip", "emo", "rec", "lm", "reg"), hef_losses=("hef_rec", "hef_lpips", "hef_adv"),
    lambdas=PAPER_LAMBDAS, geometry="render",
)

#: A random tiny CLIP of the real architecture family (ViT image tower + text transformer).
TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}

TINY = EmoSpaceConfig(
    name="tiny", clip=TINY_CLIP, clip_embed=32,
    audio_dim=32, audio_layers=1, audio_heads=2,
    eac_dim=32, eac_layers=1, eac_heads=2, window=16,
    image_size=64, blocks=4, channels=(32, 32, 32, 16, 16), encoder_channels=(16, 16, 8, 8),
    style_dim=32, disc_channels=32,
    eac_batch=4, eac_lr=2e-3, hef_batch=2, hef_lr=2e-3,
    eac_steps=150, hef_steps=150, checkpoint_every=50,
    eac_losses=("clip", "lm", "reg"), hef_losses=("hef_rec", "hef_adv"),
    lambdas={**PAPER_LAMBDAS, "lm": 1.0}, geometry="sketch",
    notes=("tiny CPU demo: random tiny CLIP towers (not ViT-B/32), offline landmark-PCA 3DMM, "
           "a 64x64 HEF with 4 blocks driven by a landmark sketch instead of a BFM render; "
           "L_emo, L_rec (need BFM + renderer + an AffectNet emotion net) and LPIPS left out; "
           "L_lm weighted 1 (paper 0.1) since it is EAC's only pixel-space signal here"),
)

CONFIGS = {"paper": PAPER, "tiny": TINY}


def get_config(name: str) -> EmoSpaceConfig:
    if name not in CONFIGS:
        raise TfbenchError(f"unknown emospace config {name!r}; choose one of {', '.join(CONFIGS)}")
    return CONFIGS[name]


def prompt_for(emotion: str) -> str:
    """The text prompt of a MEAD emotion label (free text passes through ``--text``)."""
    if emotion not in EMOTION_WORDS:
        raise TfbenchError(f"unknown emotion {emotion!r}; choose one of {', '.join(EMOTION_WORDS)} or give --text")
    return PROMPT_TEMPLATE.format(word=EMOTION_WORDS[emotion])
