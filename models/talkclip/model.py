"""``TalkCLIP``: the :class:`~tfbench.models.base.Generator` of TalkCLIP (text -> speaking style).

Generation (paper Fig. 3, inference): the text gives ``s_t`` (E_t, eq. 1); the phonemes
of the audio (E_a, windows of 11) and ``s_t`` give 64 expression coefficients per frame
(E_d); head pose and crop come from the request's 3DMM coefficients (``paper``: the
Deep3DFaceRecon pose of the source video, as StyleTalk's inference) or, without them,
the training set's mean pose (``tiny``: a still, frontal head); PIRenderer (E_r) renders
each frame from the reference image and a 27-frame coefficient window.

Text used (the rule is in the model notes recorded with every result; ``generate``
records ``--text`` / ``--set prompt=`` in its provenance): ``options["prompt"]`` when
given; else the request's text (``--text``). A dataset row's text
(the evaluator's requests carry no ``options["text"]``) whose first TA-MEAD sentence has
no emotion part ("... looks <emotion> and speaks ...") comes from a dataset without
emotion labels (HDTF, LRS2, ObamaSet): it is replaced by the paper's HDTF prompt "An
expressionless woman." / "... man." (subject from the sentence; "person" when the row has
no gender, as HDTF's).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from tfbench.errors import CheckpointError, InputError
from tfbench.models.base import GenerationRequest, Generator

#: Frames decoded / rendered per forward pass (bounds memory, whatever the clip length).
CHUNK_FRAMES = 64
RENDER_CHUNK = 8


def neutral_prompt(text: str | None) -> str:
    """The paper's HDTF prompt ("An expressionless woman/man.") with the subject of ``text``."""
    words = re.findall(r"[a-z]+", (text or "").lower())
    subject = "woman" if "woman" in words else "man" if "man" in words else "person"
    return f"An expressionless {subject}."


def style_text(request: GenerationRequest) -> str:
    """The sentence that drives the style of ``request`` (module docstring)."""
    options = request.options or {}
    if options.get("prompt"):
        return str(options["prompt"])
    if not request.text:
        raise InputError(f"clip {request.clip_id!r}: TalkCLIP needs a style description (--text or the row's text)")
    from_dataset = "text" not in options
    if from_dataset and " looks " not in f" {request.text} ":  # no emotion labels in the dataset: HDTF protocol
        return neutral_prompt(request.text)
    return request.text


