"""G4G training: one step = generator update (eq. 24) then discriminator update (LS-GAN)."""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
import torch

from tfbench.models.g4g import losses as L
from tfbench.models.g4g.config import LOSS_WEIGHTS, G4GConfig, get_config
from tfbench.models.g4g.networks import G4GGenerator, MomentumProjections, PatchDiscriminator
from tfbench.train.config import apply_overrides, override_note
from tfbench.train.loop import Trainer


def resolve_config(config_name: str, overrides: dict | None = None) -> G4GConfig:
    """The named config with ``overrides`` (field -> value, see :mod:`tfbench.train.config`) applied, validated.

    Overriding anything turns the run non-canonical and is written into the notes.
    """
    config = get_config(config_name)
    changed = apply_overrides(config, overrides, protected=("name", "lambdas", "notes"))
    if changed is config:
        return config.validate()
    return dataclasses.replace(changed, notes=config.notes + override_note(changed, overrides)).validate()


class G4GTrainer(Trainer):
    """Networks, frozen experts, optimisers and the training data of one G4G run."""

    model_name = "g4g"
    weights = tuple(LOSS_WEIGHTS.values())  # the paper config's perceptual (vgg19) and sync (syncnet_v2) losses

    @classmethod
    def default_steps_for(cls, config_name: str, overrides: dict | None = None, stage: str = "main") -> int:
        return resolve_config(config_name, overrides).steps

    @classmethod
    def check_ready(cls, config_name: str, overrides: dict | None = None, stage: str = "main") -> None:
        from tfbench.errors import MissingWeightsError
        from tfbench.weights import require

        config = resolve_config(config_name, overrides)
        try:
            require(config.required_weights())
        except MissingWeightsError as error:
            raise MissingWeightsError(
                f"G4G config {config_name!r} trains with the losses {', '.join(config.losses)} and needs pretrained "
                f"networks that are missing (the 'tiny' config runs without them, as a demo):\n{error}"
            ) from None

    def __init__(self, config_name: str, dataset, *, stage: str = "main", total_steps: int | None = None,
                 predecessors: dict | None = None, overrides: dict | None = None, device: str = "cpu",
                 echo: Callable[[str], None] = print) -> None:
        from tfbench.models.g4g.data import TrainingClips

        self.check_ready(config_name, overrides)  # before any work: names every missing file and its fix
        config = resolve_config(config_name, overrides)
        self.cfg = config
        self.device = torch.device(device)
        self.config = config.to_dict()
        self.config_name = config_name
        self.default_steps = config.steps
        self.stage, self.total_steps, self.predecessors = stage, total_steps or config.steps, dict(predecessors or {})
        self.checkpoint_every = config.checkpoint_every
        self.canonical = config.canonical and not overrides
        self.notes = config.notes
        if config.missing_losses:
            self.notes += f" Losses left out: {', '.join(config.missing_losses)}."
        self.generator = G4GGenerator(config).to(self.device)
        self.momentum = MomentumProjections(self.generator).to(self.device)
        self.frame_discriminator = PatchDiscriminator(3, config.disc_channels).to(self.device)
        self.clip_discriminator = PatchDiscriminator(3 * config.clip_frames, config.disc_channels).to(self.device)
        self.perceptual = L.VGGPerceptual().to(self.device) if "perceptual" in config.losses else None
        self.syncnet = None
        if "sync" in config.losses:
            from tfbench.nets.syncnet import load_syncnet

            self.syncnet = load_syncnet(self.device)
        self._weights_used = {name: _record(name) for name in config.required_weights()}
        if any(not record["canonical"] for record in self._weights_used.values()):
            self.canonical = False
            self.notes += " Trained with non-canonical expert weights (" + ", ".join(
                name for name, record in self._weights_used.items() if not record["canonical"]) + ")."
        betas = (0.5, 0.999)
        self.optimizer_g = torch.optim.Adam(self.generator.parameters(), lr=config.learning_rate, betas=betas)
        self.optimizer_d = torch.optim.Adam(
            list(self.frame_discriminator.parameters()) + list(self.clip_discriminator.parameters()),
            lr=config.learning_rate, betas=betas)
        self.data = TrainingClips(dataset, config, progress=echo)
        for skipped in self.data.skipped:
            echo(f"skipping clip {skipped['clip_id']}: {skipped['reason']}")

    def step(self, step: int, rng: np.random.Generator) -> dict[str, float]:
        cfg = self.cfg
        local = self.context.local(cfg.batch_size)  # this process's share of the global batch
        batch = {key: value.to(self.device) for key, value in self.data.batch(rng, local).items()}
        b, t = batch["faces"].shape[:2]
        faces = batch["faces"].flatten(0, 1)
        self.generator.train()
        out = self.generator(faces, batch["references"].repeat_interleave(t, 0),
                             batch["sketch"].repeat_interleave(t, 0), batch["mel"].flatten(0, 1))
        output = out["output"]
        terms: dict[str, torch.Tensor] = {}
        if "attribute" in cfg.losses:
            terms["attribute"] = L.attribute_loss(out["source_vector"], out["landmark_vector"])
        if "perceptual" in cfg.losses:
            terms["perceptual"] = self.perceptual(output, faces)
        if "gan" in cfg.losses:
            terms["gan"] = (L.lsgan_generator(self.frame_discriminator(output))
                            + L.lsgan_generator(self.clip_discriminator(output.reshape(b, t * 3, *output.shape[2:]))))
        if "reconstruction" in cfg.losses:
            terms["reconstruction"] = L.multiscale_reconstruction(output, faces, batch["masks"].flatten(0, 1))
        if "contrastive" in cfg.losses:
            visual, audio = out["visual_vector"], out["audio_vector"]
            terms["contrastive"] = L.inter_modality_loss(
                self.generator.project_visual(visual), self.generator.project_audio(audio),
                self.momentum.visual(visual.detach()), self.momentum.audio(audio.detach()), cfg.temperature)
        if "sync" in cfg.losses:
            terms["sync"] = L.sync_loss(self.syncnet, output.reshape(b, t, *output.shape[1:]), batch["mfcc"],
                                        batch["mfcc_unsynced"], cfg.temperature)
        total = sum(cfg.lambdas[name] * value for name, value in terms.items())
        self.optimizer_g.zero_grad(set_to_none=True)
        total.backward()
        self.reduce_gradients(self.generator)
        self.optimizer_g.step()
        self.momentum.update(self.generator, cfg.momentum)
        logged = {"total": total.item()} | {f"g_{name}": value.item() for name, value in terms.items()}
        if "gan" in cfg.losses:
            fake = output.detach()
            d_loss = (L.lsgan_discriminator(self.frame_discriminator(faces), self.frame_discriminator(fake))
                      + L.lsgan_discriminator(self.clip_discriminator(faces.reshape(b, t * 3, *faces.shape[2:])),
                                              self.clip_discriminator(fake.reshape(b, t * 3, *fake.shape[2:]))))
            self.optimizer_d.zero_grad(set_to_none=True)
            d_loss.backward()
            self.reduce_gradients(self.frame_discriminator, self.clip_discriminator)
            self.optimizer_d.step()
            logged["d_gan"] = d_loss.item()
        return logged

    def state_dict(self) -> dict:
        return {
            "generator": self.generator.state_dict(), "momentum": self.momentum.state_dict(),
            "frame_discriminator": self.frame_discriminator.state_dict(),
            "clip_discriminator": self.clip_discriminator.state_dict(),
            "optimizer_g": self.optimizer_g.state_dict(), "optimizer_d": self.optimizer_d.state_dict(),
            "weights_used": self._weights_used,
        }

    def load_state_dict(self, state: dict) -> None:
        self.generator.load_state_dict(state["generator"])
        self.momentum.load_state_dict(state["momentum"])
        self.frame_discriminator.load_state_dict(state["frame_discriminator"])
        self.clip_discriminator.load_state_dict(state["clip_discriminator"])
        self.optimizer_g.load_state_dict(state["optimizer_g"])
        self.optimizer_d.load_state_dict(state["optimizer_d"])


def _record(name: str) -> dict:
    from tfbench.weights import weights_record

    record = weights_record(name)
    return {"sha256": record.sha256, "canonical": record.canonical}
