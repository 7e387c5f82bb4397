"""Wav2Lip training: one step of ``hq_wav2lip_train.py`` (``wav2lip_train.py`` without the GAN).

Generator loss ``sync_w * E_sync + disc_w * E_gan + (1 - sync_w - disc_w) * L1`` where
``E_sync`` is the BCE of the expert's audio/face cosine similarity against 1 (lower halves
of the 5 generated frames), ``E_gan`` the BCE of the quality discriminator on the generated
frames against "real", then a discriminator update (BCE real 1 / fake 0). ``sync_w`` starts
at 0 and becomes ``config.sync_weight`` once the mean expert loss over the last
``eval_interval`` steps is below ``sync_switch_loss``; the public code measures that mean
on 700 validation batches, here it is the training batches' (docs/models/wav2lip.md).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from tfbench.errors import MissingWeightsError
from tfbench.models.wav2lip.config import Wav2LipConfig, get_config
from tfbench.models.wav2lip.networks import QualityDiscriminator, SyncNetColor, Wav2LipGenerator
from tfbench.train.config import apply_overrides, override_note
from tfbench.train.loop import Trainer


def resolve_config(config_name: str, overrides: dict | None = None) -> Wav2LipConfig:
    """The named config with ``overrides`` (``--set``, see :mod:`tfbench.train.config`) applied
    and written into its notes, validated."""
    config = get_config(config_name)
    changed = apply_overrides(config, overrides)
    if changed is config:
        return config.validate()
    return dataclasses.replace(changed, notes=config.notes + override_note(changed, overrides)).validate()


def load_expert(device) -> tuple[SyncNetColor, dict]:
    """Wav2Lip's lip-sync expert from weights ``wav2lip_syncnet``, frozen, and its weights record.

    Left in train mode, as the public training scripts leave it (they never call
    ``syncnet.eval()``): its batch norms normalise with the batch's statistics.
    """
    from tfbench.models.wav2lip.networks import public_state_dict
    from tfbench.weights import weights_record

    from tfbench.weights import get_spec

    record = weights_record("wav2lip_syncnet")
    pinned = get_spec("wav2lip_syncnet").sha256 is not None  # an unpinned file never makes a run canonical
    expert = SyncNetColor()
    try:
        expert.load_state_dict(public_state_dict(torch.load(record.path, map_location="cpu", weights_only=True)))
    except (RuntimeError, TypeError, KeyError) as error:
        from tfbench.errors import CheckpointError

        raise CheckpointError(f"{record.path} is not Wav2Lip's lipsync_expert.pth: {str(error).splitlines()[0][:200]}") from error
    return expert.requires_grad_(False).to(device), {"sha256": record.sha256, "canonical": record.canonical and pinned}


def expert_loss(expert: SyncNetColor, mel: torch.Tensor, generated: torch.Tensor) -> torch.Tensor:
    """``get_sync_loss``: generated ``[B,3,T,96,96]`` -> lower halves stacked ``[B,3T,48,96]``;
    BCE of cos(audio, face) against 1."""
    lower = generated[:, :, :, generated.shape[3] // 2:]
    faces = torch.cat([lower[:, :, t] for t in range(lower.shape[2])], 1)
    audio, face = expert(mel, faces)
    similarity = F.cosine_similarity(audio, face).unsqueeze(1)
    # both embeddings follow a ReLU, so the cosine lies in [0, 1] (up to rounding, hence the clamp)
    return F.binary_cross_entropy(similarity.clamp(0, 1), torch.ones_like(similarity))


class Wav2LipTrainer(Trainer):
    """Generator, quality discriminator, frozen expert, optimisers and data of one run."""

    model_name = "wav2lip"
    weights = ("wav2lip_syncnet",)  # the paper configs' expert sync loss

    @classmethod
    def default_steps_for(cls, config_name: str, overrides: dict | None = None, stage: str = "main") -> int:
        return resolve_config(config_name, overrides).steps

    @classmethod
    def check_ready(cls, config_name: str, overrides: dict | None = None, stage: str = "main") -> None:
        config = resolve_config(config_name, overrides)
        try:
            from tfbench.weights import require

            require(config.required_weights())
        except MissingWeightsError as error:
            raise MissingWeightsError(
                f"Wav2Lip config {config_name!r} trains with the lip-sync expert loss and needs Wav2Lip's expert "
                f"SyncNet (lipsync_expert.pth; the 'tiny' config runs without it, as a demo):\n{error}") from None

    def __init__(self, config_name: str, dataset, *, stage: str = "main", total_steps: int | None = None,
                 predecessors: dict | None = None, overrides: dict | None = None, device: str = "cpu",
                 echo: Callable[[str], None] = print) -> None:
        from tfbench.models.wav2lip.data import TrainingWindows

        self.check_ready(config_name, overrides)
        config = resolve_config(config_name, overrides)
        self.cfg, self.config, self.config_name = config, config.to_dict(), config_name
        self.device = torch.device(device)
        self.default_steps, self.checkpoint_every = config.steps, config.checkpoint_every
        self.stage, self.total_steps, self.predecessors = stage, total_steps or config.steps, dict(predecessors or {})
        self.canonical = config.canonical and not overrides
        self.notes = config.notes
        self.generator = Wav2LipGenerator(config.width_divisor).to(self.device)
        self.discriminator = QualityDiscriminator(config.width_divisor).to(self.device) if config.disc_weight > 0 else None
        self.expert, self._weights_used = None, {}
        if config.uses_expert:
            self.expert, self._weights_used["wav2lip_syncnet"] = load_expert(self.device)
            if not self._weights_used["wav2lip_syncnet"]["canonical"]:
                self.canonical = False
                self.notes += " Trained with an expert SyncNet that is not a published file (hash unpinned or mismatched)."
        else:
            self.notes += " Expert lip-sync loss left out."
        self.optimizer_g = torch.optim.Adam(self.generator.parameters(), lr=config.learning_rate,
                                            betas=(config.adam_beta1, 0.999))
        self.optimizer_d = (torch.optim.Adam(self.discriminator.parameters(), lr=config.disc_learning_rate,
                                             betas=(config.adam_beta1, 0.999)) if self.discriminator else None)
        self.sync_active = False  # the expert weight switches on once its loss is low enough
        self.sync_sum, self.sync_count = 0.0, 0
        self.data = TrainingWindows(dataset, config.window, progress=echo)
        for skipped in self.data.skipped:
            echo(f"skipping clip {skipped['clip_id']}: {skipped['reason']}")

    def step(self, step: int, rng: np.random.Generator) -> dict[str, float]:
        cfg = self.cfg
        local = self.context.local(cfg.batch_size)  # this process's share of the global batch
        batch = {key: value.to(self.device) for key, value in self.data.batch(rng, cfg.batch_size, local).items()}
        self.generator.train()
        generated = self.generator(batch["indiv_mels"], batch["x"])
        sync_w = cfg.sync_weight if self.sync_active else 0.0
        l1 = F.l1_loss(generated, batch["y"])
        logged = {"g_l1": l1.item()}
        total = l1 * (1.0 - sync_w - cfg.disc_weight)
        if self.expert is not None:
            with torch.set_grad_enabled(sync_w > 0):
                sync = expert_loss(self.expert, batch["mel"], generated)
            total = total + sync_w * sync
            logged["g_sync"] = sync.item()
            self.sync_sum, self.sync_count = self.sync_sum + sync.item(), self.sync_count + 1
        if self.discriminator is not None:
            fooled = self.discriminator(generated)
            gan = F.binary_cross_entropy(fooled, torch.ones_like(fooled))
            total = total + cfg.disc_weight * gan
            logged["g_gan"] = gan.item()
        self.optimizer_g.zero_grad(set_to_none=True)
        total.backward()
        self.reduce_gradients(self.generator)
        self.optimizer_g.step()
        logged = {"total": total.item(), **logged, "sync_weight": sync_w}
        if self.discriminator is not None:
            real, fake = self.discriminator(batch["y"]), self.discriminator(generated.detach())
            d_loss = (F.binary_cross_entropy(real, torch.ones_like(real))
                      + F.binary_cross_entropy(fake, torch.zeros_like(fake)))
            self.optimizer_d.zero_grad(set_to_none=True)
            d_loss.backward()
            self.reduce_gradients(self.discriminator)
            self.optimizer_d.step()
            logged["d_gan"] = d_loss.item()
        if self.expert is not None and step % cfg.eval_interval == 0:
            from tfbench.train.distributed import average_floats

            mean = average_floats({"sync": self.sync_sum / max(1, self.sync_count)}, self.context)["sync"]  # one decision for all processes
            if mean < cfg.sync_switch_loss:
                self.sync_active = True
            self.sync_sum, self.sync_count = 0.0, 0
        return logged

    def state_dict(self) -> dict:
        state = {"generator": self.generator.state_dict(), "optimizer_g": self.optimizer_g.state_dict(),
                 "sync": {"active": self.sync_active, "sum": self.sync_sum, "count": self.sync_count},
                 "weights_used": self._weights_used}
        if self.discriminator is not None:
            state |= {"discriminator": self.discriminator.state_dict(), "optimizer_d": self.optimizer_d.state_dict()}
        if self.expert is not None:  # train-mode batch norm updates its running statistics
            state["expert"] = self.expert.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.generator.load_state_dict(state["generator"])
        self.optimizer_g.load_state_dict(state["optimizer_g"])
        self.sync_active = bool(state["sync"]["active"])
        self.sync_sum, self.sync_count = float(state["sync"]["sum"]), int(state["sync"]["count"])
        if self.discriminator is not None:
            self.discriminator.load_state_dict(state["discriminator"])
            self.optimizer_d.load_state_dict(state["optimizer_d"])
        if self.expert is not None:
            self.expert.load_state_dict(state["expert"])
