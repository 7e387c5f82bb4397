"""StyleGAN-edit configurations: ``paper`` (the paper's editing hyper-parameters, pretrained
e4e / StyleGAN2-FFHQ, BiSeNet, FAN, LPIPS) and ``tiny`` (CPU demo on the bundled sample).

One config covers the three trained stages of the audio-to-landmark (AL) module and the
test-time landmark-based editing (LE). Every field says where its value comes from:
the paper (§III, §IV-A), the public code named in docs/models/styleedit.md (EVP, PTI,
STIT, e4e), or our choice where all are silent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from tfbench.errors import TfbenchError

STAGES = ("evp", "align", "predictor")
#: The six MEAD emotions of the sample plus MEAD's others: classifier classes (EVP: 8).
EMOTIONS = ("neutral", "happy", "sad", "angry", "surprised", "fear", "disgusted", "contempt")
#: Weights each pretrained part needs (paper config).
PAPER_WEIGHTS = ("e4e_ffhq", "bisenet_face_parsing", "fan2d", "alexnet", "lpips_alex_linear")


@dataclass(frozen=True)
class StyleEditConfig:
    """Every size and hyper-parameter of one StyleGAN-edit run (stored in each checkpoint)."""

    name: str
    # ---- audio features (EVP): 12 MFCC (25 ms / 10 ms), 28-frame window per video frame
    mfcc_window: int
    # ---- AL networks
    content_dim: int  # EVP content embedding (256)
    emotion_dim: int  # EVP emotion embedding (128)
    conv_channels: int  # EVP-style MFCC encoder / decoder width (ours; EVP 64..256)
    lstm_hidden: int  # predictor LSTM width (EVP audio2lm: 256)
    lstm_layers: int  # predictor LSTM depth (EVP audio2lm: 3)
    token_dim: int  # alignment-network token size t of eq. 1 (unstated; 128)
    # ---- AL training
    sequence_frames: int  # video frames per training window (ours)
    batch_size: int
    learning_rate: float  # Adam (ours; EVP 1e-4)
    warp_noise: float  # std of the per-point jitter of warping(l_p), in normalised units (ours)
    warp_affine: float  # max relative scale / shear of warping(l_p) (ours)
    steps_evp: int
    steps_align: int
    steps_predictor: int
    checkpoint_every: int
    lambda_cross: float  # EVP cross-reconstruction weight
    lambda_self: float  # EVP self-reconstruction weight
    lambda_cla: float  # EVP emotion-classification weight
    # ---- LE: StyleGAN2 (rosinality) and e4e
    pretrained: bool  # True: e4e_ffhq (encoder + 1024 generator + latent_avg) from the weights manager
    gan_size: int  # generator output side, pixels (e4e FFHQ: 1024)
    style_dim: int  # (512)
    n_mlp: int  # (8)
    gan_channels: tuple[int, ...]  # channels at 4, 8, ... gan_size (FFHQ: rosinality table, multiplier 2)
    encoder_size: int  # e4e input side (256)
    encoder_widths: tuple[int, ...]  # IR-SE stage widths (64, 128, 256, 512)
    encoder_units: tuple[int, ...]  # IR-SE units per stage (IR-SE50: 3, 4, 14, 3)
    # ---- LE: pivotal tuning (eq. 4; PTI / STIT settings)
    pti_steps: int  # PTI: 350
    pti_lr: float  # STIT: 3e-5 (PTI: 3e-4)
    lambda_pti_l2: float  # STIT pt_l2_lambda: 1
    lambda_pti_lpips: float  # STIT pt_lpips_lambda: 1
    lambda_locality: float  # PTI locality regularisation weight: 0.1 (l2 and lpips)
    locality_alpha: float  # PTI regulizer_alpha: 30
    # ---- LE: per-frame latent optimisation (eq. 5-6)
    latent_steps: int  # paper §IV-A: 300
    latent_lr: float  # paper §IV-A: 1e-3
    lambda_lpips: float  # paper: 1
    lambda_fan: float  # paper: 5e-3
    lambda_smooth: float  # paper: 1e-4
    fan_sigma: float  # std of the target heatmaps' Gaussians, heatmap pixels (ours: 1)
    # ---- LE: stitching tuning (STIT)
    stitch_steps: int  # STIT: 100
    stitch_lr: float  # STIT: 3e-4
    lambda_mask: float  # STIT content_loss_lambda: 0.01
    border_dilation: int  # STIT outer_mask_dilation at 1024 px: 50 (scaled with gan_size)
    # ---- what is replaced in this config
    perceptual: str  # "lpips" (paper) or "mse" (tiny: no LPIPS/AlexNet weights offline)
    fan_loss: bool  # paper: True; tiny: False (no FAN weights offline)
    face_mask: str  # "bisenet" (paper) or "landmarks" (tiny: convex hull of the 68 points)
    time_budget: float  # seconds per clip, 0 = unlimited (generation option)
    notes: str = ""

    @property
    def canonical(self) -> bool:
        return self.name == "paper"

    @property
    def n_latent(self) -> int:
        from math import log2

        return 2 * int(log2(self.gan_size)) - 2

    def channel_table(self) -> dict[int, int]:
        return {4 * 2 ** i: c for i, c in enumerate(self.gan_channels)}

    def stage_steps(self, stage: str) -> int:
        return {"evp": self.steps_evp, "align": self.steps_align, "predictor": self.steps_predictor}[stage]

    def required_weights(self) -> tuple[str, ...]:
        names = []
        if self.pretrained:
            names.append("e4e_ffhq")
        if self.face_mask == "bisenet":
            names.append("bisenet_face_parsing")
        if self.fan_loss:
            names.append("fan2d")
        if self.perceptual == "lpips":
            names += ["alexnet", "lpips_alex_linear"]
        return tuple(names)

    def to_dict(self) -> dict:
        data = asdict(self)
        for key in ("gan_channels", "encoder_widths", "encoder_units"):
            data[key] = list(data[key])
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "StyleEditConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise TfbenchError(f"StyleGAN-edit config has unknown fields {unknown}")
        data = dict(data)
        for key in ("gan_channels", "encoder_widths", "encoder_units"):
            data[key] = tuple(data[key])
        return cls(**data)

    def validate(self) -> "StyleEditConfig":
        size = self.gan_size
        if size < 8 or size & (size - 1) or len(self.gan_channels) != self.n_latent // 2:
            raise TfbenchError(f"gan_size must be a power of two >= 8 with one channel count per resolution 4..{size}")
        if self.encoder_widths[-1] != self.style_dim or len(self.encoder_widths) != 4 or len(self.encoder_units) != 4:
            raise TfbenchError("e4e needs 4 IR-SE stages whose last width equals style_dim")
        if min(self.encoder_widths) < 16:  # SE blocks reduce channels 16-fold
            raise TfbenchError("encoder_widths must be >= 16")
        if self.encoder_size % 64:
            raise TfbenchError("encoder_size must be a multiple of 64")
        if self.perceptual not in ("lpips", "mse") or self.face_mask not in ("bisenet", "landmarks"):
            raise TfbenchError("perceptual must be lpips|mse and face_mask bisenet|landmarks")
        if self.sequence_frames < 2 or self.batch_size < 1:
            raise TfbenchError("sequence_frames must be >= 2 and batch_size >= 1")
        return self


PAPER = StyleEditConfig(
    name="paper", mfcc_window=28, content_dim=256, emotion_dim=128, conv_channels=64, lstm_hidden=256, lstm_layers=3,
    token_dim=128, sequence_frames=16, batch_size=16, learning_rate=1e-4, warp_noise=0.01, warp_affine=0.05,
    steps_evp=50_000, steps_align=30_000, steps_predictor=50_000, checkpoint_every=1000,
    lambda_cross=1.0, lambda_self=1.0, lambda_cla=1.0,
    pretrained=True, gan_size=1024, style_dim=512, n_mlp=8,
    gan_channels=(512, 512, 512, 512, 512, 256, 128, 64, 32), encoder_size=256,
    encoder_widths=(64, 128, 256, 512), encoder_units=(3, 4, 14, 3),
    pti_steps=350, pti_lr=3e-5, lambda_pti_l2=1.0, lambda_pti_lpips=1.0, lambda_locality=0.1, locality_alpha=30.0,
    latent_steps=300, latent_lr=1e-3, lambda_lpips=1.0, lambda_fan=5e-3, lambda_smooth=1e-4, fan_sigma=1.0,
    stitch_steps=100, stitch_lr=3e-4, lambda_mask=0.01, border_dilation=50,
    perceptual="lpips", fan_loss=True, face_mask="bisenet", time_budget=0.0,
    notes="paper: e4e FFHQ inversion + PTI + 300 latent steps/frame (lr 1e-3, LPIPS 1, FAN 5e-3, smooth 1e-4) + "
          "STIT stitching; AL module sizes from EVP where the paper is silent",
)

TINY = StyleEditConfig(
    name="tiny", mfcc_window=28, content_dim=32, emotion_dim=16, conv_channels=8, lstm_hidden=32, lstm_layers=1,
    token_dim=32, sequence_frames=8, batch_size=4, learning_rate=3e-3, warp_noise=0.01, warp_affine=0.05,
    steps_evp=600, steps_align=600, steps_predictor=600, checkpoint_every=200,
    lambda_cross=1.0, lambda_self=1.0, lambda_cla=1.0,
    pretrained=False, gan_size=64, style_dim=64, n_mlp=2, gan_channels=(32, 32, 16, 16, 8), encoder_size=64,
    encoder_widths=(16, 32, 32, 64), encoder_units=(1, 1, 1, 1),
    pti_steps=4, pti_lr=3e-4, lambda_pti_l2=1.0, lambda_pti_lpips=1.0, lambda_locality=0.1, locality_alpha=30.0,
    latent_steps=3, latent_lr=1e-2, lambda_lpips=1.0, lambda_fan=5e-3, lambda_smooth=1e-4, fan_sigma=1.0,
    stitch_steps=3, stitch_lr=3e-4, lambda_mask=0.01, border_dilation=3,
    perceptual="mse", fan_loss=False, face_mask="landmarks", time_budget=600.0,
    notes=("DEMO (tiny config, NON-CANONICAL): small AL networks trained minutes on the synthetic sample with a "
           "SIMULATED second camera view; a RANDOM 64x64 StyleGAN2 and a random tiny e4e encoder instead of e4e "
           "FFHQ; MSE instead of LPIPS; the FAN heatmap loss LEFT OUT (so the edit does not follow the predicted "
           "landmarks); a landmark convex-hull mask instead of BiSeNet; 4 PTI / 3 latent / 3 stitching steps. "
           "Exercises the pipeline only; its numbers are not the paper's."),
)

CONFIGS = {"paper": PAPER, "tiny": TINY}


def get_config(name: str) -> StyleEditConfig:
    if name not in CONFIGS:
        raise TfbenchError(f"unknown styleedit config {name!r}; choose one of: {', '.join(CONFIGS)}")
    return CONFIGS[name]
