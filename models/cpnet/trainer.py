"""CPNet training: one step updates G (eq. 8), then D and D_t (eq. 4, 6), then P (eq. 3),
then tfbench's audio-to-landmark front end (L2, independent of the image networks)."""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
import torch

from tfbench.models.cpnet import losses as L
from tfbench.models.cpnet.config import CPNetConfig, get_config
from tfbench.models.cpnet.networks import (AudioToLandmarks, ClipCondenserTower, DenseGenerator, PatchDiscriminator,
                                           ProbabilityPredictor, generator_in_channels)
from tfbench.train.loop import Trainer


def resolve_config(config_name: str, overrides: dict | None = None) -> CPNetConfig:
    """The named config with ``--set`` overrides applied (non-canonical, noted), validated."""
    from tfbench.train.config import apply_overrides, override_note

    base = get_config(config_name)
    config = apply_overrides(base, overrides, protected=("name", "notes", "lambdas", "clip"))
    if overrides:
        config = dataclasses.replace(config, notes=base.notes + override_note(config, overrides))
    return config.validate()


def build_condenser(config: CPNetConfig) -> ClipCondenserTower:
    """The frozen CLIP image tower: ViT-B/32 from weights ``clip_vit_b32`` (paper), or a random tower
    of the configured architecture (tiny; its weights are saved in the checkpoint)."""
    from tfbench.nets.clip import build_clip, load_clip

    model = load_clip() if config.clip_pretrained else build_clip(config.clip)
    return ClipCondenserTower(model.visual)


