"""TalkCLIP's expression generator and discriminators.

The paper (§4) defers E_a, E_v and E_d to a supplement that is not public; these follow
StyleTalk's released code (FuxiVirtualHuman/styletalk @17b046c, ``core/networks/``), whose
first author is TalkCLIP's, with the same module and parameter names so its state-dict
layout is kept:

- :class:`ContentEncoder` (E_a): phoneme ids ``[B, N, 2w+1]`` -> ``[B, N, 2w+1, d]``;
- :class:`StyleEncoder` (E_v): expression coefficients ``[B, T<=256, 64]`` -> style ``[B, d]``
  (transformer + self-attention pooling);
- :class:`TextStyleEncoder` (E_t, paper §4.1.1): frozen CLIP text encoder + CLIP-Adapter,
  ``s_t = beta * e_s + (1 - beta) * e_t`` (eq. 1);
- :class:`DisentangleDecoder` (E_d): upper- and lower-face DynamicFC transformer decoders
  -> 64 expression coefficients per frame;
- :class:`TemporalDiscriminator` (D_tem): PatchGAN over ``delta_{1:L}`` (§4.2);
- :class:`SyncDiscriminator` (D_sync): sync probability of expression windows and phonemes.

Tensors are float32; expression coefficients are Deep3DFaceRecon ``exp`` slots (80:144) of
the dataset's 3DMM cache.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tfbench.models.request import PHONE_SET, SIL_ID

#: Phone ids: tfbench's PHONE_SET (39 CMU phones + SIL + NOISE), the same 41 phones as StyleTalk's
#: phindex.json (there: NSN for noise) in another order; windows are padded with SIL as in StyleTalk.
NUM_PHONES = len(PHONE_SET)


def _xavier(module: nn.Module) -> None:
    """StyleTalk core/utils.py _reset_parameters."""
    for p in module.parameters():
        if p.dim() > 1:
            nn.init.xavier_uniform_(p)


class PositionalEncoding(nn.Module):
    """Sinusoid table ``pos_table [1, n, d]`` (StyleTalk transformer.py)."""

    def __init__(self, d: int, n_position: int) -> None:
        super().__init__()
        position = np.arange(n_position)[:, None]
        hid = np.arange(d)[None, :]
        table = position / np.power(10000, 2 * (hid // 2) / d)
        table[:, 0::2] = np.sin(table[:, 0::2])
        table[:, 1::2] = np.cos(table[:, 1::2])
        self.register_buffer("pos_table", torch.tensor(table, dtype=torch.float32)[None])

    def forward(self, length: int) -> torch.Tensor:
        return self.pos_table[:, :length]


class EncoderLayer(nn.Module):
    """Post-norm transformer encoder layer (DETR style, StyleTalk ``TransformerEncoderLayer``)."""

    def __init__(self, d: int, heads: int, ff: int, dropout: float) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d, heads, dropout=dropout)
        self.linear1, self.linear2 = nn.Linear(d, ff), nn.Linear(ff, d)
        self.dropout, self.dropout1, self.dropout2 = nn.Dropout(dropout), nn.Dropout(dropout), nn.Dropout(dropout)
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)

    def forward(self, src: torch.Tensor, key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        src = self.norm1(src + self.dropout1(self.self_attn(src, src, src, key_padding_mask=key_padding_mask)[0]))
        return self.norm2(src + self.dropout2(self.linear2(self.dropout(F.relu(self.linear1(src))))))


class TransformerEncoder(nn.Module):
    """``layers`` encoder layers; the positional encoding is added once to the input (StyleTalk)."""

    def __init__(self, d: int, heads: int, ff: int, dropout: float, layers: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList([EncoderLayer(d, heads, ff, dropout) for _ in range(layers)])

    def forward(self, x: torch.Tensor, pos: torch.Tensor, key_padding_mask=None) -> torch.Tensor:
        x = x + pos
        for layer in self.layers:
            x = layer(x, key_padding_mask)
        return x


class ContentEncoder(nn.Module):
    """E_a: phoneme windows ``int64 [B, N, W]`` (W = 2w+1 ids in 0..40) -> ``[B, N, W, d]``."""

    def __init__(self, d: int, heads: int, layers: int, dropout: float, window: int, ph_embed_dim: int) -> None:
        super().__init__()
        self.encoder = TransformerEncoder(d, heads, 4 * d, dropout, layers)
        _xavier(self.encoder)
        self.pos_embed = PositionalEncoding(d, 2 * window + 1)
        self.ph_embedding = nn.Embedding(NUM_PHONES, ph_embed_dim)
        self.increase_embed_dim = nn.Linear(ph_embed_dim, d)

    def forward(self, phones: torch.Tensor) -> torch.Tensor:
        x = self.increase_embed_dim(self.ph_embedding(phones))
        b, n, w, c = x.shape
        x = x.reshape(b * n, w, c).transpose(0, 1)
        out = self.encoder(x, self.pos_embed(w).transpose(0, 1))
        return out.transpose(0, 1).reshape(b, n, w, c)


class SelfAttentionPooling(nn.Module):
    """Attention-weighted mean over time (StyleTalk self_attention_pooling.py; Mish hidden)."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.W = nn.Sequential(nn.Linear(d, d), nn.Mish(), nn.Linear(d, 1))

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        logits = self.W(x).squeeze(-1)
        if pad_mask is not None:
            logits = logits + pad_mask.to(x.dtype) * -100000.0
        return (x * logits.softmax(-1).unsqueeze(-1)).sum(1)


