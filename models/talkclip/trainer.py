"""TalkCLIP training, one stage per run (``tfbench train talkclip --stage sync|renderer|stage1|stage2|all``).

- ``sync``: pretrain D_sync (BCE on in-sync / off-sync expression-phoneme pairs);
- ``renderer``: PIRenderer on frame pairs (warping net alone, then the whole generator,
  PIRenderer's schedule and loss weights), exponential moving average of its weights;
- ``stage1`` (§4.1.2): E_a + E_v + E_d fed the video style code ``s_v``; E_t's adapter
  learns through L_cos; builds on ``sync`` (frozen D_sync);
- ``stage2``: each iteration feeds the text style code ``s_t`` with probability ``p``
  (ramped linearly from 0 to 0.5 over the stage's total steps), else ``s_v``; builds on
  ``stage1`` and ``renderer`` and is the self-contained checkpoint ``generate`` loads.

Loss of stages 1 and 2 (eq. 4): ``88 L_rec + 1 L_cos + 1 L_sync + 1 L_tem``.
"""

from __future__ import annotations

import copy
from typing import Callable

import numpy as np
import torch

from tfbench.errors import CheckpointError, InputError, MissingWeightsError
from tfbench.models.talkclip import losses as L
from tfbench.models.talkclip.config import REQUIRES, STAGES, TalkCLIPConfig, get_config
from tfbench.models.talkclip.networks import ExpressionGenerator, SyncDiscriminator, TemporalDiscriminator
from tfbench.models.talkclip.renderer import FaceGenerator
from tfbench.train.loop import Trainer

#: PIRenderer config/face.yaml loss weights and style-to-perceptual ratio.
WARP_WEIGHT, FINAL_WEIGHT, STYLE_TO_PERCEPTUAL = 2.5, 4.0, 250.0
#: Config fields ``--set`` may not change.
PROTECTED = ("name", "notes", "steps", "lambdas", "clip_model")


def resolve_config(config_name: str, overrides: dict | None = None) -> TalkCLIPConfig:
    """The named config with ``--set`` overrides applied (non-canonical, said in the notes)."""
    import dataclasses

    from tfbench.train.config import apply_overrides, override_note

    base = get_config(config_name)
    config = apply_overrides(base, overrides, protected=PROTECTED)
    if overrides:
        config = dataclasses.replace(config, notes=base.notes + override_note(config, overrides))
    return config.validate()


#: Loaded ViT-B/32 per (weights file, size, mtime, device): frozen, so stages 1 and 2 of one
#: ``--stage all`` run and the model loaded afterwards share one copy instead of three loads.
_CLIP_CACHE: dict[tuple, torch.nn.Module] = {}


def build_clip_for(config: TalkCLIPConfig, device) -> torch.nn.Module:
    """E_t's CLIP: the real ViT-B/32 (weights ``clip_vit_b32``, frozen) or a random tiny tower."""
    from tfbench.nets.clip import build_clip, load_clip
    from tfbench.weights import weights_path

    if isinstance(config.clip_model, str):
        path = weights_path("clip_vit_b32")
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns, str(device))
        if key not in _CLIP_CACHE:
            _CLIP_CACHE.clear()
            _CLIP_CACHE[key] = load_clip(device=str(device))
        return _CLIP_CACHE[key]
    return build_clip(config.clip_model).to(device)


def tdmm_fix(config: TalkCLIPConfig) -> str:
    if config.tdmm_kind == "deep3d":
        return ("prepare the dataset with Deep3DFaceRecon/BFM coefficients: `tfbench prepare DATASET ... --tdmm deep3d` "
                "(needs `tfbench weights import deep3d_recon FILE` and `deep3d_lm3d`)")
    return "prepare the dataset with `--tdmm offline` or use `--config paper` on a `--tdmm deep3d` dataset"


