"""TalkCLIP configurations: ``paper`` (the paper's sizes, StyleTalk/PIRenderer where the paper
defers to its unpublished supplement) and ``tiny`` (CPU demo, minutes on the bundled sample).

Every field says where its value comes from. docs/models/talkclip.md lists the choices.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from tfbench.errors import TfbenchError

#: Training stages in chain order (``tfbench train talkclip --stage S``).
STAGES = ("sync", "renderer", "stage1", "stage2")
#: Stage -> earlier stages whose checkpoints it builds on (their sha256 is recorded).
REQUIRES = {"sync": (), "renderer": (), "stage1": ("sync",), "stage2": ("stage1", "renderer")}

#: StyleTalk configs/default.py: Deep3DFaceRecon expression indices decoded by the upper-face
#: and the lower-face decoder (51 + 13 = 64).
UPPER_EXP = (6, 8, *range(15, 64))
LOWER_EXP = (0, 1, 2, 3, 4, 5, 7, 9, 10, 11, 12, 13, 14)

#: OpenAI CLIP ViT-B/32 (open_clip "ViT-B-32"): the paper's CLIP text encoder (variant unstated).
CLIP_PAPER = "ViT-B-32"
#: A tiny open_clip model of the same architecture family, random and frozen: the paper's
#: "w/o CLIP" ablation (Table 2), which avoids the pretrained CLIP weights.
CLIP_TINY = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "head_width": 32, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


@dataclass(frozen=True)
class TalkCLIPConfig:
    """Every size and hyper-parameter of one TalkCLIP run (stored in each checkpoint)."""

    name: str
    # --- expression generator (StyleTalk configs/default.py unless said) ---
    d_model: int  # width of E_a, E_v, E_d = CLIP embedding width (paper: 512 for ViT-B/32; StyleTalk 256)
    heads: int  # attention heads (StyleTalk: 8)
    layers: int  # transformer layers of E_a, E_v and of each E_d branch (StyleTalk: 3)
    phone_embed_dim: int  # phoneme embedding before Linear(->d) (StyleTalk: 128)
    window: int  # w: phoneme window t-w..t+w (paper §4: 5, i.e. 11 phonemes)
    style_max_frames: int  # longest style clip E_v reads (StyleTalk: 256)
    dynamic_k: int  # DynamicFCDecoder kernels K (StyleTalk: 8)
    dynamic_ratio: int  # attention bottleneck of the dynamic kernels (StyleTalk: 4)
    dropout: float  # transformer dropout (StyleTalk: 0.1)
    clip_model: str | dict  # open_clip config name or dict (CLIP_PAPER / CLIP_TINY)
    clip_frames: int  # L: frames generated per training sample (paper §4.2: 64)
    # --- discriminators ---
    tem_channels: int  # D_tem first Conv1d width (PatchGAN; paper silent)
    sync_frames: int  # expression frames per D_sync sample (SyncNet convention: 5)
    sync_dim: int  # D_sync embedding width (paper silent)
    # --- renderer (PIRenderer configs, StyleTalk configs/renderer_conf.yaml) ---
    image_size: int  # renderer resolution (PIRenderer: 256)
    descriptor_nc: int  # mapping-net descriptor width (256)
    mapping_layers: int  # dilated conv layers of the mapping net (3)
    warp_base: int  # warping net base channels (32)
    warp_encoder_layers: int  # (5)
    warp_decoder_layers: int  # (3)
    edit_base: int  # editing net base channels (64)
    edit_layers: int  # (3)
    edit_res_blocks: int  # (2)
    max_nc: int  # channel cap (256)
    semantic_radius: int  # coefficient window radius of the renderer: 2r+1 = 27 frames (PIRenderer: 13)
    # --- optimisation ---
    batch_size: int  # stage 1/2 samples per step (paper silent)
    sync_batch_size: int  # D_sync pretraining samples per step (each with a negative)
    renderer_batch_size: int  # renderer image pairs per step (PIRenderer: 5)
    learning_rate: float  # Adam, generator + discriminators (paper silent; PIRenderer/StyleTalk 1e-4)
    renderer_warp_fraction: float  # share of renderer steps training the warping net alone (PIRenderer: 200k warp-only)
    renderer_ema: float  # EMA decay of the renderer weights used at inference (PIRenderer: 0.5 ** (32 / 10000))
    normalize_coeffs: bool  # renderer input standardised with training statistics (PIRenderer: raw coefficients)
    steps: dict = field(default_factory=dict)  # default steps per stage
    checkpoint_every: int = 100
    # --- losses (paper eq. 2 and 4) ---
    mu: float = 0.1  # L_rec = mu L1 + (1 - mu) L_ssim
    lambdas: dict = field(default_factory=lambda: {"rec": 88.0, "cos": 1.0, "sync": 1.0, "tem": 1.0})
    beta: float = 0.6  # eq. 1 blending ratio
    text_probability_max: float = 0.5  # stage 2: p ramps 0 -> this over the stage's total steps
    perceptual: bool = True  # renderer: VGG-19 perceptual + style loss (PIRenderer); False: L1 stand-in
    renderer_init: str = ""  # a PIRenderer/StyleTalk renderer file (net_G_ema) the renderer stage starts from
    tdmm_kind: str = "deep3d"  # 3DMM coefficients the model is trained on ("deep3d" | "offline_pca")
    notes: str = ""

    @property
    def canonical(self) -> bool:
        return self.name == "paper"

    def required_weights(self, stage: str) -> tuple[str, ...]:
        """Pretrained weights names a stage (or inference, stage=None) needs."""
        names = []
        if isinstance(self.clip_model, str) and stage in ("stage1", "stage2", None):
            names.append("clip_vit_b32")
        if self.perceptual and stage == "renderer":
            names.append("vgg19")
        return tuple(names)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TalkCLIPConfig":
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise TfbenchError(f"TalkCLIP config has unknown fields {unknown}")
        return cls(**data)

    def validate(self) -> "TalkCLIPConfig":
        if self.d_model % self.heads:
            raise TfbenchError(f"d_model {self.d_model} must be a multiple of heads {self.heads}")
        if self.d_model <= self.dynamic_ratio:
            raise TfbenchError("d_model must exceed dynamic_ratio")
        if self.image_size % (2 ** max(self.warp_encoder_layers, self.edit_layers)):
            raise TfbenchError(f"image_size {self.image_size} must be divisible by 2**{max(self.warp_encoder_layers, self.edit_layers)}")
        if 2 * self.semantic_radius + 1 < 7 + 6 * self.mapping_layers + 1:
            raise TfbenchError("semantic_radius too small for the mapping net's receptive field")
        if self.clip_frames < self.sync_frames:
            raise TfbenchError("clip_frames must be >= sync_frames")
        if set(self.steps) != set(STAGES):
            raise TfbenchError(f"steps must name every stage {STAGES}")
        if self.tdmm_kind not in ("deep3d", "offline_pca"):
            raise TfbenchError(f"tdmm_kind must be 'deep3d' or 'offline_pca', got {self.tdmm_kind!r}")
        return self


PAPER = TalkCLIPConfig(
    name="paper",
    d_model=512, heads=8, layers=3, phone_embed_dim=128, window=5, style_max_frames=256,
    dynamic_k=8, dynamic_ratio=4, dropout=0.1, clip_model=CLIP_PAPER, clip_frames=64,
    tem_channels=128, sync_frames=5, sync_dim=256,
    image_size=256, descriptor_nc=256, mapping_layers=3, warp_base=32, warp_encoder_layers=5,
    warp_decoder_layers=3, edit_base=64, edit_layers=3, edit_res_blocks=2, max_nc=256, semantic_radius=13,
    batch_size=8, sync_batch_size=32, renderer_batch_size=5, learning_rate=1e-4, renderer_warp_fraction=0.5,
    renderer_ema=0.5 ** (32 / 10000), normalize_coeffs=False, steps={"sync": 50_000, "renderer": 400_000, "stage1": 100_000, "stage2": 100_000}, checkpoint_every=1000,
    perceptual=True, tdmm_kind="deep3d",
    notes=("paper config: CLIP ViT-B/32 text encoder (frozen), d=512, L=64, Deep3DFaceRecon/BFM coefficients, "
           "PIRenderer 256x256 with VGG-19 perceptual loss; step counts and batch sizes are not in the paper"),
)

TINY = TalkCLIPConfig(
    name="tiny",
    d_model=32, heads=2, layers=1, phone_embed_dim=16, window=5, style_max_frames=64,
    dynamic_k=4, dynamic_ratio=4, dropout=0.0, clip_model=CLIP_TINY, clip_frames=16,
    tem_channels=16, sync_frames=5, sync_dim=32,
    image_size=64, descriptor_nc=32, mapping_layers=3, warp_base=8, warp_encoder_layers=3,
    warp_decoder_layers=2, edit_base=8, edit_layers=2, edit_res_blocks=1, max_nc=32, semantic_radius=13,
    batch_size=2, sync_batch_size=16, renderer_batch_size=2, learning_rate=1e-3, renderer_warp_fraction=0.5,
    renderer_ema=0.9, normalize_coeffs=True, steps={"sync": 100, "renderer": 200, "stage1": 150, "stage2": 150}, checkpoint_every=50,
    perceptual=False, tdmm_kind="offline_pca",
    notes=("DEMO checkpoint (tiny config): d=32, one layer, L=16, 64x64 renderer, a few minutes of CPU training on "
           "tfbench's offline landmark-PCA 3DMM (not BFM). Its CLIP text tower is a RANDOM frozen tiny open_clip "
           "model: this is the paper's 'w/o CLIP' ablation, not TalkCLIP with CLIP. The renderer is trained with an "
           "L1 stand-in instead of the VGG-19 perceptual loss. Not comparable with the paper."),
)

CONFIGS = {"paper": PAPER, "tiny": TINY}


def get_config(name: str) -> TalkCLIPConfig:
    if name not in CONFIGS:
        raise TfbenchError(f"unknown TalkCLIP config {name!r}; choose one of: {', '.join(CONFIGS)}")
    return CONFIGS[name]