class StyleEncoder(nn.Module):
    """E_v: style clip ``[B, T, 64]`` expression coefficients (+ pad mask ``bool [B, T]``, True =
    padding) -> video style code ``s_v [B, d]``."""

    def __init__(self, d: int, heads: int, layers: int, dropout: float, max_frames: int, exp_dim: int = 64) -> None:
        super().__init__()
        self.encoder = TransformerEncoder(d, heads, 4 * d, dropout, layers)
        _xavier(self.encoder)
        self.pos_embed = PositionalEncoding(d, max_frames)
        self.increase_embed_dim = nn.Linear(exp_dim, d)
        self.aggregate_method = SelfAttentionPooling(d)

    def forward(self, exp: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.increase_embed_dim(exp).transpose(0, 1)
        style = self.encoder(x, self.pos_embed(x.shape[0]).transpose(0, 1), pad_mask)
        return self.aggregate_method(style.transpose(0, 1), pad_mask)


class CLIPAdapter(nn.Module):
    """CLIP-Adapter (Gao et al. 2021): Linear(c, c/4, no bias)-ReLU-Linear(c/4, c, no bias)-ReLU."""

    def __init__(self, c: int, reduction: int = 4) -> None:
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(c, c // reduction, bias=False), nn.ReLU(inplace=True),
                                nn.Linear(c // reduction, c, bias=False), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


class TextStyleEncoder(nn.Module):
    """E_t (T2SS, §4.1.1): tokens ``int64 [B, 77]`` -> ``s_t [B, d]`` with eq. 1.

    ``clip`` is an open_clip ``CLIP`` whose text tower is frozen (``requires_grad`` False,
    eval mode always); only the adapter trains. ``e_t`` is CLIP's projected text feature
    (``encode_text``, not L2-normalised), so d = CLIP's embedding width.
    """

    def __init__(self, clip: nn.Module, beta: float) -> None:
        super().__init__()
        self.clip = clip
        for p in self.clip.parameters():
            p.requires_grad_(False)
        self.adapter = CLIPAdapter(int(clip.text_projection.shape[1]))
        self.beta = beta

    def train(self, mode: bool = True):
        super().train(mode)
        self.clip.eval()  # frozen: no dropout, whatever the mode
        return self

    def text_embedding(self, tokens: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.clip.encode_text(tokens).float()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        e_t = self.text_embedding(tokens)
        return self.beta * self.adapter(e_t) + (1 - self.beta) * e_t


class DynamicLinear(nn.Module):
    """StyleTalk's DynamicConv (kernel 1) as a linear layer: K weight banks mixed per sample by a
    softmax (temperature 30) over an attention on the style code. Keys: ``dynamic_conv.*``."""

    def __init__(self, d_in: int, d_out: int, d_cond: int, k: int, ratio: int, temperature: float = 30.0) -> None:
        super().__init__()
        self.dynamic_conv = _DynamicConv(d_in, d_out, d_cond, k, ratio, temperature)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """x: [L, b*n, d_in] (n frames per sample); cond: [b, d_cond] -> [L, b*n, d_out].

        StyleTalk mixes the kernels once per row of ``x``; rows of one sample share the
        style code, so mixing once per sample gives the same numbers with n times less memory.
        """
        return self.dynamic_conv(x, cond)


class _DynamicAttention(nn.Module):
    def __init__(self, d_cond: int, ratio: int, k: int, temperature: float) -> None:
        super().__init__()
        self.temprature = temperature  # (sic) StyleTalk's attribute name
        self.net = nn.Sequential(nn.Conv2d(d_cond, d_cond // ratio, 1, bias=False), nn.ReLU(),
                                 nn.Conv2d(d_cond // ratio, k, 1, bias=False))
        for m in self.net:
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, cond: torch.Tensor) -> torch.Tensor:
        return (self.net(cond[:, :, None, None]).flatten(1) / self.temprature).softmax(-1)


class _DynamicConv(nn.Module):
    def __init__(self, d_in: int, d_out: int, d_cond: int, k: int, ratio: int, temperature: float) -> None:
        super().__init__()
        self.K, self.d_in, self.d_out = k, d_in, d_out
        self.attention = _DynamicAttention(d_cond, ratio, k, temperature)
        self.weight = nn.Parameter(torch.empty(k, d_out, d_in, 1, 1))
        self.bias = nn.Parameter(torch.empty(k, d_out))
        for i in range(k):
            nn.init.kaiming_uniform_(self.weight[i], a=math.sqrt(5))
        bound = 1 / math.sqrt(d_in)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        att = self.attention(cond)  # [b, K]
        weight = (att @ self.weight.view(self.K, -1)).view(-1, self.d_out, self.d_in)  # [b, out, in]
        bias = att @ self.bias  # [b, out]
        length, rows, _ = x.shape
        b = cond.shape[0]
        x = x.reshape(length, b, rows // b, self.d_in)
        out = torch.einsum("lbni,boi->lbno", x, weight) + bias[None, :, None]
        return out.reshape(length, rows, self.d_out)


class DynamicFCDecoderLayer(nn.Module):
    """StyleTalk DynamicFCDecoderLayer: self-attention, cross-attention to the phoneme content,
    feed-forward whose first layer is a style-conditioned DynamicLinear."""

    def __init__(self, d: int, heads: int, ff: int, dropout: float, k: int, ratio: int) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d, heads, dropout=dropout)
        self.multihead_attn = nn.MultiheadAttention(d, heads, dropout=dropout)
        self.linear1 = DynamicLinear(d, ff, d, k, ratio)
        self.linear2 = nn.Linear(ff, d)
        self.dropout = nn.Dropout(dropout)
        self.dropout1, self.dropout2, self.dropout3 = nn.Dropout(dropout), nn.Dropout(dropout), nn.Dropout(dropout)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)

    def forward(self, tgt: torch.Tensor, memory: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        tgt = self.norm1(tgt + self.dropout1(self.self_attn(tgt, tgt, tgt)[0]))
        tgt = self.norm2(tgt + self.dropout2(self.multihead_attn(tgt, memory, memory)[0]))
        return self.norm3(tgt + self.dropout3(self.linear2(self.dropout(F.relu(self.linear1(tgt, style))))))


class DynamicFCDecoder(nn.Module):
    def __init__(self, layer: DynamicFCDecoderLayer, count: int, d: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList([copy.deepcopy(layer) for _ in range(count)])
        self.norm = nn.LayerNorm(d)

    def forward(self, tgt, memory, pos, query_pos, style) -> torch.Tensor:
        """tgt/memory/query_pos [W, b*n, d], pos [W, 1, d], style [b, d]."""
        out = tgt + pos + query_pos
        for layer in self.layers:
            out = layer(out, memory, style)
        return self.norm(out)


class DisentangleDecoder(nn.Module):
    """E_d: content ``[B, N, W, d]`` + style ``[B, d]`` -> expression ``[B, N, 64]``.

    Two DynamicFC decoders (upper face: 51 coefficients, lower face: 13, StyleTalk's index
    lists); the centre of each phoneme window gives the frame's coefficients.
    """

    def __init__(self, d: int, heads: int, layers: int, dropout: float, window: int, k: int, ratio: int,
                 upper: tuple[int, ...], lower: tuple[int, ...]) -> None:
        super().__init__()
        self.upper_face3d_indices, self.lower_face3d_indices = list(upper), list(lower)
        layer = DynamicFCDecoderLayer(d, heads, 4 * d, dropout, k, ratio)
        self.upper_decoder = DynamicFCDecoder(layer, layers, d)
        self.lower_decoder = DynamicFCDecoder(layer, layers, d)
        _xavier(self.upper_decoder)
        _xavier(self.lower_decoder)
        self.pos_embed = PositionalEncoding(d, 2 * window + 1)
        hidden = d // 2
        self.upper_tail_fc = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                           nn.Linear(hidden, len(upper)))
        self.lower_tail_fc = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                           nn.Linear(hidden, len(lower)))

    def forward(self, content: torch.Tensor, style_code: torch.Tensor) -> torch.Tensor:
        b, n, w, c = content.shape
        style = style_code.reshape(b, 1, 1, c).expand(b, n, w, c).permute(2, 0, 1, 3).reshape(w, b * n, c)
        memory = content.permute(2, 0, 1, 3).reshape(w, b * n, c)
        tgt = torch.zeros_like(style)
        pos = self.pos_embed(w).transpose(0, 1)
        upper = self.upper_decoder(tgt, memory, pos, style, style_code).transpose(0, 1).reshape(b, n, w, c)[:, :, w // 2]
        lower = self.lower_decoder(tgt, memory, pos, style, style_code).transpose(0, 1).reshape(b, n, w, c)[:, :, w // 2]
        exp = content.new_zeros(b, n, len(self.upper_face3d_indices) + len(self.lower_face3d_indices))
        exp[:, :, self.upper_face3d_indices] = self.upper_tail_fc(upper)
        exp[:, :, self.lower_face3d_indices] = self.lower_tail_fc(lower)
        return exp


class TemporalDiscriminator(nn.Module):
    """D_tem: PatchGAN (Isola et al.) over time on ``delta [B, L, 64]`` -> patch logits ``[B, P]``.

    Conv1d k4 s2 x3 (LeakyReLU 0.2, instance norm after the first) + Conv1d k3 head.
    """

    def __init__(self, exp_dim: int, channels: int) -> None:
        super().__init__()
        c = channels
        self.net = nn.Sequential(
            nn.Conv1d(exp_dim, c, 4, 2, 1), nn.LeakyReLU(0.2, True),
            nn.Conv1d(c, 2 * c, 4, 2, 1), nn.InstanceNorm1d(2 * c, affine=True), nn.LeakyReLU(0.2, True),
            nn.Conv1d(2 * c, 4 * c, 4, 2, 1), nn.InstanceNorm1d(4 * c, affine=True), nn.LeakyReLU(0.2, True),
            nn.Conv1d(4 * c, 1, 3, 1, 1),
        )

    def forward(self, exp: torch.Tensor) -> torch.Tensor:
        return self.net(exp.transpose(1, 2)).flatten(1)


class SyncDiscriminator(nn.Module):
    """D_sync: probability that ``sync_frames`` expression frames match their phonemes.

    Expression branch: Conv1d over ``[B, F, 64]`` -> ``[B, dim]``; audio branch: the F frames'
    phoneme windows ``[B, F, 2w+1]`` embedded and convolved -> ``[B, dim]``. As SyncNet /
    Wav2Lip's expert, both are ReLU'd and the probability is their cosine similarity
    (in [0, 1] after ReLU). StyleTalk's own D_sync (a PointNet on BFM mouth vertices) is not
    released; this one reads the expression coefficients directly.
    """

    def __init__(self, exp_dim: int, dim: int, frames: int, window: int) -> None:
        super().__init__()
        self.exp_encoder = nn.Sequential(
            nn.Conv1d(exp_dim, dim, 3, 1, 1), nn.LeakyReLU(0.2, True),
            nn.Conv1d(dim, dim, 3, 1, 1), nn.LeakyReLU(0.2, True),
            nn.Conv1d(dim, dim, frames), nn.ReLU())
        self.ph_embedding = nn.Embedding(NUM_PHONES, dim // 2)
        self.audio_encoder = nn.Sequential(
            nn.Conv1d(dim // 2 * (2 * window + 1), dim, 3, 1, 1), nn.LeakyReLU(0.2, True),
            nn.Conv1d(dim, dim, 3, 1, 1), nn.LeakyReLU(0.2, True),
            nn.Conv1d(dim, dim, frames), nn.ReLU())

    def forward(self, exp: torch.Tensor, phones: torch.Tensor) -> torch.Tensor:
        """exp [B, F, 64], phones int64 [B, F, 2w+1] -> probability [B]."""
        e = self.exp_encoder(exp.transpose(1, 2)).flatten(1)
        a = self.audio_encoder(self.ph_embedding(phones).flatten(2).transpose(1, 2)).flatten(1)
        return F.cosine_similarity(e, a, dim=1, eps=1e-6).clamp(0, 1)


def phoneme_windows(phones: np.ndarray, window: int) -> np.ndarray:
    """int64 [T] frame phone ids -> int64 [T, 2w+1] windows padded with SIL (StyleTalk get_audio_window)."""
    padded = np.concatenate([np.full(window, SIL_ID), np.asarray(phones, dtype=np.int64), np.full(window, SIL_ID)])
    index = np.arange(len(phones))[:, None] + np.arange(2 * window + 1)[None]
    return padded[index]


class ExpressionGenerator(nn.Module):
    """E_a + E_v + E_t + E_d: phoneme windows and a style code -> expression coefficients.

    ``clip`` is the open_clip model of E_t (frozen). ``forward(phones, style_code)`` decodes
    ``[B, N, 2w+1]`` phoneme windows with ``style_code [B, d]`` into ``[B, N, 64]``.
    """

    def __init__(self, config, clip: nn.Module) -> None:
        super().__init__()
        c = config
        self.content_encoder = ContentEncoder(c.d_model, c.heads, c.layers, c.dropout, c.window, c.phone_embed_dim)
        self.style_encoder = StyleEncoder(c.d_model, c.heads, c.layers, c.dropout, c.style_max_frames)
        self.text_encoder = TextStyleEncoder(clip, c.beta)
        if self.text_encoder.adapter.fc[0].in_features != c.d_model:
            raise ValueError(f"CLIP embedding width {self.text_encoder.adapter.fc[0].in_features} != d_model {c.d_model}")
        from tfbench.models.talkclip.config import LOWER_EXP, UPPER_EXP

        self.decoder = DisentangleDecoder(c.d_model, c.heads, c.layers, c.dropout, c.window, c.dynamic_k,
                                          c.dynamic_ratio, UPPER_EXP, LOWER_EXP)

    def forward(self, phones: torch.Tensor, style_code: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.content_encoder(phones), style_code)

    def trainable_state_dict(self) -> dict:
        """Everything but the frozen CLIP tower (saved separately when it is not a pretrained file)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("text_encoder.clip.")}
