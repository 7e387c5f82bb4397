"""``Wav2Lip``: the :class:`~tfbench.models.base.Generator` adapter of Wav2Lip (Prajwal et al. 2020).

``--checkpoint`` may be:

- nothing: the public ``wav2lip_gan.pth`` from the weights manager;
- ``wav2lip`` or ``wav2lip_gan``: that public file from the weights manager;
- a path to a public-format file (``{'state_dict': {'module.…': tensor}}``); canonical only
  when its sha256 is one of the pinned public hashes;
- a tfbench checkpoint written by ``tfbench train wav2lip``.

Request fields read: ``source_frames`` uint8 ``[T,H,W,3]`` (whole frames; the face is found
in each), ``audio`` float32 16 kHz, and ``face_boxes`` float32 ``[T,4]`` when the request
carries the prepared dataset's cached boxes (else S3FD runs, as the public script does).
See docs/models/wav2lip.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfbench.errors import CheckpointError, InputError
from tfbench.models.base import GenerationRequest, Generator

#: The public checkpoints, by weights-manager name.
PUBLIC_WEIGHTS = ("wav2lip", "wav2lip_gan")
#: What ``--checkpoint`` defaults to.
DEFAULT_WEIGHTS = "wav2lip_gan"
#: Frames per forward pass (the public ``--wav2lip_batch_size`` is 128; the result does not
#: depend on it: batch norm runs on its stored statistics in eval mode).
BATCH_FRAMES = 32


def _public_hashes() -> dict[str, str]:
    from tfbench.weights import get_spec

    return {get_spec(name).sha256: name for name in PUBLIC_WEIGHTS if get_spec(name).sha256}


def load_public_generator(path: Path):
    """A :class:`Wav2LipGenerator` in eval mode from a public-format file (``module.`` keys,
    ``{'state_dict': ...}`` wrapping); CheckpointError for anything else."""
    import pickle

    import torch

    from tfbench.models.wav2lip.networks import Wav2LipGenerator, public_state_dict

    network = Wav2LipGenerator()
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        network.load_state_dict(public_state_dict(payload))
    except (RuntimeError, TypeError, AttributeError, KeyError, pickle.UnpicklingError, EOFError) as error:
        raise CheckpointError(f"{path} is not a Wav2Lip generator checkpoint: {str(error).splitlines()[0][:300]}") from error
    return network.eval()


class Wav2Lip(Generator):
    name = "wav2lip"
    needs = frozenset({"source_video", "audio"})
    weights = (*PUBLIC_WEIGHTS, "s3fd")  # S3FD: only when the request carries no face boxes

    def __init__(self, network, device: str = "cpu") -> None:
        self.network = network.eval()
        self.device = device

    @classmethod
    def trainer_class(cls):
        from tfbench.models.wav2lip.trainer import Wav2LipTrainer

        return Wav2LipTrainer

    @classmethod
    def from_checkpoint(cls, path: Path | None, device: str = "cpu") -> "Wav2Lip":
        from tfbench.weights import sha256_file, weights_record

        if path is None or (not Path(path).exists() and str(path) in PUBLIC_WEIGHTS):
            name = DEFAULT_WEIGHTS if path is None else str(path)
            record = weights_record(name)  # MissingWeightsError naming `tfbench weights import NAME FILE`
            model = cls(load_public_generator(Path(record.path)).to(device), device)
            model.checkpoint_sha256, model.canonical = record.sha256, record.canonical
            model.notes = f"public {Path(record.path).name} (weights {name!r}), public inference procedure"
            if not record.canonical:
                model.notes += f"; NOT the published file (sha256 {record.sha256[:16]}… does not match its pin)"
            return model
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"No Wav2Lip checkpoint at {path}. Give a file, or one of {', '.join(PUBLIC_WEIGHTS)} "
                                  "(the public checkpoints: tfbench weights import wav2lip_gan /path/to/wav2lip_gan.pth).")
        if _is_tfbench_checkpoint(path):
            return cls._from_trained(path, device)
        model = cls(load_public_generator(path).to(device), device)
        model.checkpoint_sha256 = sha256_file(path)
        public = _public_hashes().get(model.checkpoint_sha256)
        model.canonical = public is not None
        model.notes = (f"public {public}.pth given by path, public inference procedure" if public else
                       f"{path.name}: a Wav2Lip-layout checkpoint that is not a published one (sha256 "
                       f"{model.checkpoint_sha256[:16]}…); NOT canonical")
        return model

    @classmethod
    def _from_trained(cls, path: Path, device: str) -> "Wav2Lip":
        from tfbench.models.wav2lip.config import Wav2LipConfig
        from tfbench.models.wav2lip.networks import Wav2LipGenerator
        from tfbench.train.checkpoint import load_checkpoint

        checkpoint = load_checkpoint(path, model=cls.name)
        try:
            config = Wav2LipConfig.from_dict(checkpoint.config).validate()
            network = Wav2LipGenerator(config.width_divisor)
            network.load_state_dict(checkpoint.state["generator"])
        except (KeyError, RuntimeError, TypeError) as error:
            raise CheckpointError(f"{path}: the wav2lip checkpoint does not match its config ({str(error)[:300]})") from error
        model = cls(network.to(device), device)
        model.checkpoint_sha256 = checkpoint.sha256
        model.canonical = checkpoint.canonical
        model.notes = f"{checkpoint.config_name} config, step {checkpoint.step}: {checkpoint.notes}"
        return model

    def generate(self, request: GenerationRequest) -> np.ndarray:
        import torch

        from tfbench.io.features import log_mel
        from tfbench.models.wav2lip import inference as W

        self.check_request(request)
        count = request.num_frames
        frames = request.source_frames[:count]
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise InputError(f"clip {request.clip_id!r}: source frames must be uint8 [T,H,W,3], got "
                             f"{frames.dtype} {list(frames.shape)}")
        height, width = frames.shape[1:3]
        cached = request.extra.get("face_boxes")
        if cached is not None:
            rects = W.rects_from_cached(np.asarray(cached)[:count])
            if len(rects) < count:
                raise InputError(f"clip {request.clip_id!r}: face boxes cover {len(rects)} frames, {count} needed")
        elif frames.strides[0] == 0:  # one image repeated (generate --image): detect once, as --static
            rects = np.repeat(W.detect_rects(frames[:1], self.device), count, axis=0)
        else:
            rects = W.detect_rects(frames, self.device)
        boxes = W.face_boxes(rects, height, width)
        mel = log_mel(np.asarray(request.audio, dtype=np.float32))
        out = np.empty((count, height, width, 3), dtype=np.uint8)
        with torch.no_grad():
            for start in range(0, count, BATCH_FRAMES):
                index = np.arange(start, min(count, start + BATCH_FRAMES))
                faces = torch.from_numpy(W.network_input(frames[index], boxes[index])).to(self.device)
                audio = torch.from_numpy(W.mel_chunks(mel, index, request.fps)).to(self.device)
                predicted = self.network(audio, faces).cpu().numpy()
                out[index] = W.paste_faces(frames[index], predicted, boxes[index])
        return out


def _is_tfbench_checkpoint(path: Path) -> bool:
    """Whether ``path`` is a file written by ``tfbench train`` (its format marker), cheaply:
    torch zip files keep the pickled dict's strings readable in ``data.pkl``."""
    import zipfile

    from tfbench.train.checkpoint import FORMAT

    try:
        with zipfile.ZipFile(path) as archive:
            pickled = next((name for name in archive.namelist() if name.endswith("data.pkl")), None)
            return pickled is not None and FORMAT.encode() in archive.read(pickled)
    except zipfile.BadZipFile:
        return False
