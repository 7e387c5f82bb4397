"""``CPNet``: the :class:`~tfbench.models.base.Generator` adapter of the CPNet method.

CPNet renders a face from landmarks (no audio input in the paper). Request fields read
(see docs/models/cpnet.md):

- ``source_frames`` uint8 ``[T, H, W, 3]``: the face-cropped source video; each frame's
  lower half (of CPNet's central 224/256 crop) is hidden from the generator and
  regenerated; everything above it and outside the crop is kept.
- ``landmarks`` float32 ``[T, 68, 2]``: the driving landmarks. With ``drive="landmarks"``
  (the paper's protocol; what ``tfbench evaluate`` uses) they are used as given — in
  self-reconstruction, the ground-truth clip's own landmarks.
- ``audio`` float32 ``[N]`` 16 kHz: with ``drive="audio"`` (``tfbench generate``'s
  default) tfbench's audio-to-landmark front end replaces the jaw and mouth landmarks
  of every frame by those it predicts from the speech.

The drive is ``request.options["drive"]`` when given, else ``"landmarks"`` for a request
built by the evaluator from a dataset row and ``"audio"`` otherwise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfbench.errors import CheckpointError, InputError
from tfbench.models.base import GenerationRequest, Generator

#: Frames per forward pass at inference (bounds memory, whatever the clip length).
CHUNK_FRAMES = 8
DRIVES = ("landmarks", "audio")


class CPNet(Generator):
    name = "cpnet"
    needs = frozenset({"source_video", "audio", "landmarks"})

    def __init__(self, networks: dict, config, identities: list[str], dataset_fingerprint: str,
                 device: str = "cpu") -> None:
        for network in networks.values():
            network.eval()
        self.generator, self.condenser = networks["generator"], networks["condenser"]
        self.audio_to_landmarks = networks["audio_to_landmarks"]
        self.config, self.device = config, device
        self.identities, self.dataset_fingerprint = list(identities), dataset_fingerprint

    @classmethod
    def trainer_class(cls):
        from tfbench.models.cpnet.trainer import CPNetTrainer

        return CPNetTrainer

    @classmethod
    def tiny_test_checkpoint(cls, tmp_dir: Path) -> Path:
        """Random-initialised networks of the tiny config, no identity, non-canonical (conformance tests)."""
        import torch

        from tfbench.models.cpnet.networks import AudioToLandmarks, DenseGenerator
        from tfbench.models.cpnet.trainer import build_condenser, resolve_config
        from tfbench.train.checkpoint import Checkpoint, save_checkpoint

        config = resolve_config("tiny")
        torch.manual_seed(0)
        condenser = build_condenser(config)
        state = {"generator": DenseGenerator(config, condenser.dim).state_dict(),
                 "clip_visual": condenser.visual.state_dict(),
                 "audio_to_landmarks": AudioToLandmarks(config.a2l_channels).state_dict(),
                 "identities": [], "dataset_fingerprint": None}
        checkpoint = Checkpoint(model=cls.name, config_name="tiny", config=config.to_dict(), step=0, state=state,
                                canonical=False, notes="random-initialised tiny test checkpoint (conformance tests)")
        return save_checkpoint(checkpoint, Path(tmp_dir) / "cpnet_tiny_test.pt")

    @classmethod
    def from_checkpoint(cls, path: Path | None, device: str = "cpu") -> "CPNet":
        """Everything inference needs is in the checkpoint, the CLIP image tower included."""
        from tfbench.models.cpnet.config import CPNetConfig
        from tfbench.models.cpnet.networks import AudioToLandmarks, ClipCondenserTower, DenseGenerator
        from tfbench.nets.clip import build_clip
        from tfbench.train.checkpoint import load_checkpoint

        if path is None:
            raise CheckpointError("model 'cpnet' needs --checkpoint; train one with "
                                  "`tfbench train cpnet --config tiny --dataset sample --out runs/cpnet-demo`.")
        checkpoint = load_checkpoint(path, model=cls.name)
        try:
            config = CPNetConfig.from_dict(checkpoint.config).validate()
            condenser = ClipCondenserTower(build_clip(config.clip).visual)
            condenser.visual.load_state_dict(checkpoint.state["clip_visual"])
            generator = DenseGenerator(config, condenser.dim)
            generator.load_state_dict(checkpoint.state["generator"])
            front_end = AudioToLandmarks(config.a2l_channels)
            front_end.load_state_dict(checkpoint.state["audio_to_landmarks"])
            identities, fingerprint = checkpoint.state["identities"], checkpoint.state["dataset_fingerprint"]
        except (KeyError, RuntimeError, TypeError) as error:
            raise CheckpointError(f"{path}: the cpnet checkpoint does not match its config ({str(error)[:300]})") from error
        networks = {"generator": generator.to(device), "condenser": condenser.to(device),
                    "audio_to_landmarks": front_end.to(device)}
        model = cls(networks, config, identities, fingerprint, device)
        model.checkpoint_sha256 = checkpoint.sha256
        model.canonical = checkpoint.canonical
        model.notes = f"{checkpoint.config_name} config, step {checkpoint.step}: {checkpoint.notes}"
        return model

    # ------------------------------------------------------------------ person-specific checks

    def identity_problem(self, dataset_fingerprint: str | None, speakers: set[str]) -> str | None:
        """Why scores on ``speakers`` of the dataset ``dataset_fingerprint`` are not this
        person-specific model's protocol, or None (trained identities, same prepared dataset)."""
        unseen = sorted(str(s) for s in speakers if str(s) not in self.identities)
        trained = f"PERSON-SPECIFIC model trained on {', '.join(self.identities) or 'no identity'} (dataset {self.dataset_fingerprint})"
        if unseen:
            where = "" if dataset_fingerprint == self.dataset_fingerprint else " of another dataset"
            return (f"{trained} evaluated on unseen identities{where}: {', '.join(unseen[:10])}. CPNet is trained per "
                    "identity; these scores measure transfer to other people, not the paper's protocol.")
        if dataset_fingerprint != self.dataset_fingerprint:
            return (f"{trained} evaluated on another prepared dataset ({dataset_fingerprint}): its test split may hold "
                    "clips this model was trained on.")
        return None

    def check_dataset(self, dataset, split: str) -> str | None:
        """Hook of ``tfbench evaluate --model``: a note (the result becomes non-canonical) when the
        split holds identities this checkpoint was not trained on."""
        rows = dataset.split(split)
        speakers = set(rows["speaker"]) if "speaker" in rows.column_names else {"unknown"}
        return self.identity_problem(str(dataset.fingerprint), speakers)

    # ------------------------------------------------------------------ generation

    def drive(self, request: GenerationRequest) -> str:
        """``"landmarks"`` (paper protocol) or ``"audio"`` (front end), see the module docstring."""
        options = getattr(request, "options", None) or {}
        row_built = bool({"speaker", "split"} & set(request.extra or {}))  # request_from_row sets these
        drive = options.get("drive") or ("landmarks" if row_built else "audio")
        if drive not in DRIVES:
            raise InputError(f"cpnet: option drive={drive!r}; choose one of {', '.join(DRIVES)}")
        return drive

    def driving_landmarks(self, request: GenerationRequest) -> np.ndarray:
        """float32 ``[T, 68, 2]`` clip pixels: the request's landmarks, with the lower face
        predicted from the audio when the drive is ``"audio"``."""
        import torch

        from tfbench.io.features import log_mel
        from tfbench.models.cpnet.data import mel_windows, with_lower_face

        count = request.num_frames
        landmarks = np.asarray(request.landmarks[:count], dtype=np.float32).reshape(count, 68, 2)
        if self.drive(request) == "landmarks":
            return landmarks
        mel = mel_windows(log_mel(np.asarray(request.audio, dtype=np.float32)), np.arange(count), fps=request.fps)
        with torch.no_grad():
            lower = self.audio_to_landmarks(torch.from_numpy(mel).to(self.device)).cpu().numpy()
        return with_lower_face(landmarks, lower)

    def generate(self, request: GenerationRequest) -> np.ndarray:
        import torch

        from tfbench.models.cpnet.data import CentralCrop, generator_input, landmark_image, to_tensor, window_indices

        self.check_request(request)
        config, count = self.config, request.num_frames
        frames = np.asarray(request.source_frames[:count])
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise InputError(f"clip {request.clip_id!r}: source frames must be uint8 [T,H,W,3], got {frames.dtype} {list(frames.shape)}")
        landmarks = self.driving_landmarks(request)
        if not np.isfinite(landmarks.reshape(count, -1)).all(1).any():
            raise InputError(f"clip {request.clip_id!r}: no frame has face landmarks; CPNet renders from landmarks")
        crop = CentralCrop(frames.shape[1], frames.shape[2], config.image_size)
        faces = crop.frames(frames)
        sketches = np.stack([landmark_image(p, config.image_size) for p in crop.points(landmarks)])
        generated = np.empty_like(faces)
        device = torch.device(self.device)
        with torch.no_grad():
            for start in range(0, count, CHUNK_FRAMES):
                index = np.arange(start, min(count, start + CHUNK_FRAMES))
                inputs = torch.from_numpy(np.stack([generator_input(faces[t], sketches[window_indices(
                    int(t), count, config.landmark_window)]) for t in index])).to(device)
                sketch = to_tensor(np.repeat(sketches[index, :, :, None] * 255, 3, axis=-1)).to(device)
                out = self.generator(inputs, self.condenser(sketch))
                generated[index] = (out.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
        return crop.paste(frames, generated)
