"""``StyleEdit``: the :class:`~tfbench.models.base.Generator` adapter of the StyleGAN audio-driven
video editing method (Su et al. 2024). See docs/models/styleedit.md.

Request fields read:

- ``source_frames`` uint8 ``[T, H, W, 3]``: the video to edit (the output has its size);
- ``audio`` float32 ``[N]`` 16 kHz: the new speech (MFCC windows -> AL module);
- ``landmarks`` float32 ``[T, 68, 2]``: the source's landmarks (pose for the alignment
  network, the face crop, and the ``tiny`` config's face mask).

Generation options (``--set KEY=VALUE``, recorded in results): ``seed`` (int, default 0),
``time_budget`` (seconds per clip, 0 = none; default from the config), and
``latent_steps`` / ``pti_steps`` / ``stitch_steps`` (iterations; default from the config).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfbench.errors import CheckpointError, InputError
from tfbench.models.base import GenerationRequest, Generator

from tfbench.models.styleedit.config import PAPER_WEIGHTS

#: Generation options and their types.
OPTIONS = {"seed": int, "time_budget": float, "latent_steps": int, "pti_steps": int, "stitch_steps": int}
#: Side of the face crop relative to the landmarks' extent (covers forehead and chin).
CROP_SCALE = 1.6


@dataclass
class FaceCrop:
    """One square box per clip, ``side`` pixels at (x0, y0) of the frame (may extend past
    it: edges are replicated), resized to the generator's ``size``."""

    x0: int
    y0: int
    side: int
    size: int

    @classmethod
    def from_landmarks(cls, points: np.ndarray, size: int) -> "FaceCrop":
        """The box around the clip's mean landmark centre, ``CROP_SCALE`` x its largest extent."""
        centre = points.reshape(-1, 68, 2).mean(1).mean(0)
        extent = (points.max(1) - points.min(1)).max()
        side = max(8, int(round(CROP_SCALE * extent)))
        return cls(int(round(centre[0] - side / 2)), int(round(centre[1] - side / 2)), side, size)

    def _padding(self, height: int, width: int) -> int:
        return max(0, -self.x0, -self.y0, self.x0 + self.side - width, self.y0 + self.side - height)

    def faces(self, frames: np.ndarray) -> np.ndarray:
        """uint8 ``[T, size, size, 3]`` crops."""
        import cv2

        pad = self._padding(*frames.shape[1:3])
        out = np.empty((len(frames), self.size, self.size, 3), np.uint8)
        for index, frame in enumerate(frames):
            padded = np.pad(frame, ((pad, pad), (pad, pad), (0, 0)), mode="edge") if pad else frame
            box = padded[self.y0 + pad:self.y0 + pad + self.side, self.x0 + pad:self.x0 + pad + self.side]
            out[index] = cv2.resize(box, (self.size, self.size), interpolation=cv2.INTER_AREA)
        return out

    def points(self, points: np.ndarray) -> np.ndarray:
        """Frame pixels -> crop pixels, float32 ``[..., 68, 2]``."""
        return ((points - np.float32([self.x0, self.y0])) * (self.size / self.side)).astype(np.float32)

    def paste(self, frames: np.ndarray, crops: np.ndarray, blend: np.ndarray) -> np.ndarray:
        """Frames with ``crops`` (uint8 ``[T,size,size,3]``) blended in through ``blend``
        (float ``[T,size,size]`` in [0,1]) at frame resolution; pixels outside the blend keep
        the source exactly."""
        import cv2

        height, width = frames.shape[1:3]
        pad = self._padding(height, width)
        out = frames.copy()
        for index, frame in enumerate(frames):
            canvas = np.zeros((height + 2 * pad, width + 2 * pad, 3), np.float32)
            alpha = np.zeros((height + 2 * pad, width + 2 * pad, 1), np.float32)
            y, x = self.y0 + pad, self.x0 + pad
            canvas[y:y + self.side, x:x + self.side] = cv2.resize(crops[index], (self.side, self.side),
                                                                  interpolation=cv2.INTER_LINEAR)
            alpha[y:y + self.side, x:x + self.side, 0] = cv2.resize(blend[index], (self.side, self.side),
                                                                    interpolation=cv2.INTER_LINEAR)
            canvas, alpha = canvas[pad:pad + height, pad:pad + width], alpha[pad:pad + height, pad:pad + width]
            mixed = alpha * canvas + (1 - alpha) * frame.astype(np.float32)
            out[index] = np.where(alpha > 0, np.clip(np.round(mixed), 0, 255), frame).astype(np.uint8)
        return out