class TalkCLIPTrainer(Trainer):
    """Networks, optimisers and data of one TalkCLIP training stage."""

    model_name = "talkclip"
    stages = STAGES
    requires = REQUIRES
    #: Pretrained weights the paper config trains with (CLIP for stages 1-2, VGG-19 for the renderer).
    weights = ("clip_vit_b32", "vgg19")

    @classmethod
    def check_ready(cls, config_name: str, overrides: dict | None = None, stage: str = "stage2") -> None:
        from tfbench.weights import require

        config = resolve_config(config_name, overrides)
        try:
            require(config.required_weights(stage))
        except MissingWeightsError as error:
            raise MissingWeightsError(
                f"TalkCLIP config {config_name!r}, stage {stage!r} needs pretrained networks that are missing "
                f"(the 'tiny' config runs without them, as a demo):\n{error}") from None

    @classmethod
    def tiny_test_overrides(cls) -> dict:
        return {"batch_size": "1", "sync_batch_size": "2", "renderer_batch_size": "1"}

    @classmethod
    def default_steps_for(cls, config_name: str, overrides: dict | None = None, stage: str = "stage2") -> int:
        return int(resolve_config(config_name, overrides).steps[stage])

    def __init__(self, config_name: str, dataset, *, stage: str = "stage2", total_steps: int | None = None,
                 predecessors: dict | None = None, overrides: dict | None = None, device: str = "cpu",
                 echo: Callable[[str], None] = print) -> None:
        from tfbench.models.request import tdmm_kind
        from tfbench.models.talkclip.data import TalkCLIPData

        if stage not in STAGES:
            raise InputError(f"talkclip has no stage {stage!r}; stages: {', '.join(STAGES)}")
        self.check_ready(config_name, overrides, stage)
        cfg = resolve_config(config_name, overrides)
        kind = tdmm_kind(dataset.meta)
        if kind != cfg.tdmm_kind:
            raise InputError(f"TalkCLIP config {config_name!r} trains on {cfg.tdmm_kind} 3DMM coefficients but "
                             f"{dataset.root} has {kind or 'no'} ones: {tdmm_fix(cfg)}")
        self.cfg, self.stage, self.device = cfg, stage, torch.device(device)
        self.config, self.config_name = cfg.to_dict(), config_name
        self.default_steps = int(cfg.steps[stage])
        self.total_steps = int(total_steps or self.default_steps)
        self.checkpoint_every = cfg.checkpoint_every
        self.predecessors = dict(predecessors or {})
        self.canonical = cfg.canonical and not overrides
        self.notes = f"stage {stage}. " + cfg.notes
        for name in REQUIRES[stage]:
            if name not in self.predecessors:
                raise CheckpointError(f"stage {stage!r} builds on stage {name!r}: train it first "
                                      f"(`tfbench train talkclip --stage {name}`) or pass --init {name}=CKPT")
            if not self.predecessors[name].canonical:
                self.canonical = False
        min_frames = {"sync": cfg.sync_frames, "renderer": 1}.get(stage, cfg.clip_frames)
        self.data = TalkCLIPData(dataset, cfg.image_size, min_frames, progress=echo)
        for skipped in self.data.skipped:
            echo(f"skipping clip {skipped['clip_id']}: {skipped['reason']}")
        self._weights_used = {name: _record(name) for name in cfg.required_weights(stage)}
        if any(not record["canonical"] for record in self._weights_used.values()):
            self.canonical = False
            self.notes += " Trained with non-canonical pretrained weights (" + ", ".join(
                name for name, record in self._weights_used.items() if not record["canonical"]) + ")."
        {"sync": self._build_sync, "renderer": self._build_renderer}.get(stage, self._build_stage)()

    # ------------------------------------------------------------------ builders

    def _adam(self, params) -> torch.optim.Optimizer:
        return torch.optim.Adam([p for p in params if p.requires_grad], lr=self.cfg.learning_rate, betas=(0.5, 0.999))

    def _build_sync(self) -> None:
        cfg = self.cfg
        self.sync_discriminator = SyncDiscriminator(64, cfg.sync_dim, cfg.sync_frames, cfg.window).to(self.device)
        self.optimizer = self._adam(self.sync_discriminator.parameters())

    def _build_renderer(self) -> None:
        cfg = self.cfg
        self.renderer = FaceGenerator(cfg).to(self.device)
        if cfg.renderer_init:  # fine-tune a released renderer (PIRenderer / StyleTalk layout)
            from tfbench.models.talkclip.renderer import load_public_renderer
            from tfbench.weights import sha256_file

            load_public_renderer(self.renderer, cfg.renderer_init).train()
            self.notes += f" Renderer initialised from {cfg.renderer_init} (sha256 {sha256_file(cfg.renderer_init)})."
        self.renderer_ema = copy.deepcopy(self.renderer).eval().requires_grad_(False)
        self.optimizer = self._adam(self.renderer.parameters())
        if cfg.normalize_coeffs:
            mean, std = self.data.coeff_stats()
        else:
            mean, std = np.zeros(73, np.float32), np.ones(73, np.float32)
        self.coeff_mean, self.coeff_std = torch.from_numpy(mean), torch.from_numpy(std)
        self.mean_pose = torch.from_numpy(self.data.mean_pose())
        if cfg.perceptual:
            from tfbench.nets.vgg19 import VGG19Features

            vgg = VGG19Features().to(self.device)
            self.loss_warp = L.PerceptualLoss(vgg, num_scales=4).to(self.device)
            self.loss_final = L.PerceptualLoss(vgg, num_scales=4, style_weight=STYLE_TO_PERCEPTUAL).to(self.device)
        else:
            self.loss_warp = self.loss_final = lambda pred, target: torch.nn.functional.l1_loss(pred, target)

    def _build_stage(self) -> None:
        cfg = self.cfg
        self.generator = ExpressionGenerator(cfg, build_clip_for(cfg, self.device)).to(self.device)
        self.temporal_discriminator = TemporalDiscriminator(64, cfg.tem_channels).to(self.device)
        self.sync_discriminator = SyncDiscriminator(64, cfg.sync_dim, cfg.sync_frames, cfg.window).to(self.device)
        if self.stage == "stage1":
            self.sync_discriminator.load_state_dict(self.predecessors["sync"].state["sync_discriminator"])
        else:
            state = self.predecessors["stage1"].state
            self._load_generator(state)
            self.temporal_discriminator.load_state_dict(state["temporal_discriminator"])
            self.sync_discriminator.load_state_dict(state["sync_discriminator"])
            renderer = self.predecessors["renderer"].state
            self.renderer_state = {key: renderer[key] for key in ("coeff_mean", "coeff_std", "mean_pose")}
            self.renderer_state["renderer"] = renderer["renderer_ema"]
        self.sync_discriminator.eval().requires_grad_(False)
        self.optimizer_g = self._adam(self.generator.parameters())
        self.optimizer_d = self._adam(self.temporal_discriminator.parameters())

    def _load_generator(self, state: dict) -> None:
        if "clip" in state:
            self.generator.text_encoder.clip.load_state_dict(state["clip"])
        missing, unexpected = self.generator.load_state_dict(state["generator"], strict=False)
        if unexpected or any(not key.startswith("text_encoder.clip.") for key in missing):
            raise CheckpointError(f"the stage1 checkpoint does not match the config (missing {missing[:3]}, unexpected {unexpected[:3]})")

    # ------------------------------------------------------------------ steps

    def _local(self, batch: int) -> slice:
        return self.context.local(batch)

    def step(self, step: int, rng: np.random.Generator) -> dict[str, float]:
        if self.stage == "sync":
            return self._step_sync(rng)
        if self.stage == "renderer":
            return self._step_renderer(step, rng)
        return self._step_generator(step, rng)

    def _step_sync(self, rng) -> dict[str, float]:
        cfg = self.cfg
        batch = self.data.sync_batch(rng, cfg.sync_batch_size, cfg.sync_frames, cfg.window, self._local(cfg.sync_batch_size))
        exp = torch.from_numpy(batch["exp"]).to(self.device)
        phones = torch.from_numpy(batch["phones"]).to(self.device)
        label = torch.from_numpy(batch["label"]).to(self.device)
        self.sync_discriminator.train()
        probability = self.sync_discriminator(exp, phones)
        loss = L.sync_bce(probability, label)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.reduce_gradients(self.sync_discriminator)
        self.optimizer.step()
        accuracy = ((probability > 0.5).float() == label).float().mean()
        return {"total": loss.item(), "g_sync_bce": loss.item(), "accuracy": accuracy.item()}

    def normalise(self, coeffs: torch.Tensor) -> torch.Tensor:
        """Renderer input ``[B, 73, W]`` -> (coeffs - mean) / std (identity for the paper config)."""
        return (coeffs - self.coeff_mean.to(coeffs)[None, :, None]) / self.coeff_std.to(coeffs)[None, :, None]

    def _step_renderer(self, step: int, rng) -> dict[str, float]:
        from tfbench.models.talkclip.data import to_image_tensor

        cfg = self.cfg
        batch = self.data.renderer_batch(rng, cfg.renderer_batch_size, cfg.semantic_radius,
                                         self._local(cfg.renderer_batch_size))
        source, target = to_image_tensor(batch["source"]), to_image_tensor(batch["target"])
        image = torch.cat([source, target]).to(self.device)  # PIRenderer FaceTrainer: both directions
        coeffs = self.normalise(torch.from_numpy(np.concatenate([batch["target_coeffs"], batch["source_coeffs"]]))).to(self.device)
        gt = torch.cat([target, source]).to(self.device)
        switch = int(round(cfg.renderer_warp_fraction * self.total_steps))
        if step == switch + 1:
            self.optimizer = self._adam(self.renderer.parameters())  # PIRenderer reset_trainer at the switch
        warp_only = step <= switch
        self.renderer.train()
        out = self.renderer(image, coeffs, stage="warp" if warp_only else None)
        terms = {"warp": WARP_WEIGHT * self.loss_warp(out["warp_image"], gt)}
        if not warp_only:
            terms["final"] = FINAL_WEIGHT * self.loss_final(out["fake_image"], gt)
        total = sum(terms.values())
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.reduce_gradients(self.renderer)
        self.optimizer.step()
        with torch.no_grad():
            for ema, live in zip(self.renderer_ema.parameters(), self.renderer.parameters()):
                ema.lerp_(live, 1 - cfg.renderer_ema)
        return {"total": total.item(), **{f"g_{key}": value.item() for key, value in terms.items()},
                "warp_only": float(warp_only)}

    def text_probability(self, step: int) -> float:
        """Stage 2's p: linear ramp from 0 (step 0) to ``text_probability_max`` at the last step."""
        if self.stage != "stage2":
            return 0.0
        return self.cfg.text_probability_max * min(1.0, step / max(self.total_steps, 1))

    def _step_generator(self, step: int, rng) -> dict[str, float]:
        from tfbench.nets.clip import tokenize

        cfg = self.cfg
        batch = self.data.generator_batch(rng, cfg.batch_size, cfg.clip_frames, cfg.window, cfg.style_max_frames,
                                          self._local(cfg.batch_size))
        p = self.text_probability(step)
        use_text = bool(rng.random() < p)
        phones = torch.from_numpy(batch["phones"]).to(self.device)
        gt = torch.from_numpy(batch["exp"]).to(self.device)
        self.generator.train()
        s_v = self.generator.style_encoder(torch.from_numpy(batch["style"]).to(self.device),
                                           torch.from_numpy(batch["style_pad"]).to(self.device))
        s_t = self.generator.text_encoder(tokenize(batch["texts"]).to(self.device))
        exp = self.generator(phones, s_t if use_text else s_v)
        windows = L.sync_windows(exp, phones, cfg.sync_frames)
        terms = {
            "rec": L.reconstruction_loss(exp, gt, cfg.mu),
            "cos": L.cosine_loss(s_t, s_v.detach()),
            "sync": L.sync_bce(self.sync_discriminator(*windows), torch.ones(len(windows[0]), device=self.device)),
            "tem": L.hinge_generator(self.temporal_discriminator(exp)),
        }
        total = sum(cfg.lambdas[name] * value for name, value in terms.items())
        self.optimizer_g.zero_grad(set_to_none=True)
        total.backward()
        self.reduce_gradients(self.generator)
        self.optimizer_g.step()
        self.temporal_discriminator.train()
        d_loss = L.hinge_discriminator(self.temporal_discriminator(gt), self.temporal_discriminator(exp.detach()))
        self.optimizer_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.reduce_gradients(self.temporal_discriminator)
        self.optimizer_d.step()
        return {"total": total.item(), **{f"g_{name}": value.item() for name, value in terms.items()},
                "d_tem": d_loss.item(), "p_text": p, "used_text": float(use_text)}

    # ------------------------------------------------------------------ state

    def state_dict(self) -> dict:
        if self.stage == "sync":
            return {"sync_discriminator": self.sync_discriminator.state_dict(), "optimizer": self.optimizer.state_dict()}
        if self.stage == "renderer":
            return {"renderer": self.renderer.state_dict(), "renderer_ema": self.renderer_ema.state_dict(),
                    "optimizer": self.optimizer.state_dict(), "coeff_mean": self.coeff_mean,
                    "coeff_std": self.coeff_std, "mean_pose": self.mean_pose, "weights_used": self._weights_used}
        state = {"generator": self.generator.trainable_state_dict(),
                 "temporal_discriminator": self.temporal_discriminator.state_dict(),
                 "sync_discriminator": self.sync_discriminator.state_dict(),
                 "optimizer_g": self.optimizer_g.state_dict(), "optimizer_d": self.optimizer_d.state_dict(),
                 "weights_used": self._weights_used}
        if not isinstance(self.cfg.clip_model, str):  # the random tiny tower is part of the model
            state["clip"] = self.generator.text_encoder.clip.state_dict()
        if self.stage == "stage2":
            state.update(self.renderer_state)
        return state

    def load_state_dict(self, state: dict) -> None:
        if self.stage == "sync":
            self.sync_discriminator.load_state_dict(state["sync_discriminator"])
            self.optimizer.load_state_dict(state["optimizer"])
        elif self.stage == "renderer":
            self.renderer.load_state_dict(state["renderer"])
            self.renderer_ema.load_state_dict(state["renderer_ema"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.coeff_mean, self.coeff_std, self.mean_pose = state["coeff_mean"], state["coeff_std"], state["mean_pose"]
        else:
            self._load_generator(state)
            self.temporal_discriminator.load_state_dict(state["temporal_discriminator"])
            self.sync_discriminator.load_state_dict(state["sync_discriminator"])
            self.optimizer_g.load_state_dict(state["optimizer_g"])
            self.optimizer_d.load_state_dict(state["optimizer_d"])
            if self.stage == "stage2":
                self.renderer_state = {key: state[key] for key in ("renderer", "coeff_mean", "coeff_std", "mean_pose")}


def _record(name: str) -> dict:
    from tfbench.weights import weights_record

    record = weights_record(name)
    return {"sha256": record.sha256, "canonical": record.canonical}
