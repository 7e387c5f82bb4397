"""``EmoSpace``: the Generator adapter of the multi-modal emotion-space method.

Inference (§4.2's protocol): the reference image (frame 0 of the clip) is the source I^s; the
clip's audio drives it; the emotion comes from ONE modality (``options["modality"]``):

- ``text`` (Ours-T, default): ``request.text`` if the user gave a sentence, else the label prompt
  of ``request.emotion`` (:func:`~tfbench.models.emospace.config.prompt_for`);
- ``image`` (Ours-I): ``request.emotion_image``, else a frame of ``request.source_frames`` drawn
  with a seed from the clip id ("a random face from the same video");
- ``audio`` (Ours-A): the CLIP-space audio encoder on the driving audio (mean of its windows).

With no emotion input at all the text modality uses the neutral label's prompt (recorded).
Intensity mu: ``options["level"]``, else ``request.emotion_level``, else 1 (a float in [1, 3]).
Geometry: the source's 3DMM identity, EAC's expression per frame and the driving pose (the
request's ``coeffs_3dmm`` per frame; the source's own pose when only an image is given).
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from tfbench.errors import CheckpointError, InputError
from tfbench.models.base import GenerationRequest, Generator
from tfbench.models.emospace.config import MODALITIES, EmoSpaceConfig, prompt_for

#: HEF frames per forward pass (bounds memory whatever the clip length).
CHUNK_FRAMES = 8


class EmoSpace(Generator):
    name = "emospace"
    needs = frozenset({"reference_image", "audio", "landmarks"})
    #: The emotion comes from one of several inputs (none: neutral); 3DMM coefficients come from
    #: the dataset (evaluation) or are fitted to the landmarks (generate); see the module docstring.
    accepts = frozenset({"emotion", "text", "emotion_image", "source_video", "coeffs_3dmm", "coeffs_3dmm_align"})
    #: what a paper-config checkpoint loads (a tiny one carries its own random towers and 3DMM)
    weights = ("clip_vit_b32", "bfm_front")

    def __init__(self, networks: dict, config: EmoSpaceConfig, tdmm, device: str = "cpu", faces=None) -> None:
        """``tdmm``: the offline 3DMM (geometry "sketch"); ``faces``: the BFM face renderer
        (geometry "render", :class:`tfbench.annotate.render.FaceRenderer`)."""
        self.ame, self.eac, self.hef = (networks[key].eval() for key in ("ame", "eac", "hef"))
        self.config, self.tdmm, self.device, self.faces = config, tdmm, device, faces
        if faces is not None:  # paper config: Deep3DFaceRecon coefficients drive the BFM render
            self.needs = type(self).needs | {"coeffs_3dmm", "coeffs_3dmm_align"}
            self.needs_3dmm_kind = "deep3d"

    @classmethod
    def trainer_class(cls):
        from tfbench.models.emospace.trainer import EmoSpaceTrainer

        return EmoSpaceTrainer

    @classmethod
    def tiny_test_checkpoint(cls, tmp_dir: Path) -> Path:
        """Random-initialised networks of the tiny config with a random offline 3DMM (an
        eye-normalised mean face plus random bases), non-canonical (conformance tests)."""
        import torch

        from tfbench.models.emospace.ame import AME
        from tfbench.models.emospace.config import TINY
        from tfbench.models.emospace.networks import EAC, HEF
        from tfbench.models.emospace.trainer import build_clip
        from tfbench.train.checkpoint import Checkpoint, save_checkpoint

        torch.manual_seed(0)
        generator = torch.Generator().manual_seed(0)
        angles = torch.linspace(0, 2 * torch.pi, 69)[:68]
        mean_face = torch.stack([angles.cos(), 1.2 * angles.sin()], dim=1).flatten().double()  # a ring of 68 points
        config = TINY
        state = {
            "stage": "hef",
            "ame": AME(config, build_clip(config)).checkpoint_state(),
            "eac": EAC(config.clip_embed, config.eac_dim, config.eac_layers, config.eac_heads).state_dict(),
            "hef": HEF(config.image_size, config.blocks, config.channels, config.encoder_channels, config.style_dim,
                       config.eac_dim).state_dict(),
            "tdmm": {"global_mean": mean_face, "id_basis": 0.01 * torch.randn(136, 2, generator=generator).double(),
                     "exp_basis": 0.01 * torch.randn(136, 64, generator=generator).double()},
        }
        checkpoint = Checkpoint(model=cls.name, config_name="tiny", config=config.to_dict(), step=0, state=state,
                                canonical=False, notes="random-initialised tiny test checkpoint (conformance tests)",
                                stage="hef")
        return save_checkpoint(checkpoint, Path(tmp_dir) / "emospace_tiny_test.pt")

    @classmethod
    def from_checkpoint(cls, path: Path | None, device: str = "cpu") -> "EmoSpace":
        from tfbench.models.emospace.ame import AME
        from tfbench.models.emospace.networks import EAC, HEF
        from tfbench.models.emospace.trainer import build_clip, face_renderer, tdmm_from_state
        from tfbench.train.checkpoint import load_checkpoint

        if path is None:
            raise CheckpointError("model 'emospace' needs --checkpoint (the 'hef' stage's last.pt); train one with "
                                  "`tfbench train emospace --config tiny --dataset sample --stage all --out runs/emospace`.")
        checkpoint = load_checkpoint(path, model=cls.name)
        if checkpoint.state.get("stage") != "hef":
            raise CheckpointError(f"{path} is an emospace {checkpoint.state.get('stage')!r}-stage checkpoint; generation "
                                  "needs the final 'hef' stage's checkpoint")
        try:
            config = EmoSpaceConfig.from_dict(checkpoint.config)
            networks = {
                "ame": AME(config, build_clip(config)),
                "eac": EAC(config.clip_embed, config.eac_dim, config.eac_layers, config.eac_heads),
                "hef": HEF(config.image_size, config.blocks, config.channels, config.encoder_channels,
                           config.style_dim, config.eac_dim),
            }
            networks["ame"].load_checkpoint_state(checkpoint.state["ame"])
            for key in ("eac", "hef"):
                networks[key].load_state_dict(checkpoint.state[key])
            for network in networks.values():
                network.to(device)
            tdmm = tdmm_from_state(checkpoint.state["tdmm"]) if config.geometry == "sketch" else None
        except (KeyError, RuntimeError, TypeError) as error:
            raise CheckpointError(f"{path}: the emospace checkpoint does not match its config ({str(error)[:300]})") from error
        faces = face_renderer(None, device) if config.geometry == "render" else None  # needs bfm_front
        model = cls(networks, config, tdmm, device, faces)
        model.checkpoint_sha256 = checkpoint.sha256
        model.canonical = checkpoint.canonical
        model.notes = f"{checkpoint.config_name} config, step {checkpoint.step}: {checkpoint.notes}"
        return model

    def coefficients(self, request: GenerationRequest) -> tuple[np.ndarray, np.ndarray]:
        """(coeffs float32 [T,257], align float32 [T,5]) of the offline 3DMM this checkpoint was
        trained with: the request's own when they are of that kind (a prepared dataset), else
        fitted to the request's landmarks with the source face as a new identity (generate).
        With geometry "render" (paper): the request's Deep3DFaceRecon coefficients."""
        if self.faces is not None:
            if request.coeffs_3dmm is None or request.coeffs_3dmm_kind != "deep3d":
                raise InputError(f"clip {request.clip_id!r}: emospace ({self.config.name}) renders BFM faces from deep3d "
                                 f"3DMM coefficients, got {request.coeffs_3dmm_kind or 'none'}; prepare the dataset with "
                                 "`--tdmm deep3d`")
            return np.asarray(request.coeffs_3dmm, np.float32), np.asarray(request.coeffs_3dmm_align, np.float32)
        if request.coeffs_3dmm is not None and request.coeffs_3dmm_kind == "offline_pca":
            return np.asarray(request.coeffs_3dmm, np.float32), np.asarray(request.coeffs_3dmm_align, np.float32)
        if request.landmarks is None:
            raise InputError(f"clip {request.clip_id!r}: emospace ({self.config.name}) needs the source's offline 3DMM "
                             f"coefficients or its landmarks; got {request.coeffs_3dmm_kind or 'no'} coefficients")
        landmarks = np.asarray(request.landmarks, np.float64)
        if not np.all(np.isfinite(landmarks[0])):
            raise InputError(f"clip {request.clip_id!r}: no face found in the source image")
        landmarks = np.where(np.isfinite(landmarks), landmarks, landmarks[:1])
        height, width = np.asarray(request.reference_image).shape[:2]
        return self.tdmm.coefficients_for_identity(landmarks, self.tdmm.unseen_identity(landmarks), width, height)

    def emotion_embedding(self, request: GenerationRequest, mel) -> tuple[str, "object"]:
        """(modality, unit-norm z_emo [1, clip_embed]) of the request."""
        options = request.options or {}
        modality = str(options.get("modality", "text"))
        if modality not in MODALITIES:
            raise InputError(f"emospace: modality must be one of {', '.join(MODALITIES)}, got {modality!r}")
        if modality == "text":
            # a sentence the user gave (generate --text / --set prompt=...) wins; else the label's prompt
            prompt = options.get("prompt") or options.get("text") or (
                prompt_for(request.emotion) if request.emotion else request.text) or prompt_for("neutral")
            request.options["prompt"] = prompt
            return modality, self.ame.encode_text([prompt])
        if modality == "image":
            image = request.emotion_image
            if image is None and request.source_frames is not None:
                rng = np.random.default_rng(zlib.crc32(request.clip_id.encode()))
                image = request.source_frames[int(rng.integers(len(request.source_frames)))]
            if image is None:
                raise InputError(f"clip {request.clip_id!r}: the image modality needs --emotion-image")
            return modality, self.ame.encode_image(np.asarray(image, dtype=np.uint8)[None])
        from tfbench.models.emospace.data import mel_frames

        windows = [mel_frames(mel, start, self.config.window) for start in range(0, request.num_frames, self.config.window)]
        import torch
        from torch.nn import functional as F

        embedded = self.ame.encode_audio(torch.as_tensor(np.stack(windows), device=self.device))
        return modality, F.normalize(embedded.mean(0, keepdim=True), dim=-1)

    def generate(self, request: GenerationRequest) -> np.ndarray:
        import cv2
        import torch

        from tfbench.models.emospace.data import mel_100hz, mel_frames, resize_frames, to_tensor
        from tfbench.models.emospace.networks import EXP, GAMMA, HEF, ID, TEX
        from tfbench.models.emospace.trainer import sketch_batch

        self.check_request(request)
        config, count = self.config, request.num_frames
        coeffs, align = self.coefficients(request)
        # driving pose per frame from the request's coefficients (held on the last one past their end)
        pose_rows = np.minimum(np.arange(count), len(coeffs) - 1)
        reference = np.asarray(request.reference_image, dtype=np.uint8)
        height, width = reference.shape[:2]
        with torch.no_grad():
            mel = mel_100hz(request.audio)
            modality, z_emo = self.emotion_embedding(request, mel)
            options = request.options or {}
            mu = float(options.get("level") or request.emotion_level or 1)
            request.options.update({"modality": modality, "level": mu})
            expressions, sigmas = [], []
            for start in range(0, count, config.window):
                window = torch.as_tensor(mel_frames(mel, start, config.window), device=self.device)[None]
                beta, sigma = self.eac(window, z_emo, torch.tensor([mu], device=self.device))
                expressions.append(beta[0, : min(config.window, count - start)])
                sigmas.append(sigma[0].expand(min(config.window, count - start), -1))
            beta_hat, sigma_hat = torch.cat(expressions), torch.cat(sigmas)
            source = to_tensor(resize_frames(reference[None], config.image_size)).to(self.device)
            source_coeffs = torch.as_tensor(coeffs[:1], device=self.device)
            driving = torch.as_tensor(coeffs[pose_rows], device=self.device).clone()
            for part in (ID, TEX, GAMMA):  # the source's identity (shape, albedo, lighting)
                driving[:, part] = source_coeffs[:, part]
            driving[:, EXP] = beta_hat
            frames = []
            for start in range(0, count, CHUNK_FRAMES):
                chunk = slice(start, min(count, start + CHUNK_FRAMES))
                size = len(range(count)[chunk])
                chunk_align = torch.as_tensor(align[pose_rows[chunk]])
                if self.faces is not None:
                    geometry = self.faces.frame(driving[chunk], chunk_align.to(self.device), config.image_size)
                else:
                    geometry = sketch_batch(self.tdmm, driving[chunk], chunk_align, int(align[0, 0]),
                                            config.image_size).to(self.device)
                style = HEF.style_vector(source_coeffs.expand(size, -1), driving[chunk], sigma_hat[chunk])
                image, _ = self.hef(source.expand(size, -1, -1, -1), geometry, style, noise=False)
                pixels = ((image.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
                frames.extend(cv2.resize(frame, (width, height), interpolation=cv2.INTER_CUBIC) for frame in pixels)
        return np.stack(frames)
