"""``G4G``: the :class:`~tfbench.models.base.Generator` adapter of the G4G method.

Request fields read (see docs/models/g4g.md):

- ``source_frames`` uint8 ``[T, H, W, 3]``: the face-cropped source video. Each frame's
  mouth region is hidden and regenerated; everything outside the smoothed mask is kept.
- ``audio`` float32 ``[N]`` 16 kHz: the driving speech (log-mel, 16 x 80 per frame).
- ``landmarks`` float32 ``[T, 68, 2]``: only the reference frames' landmarks are read
  (the prior landmark sketch ``L_r``); the target frames' mouth landmarks never are.

The five reference images are source frames evenly spaced over the clip.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfbench.errors import CheckpointError, InputError
from tfbench.models.base import GenerationRequest, Generator

#: Frames per forward pass at inference (bounds memory, whatever the clip length).
CHUNK_FRAMES = 16


class G4G(Generator):
    name = "g4g"
    needs = frozenset({"source_video", "audio", "landmarks"})

    def __init__(self, network, config, device: str = "cpu") -> None:
        self.network = network.eval()
        self.config = config
        self.device = device

    @classmethod
    def trainer_class(cls):
        from tfbench.models.g4g.trainer import G4GTrainer

        return G4GTrainer

    @classmethod
    def tiny_test_checkpoint(cls, tmp_dir: Path) -> Path:
        """Random-initialised generator of the tiny config (52x40 face), non-canonical."""
        import torch

        from tfbench.models.g4g.networks import G4GGenerator
        from tfbench.models.g4g.trainer import resolve_config
        from tfbench.train.checkpoint import Checkpoint, save_checkpoint

        config = resolve_config("tiny")
        torch.manual_seed(0)
        checkpoint = Checkpoint(model=cls.name, config_name="tiny", config=config.to_dict(), step=0,
                                state={"generator": G4GGenerator(config).state_dict()}, canonical=False,
                                notes="random-initialised tiny test checkpoint (conformance tests)")
        return save_checkpoint(checkpoint, Path(tmp_dir) / "g4g_tiny_test.pt")

    @classmethod
    def from_checkpoint(cls, path: Path | None, device: str = "cpu") -> "G4G":
        from tfbench.models.g4g.config import G4GConfig
        from tfbench.models.g4g.networks import G4GGenerator
        from tfbench.train.checkpoint import load_checkpoint

        if path is None:
            raise CheckpointError("model 'g4g' needs --checkpoint; train one with `tfbench train g4g --config tiny --dataset sample --out runs/g4g-demo`.")
        checkpoint = load_checkpoint(path, model=cls.name)
        try:
            config = G4GConfig.from_dict(checkpoint.config).validate()
            network = G4GGenerator(config)
            network.load_state_dict(checkpoint.state["generator"])
        except (KeyError, RuntimeError, TypeError) as error:
            raise CheckpointError(f"{path}: the g4g checkpoint does not match its config ({str(error)[:300]})") from error
        model = cls(network.to(device), config, device)
        model.checkpoint_sha256 = checkpoint.sha256
        model.canonical = checkpoint.canonical
        model.notes = f"{checkpoint.config_name} config, step {checkpoint.step}: {checkpoint.notes}"
        return model

    def generate(self, request: GenerationRequest) -> np.ndarray:
        import torch

        from tfbench.models.g4g.data import (FaceCrop, audio_features, first_valid, landmark_sketch, mel_windows,
                                             reference_indices, to_tensor)

        self.check_request(request)
        config, count = self.config, request.num_frames
        frames = np.asarray(request.source_frames[:count])
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise InputError(f"clip {request.clip_id!r}: source frames must be uint8 [T,H,W,3], got {frames.dtype} {list(frames.shape)}")
        clip_landmarks = np.asarray(request.landmarks[:count], dtype=np.float32).reshape(count, 68, 2)
        references = reference_indices(count, config.num_references)
        sketch_frame = first_valid(clip_landmarks, references)
        if sketch_frame is None:
            raise InputError(f"clip {request.clip_id!r}: no frame has face landmarks; G4G needs them for its face crop "
                             "and landmark prior")
        crop = FaceCrop.from_landmarks(clip_landmarks, config)
        faces = crop.faces(frames, config)
        landmarks = crop.points(clip_landmarks, config)
        mel, _ = audio_features(np.asarray(request.audio, dtype=np.float32))
        device = torch.device(self.device)
        reference_tensor = to_tensor(faces[references]).reshape(1, -1, config.face_height, config.face_width).to(device)
        sketch = torch.from_numpy(landmark_sketch(landmarks[sketch_frame], config)).float()[None, None].to(device)
        generated = np.empty_like(faces)
        with torch.no_grad():
            for start in range(0, count, CHUNK_FRAMES):
                index = np.arange(start, min(count, start + CHUNK_FRAMES))
                n = len(index)
                out = self.network(to_tensor(faces[index]).to(device), reference_tensor.expand(n, -1, -1, -1),
                                   sketch.expand(n, -1, -1, -1),
                                   torch.from_numpy(mel_windows(mel, index, fps=request.fps)).to(device))["output"]
                generated[index] = (out.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
        return crop.paste(frames, generated, config)