def landmark_masks(points: np.ndarray, size: int) -> np.ndarray:
    """float32 ``[T, 1, size, size]``: the convex hull of each frame's 68 crop-pixel points
    (the ``tiny`` stand-in for BiSeNet's face region)."""
    import cv2

    masks = np.zeros((len(points), 1, size, size), np.float32)
    for index, frame_points in enumerate(points):
        hull = cv2.convexHull(np.round(frame_points).astype(np.int32))
        canvas = np.zeros((size, size), np.uint8)
        cv2.fillConvexPoly(canvas, hull, 1)
        masks[index, 0] = canvas
    return masks


class StyleEdit(Generator):
    name = "styleedit"
    needs = frozenset({"source_video", "audio", "landmarks"})
    weights = PAPER_WEIGHTS

    def __init__(self, al, editor, config, device: str = "cpu") -> None:
        self.al, self.editor, self.config, self.device = al.eval(), editor.eval(), config, device
        self._perceptual = self._heatmaps = self._parser = None

    @classmethod
    def trainer_class(cls):
        from tfbench.models.styleedit.trainer import StyleEditTrainer

        return StyleEditTrainer

    @classmethod
    def tiny_test_checkpoint(cls, tmp_dir: Path) -> Path:
        """Random-initialised AL module and editing networks of the tiny config, non-canonical."""
        import torch

        from tfbench.models.styleedit.editing import EditingNetworks
        from tfbench.models.styleedit.networks import AudioToLandmark
        from tfbench.models.styleedit.trainer import resolve_config
        from tfbench.train.checkpoint import Checkpoint, save_checkpoint

        config = resolve_config("tiny")
        torch.manual_seed(0)
        state = {"al": AudioToLandmark(config).state_dict(), "editor": EditingNetworks.random(config).state_dict()}
        checkpoint = Checkpoint(model=cls.name, config_name="tiny", config=config.to_dict(), step=0, state=state,
                                canonical=False, notes="random-initialised tiny test checkpoint (conformance tests)",
                                stage="predictor")
        return save_checkpoint(checkpoint, Path(tmp_dir) / "styleedit_tiny_test.pt")

    @classmethod
    def from_checkpoint(cls, path: Path | None, device: str = "cpu") -> "StyleEdit":
        from tfbench.models.styleedit.config import StyleEditConfig
        from tfbench.models.styleedit.editing import EditingNetworks
        from tfbench.models.styleedit.networks import AudioToLandmark
        from tfbench.models.styleedit.trainer import check_editing_weights
        from tfbench.train.checkpoint import load_checkpoint

        if path is None:
            raise CheckpointError("model 'styleedit' needs --checkpoint: its predictor-stage checkpoint; train one with "
                                  "`tfbench train styleedit --config tiny --dataset sample --out runs/styleedit-demo` "
                                  "(then --checkpoint runs/styleedit-demo/predictor/last.pt).")
        checkpoint = load_checkpoint(path, model=cls.name)
        if checkpoint.stage != "predictor":
            raise CheckpointError(f"{path} is a {checkpoint.stage!r}-stage checkpoint; generation needs the final "
                                  "'predictor' stage (`tfbench train styleedit --stage predictor`)")
        try:
            config = StyleEditConfig.from_dict(checkpoint.config).validate()
            al = AudioToLandmark(config)
            al.load_state_dict(checkpoint.state["al"])
            if config.pretrained:
                editor = None
            else:
                editor = EditingNetworks.random(config)
                editor.load_state_dict(checkpoint.state["editor"])
        except (KeyError, RuntimeError, TypeError) as error:
            raise CheckpointError(f"{path}: the styleedit checkpoint does not match its config ({str(error)[:300]})") from error
        if config.pretrained:
            check_editing_weights(config)
            editor = EditingNetworks.pretrained(device)
        model = cls(al.to(device), editor.to(device), config, device)
        model.checkpoint_sha256 = checkpoint.sha256
        model.canonical = checkpoint.canonical and config.canonical
        model.notes = f"{checkpoint.config_name} config, step {checkpoint.step}: {checkpoint.notes}"
        return model

    # ------------------------------------------------------------------ generation

    def _options(self, request: GenerationRequest) -> dict:
        cfg = self.config
        values = {"seed": 0, "time_budget": cfg.time_budget, "latent_steps": cfg.latent_steps,
                  "pti_steps": cfg.pti_steps, "stitch_steps": cfg.stitch_steps}
        for key, value in (request.options or {}).items():
            if key not in OPTIONS:
                continue  # options of the request builder (text, emotion, ...) are not ours
            try:
                values[key] = OPTIONS[key](value)
            except (TypeError, ValueError):
                raise InputError(f"--set {key}={value!r}: expected a {OPTIONS[key].__name__}") from None
        return values

    def predict_landmarks(self, audio: np.ndarray, landmarks: np.ndarray, width: int) -> np.ndarray:
        """AL module: float32 ``[T, 68, 2]`` target landmarks in frame pixels for the new audio."""
        import torch

        from tfbench.models.styleedit.networks import denormalise_landmarks, mfcc_windows, normalise_landmarks

        count = len(landmarks)
        original = normalise_landmarks(landmarks, width)
        mfcc = mfcc_windows(audio, count, self.config.mfcc_window)
        with torch.no_grad():
            aligned = self.al(torch.from_numpy(mfcc)[None].to(self.device), torch.from_numpy(original)[None].to(self.device),
                              torch.from_numpy(original.mean(0))[None].to(self.device))[0]
        return denormalise_landmarks(aligned.cpu().numpy(), width)

    def _networks(self):
        from tfbench.models.styleedit.editing import Perceptual, fan_heatmap_network

        cfg = self.config
        if self._perceptual is None:
            self._perceptual = Perceptual(cfg.perceptual, self.device)
            self._heatmaps = fan_heatmap_network(self.device) if cfg.fan_loss else None
            if cfg.face_mask == "bisenet":
                from tfbench.nets.bisenet import load_bisenet

                self._parser = load_bisenet(device=self.device)
        return self._perceptual, self._heatmaps, self._parser

    def generate(self, request: GenerationRequest) -> np.ndarray:
        import dataclasses

        import torch
        from rich.progress import Progress

        from tfbench.models.styleedit.data import fill_missing
        from tfbench.models.styleedit.editing import Editor

        self.check_request(request)
        count = request.num_frames
        frames = np.asarray(request.source_frames[:count])
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise InputError(f"clip {request.clip_id!r}: source frames must be uint8 [T,H,W,3], got {frames.dtype} {list(frames.shape)}")
        landmarks = fill_missing(np.asarray(request.landmarks[:count], dtype=np.float32).reshape(count, 68, 2))
        if landmarks is None:
            raise InputError(f"clip {request.clip_id!r}: no frame has face landmarks; styleedit needs them")
        options = self._options(request)
        cfg = dataclasses.replace(self.config, latent_steps=options["latent_steps"], pti_steps=options["pti_steps"],
                                  stitch_steps=options["stitch_steps"])
        torch.manual_seed(options["seed"])
        targets = self.predict_landmarks(np.asarray(request.audio, dtype=np.float32), landmarks, frames.shape[2])
        crop = FaceCrop.from_landmarks(landmarks, cfg.gan_size)
        faces = torch.from_numpy(crop.faces(frames)).permute(0, 3, 1, 2).float().div(127.5).sub(1).to(self.device)
        perceptual, heatmaps, parser = self._networks()
        if parser is not None:
            from tfbench.nets.bisenet import face_mask

            masks = torch.cat([face_mask(parser, (faces[s:s + 4] + 1) / 2) for s in range(0, count, 4)])
        else:
            masks = torch.from_numpy(landmark_masks(crop.points(landmarks), cfg.gan_size)).to(self.device)
        tasks: dict = {}
        with Progress(transient=True) as bars:  # rich, like every other progress bar of tfbench

            def progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bars.add_task(f"{request.clip_id}: {stage}", total=total)
                bars.update(tasks[stage], completed=done)

            editor = Editor(self.editor, cfg, perceptual, heatmaps, seed=options["seed"], time_budget=options["time_budget"],
                            progress=progress, clip_id=request.clip_id)
            edited, blend = editor.edit(faces, torch.from_numpy(crop.points(targets)).to(self.device), masks)
        self.last_log = editor.log
        crops = ((edited.permute(0, 2, 3, 1).cpu().numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8)
        return crop.paste(frames, crops, blend[:, 0].cpu().numpy())
