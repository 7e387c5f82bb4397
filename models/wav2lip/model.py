"""``Wav2Lip``: the :class:`~tfbench.models.base.Generator` adapter of Wav2Lip (Prajwal et al. 2020).

``--checkpoint`` may be:

- nothing: the public ``wav2lip_gan.pth`` from the weights manager;
- ``wav2lip`` or ``wav2lip_gan``: that public file from the weights manager;
- a path to a public-format file (``{'state_dict': {'module.…': tensor}}``); canonical only
  when its sha256 is one of the pinned public hashes;
- a tfbench checkpoint written by ``tfbench train wav2lip``.

Request fields read: ``source_frames`` uint8 ``[T,H,W,3]`` (whole frames; the face is found
in each), ``audio`` float32 16 kHz, ``extra["face_boxes"]`` float32 ``[T,4]`` when the request
carries a prepared dataset's cached boxes (else S3FD runs, as the public script does), and
``options["face_box"]`` ("full" or the public ``--box``). See docs/models/wav2lip.md.
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

    def __init__(self, network, device: str = "cpu", face_box: str = "detect") -> None:
        self.network = network.eval()
        self.device = device
        self.face_box = face_box  # see Wav2LipConfig.face_box; public checkpoints: "detect"

    @classmethod
    def tiny_test_checkpoint(cls, tmp_dir: Path) -> Path:
        """A random generator of the tiny config whose frames are taken as face crops
        (``face_box="full"``: no detector weights needed), non-canonical."""
        import dataclasses

        import torch

        from tfbench.models.wav2lip.config import TINY
        from tfbench.models.wav2lip.networks import Wav2LipGenerator
        from tfbench.train.checkpoint import Checkpoint, save_checkpoint

        config = dataclasses.replace(TINY, face_box="full")
        torch.manual_seed(0)
        checkpoint = Checkpoint(model=cls.name, config_name="tiny", config=config.to_dict(), step=0,
                                state={"generator": Wav2LipGenerator(config.width_divisor).state_dict()},
                                canonical=False, notes="random-initialised tiny test checkpoint (conformance tests)")
        return save_checkpoint(checkpoint, Path(tmp_dir) / "wav2lip_tiny_test.pt")

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
            model.notes = (f"public {Path(record.path).name} (weights {name!r}), public inference procedure; face boxes: "
                           "the dataset's cached boxes when given, else S3FD")
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
        model.notes = (f"public {public}.pth given by path, public inference procedure; face boxes: the dataset's "
                       "cached boxes when given, else S3FD" if public else
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
        model = cls(network.to(device), device, face_box=config.face_box)
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
        boxes = self._boxes(request, frames)
        mel = log_mel(np.asarray(request.audio, dtype=np.float32))
        out = np.empty((count, *frames.shape[1:]), dtype=np.uint8)
        with torch.no_grad():
            for start in range(0, count, BATCH_FRAMES):
                index = np.arange(start, min(count, start + BATCH_FRAMES))
                faces = torch.from_numpy(W.network_input(frames[index], boxes[index])).to(self.device)
                audio = torch.from_numpy(W.mel_chunks(mel, index, request.fps)).to(self.device)
                predicted = self.network(audio, faces).cpu().numpy()
                out[index] = W.paste_faces(frames[index], predicted, boxes[index])
        return out


    def _boxes(self, request: GenerationRequest, frames: np.ndarray) -> np.ndarray:
        """int64 ``[T, 4]`` (x1, y1, x2, y2) face box of each frame (docs/models/wav2lip.md, step 3).

        ``options["face_box"]`` if given, else the request's cached boxes (prepared datasets),
        else the model's ``face_box`` ("detect" for the public checkpoints)."""
        from tfbench.models.wav2lip import inference as W
        from tfbench.models.wav2lip.config import parse_face_box

        count, height, width = len(frames), frames.shape[1], frames.shape[2]
        cached = request.extra.get("face_boxes")
        if "face_box" not in request.options and cached is not None:
            rects = W.rects_from_cached(np.asarray(cached)[:count])
            if len(rects) < count:
                raise InputError(f"clip {request.clip_id!r}: face boxes cover {len(rects)} frames, {count} needed")
            return W.face_boxes(rects, height, width)
        mode = parse_face_box(request.options.get("face_box", self.face_box))
        if mode == "detect":
            if frames.strides[0] == 0:  # one image repeated (generate --image): detect once, as --static
                return W.face_boxes(np.repeat(W.detect_rects(frames[:1], self.device), count, axis=0), height, width)
            return W.face_boxes(W.detect_rects(frames, self.device), height, width)
        top, bottom, left, right = (0, height, 0, width) if mode == "full" else mode
        if bottom > height or right > width:
            raise InputError(f"clip {request.clip_id!r}: face_box {mode} lies outside the {width}x{height} frames")
        return np.tile(np.array([[left, top, right, bottom]], dtype=np.int64), (count, 1))  # as --box: no pads, no smoothing


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