class CPNetTrainer(Trainer):
    """Networks, optimisers and training data of one CPNet run (person-specific)."""

    model_name = "cpnet"
    weights = ("clip_vit_b32", "vgg19")  # the paper config's CLIP condenser and VGG-19 L_r (listed by `tfbench weights list`)

    @classmethod
    def check_ready(cls, config_name: str, overrides: dict | None = None, stage: str = "main") -> None:
        from tfbench.errors import MissingWeightsError
        from tfbench.weights import require

        config = resolve_config(config_name, overrides)
        try:
            require(config.required_weights())
        except MissingWeightsError as error:
            raise MissingWeightsError(
                f"CPNet config {config_name!r} needs pretrained networks that are missing ({', '.join(config.required_weights())}; "
                f"the 'tiny' config runs without them, as a demo):\n{error}"
            ) from None

    @classmethod
    def default_steps_for(cls, config_name: str, overrides: dict | None = None, stage: str = "main") -> int:
        return resolve_config(config_name, overrides).steps

    def __init__(self, config_name: str, dataset, *, overrides: dict | None = None, device: str = "cpu",
                 echo: Callable[[str], None] = print, stage: str = "main", total_steps: int | None = None,
                 predecessors: dict | None = None) -> None:
        from tfbench.models.cpnet.data import TrainingClips

        self.check_ready(config_name, overrides)  # before any work: names every missing file and its fix
        cfg = self.cfg = resolve_config(config_name, overrides)
        self.stage, self.total_steps, self.predecessors = stage, total_steps, dict(predecessors or {})
        self.device = torch.device(device)
        self.config, self.config_name = cfg.to_dict(), config_name
        self.default_steps, self.checkpoint_every = cfg.steps, cfg.checkpoint_every
        self.canonical = cfg.canonical and not overrides
        self.notes = cfg.notes
        if cfg.missing_losses:
            self.notes += f" Losses left out: {', '.join(cfg.missing_losses)}."
        self.condenser = build_condenser(cfg).to(self.device)
        self.generator = DenseGenerator(cfg, self.condenser.dim).to(self.device)
        self.frame_discriminator = PatchDiscriminator(generator_in_channels(cfg) + 3, cfg.ndf, cfg.d_layers).to(self.device)
        self.temporal_discriminator = PatchDiscriminator(4 * cfg.temporal_frames, cfg.ndf, cfg.d_layers).to(self.device)
        self.predictor = ProbabilityPredictor(cfg).to(self.device)
        self.audio_to_landmarks = AudioToLandmarks(cfg.a2l_channels).to(self.device)
        self.perceptual = None
        if "perceptual" in cfg.losses:
            from tfbench.nets.vgg19 import VGG19Features

            self.perceptual = L.VGGPerceptual(VGG19Features()).to(self.device)
        self._weights_used = {name: _record(name) for name in cfg.required_weights()}
        if any(not record["canonical"] for record in self._weights_used.values()):
            self.canonical = False
            self.notes += " Trained with non-canonical pretrained weights (" + ", ".join(
                name for name, record in self._weights_used.items() if not record["canonical"]) + ")."
        adam = dict(lr=cfg.learning_rate, betas=(0.5, 0.999))
        self.optimizer_g = torch.optim.Adam(self.generator.parameters(), **adam)
        self.optimizer_d = torch.optim.Adam(list(self.frame_discriminator.parameters())
                                            + list(self.temporal_discriminator.parameters()), **adam)
        self.optimizer_p = torch.optim.Adam(self.predictor.parameters(), **adam)
        self.optimizer_a = torch.optim.Adam(self.audio_to_landmarks.parameters(), **adam)
        self.data = TrainingClips(dataset, cfg, progress=echo)
        for skipped in self.data.skipped:
            echo(f"skipping clip {skipped['clip_id']}: {skipped['reason']}")
        self.identities = self.data.identities
        self.dataset_fingerprint = str(dataset.fingerprint)
        self.notes += (f" PERSON-SPECIFIC: trained on identities {', '.join(self.identities)} of dataset "
                       f"{dataset.name} (fingerprint {self.dataset_fingerprint}).")
        self.audio_to_landmarks.mean_shape.copy_(torch.from_numpy(self.data.lower_face_mean()))

    def _temporal_input(self, sketch: torch.Tensor, frames: torch.Tensor, b: int) -> torch.Tensor:
        """D_t's input: the K landmark images x^t and the K frames, stacked on channels ``[B, 4K, S, S]``."""
        k = self.cfg.temporal_frames
        return torch.cat([sketch.reshape(b, k, *sketch.shape[2:]), frames.reshape(b, 3 * k, *frames.shape[2:])], 1)

    def step(self, step: int, rng: np.random.Generator) -> dict[str, float]:
        cfg = self.cfg
        batch = self.data.batch(rng, self.context.local(cfg.batch_size))
        batch = {key: value.to(self.device) for key, value in batch.items()}
        b = batch["inputs"].shape[0]
        inputs, sketch = batch["inputs"].flatten(0, 1), batch["sketch"].flatten(0, 1)
        real, density = batch["target"].flatten(0, 1), batch["density"].flatten(0, 1)
        for network in (self.generator, self.frame_discriminator, self.temporal_discriminator, self.predictor,
                        self.audio_to_landmarks):
            network.train()
        clip_code = self.condenser(sketch.expand(-1, 3, -1, -1))
        fake = self.generator(inputs, clip_code)

        critics = (self.frame_discriminator, self.temporal_discriminator, self.predictor)
        for critic in critics:  # the generator's loss updates only the generator: no weight gradients here
            critic.requires_grad_(False)
        terms: dict[str, torch.Tensor] = {}
        if "adv" in cfg.losses:
            terms["adv"] = L.lsgan_real(self.frame_discriminator(torch.cat([inputs, fake], 1)))
        if "temporal" in cfg.losses:
            terms["temporal"] = L.lsgan_real(self.temporal_discriminator(self._temporal_input(sketch, fake, b)))
        if "perceptual" in cfg.losses:
            terms["perceptual"] = self.perceptual(fake, real)
        if "l1" in cfg.losses:
            terms["l1"] = (fake - real).abs().mean()
        if "probability" in cfg.losses:
            terms["probability"] = L.probability_map_loss(self.predictor, fake, real)
        total = sum(cfg.lambdas[name] * value for name, value in terms.items())
        self.optimizer_g.zero_grad(set_to_none=True)
        total.backward()
        for critic in critics:
            critic.requires_grad_(True)
        self.reduce_gradients(self.generator)
        self.optimizer_g.step()
        logged = {"total": total.item()} | {f"g_{name}": value.item() for name, value in terms.items()}

        fake = fake.detach()
        d_terms = []
        if "adv" in cfg.losses:
            d_terms.append(L.lsgan_real(self.frame_discriminator(torch.cat([inputs, real], 1)))
                           + L.lsgan_fake(self.frame_discriminator(torch.cat([inputs, fake], 1))))
        if "temporal" in cfg.losses:
            d_terms.append(L.lsgan_real(self.temporal_discriminator(self._temporal_input(sketch, real, b)))
                           + L.lsgan_fake(self.temporal_discriminator(self._temporal_input(sketch, fake, b))))
        if d_terms:
            d_loss = sum(d_terms)
            self.optimizer_d.zero_grad(set_to_none=True)
            d_loss.backward()
            self.reduce_gradients(self.frame_discriminator, self.temporal_discriminator)
            self.optimizer_d.step()
            logged["d_gan"] = d_loss.item()

        if "probability" in cfg.losses:
            p_loss, p_parts = L.predictor_loss(self.predictor, real, fake, density, cfg.dmp_lambda, cfg.dmp_margin)
            self.optimizer_p.zero_grad(set_to_none=True)
            p_loss.backward()
            self.reduce_gradients(self.predictor)
            self.optimizer_p.step()
            logged |= {"p_dmp": p_loss.item()} | p_parts

        valid = batch["lower_valid"].flatten(0, 1)
        predicted = self.audio_to_landmarks(batch["mel"].flatten(0, 1))
        error = ((predicted - batch["lower"].flatten(0, 1)) ** 2).mean(dim=(1, 2))
        a_loss = (error * valid).sum() / valid.sum().clamp(min=1)
        self.optimizer_a.zero_grad(set_to_none=True)
        a_loss.backward()
        self.reduce_gradients(self.audio_to_landmarks)
        self.optimizer_a.step()
        logged["a2l"] = a_loss.item()
        return logged

    def state_dict(self) -> dict:
        return {
            "generator": self.generator.state_dict(), "clip_visual": self.condenser.visual.state_dict(),
            "frame_discriminator": self.frame_discriminator.state_dict(),
            "temporal_discriminator": self.temporal_discriminator.state_dict(),
            "predictor": self.predictor.state_dict(), "audio_to_landmarks": self.audio_to_landmarks.state_dict(),
            "optimizer_g": self.optimizer_g.state_dict(), "optimizer_d": self.optimizer_d.state_dict(),
            "optimizer_p": self.optimizer_p.state_dict(), "optimizer_a": self.optimizer_a.state_dict(),
            "weights_used": self._weights_used, "identities": list(self.identities),
            "dataset_fingerprint": self.dataset_fingerprint,
        }

    def load_state_dict(self, state: dict) -> None:
        from tfbench.errors import CheckpointError

        if state["identities"] != list(self.identities) or state["dataset_fingerprint"] != self.dataset_fingerprint:
            raise CheckpointError(f"this run was trained on identities {state['identities']} of dataset "
                                  f"{state['dataset_fingerprint']}; resume it on the same data")
        for name in ("generator", "frame_discriminator", "temporal_discriminator", "predictor", "audio_to_landmarks",
                     "optimizer_g", "optimizer_d", "optimizer_p", "optimizer_a"):
            getattr(self, name).load_state_dict(state[name])
        self.condenser.visual.load_state_dict(state["clip_visual"])


def _record(name: str) -> dict:
    from tfbench.weights import weights_record

    record = weights_record(name)
    return {"sha256": record.sha256, "canonical": record.canonical}
