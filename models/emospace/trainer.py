"""Training of the emotion-space method: stage ``eac`` (AME audio encoder + EAC, eq. 5) then
stage ``hef`` (HEF with EAC frozen, eq. 11), on the shared loop (tfbench/train/loop.py).

The ``hef`` checkpoint carries every network inference needs (the frozen AME/EAC copied from
the ``eac`` checkpoint it names by sha256), so ``tfbench generate emospace --checkpoint`` needs
one file.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch.nn import functional as F

from tfbench.errors import TfbenchError
from tfbench.models.emospace.config import EmoSpaceConfig, get_config, prompt_for
from tfbench.train.loop import Trainer

#: Weights each piece of the paper path loads (check_ready names every missing one and its fix).
GEOMETRY_WEIGHTS = {"render": ("bfm_front",), "sketch": ()}
LOSS_WEIGHTS = {"emo": ("hsemotion_enet_b0_8",), "hef_lpips": ("alexnet", "lpips_alex_linear")}
#: Losses that need the BFM render (geometry "render").
RENDER_LOSSES = ("emo", "rec")


def weights_needed(config: EmoSpaceConfig, stage: str) -> list[str]:
    """Weights names the ``stage`` of ``config`` loads, in order."""
    names = ["clip_vit_b32"] if config.clip == "ViT-B-32" else []
    names += GEOMETRY_WEIGHTS[config.geometry]
    for loss in config.eac_losses if stage == "eac" else config.hef_losses:
        names += LOSS_WEIGHTS.get(loss, ())
    return names


def build_clip(config: EmoSpaceConfig):
    """The frozen CLIP towers: the real ViT-B/32 for ``"ViT-B-32"``, a random tiny tower of the
    same family for a config dict (its weights then live in the checkpoint)."""
    from tfbench.nets import clip as clip_nets

    if config.clip == "ViT-B-32":
        return clip_nets.load_clip()
    return clip_nets.build_clip(config.clip)


def tdmm_backend(dataset) -> str:
    return (dataset.meta.get("backends", {}).get("tdmm") or {}).get("name", "offline")


def face_renderer(dataset=None, device: str = "cpu"):
    """The BFM face renderer (paper config): needs ``--tdmm deep3d`` coefficients in ``dataset``
    (checked when given) and the user-imported ``bfm_front``."""
    from tfbench.annotate.bfm import BFM
    from tfbench.annotate.render import FaceRenderer

    if dataset is not None and tdmm_backend(dataset) != "deep3d":
        raise TfbenchError(f"{dataset.root} has {tdmm_backend(dataset)} 3DMM coefficients; the emospace config with "
                           "geometry 'render' draws BFM faces from Deep3DFaceRecon coefficients: prepare the dataset with "
                           "`--tdmm deep3d` (or train --config tiny)")
    return FaceRenderer(BFM.load().to(device))


def offline_tdmm(dataset):
    """The dataset's offline 3DMM model (tfbench's landmark PCA fit), needed by L_lm and the sketch."""
    from tfbench.annotate.tdmm import OfflineTdmm

    backend = tdmm_backend(dataset)
    if backend != "offline":
        raise TfbenchError(f"{dataset.root} has {backend} 3DMM coefficients; the emotion-space tiny config needs the "
                           "offline landmark model (prepare without --tdmm deep3d)")
    return OfflineTdmm.load(dataset.root / dataset.meta["tdmm_model"]["path"])


def tdmm_state(model) -> dict:
    return {key: torch.as_tensor(getattr(model, key)) for key in ("global_mean", "id_basis", "exp_basis")}


def tdmm_from_state(state: dict):
    from tfbench.annotate.tdmm import OfflineTdmm

    return OfflineTdmm(*(state[key].numpy() for key in ("global_mean", "id_basis", "exp_basis")), {})


def sketch_batch(tdmm, coeffs: torch.Tensor, align: torch.Tensor, clip_size: int, size: int) -> torch.Tensor:
    """E_rd's input in the tiny config: the landmark sketch of ``coeffs`` [B,257] (offline 3DMM,
    ``align`` [B,5] in pixels of a ``clip_size`` clip) drawn at ``size``, float [B,3,size,size] in
    [-1, 1]. (The paper renders the BFM face instead.)"""
    from tfbench.annotate.sketch import landmark_sketch

    points = tdmm.landmarks(coeffs.detach().cpu().double().numpy(), align.detach().cpu().double().numpy())
    points = points * (size / clip_size)
    sketches = np.stack([landmark_sketch(p, size, size, max(1, size // 128)) for p in points])
    return torch.as_tensor(sketches, dtype=torch.float32)[:, None].expand(-1, 3, -1, -1) * 2 - 1


class EmoSpaceTrainer(Trainer):
    model_name: ClassVar[str] = "emospace"
    stages: ClassVar[tuple[str, ...]] = ("eac", "hef")
    requires: ClassVar[dict[str, tuple[str, ...]]] = {"hef": ("eac",)}
    #: what the paper config loads (the tiny config none)
    weights: ClassVar[tuple[str, ...]] = ("clip_vit_b32", "bfm_front", "hsemotion_enet_b0_8", "alexnet", "lpips_alex_linear")

    @classmethod
    def resolve_config(cls, config_name: str, overrides: dict | None = None) -> EmoSpaceConfig:
        """The named config with ``--set`` overrides applied (then non-canonical, said in its notes)."""
        import dataclasses

        from tfbench.train.config import apply_overrides, override_note

        config = get_config(config_name)
        changed = apply_overrides(config, overrides, protected=("name", "notes"))
        if changed is config:
            return config
        return dataclasses.replace(changed, notes=config.notes + override_note(changed, overrides))

    @classmethod
    def default_steps_for(cls, config_name: str, overrides: dict | None = None, stage: str = "eac") -> int:
        config = cls.resolve_config(config_name, overrides)
        return config.eac_steps if stage == "eac" else config.hef_steps

    @classmethod
    def check_ready(cls, config_name: str, overrides: dict | None = None, stage: str = "eac") -> None:
        from tfbench.weights import require

        config = cls.resolve_config(config_name, overrides)
        if config.geometry not in GEOMETRY_WEIGHTS:
            raise TfbenchError(f"emospace geometry must be one of {', '.join(GEOMETRY_WEIGHTS)}, got {config.geometry!r}")
        unrendered = [name for name in config.eac_losses if name in RENDER_LOSSES and config.geometry != "render"]
        if unrendered:
            raise TfbenchError(f"L_{', L_'.join(unrendered)} compare BFM renders with frames: they need geometry 'render' "
                               "(--config paper), not 'sketch'")
        require(weights_needed(config, stage))

    def __init__(self, config_name: str, dataset, *, stage: str, total_steps: int, predecessors: dict,
                 overrides: dict | None = None, device: str = "cpu", echo=print) -> None:
        from tfbench.models.emospace.ame import AME
        from tfbench.models.emospace.data import load_clips
        from tfbench.models.emospace.networks import EAC, HEF, Discriminator

        self.cfg = config = self.resolve_config(config_name, overrides)
        self.config = config.to_dict()
        self.config_name, self.stage, self.device = config_name, stage, device
        self.default_steps = config.eac_steps if stage == "eac" else config.hef_steps
        self.total_steps = total_steps or self.default_steps
        self.predecessors = dict(predecessors or {})
        self.checkpoint_every = config.checkpoint_every
        self.canonical = config_name == "paper" and not overrides
        self.notes = config.notes or ""
        render = config.geometry == "render"
        self.tdmm = None if render else offline_tdmm(dataset)
        self.faces = face_renderer(dataset, device) if render else None
        self.clips, self.skipped = load_clips(dataset, "train", config.image_size, config.window, echo)
        self.ame = AME(config, build_clip(config)).to(device)
        self.eac = EAC(config.clip_embed, config.eac_dim, config.eac_layers, config.eac_heads).to(device)
        if stage == "eac":
            if "emo" in config.eac_losses:
                from tfbench.nets.hsemotion import load_hsemotion

                self.emotion_net = load_hsemotion(device)
            self.optimizer = torch.optim.Adam([*self.ame.audio.parameters(), *self.eac.parameters()], lr=config.eac_lr)
            return
        eac = predecessors["eac"].state
        self.ame.load_checkpoint_state(eac["ame"])
        self.eac.load_state_dict(eac["eac"])
        self.ame.requires_grad_(False).eval()
        self.eac.requires_grad_(False).eval()
        self.hef = HEF(config.image_size, config.blocks, config.channels, config.encoder_channels, config.style_dim,
                       config.eac_dim).to(device)
        self.disc = Discriminator(config.image_size, config.disc_channels).to(device)
        if "hef_lpips" in config.hef_losses:
            from tfbench.nets.lpips import load_lpips

            self.lpips = load_lpips("alex", device).requires_grad_(False)
        self.g_optimizer = torch.optim.Adam(self.hef.parameters(), lr=config.hef_lr, betas=(0.0, 0.99))
        self.d_optimizer = torch.optim.Adam(self.disc.parameters(), lr=config.hef_lr, betas=(0.0, 0.99))

    # ---- stage eac ----------------------------------------------------------------------------
    def _eac_batch(self, rng: np.random.Generator) -> dict:
        from tfbench.models.emospace.data import mel_frames

        window, samples = self.cfg.window, []
        for _ in range(self.cfg.eac_batch):
            clip = self.clips[rng.integers(len(self.clips))]
            start = int(rng.integers(len(clip) - window + 1))
            samples.append((clip, start, int(rng.integers(len(clip)))))
        # the frame of each window that L_rec / L_emo render (paper config), drawn for the global batch
        offsets = [int(rng.integers(window)) for _ in samples] if self.faces is not None else None
        local = self.context.local(self.cfg.eac_batch)
        samples = samples[local]  # this process's share of the global batch
        as_tensor = lambda arrays: torch.as_tensor(np.stack(arrays), device=self.device)  # noqa: E731
        return {
            "mel": as_tensor([mel_frames(c.mel, s, window) for c, s, _ in samples]),
            "coeffs": as_tensor([c.coeffs[s : s + window] for c, s, _ in samples]),
            "align": as_tensor([c.align[s : s + window] for c, s, _ in samples]),
            "mu": torch.tensor([float(c.level) for c, _, _ in samples], device=self.device),
            "prompts": [prompt_for(c.emotion) for c, _, _ in samples],
            "images": np.stack([c.frames[i] for c, _, i in samples]),
            **(self._render_targets(samples, offsets[local]) if offsets else {}),
        }

    def _render_targets(self, samples: list, offsets: list[int]) -> dict:
        """The frame of each window L_rec / L_emo compare with: its index in the window [B], the
        frame float [B,3,S,S] in [-1, 1] and its alignment [B,5]."""
        from tfbench.models.emospace.data import to_tensor

        return {
            "offset": torch.tensor(offsets, device=self.device),
            "target": to_tensor(np.stack([c.frames[s + k] for (c, s, _), k in zip(samples, offsets)])).to(self.device),
            "target_align": torch.as_tensor(np.stack([c.align[s + k] for (c, s, _), k in zip(samples, offsets)]),
                                            device=self.device),
        }

    def eac_losses(self, batch: dict) -> dict[str, torch.Tensor]:
        """Eq. 5 over z_emo = [e_text, e_audio, e_img] concatenated along the batch (eq. 2)."""
        e_text = self.ame.encode_text(batch["prompts"])
        e_image = self.ame.encode_image(batch["images"])
        e_audio = self.ame.encode_audio(batch["mel"])
        z_emo = torch.cat([e_text, e_audio, e_image])
        beta_hat, _ = self.eac(batch["mel"].repeat(3, 1, 1), z_emo, batch["mu"].repeat(3))
        coeffs = batch["coeffs"].repeat(3, 1, 1)
        align = batch["align"].repeat(3, 1, 1)
        losses = {"clip": (1 - F.cosine_similarity(e_image, e_audio)).mean()
                  + (1 - F.cosine_similarity(e_text, e_audio)).mean()}
        beta = coeffs[..., 80:144]
        losses["reg"] = (beta - beta_hat).norm(dim=-1).mean()
        modified = torch.cat([coeffs[..., :80], beta_hat, coeffs[..., 144:]], dim=-1)
        if self.faces is not None:
            return {**losses, **self.render_losses(coeffs, modified, batch)}
        flat_coeffs, flat_align = coeffs.reshape(-1, 257), align.reshape(-1, 5)
        target = self.tdmm.torch_landmarks(flat_coeffs, flat_align)
        predicted = self.tdmm.torch_landmarks(modified.reshape(-1, 257), flat_align)
        # point distance in units of the clip width (align[:, 0]), so the loss does not depend on resolution
        losses["lm"] = ((predicted - target).norm(dim=-1) / flat_align[:, :1]).mean()
        return losses

    def render_losses(self, coeffs: torch.Tensor, modified: torch.Tensor, batch: dict) -> dict[str, torch.Tensor]:
        """L_lm, L_rec and L_emo of the paper config (BFM + deodr render on the 224 crop)
        for coeffs / modified [3B,T,257] (the three modalities stacked as in eac_losses)."""
        from tfbench.annotate.bfm import CROP, crop_frames

        losses = {}
        bfm = self.faces.bfm
        # L_lm: 68 BFM landmarks of theta vs theta-hat, in units of the crop width
        target = bfm.landmarks(coeffs.reshape(-1, 257))
        predicted = bfm.landmarks(modified.reshape(-1, 257))
        losses["lm"] = (predicted - target).norm(dim=-1).mean() / CROP
        wanted = [name for name in RENDER_LOSSES if name in self.cfg.eac_losses]
        if not wanted:
            return losses
        rows = torch.arange(len(modified), device=modified.device)
        rendered = self.faces.crop(modified[rows, batch["offset"].repeat(3)])
        image, mask = rendered["image"], rendered["mask"]  # image = colour x mask, [0, 1]
        frame = crop_frames((batch["target"] + 1) / 2, batch["target_align"]).repeat(3, 1, 1, 1)
        # L_rec = || I_rd - M * I ||_2: per-pixel colour distance averaged over the face area
        area = mask.sum(dim=(1, 2, 3)).clamp(min=1)
        losses["rec"] = ((image - mask * frame).norm(dim=1).sum(dim=(1, 2)) / area).mean()
        if "emo" in wanted:
            # eq. 6: I_3d = M * I_rd + (1 - M) * I; features of the emotion net before its last linear layer
            blended = image + (1 - mask) * frame
            with torch.no_grad():
                reference = self.emotion_net.features(frame * 2 - 1)
            losses["emo"] = (self.emotion_net.features(blended * 2 - 1) - reference).norm(dim=-1).mean()
        return losses

    # ---- stage hef ----------------------------------------------------------------------------
    @torch.no_grad()
    def sigma_hat(self, mel: torch.Tensor, prompts: list[str], mu: torch.Tensor) -> torch.Tensor:
        """The updated intensity token of frozen EAC for the driving windows (text modality)."""
        _, sigma = self.eac(mel, self.ame.encode_text(prompts), mu)
        return sigma

    def _hef_batch(self, rng: np.random.Generator) -> dict:
        from tfbench.models.emospace.data import mel_frames, source_candidates, to_tensor

        window, rows = self.cfg.window, []
        for _ in range(self.cfg.hef_batch):
            driving = self.clips[rng.integers(len(self.clips))]
            frame = int(rng.integers(len(driving)))
            candidates = source_candidates(self.clips, driving)
            source = candidates[rng.integers(len(candidates))]
            rows.append((driving, frame, source, int(rng.integers(len(source)))))
        rows = rows[self.context.local(self.cfg.hef_batch)]
        start = lambda clip, frame: int(np.clip(frame - window // 2, 0, max(0, len(clip) - window)))  # noqa: E731
        device = self.device
        return {
            "driving": to_tensor(np.stack([d.frames[t] for d, t, _, _ in rows])).to(device),
            "source": to_tensor(np.stack([s.frames[u] for _, _, s, u in rows])).to(device),
            "driving_coeffs": torch.as_tensor(np.stack([d.coeffs[t] for d, t, _, _ in rows]), device=device),
            "source_coeffs": torch.as_tensor(np.stack([s.coeffs[u] for _, _, s, u in rows]), device=device),
            "align": torch.as_tensor(np.stack([d.align[t] for d, t, _, _ in rows]), device=device),
            "clip_size": rows[0][0].clip_size,
            "mel": torch.as_tensor(np.stack([mel_frames(d.mel, start(d, t), window) for d, t, _, _ in rows]), device=device),
            "prompts": [prompt_for(d.emotion) for d, _, _, _ in rows],
            "mu": torch.tensor([float(d.level) for d, _, _, _ in rows], device=device),
        }

    def hef_forward(self, batch: dict) -> torch.Tensor:
        from tfbench.models.emospace.networks import GAMMA, HEF, ID, TEX

        sigma = self.sigma_hat(batch["mel"], batch["prompts"], batch["mu"])
        # geometry: the source's identity with the driving expression and pose
        mixed = batch["driving_coeffs"].clone()
        for part in (ID, TEX, GAMMA):  # the source's identity (shape, albedo, lighting)
            mixed[:, part] = batch["source_coeffs"][:, part]
        if self.faces is not None:
            with torch.no_grad():
                geometry = self.faces.frame(mixed, batch["align"], self.cfg.image_size)
        else:
            geometry = sketch_batch(self.tdmm, mixed, batch["align"], batch["clip_size"], self.cfg.image_size)
        geometry = geometry.to(self.device)
        style = HEF.style_vector(batch["source_coeffs"], batch["driving_coeffs"], sigma)
        image, _ = self.hef(batch["source"], geometry, style)
        return image

    # ---- the loop's interface -----------------------------------------------------------------
    def step(self, step: int, rng: np.random.Generator) -> dict[str, float]:
        lambdas = self.cfg.lambdas
        if self.stage == "eac":
            self.eac.train(), self.ame.train()
            losses = self.eac_losses(self._eac_batch(rng))
            total = sum(lambdas[name] * losses[name] for name in self.cfg.eac_losses)
            self.optimizer.zero_grad()
            total.backward()
            self.reduce_gradients(self.ame.audio, self.eac)
            self.optimizer.step()
            return {"total": total.item(), **{f"eac_{k}": v.item() for k, v in losses.items()}}
        batch = self._hef_batch(rng)
        fake = self.hef_forward(batch)
        d_loss = F.softplus(self.disc(fake.detach())).mean() + F.softplus(-self.disc(batch["driving"])).mean()
        self.d_optimizer.zero_grad()
        d_loss.backward()
        self.reduce_gradients(self.disc)
        self.d_optimizer.step()
        losses = {"hef_rec": (fake - batch["driving"]).abs().mean(), "hef_adv": F.softplus(-self.disc(fake)).mean()}
        if "hef_lpips" in self.cfg.hef_losses:
            losses["hef_lpips"] = self.lpips.distance(fake, batch["driving"]).mean()
        total = sum(lambdas[name] * losses[name] for name in self.cfg.hef_losses)
        self.g_optimizer.zero_grad()
        total.backward()
        self.reduce_gradients(self.hef)
        self.g_optimizer.step()
        return {"total": total.item(), "d_loss": d_loss.item(), **{f"g_{k}": v.item() for k, v in losses.items()}}

    def state_dict(self) -> dict:
        state = {"stage": self.stage, "ame": self.ame.checkpoint_state(), "eac": self.eac.state_dict()}
        if self.tdmm is not None:  # the offline model travels with the checkpoint; the BFM is the user's file
            state["tdmm"] = tdmm_state(self.tdmm)
        if self.stage == "eac":
            return {**state, "optimizer": self.optimizer.state_dict()}
        return {**state, "hef": self.hef.state_dict(), "disc": self.disc.state_dict(),
                "g_optimizer": self.g_optimizer.state_dict(), "d_optimizer": self.d_optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.ame.load_checkpoint_state(state["ame"])
        self.eac.load_state_dict(state["eac"])
        if self.stage == "eac":
            self.optimizer.load_state_dict(state["optimizer"])
            return
        self.hef.load_state_dict(state["hef"])
        self.disc.load_state_dict(state["disc"])
        self.g_optimizer.load_state_dict(state["g_optimizer"])
        self.d_optimizer.load_state_dict(state["d_optimizer"])