class TalkCLIP(Generator):
    name = "talkclip"
    needs = frozenset({"reference_image", "audio", "text", "phonemes"})
    #: CLIP ViT-B/32 for the paper config (a tiny checkpoint carries its own random tower).
    weights = ("clip_vit_b32",)

    def __init__(self, generator, renderer, state: dict, config, device: str = "cpu") -> None:
        import torch

        self.generator, self.renderer = generator.eval(), renderer.eval()
        self.config, self.device = config, device
        self.coeff_mean = torch.as_tensor(state["coeff_mean"]).float()
        self.coeff_std = torch.as_tensor(state["coeff_std"]).float()
        self.mean_pose = np.asarray(state["mean_pose"], dtype=np.float32)
        if config.tdmm_kind == "deep3d":  # pose from the source's Deep3DFaceRecon fit
            self.needs = TalkCLIP.needs | {"coeffs_3dmm", "coeffs_3dmm_align"}
            self.needs_3dmm_kind = "deep3d"
        self.weights = config.required_weights(None)

    @classmethod
    def trainer_class(cls):
        from tfbench.models.talkclip.trainer import TalkCLIPTrainer

        return TalkCLIPTrainer

    @classmethod
    def from_checkpoint(cls, path: Path | None, device: str = "cpu") -> "TalkCLIP":
        from tfbench.models.talkclip.config import TalkCLIPConfig
        from tfbench.models.talkclip.networks import ExpressionGenerator
        from tfbench.models.talkclip.renderer import FaceGenerator
        from tfbench.models.talkclip.trainer import build_clip_for
        from tfbench.train.checkpoint import load_checkpoint

        if path is None:
            raise CheckpointError("model 'talkclip' needs --checkpoint: the stage2 checkpoint of "
                                  "`tfbench train talkclip --config tiny --dataset sample --out runs/talkclip-demo` "
                                  "(runs/talkclip-demo/stage2/last.pt)")
        checkpoint = load_checkpoint(path, model=cls.name)
        stage = getattr(checkpoint, "stage", None)
        if stage != "stage2":
            raise CheckpointError(f"{path} is the {stage!r} stage of talkclip; generation needs the final stage2 "
                                  "checkpoint (`tfbench train talkclip --stage all ...` writes OUT/stage2/last.pt)")
        state = checkpoint.state
        canonical = checkpoint.canonical
        for name, used in (state.get("weights_used") or {}).items():  # CLIP must be the file E_t was trained on
            from tfbench.weights import weights_record

            record = weights_record(name)
            if record.sha256 != used["sha256"]:
                raise CheckpointError(f"{path} was trained with {name} sha256 {used['sha256'][:12]}…, but the installed "
                                      f"file is {record.sha256[:12]}…: install the same file (`tfbench weights import "
                                      f"{name} FILE`)")
            canonical = canonical and record.canonical
        try:
            config = TalkCLIPConfig.from_dict(checkpoint.config).validate()
            generator = ExpressionGenerator(config, build_clip_for(config, device))
            if "clip" in state:
                generator.text_encoder.clip.load_state_dict(state["clip"])
            missing, unexpected = generator.load_state_dict(state["generator"], strict=False)
            if unexpected or any(not key.startswith("text_encoder.clip.") for key in missing):
                raise RuntimeError(f"missing {missing[:3]}, unexpected {unexpected[:3]}")
            renderer = FaceGenerator(config)
            renderer.load_state_dict(state["renderer"])
        except (KeyError, RuntimeError, TypeError) as error:
            raise CheckpointError(f"{path}: the talkclip checkpoint does not match its config ({str(error)[:300]})") from error
        model = cls(generator.to(device), renderer.to(device), state, config, device)
        model.checkpoint_sha256 = checkpoint.sha256
        model.canonical = canonical
        model.notes = (f"{checkpoint.config_name} config, step {checkpoint.step}: {checkpoint.notes} Style text: "
                       "--set prompt=... if given, else the clip's first TA-MEAD sentence; rows without an emotion "
                       "label (HDTF) use 'An expressionless woman/man.'")
        return model

    @classmethod
    def tiny_test_checkpoint(cls, tmp_dir: Path) -> Path:
        """A random-initialised stage-2 checkpoint of the tiny config (conformance tests), non-canonical."""
        import torch

        from tfbench.models.talkclip.networks import ExpressionGenerator
        from tfbench.models.talkclip.renderer import FaceGenerator
        from tfbench.models.talkclip.trainer import build_clip_for, resolve_config
        from tfbench.train.checkpoint import Checkpoint, save_checkpoint

        config = resolve_config("tiny")
        torch.manual_seed(0)
        generator = ExpressionGenerator(config, build_clip_for(config, "cpu"))
        state = {"generator": generator.trainable_state_dict(), "clip": generator.text_encoder.clip.state_dict(),
                 "renderer": FaceGenerator(config).state_dict(), "coeff_mean": torch.zeros(73),
                 "coeff_std": torch.ones(73), "mean_pose": torch.zeros(9)}
        checkpoint = Checkpoint(model=cls.name, config_name="tiny", config=config.to_dict(), step=0, state=state,
                                canonical=False, notes="random-initialised tiny test checkpoint (conformance tests)",
                                stage="stage2")
        return save_checkpoint(checkpoint, Path(tmp_dir) / "talkclip_tiny_test.pt")

    def expressions(self, phonemes: np.ndarray, text: str) -> np.ndarray:
        """float32 [T, 64] expression coefficients for int64 [T] phone ids and a style sentence."""
        import torch

        from tfbench.models.talkclip.networks import phoneme_windows
        from tfbench.nets.clip import tokenize

        windows = torch.from_numpy(phoneme_windows(np.asarray(phonemes, dtype=np.int64), self.config.window))
        with torch.no_grad():
            style = self.generator.text_encoder(tokenize([text]).to(self.device))
            out = [self.generator(windows[None, start:start + CHUNK_FRAMES].to(self.device), style)[0]
                   for start in range(0, len(windows), CHUNK_FRAMES)]
        return torch.cat(out).cpu().numpy()

    def pose(self, request: GenerationRequest) -> np.ndarray:
        """float32 [T, 9] head pose + crop: the request's 3DMM pose if present, else the training mean."""
        from tfbench.models.talkclip.data import pose_params

        count = request.num_frames
        if request.coeffs_3dmm is not None and request.coeffs_3dmm_align is not None:
            return pose_params(request.coeffs_3dmm[:count], request.coeffs_3dmm_align[:count])
        return np.repeat(self.mean_pose[None], count, 0)

    def render(self, reference: np.ndarray, exp: np.ndarray, pose: np.ndarray) -> np.ndarray:
        """uint8 [T, H, W, 3] at the reference image's size (rendered at ``image_size``, resized)."""
        import cv2
        import torch

        from tfbench.models.talkclip.data import renderer_windows, to_image_tensor

        size = self.config.image_size
        height, width = reference.shape[:2]
        image = to_image_tensor(cv2.resize(np.ascontiguousarray(reference), (size, size), interpolation=cv2.INTER_AREA)[None])
        image = image.to(self.device)
        out = np.empty((len(exp), height, width, 3), np.uint8)
        radius = self.config.semantic_radius
        with torch.no_grad():
            for start in range(0, len(exp), RENDER_CHUNK):
                frames = np.arange(start, min(len(exp), start + RENDER_CHUNK))
                coeffs = torch.from_numpy(renderer_windows(exp, pose, frames, radius))
                coeffs = ((coeffs - self.coeff_mean[None, :, None]) / self.coeff_std[None, :, None]).to(self.device)
                fake = self.renderer(image.expand(len(frames), -1, -1, -1), coeffs)["fake_image"]
                pixels = ((fake.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
                for offset, frame in enumerate(pixels):
                    out[start + offset] = frame if (height, width) == (size, size) else cv2.resize(
                        frame, (width, height), interpolation=cv2.INTER_CUBIC)
        return out

    def generate(self, request: GenerationRequest) -> np.ndarray:
        self.check_request(request)
        text = style_text(request)
        reference = np.asarray(request.reference_image)
        if reference.dtype != np.uint8 or reference.ndim != 3 or reference.shape[-1] != 3:
            raise InputError(f"clip {request.clip_id!r}: the reference image must be uint8 [H,W,3], got "
                             f"{reference.dtype} {list(reference.shape)}")
        exp = self.expressions(np.asarray(request.phonemes)[:request.num_frames], text)
        return self.render(reference, exp, self.pose(request))
