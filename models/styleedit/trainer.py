"""Training of the audio-to-landmark module in three stages (``tfbench train styleedit --stage ...``).

- ``evp``: the cross-reconstructed emotion disentangler on same-sentence pairs in two
  emotions (DTW-aligned frames): self- and cross-reconstruction of the MFCC windows (L1)
  plus emotion classification (cross-entropy), as EVP.
- ``align``: the alignment network on two views of one recording, eq. 2-3:
  ``L_align = || AN(query = l_f, key/value = warping(l_p)) - l_p ||^2``.
- ``predictor``: the LSTM + MLP predictor with the disentangler and the alignment network
  frozen: ``|| AN(ref + P(E_c, E_e), distort(l)) - l ||^2`` on windows of one clip.

The ``predictor`` checkpoint is the model checkpoint: it carries the whole AL module and,
for configs without pretrained e4e (``tiny``), the random editing networks.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from tfbench.models.styleedit.config import STAGES, StyleEditConfig, get_config
from tfbench.models.styleedit.networks import AudioToLandmark, Disentangler, warp_landmarks
from tfbench.train.config import apply_overrides, override_note
from tfbench.train.loop import Trainer

PROTECTED = ("name", "notes", "pretrained", "perceptual", "fan_loss", "face_mask")


def resolve_config(config_name: str, overrides: dict | None = None) -> StyleEditConfig:
    """The named config with ``--set`` overrides applied (non-canonical, written into the notes)."""
    config = get_config(config_name)
    changed = apply_overrides(config, overrides, protected=PROTECTED)
    if changed is config:
        return config.validate()
    return dataclasses.replace(changed, notes=config.notes + override_note(changed, overrides)).validate()


def check_editing_weights(config: StyleEditConfig) -> None:
    """Raise MissingWeightsError naming every missing pretrained network of ``config`` and its fix."""
    from tfbench.errors import MissingWeightsError
    from tfbench.weights import require

    try:
        require(config.required_weights())
    except MissingWeightsError as error:
        raise MissingWeightsError(
            f"styleedit config {config.name!r} edits with e4e/StyleGAN2-FFHQ, BiSeNet, FAN and LPIPS, and needs "
            f"pretrained weights that are missing (the 'tiny' config runs without them, as a demo):\n{error}") from None


class StyleEditTrainer(Trainer):
    model_name = "styleedit"
    stages = STAGES
    requires = {"predictor": ("evp", "align")}
    weights = ("e4e_ffhq", "bisenet_face_parsing", "fan2d", "alexnet", "lpips_alex_linear")

    @classmethod
    def tiny_test_overrides(cls) -> dict:
        return {"batch_size": "2"}

    @classmethod
    def default_steps_for(cls, config_name: str, overrides: dict | None = None, stage: str = "evp") -> int:
        return resolve_config(config_name, overrides).stage_steps(stage)

    @classmethod
    def check_ready(cls, config_name: str, overrides: dict | None = None, stage: str = "evp") -> None:
        check_editing_weights(resolve_config(config_name, overrides))

    def __init__(self, config_name: str, dataset, *, stage: str = "evp", total_steps: int | None = None,
                 predecessors: dict | None = None, overrides: dict | None = None, device: str = "cpu",
                 echo: Callable[[str], None] = print) -> None:
        from tfbench.models.styleedit.data import ALData

        self.check_ready(config_name, overrides, stage)
        cfg = resolve_config(config_name, overrides)
        self.cfg, self.device = cfg, torch.device(device)
        self.config, self.config_name = cfg.to_dict(), config_name
        self.stage, self.predecessors = stage, dict(predecessors or {})
        self.default_steps = cfg.stage_steps(stage)
        self.total_steps = total_steps or self.default_steps
        self.checkpoint_every = cfg.checkpoint_every
        self.canonical = cfg.canonical and not overrides
        self.data = ALData(dataset, cfg, simulate_views=not cfg.canonical, with_paths=stage == "evp", progress=echo)
        for skipped in self.data.skipped:
            echo(f"skipping clip {skipped['clip_id']}: {skipped['reason']}")
        self.notes = cfg.notes + "".join(f" Data: {note}." for note in self.data.notes)
        if self.data.notes:
            self.canonical = False
        self.al = AudioToLandmark(cfg).to(self.device)
        self.editor = None
        if stage == "evp":
            if not self.data.emotion_pairs:
                raise _no_pairs("same-sentence pairs across emotions", "the training split has one emotion per speaker")
            trained = self.al.disentangler
        elif stage == "align":
            if not self.data.view_pairs:
                raise _no_pairs("pairs of camera views of one clip", "prepare MEAD with `--views all`")
            trained = self.al.alignment
        else:
            self.al.disentangler.load_state_dict(self.predecessors["evp"].state["disentangler"])
            self.al.alignment.load_state_dict(self.predecessors["align"].state["alignment"])
            for frozen in (self.al.disentangler, self.al.alignment):
                frozen.eval().requires_grad_(False)
            trained = self.al.predictor
            if not cfg.pretrained:  # tiny: the random StyleGAN2 + e4e travel in the model checkpoint
                from tfbench.models.styleedit.editing import EditingNetworks

                self.editor = EditingNetworks.random(cfg)
        self.trained = trained
        self.optimizer = torch.optim.Adam(trained.parameters(), lr=cfg.learning_rate)

    # ------------------------------------------------------------------ steps

    def step(self, step: int, rng: np.random.Generator) -> dict[str, float]:
        self.trained.train()
        losses = getattr(self, f"_{self.stage}_losses")(rng)
        total = sum(losses.values())
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.reduce_gradients(self.trained)
        self.optimizer.step()
        return {"total": total.item()} | {f"g_{name}": value.item() for name, value in losses.items()}

    def _evp_losses(self, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        cfg, clips, pairs = self.cfg, self.data.clips, self.data.emotion_pairs
        xa, xb, ea, eb = [], [], [], []
        for _ in range(cfg.batch_size):
            i, j, path = pairs[int(rng.integers(len(pairs)))]
            frame_a, frame_b = path[int(rng.integers(len(path)))]
            xa.append(clips[i].mfcc[frame_a])
            xb.append(clips[j].mfcc[frame_b])
            ea.append(clips[i].emotion)
            eb.append(clips[j].emotion)
        local = self.context.local(cfg.batch_size)
        xa, xb = (torch.from_numpy(np.stack(x)[local]).to(self.device) for x in (xa, xb))
        ea, eb = (torch.tensor(np.array(e)[local], device=self.device) for e in (ea, eb))
        net: Disentangler = self.al.disentangler
        ca, cb, za, zb = net.content(xa), net.content(xb), net.emotion(xa), net.emotion(xb)
        return {
            "self": cfg.lambda_self * (F.l1_loss(net.decode(ca, za), xa) + F.l1_loss(net.decode(cb, zb), xb)),
            "cross": cfg.lambda_cross * (F.l1_loss(net.decode(ca, zb), xb) + F.l1_loss(net.decode(cb, za), xa)),
            "cla": cfg.lambda_cla * (F.cross_entropy(net.classifier(za), ea) + F.cross_entropy(net.classifier(zb), eb)),
        }

    def _align_losses(self, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        cfg, data = self.cfg, self.data
        pose, face = [], []
        for _ in range(cfg.batch_size):
            i, j = data.view_pairs[int(rng.integers(len(data.view_pairs)))]
            first, second = data.clips[i].landmarks, data.second_view(i, j)
            t = int(rng.integers(min(len(first), len(second))))
            if rng.integers(2):  # either view may give the pose
                first, second = second, first
            pose.append(first[t])
            face.append(second[t])
        local = self.context.local(cfg.batch_size)
        l_p, l_f = (torch.from_numpy(np.stack(x)[local]).to(self.device) for x in (pose, face))
        generator = torch.Generator().manual_seed(int(rng.integers(2 ** 31)))
        aligned = self.al.alignment(l_f, warp_landmarks(l_p, generator, cfg.warp_noise, cfg.warp_affine).to(self.device))
        return {"align": (aligned - l_p).square().sum(-1).mean()}

    def _predictor_losses(self, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        cfg, clips = self.cfg, self.data.clips
        mfcc, points, reference = [], [], []
        for _ in range(cfg.batch_size):
            clip = clips[int(rng.integers(len(clips)))]
            start = int(rng.integers(len(clip.landmarks) - cfg.sequence_frames + 1))
            mfcc.append(clip.mfcc[start:start + cfg.sequence_frames])
            points.append(clip.landmarks[start:start + cfg.sequence_frames])
            reference.append(clip.landmarks.mean(0))
        local = self.context.local(cfg.batch_size)
        mfcc, points, reference = (torch.from_numpy(np.stack(x)[local]).to(self.device) for x in (mfcc, points, reference))
        generator = torch.Generator().manual_seed(int(rng.integers(2 ** 31)))
        distorted = warp_landmarks(points.flatten(0, 1), generator, cfg.warp_noise, cfg.warp_affine).view_as(points)
        aligned = self.al(mfcc, distorted.to(self.device), reference)
        return {"landmarks": (aligned - points).square().sum(-1).mean()}

    # ------------------------------------------------------------------ state

    def state_dict(self) -> dict:
        state = {"optimizer": self.optimizer.state_dict()}
        if self.stage == "evp":
            state["disentangler"] = self.al.disentangler.state_dict()
        elif self.stage == "align":
            state["alignment"] = self.al.alignment.state_dict()
        else:
            state["al"] = self.al.state_dict()
            state["editor"] = self.editor.state_dict() if self.editor is not None else None
        return state

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        if self.stage == "evp":
            self.al.disentangler.load_state_dict(state["disentangler"])
        elif self.stage == "align":
            self.al.alignment.load_state_dict(state["alignment"])
        else:
            self.al.load_state_dict(state["al"])
            if self.editor is not None:
                self.editor.load_state_dict(state["editor"])


def _no_pairs(what: str, why: str):
    from tfbench.errors import InputError

    return InputError(f"styleedit: the training split has no {what} ({why}); see docs/models/styleedit.md")
