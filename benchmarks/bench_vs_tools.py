"""tfbench evaluate against the tools researchers run today, each as they run it, plus the floor.

Run: ``python -m benchmarks.bench_vs_tools [--clips 12] [--sizes 256,512] [--rounds 1] [--quick] [--set offline|full] [--runs tools,tfbench,one-core,floor]``
(``make benchmark``). ``--quick``: 4 clips at 256² only, one round (about seven minutes idle: the tools 130 s, tfbench 75 s, pinned 76 s, 2 workers 43 s, floor 75 s).

Per size, rounds interleave (tools, tfbench 1 worker, tfbench 1 core, tfbench N workers,
floor), each in a fresh subprocess so its peak RSS (its ``VmHWM`` plus the largest child's
``ru_maxrss``: ffmpeg, workers) is its own, with ``os.getloadavg()`` recorded before each
run and the CPU seconds of the subprocess and everything it waited for (workers, ffmpeg)
after it; CPU / wall is the number of cores the run kept busy. "1 core" runs (tfbench's
and the floor) are pinned to one CPU by their affinity mask, as a one-CPU Slurm allocation
is; "1 worker" is one tfbench process on the whole machine, whose decoder threads
(decord, ffmpeg) still use the other cores. The machine may be shared: the load column
says how much to trust a row.

- **tools** (the offline set; what a paper's evaluation script does): ``ffmpeg`` writes
  every video to a PNG folder once, then each tool reads the PNGs: scikit-image
  ``peak_signal_noise_ratio`` / ``structural_similarity(channel_axis=-1)`` /
  ``mean_squared_error`` in a per-frame loop; the PyPI ``cpbd`` package's ``compute`` on
  the PIL grey image; ATVGnet's LMD (``evaluation_matrix.py``: dlib HOG upsample 1 + 68
  points on the cv2 grey frame) and EAT's M-LMD/F-LMD (``test_lmd.py``: upsample 0 on
  ``COLOR_BGR2GRAY`` of RGB); face_recognition-style CSIM (dlib HOG upsample 1 on RGB,
  5 points, ``compute_face_descriptor``, cosine); ``fer``'s ``FER().detect_emotions``.
  The weights are the files tfbench uses (``tfbench.weights.weights_path``).
- **tfbench**: ``run_evaluation`` with the same metrics, ``--workers 1`` and ``--workers N``.
- **floor**: decode every video once plus each per-frame algorithm or network alone on one
  core (dlib grey detection for LMD's two protocols, RGB detection for CSIM, 68 points,
  embeddings, fer's CNN batched, SSIM, CPBD, PSNR); the target is floor / cores.

``--set full`` adds FID, LPIPS (AlexNet), LSE and FVD to every side, with the same random
weights of the exact architectures on both (real ones cannot be downloaded here): the tools
are ``python -m pytorch_fid`` on flat PNG folders, ``lpips`` per frame pair, syncnet-python's
``SyncNetInstance.evaluate`` per clip (Wav2Lip's ``calculate_scores_LRS.py``) and cd-fvd on
every 16-frame window; the floor adds each network's batched forward passes. See
``benchmarks/full_set_tools.py``. Prints markdown tables for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
OFFLINE = ["psnr", "ssim", "mse", "cpbd", "lmd@dlib", "csim@dlib", "efd@fer"]
PER_CLIP = ("ssim", "mse", "cpbd", "lpips@alex", "lse_c", "lse_d")  # values both sides report per clip
AGGREGATE = ("fid", "fvd", "lpips@alex", "lse_c", "lse_d")  # full-set aggregates compared


def peak_rss_mib() -> float:
    """This process's peak RSS (``VmHWM``) and its largest waited-for child's, MiB."""
    own = 0.0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            own = int(line.split()[1]) / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return round(max(own, children) if own else children, 1)


# ---------------------------------------------------------------------- the tools users run


def _png_folder(video: Path, folder: Path) -> list[Path]:
    from tfbench.io._ffmpeg import ffmpeg_exe

    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-i", str(video), str(folder / "%05d.png")], check=True)
    return sorted(folder.glob("*.png"))


def _pypi_cpbd():
    import scipy.ndimage

    if not hasattr(scipy.ndimage, "imread"):  # the package imports it for its CLI reader only
        scipy.ndimage.imread = None
    import cpbd

    return cpbd


def _fer_class():
    """``fer.FER`` (25.10) with its default TFLite path. fer finds its data files through
    ``pkg_resources.resource_filename``; where setuptools no longer has it, a stand-in gives
    the same path (``importlib.resources``). fer imports TensorFlow only for
    ``tf.lite.Interpreter`` there; without TensorFlow that name is LiteRT's interpreter (the
    same runtime, the same quantised model file)."""
    try:
        import pkg_resources  # noqa: F401  (gone from setuptools >= 81)
    except ImportError:
        import importlib.resources
        import types

        stand_in = types.ModuleType("pkg_resources")
        stand_in.resource_filename = lambda package, name: str(importlib.resources.files(package) / name)
        sys.modules["pkg_resources"] = stand_in
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        import importlib.machinery
        import types

        from ai_edge_litert.interpreter import Interpreter

        names = ("tensorflow", "tensorflow.lite", "tensorflow.keras", "tensorflow.keras.models")
        modules = {name: types.ModuleType(name) for name in names}
        for name, module in modules.items():  # a spec without a file: torch._dynamo's find_spec("tensorflow") skips it
            module.__spec__ = importlib.machinery.ModuleSpec(name, None)
        modules["tensorflow"].lite = modules["tensorflow.lite"]
        modules["tensorflow.lite"].Interpreter = Interpreter
        modules["tensorflow"].keras = modules["tensorflow.keras"]
        modules["tensorflow.keras"].models = modules["tensorflow.keras.models"]
        modules["tensorflow.keras.models"].load_model = None
        sys.modules.update(modules)
    from fer.fer import FER

    return FER


def run_tools(pairs: list[tuple[Path, Path]], scratch: Path, full: bool, lse_folder: Path) -> dict:
    """Each tool as users run it over PNG folders; seconds per tool, per-clip values, the full set's aggregates."""
    import cv2
    import dlib
    from PIL import Image
    from skimage.metrics import mean_squared_error, peak_signal_noise_ratio, structural_similarity

    from tfbench.weights import weights_path

    seconds: dict[str, float] = {}
    values: dict[str, dict[str, float]] = {}

    def timed(name, function):
        started = time.perf_counter()
        result = function()
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - started
        return result

    def rgb(path):
        return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)

    folders = timed("decode (ffmpeg -> PNG)", lambda: [(_png_folder(p, scratch / f"{i}p"), _png_folder(g, scratch / f"{i}g"))
                                                       for i, (p, g) in enumerate(pairs)])
    detector = timed("load models", dlib.get_frontal_face_detector)
    predictor68 = timed("load models", lambda: dlib.shape_predictor(str(weights_path("dlib_landmarks68"))))
    predictor5 = timed("load models", lambda: dlib.shape_predictor(str(weights_path("dlib_landmarks5"))))
    encoder = timed("load models", lambda: dlib.face_recognition_model_v1(str(weights_path("dlib_face_embedding"))))
    cpbd = timed("load models", _pypi_cpbd)
    emotion = timed("load models", lambda: _fer_class()())

    for index, (pred_pngs, gt_pngs) in enumerate(folders):
        frames = min(len(pred_pngs), len(gt_pngs))
        row = values.setdefault(f"clip{index:02d}", {})

        def pixel():
            psnr, ssim, mse = [], [], []
            for p, g in zip(pred_pngs[:frames], gt_pngs[:frames]):
                a, b = rgb(p), rgb(g)
                psnr.append(peak_signal_noise_ratio(b, a))
                ssim.append(structural_similarity(b, a, channel_axis=-1))
                mse.append(mean_squared_error(b, a))
            row.update(ssim=float(np.mean(ssim)), mse=float(np.mean(mse)))

        timed("psnr+ssim+mse (scikit-image loop)", pixel)
        row["cpbd"] = timed("cpbd (PyPI package)", lambda: float(np.mean(
            [cpbd.compute(np.asarray(Image.open(p).convert("L"), dtype=np.float64)) for p in pred_pngs])))

        def atvgnet_lmd():  # evaluation_matrix.py: grey, upsample 1, 68 points
            for path in pred_pngs[:frames] + gt_pngs[:frames]:
                grey = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2GRAY)
                rects = detector(grey, 1)
                if rects:
                    predictor68(grey, rects[0])

        def eat_lmd():  # test_lmd.py: COLOR_BGR2GRAY of the RGB frame, upsample 0
            for path in pred_pngs[:frames] + gt_pngs[:frames]:
                grey = cv2.cvtColor(rgb(path), cv2.COLOR_BGR2GRAY)
                rects = detector(grey, 0)
                if rects:
                    predictor68(grey, rects[0])

        def csim():  # face_recognition: face_locations (HOG, upsample 1), 5 points, encodings
            for path in pred_pngs[:frames] + gt_pngs[:1]:  # every generated frame against gt frame 0 (tfbench's protocol)
                image = rgb(path)
                rects = detector(image, 1)
                if rects:
                    np.array(encoder.compute_face_descriptor(image, predictor5(image, rects[0]), 1))

        timed("lmd (ATVGnet script)", atvgnet_lmd)
        timed("m_lmd/f_lmd (EAT script)", eat_lmd)
        timed("csim (face_recognition-style)", csim)
        timed("efd (fer detect_emotions)", lambda: [emotion.detect_emotions(rgb(p)) for p in pred_pngs[:frames] + gt_pngs[:frames]])
    aggregate = {}
    if full:
        from benchmarks.full_set_tools import run_full_tools

        aggregate = run_full_tools(pairs, folders, scratch, lse_folder, timed, values)
    shutil.rmtree(scratch, ignore_errors=True)
    return {"seconds": seconds, "values": values, "aggregate": aggregate}


# ---------------------------------------------------------------------- tfbench and the floor


def run_tfbench(gt: Path, pred: Path, out: Path, workers: int, metrics: list[str]) -> dict:
    from tfbench.evaluate.run import run_evaluation

    shutil.rmtree(out, ignore_errors=True)
    run_evaluation(out, pred=pred, gt=gt, metrics=metrics, workers=workers, progress=False, echo=lambda line: None)
    seconds: dict[str, float] = {}
    for path in (out / "clips").rglob("*.json"):
        entry = json.loads(path.read_text())
        if "metric" in entry:  # score entries (the folder also holds the report's preview)
            seconds[entry["metric"]] = seconds.get(entry["metric"], 0.0) + entry.get("seconds", 0.0)
    import csv

    values = {row["clip_id"]: {k: float(row[k]) for k in PER_CLIP if row.get(k)}
              for row in csv.DictReader(open(out / "per_clip.csv"))}
    record = json.loads((out / "result.json").read_text())
    aggregate = {k: record["metrics"][k]["value"] for k in AGGREGATE if k in record["metrics"]}
    failures = [f"{f.get('clip_id')} {f.get('metric')}: {f.get('message')}" for f in record.get("failures", [])]
    return {"seconds": seconds, "values": values, "aggregate": aggregate, "failures": failures}


def run_floor(pairs: list[tuple[Path, Path]], full: bool) -> dict:
    """Each piece of work the references' protocols require, alone, on one core."""
    import cv2

    from tfbench.evaluate.metrics.cpbd import per_frame_cpbd
    from tfbench.evaluate.metrics.ssim import per_frame_ssim
    from tfbench.face import emotion
    from tfbench.io.video import read_video

    seconds: dict[str, float] = {}

    def timed(name, function):
        started = time.perf_counter()
        result = function()
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - started
        return result

    import dlib

    from tfbench.weights import weights_path

    detector = dlib.get_frontal_face_detector()
    predictor68 = dlib.shape_predictor(str(weights_path("dlib_landmarks68")))
    predictor5 = dlib.shape_predictor(str(weights_path("dlib_landmarks5")))
    encoder = dlib.face_recognition_model_v1(str(weights_path("dlib_face_embedding")))
    fer_crops, faces = [], []
    if full:
        from benchmarks.full_set_tools import FullFloor
        from tfbench.io.audio import read_audio

        networks = FullFloor()
    for pred_path, gt_path in pairs:
        pred = timed("decode once", lambda: read_video(pred_path).frames)
        gt = timed("decode once", lambda: read_video(gt_path).frames)
        n = min(len(pred), len(gt))
        pred, gt = pred[:n], gt[:n]
        if full:
            networks.clip(pred, gt, timed("decode once", lambda: read_audio(gt_path)), timed)
        timed("ssim (array code)", lambda: per_frame_ssim(pred, gt))
        timed("psnr+mse", lambda: ((pred.astype(np.float64) - gt) ** 2).mean(axis=(1, 2, 3)))
        timed("cpbd (array code)", lambda: per_frame_cpbd(pred))
        for index, frame in enumerate(np.concatenate([pred, gt])):
            identity = index <= n  # CSIM embeds the generated frames and the reference (gt frame 0) only
            grey = timed("grey conversions", lambda: cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))
            rects = timed("dlib HOG grey, upsample 1 (ATVGnet LMD)", lambda: detector(grey, 1))
            timed("dlib HOG grey, upsample 0 (EAT LMD)", lambda: detector(grey, 0))
            rgb_rects = timed("dlib HOG RGB, upsample 1 (CSIM)", lambda: detector(frame, 1))
            if rects:
                timed("68 points", lambda: predictor68(grey, rects[0]))
            if rgb_rects:
                box = rgb_rects[0]
                if identity:
                    shapes = dlib.full_object_detections()
                    shapes.append(timed("5 points", lambda: predictor5(frame, box)))
                    faces.append((np.ascontiguousarray(frame), shapes))
                crop = emotion.fer_crop(frame, np.array([box.left(), box.top(), box.right(), box.bottom()]))
                if crop is not None:
                    fer_crops.append(crop)
        for start in range(0, len(faces), 16):  # dlib's batched call, 16 faces at a time
            chunk = faces[start:start + 16]
            timed("dlib embedding (batched)", lambda: encoder.compute_face_descriptor([f for f, _ in chunk], [d for _, d in chunk], 0, 0.25))
        faces.clear()
    if fer_crops:
        batch = np.stack(fer_crops)
        timed("fer CNN (batched)", lambda: emotion.fer_run(batch))
    if full:
        networks.finish(timed)
    return {"seconds": seconds, "values": {}}


# ---------------------------------------------------------------------- driver


def child(args: argparse.Namespace) -> None:
    gt, pred = args.data / "gt", args.data / "pred"
    pairs = [(pred / p.name, p) for p in sorted(gt.glob("*.mp4"))]
    full = args.set == "full"
    started = time.perf_counter()
    if args.child == "tools":
        result = run_tools(pairs, args.data.parent / f"png-{os.getpid()}", full, args.data / "lse-jpeg")
    elif args.child == "floor":
        result = run_floor(pairs, full)
    elif args.child == "lse-check":
        from benchmarks.full_set_tools import lse_on_tool_pixels

        result = {"seconds": {}, "values": lse_on_tool_pixels(args.data / "lse-jpeg", [gt for _, gt in pairs])}
    else:
        result = run_tfbench(gt, pred, args.data.parent / f"out-{os.getpid()}", args.workers, args.metrics.split(","))
    result.update(wall=time.perf_counter() - started, peak_rss_mib=peak_rss_mib())
    print(json.dumps(result))


def measure(kind: str, data: Path, workers: int, metrics: list[str], weights_env: dict[str, str], full: bool,
            one_core: bool = False) -> dict:
    """Run one side in a fresh subprocess; ``one_core``: pinned to a single CPU (its affinity
    mask, as a one-CPU Slurm allocation gives), so "one core" means one core, not one worker."""
    load = os.getloadavg()[0]
    command = [sys.executable, "-m", "benchmarks.bench_vs_tools", "--child", kind, "--data", str(data),
               "--workers", str(workers), "--metrics", ",".join(metrics), "--set", "full" if full else "offline"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", **weights_env}
    first_cpu = min(os.sched_getaffinity(0))
    pin = (lambda: os.sched_setaffinity(0, {first_cpu})) if one_core else None
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    completed = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env, preexec_fn=pin)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if completed.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{completed.stderr[-3000:]}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)  # the child and everything it waited for
    result.update(load=load, cpu=cpu)
    return result


def largest_difference(tools: dict, ours: dict, keys: tuple[str, ...]) -> str:
    """The largest absolute (and relative) difference of per-clip values ``keys`` between two runs."""
    pairs = [(tools["values"][c][k], ours["values"][c][k]) for c in ours["values"] for k in keys
             if k in ours["values"][c] and k in tools["values"].get(c, {})]
    if not pairs:
        return "no values to compare"
    a, b = max(pairs, key=lambda p: abs(p[0] - p[1]))
    return f"{abs(a - b):.2e} ({abs(a - b) / max(abs(a), 1e-12):.1e} relative), {len(pairs)} values"


def print_full_parity(tools: dict, ours: dict, on_tool_pixels: dict) -> None:
    """The full set's agreement lines: aggregates, per-clip LPIPS and LSE, and LSE on the tool's own pixels."""
    for failure in ours.get("failures", []):
        print(f"- tfbench failure: {failure}")
    for key in AGGREGATE:
        a, b = tools["aggregate"].get(key), ours["aggregate"].get(key)
        if a is None or b is None:
            print(f"- {key}: tools {a}, tfbench {b}")
        else:
            print(f"- {key}: tools {a:.6g}, tfbench {b:.6g}, |difference| {abs(a - b):.2e} ({abs(a - b) / max(abs(a), 1e-12):.1e} relative)")
    print(f"- largest |tools - tfbench| of the per-clip LPIPS: {largest_difference(tools, ours, ('lpips@alex',))}")
    print(f"- largest |tools - tfbench| of the per-clip LSE-C, LSE-D: {largest_difference(tools, ours, ('lse_c', 'lse_d'))} "
          "(the tool scores ffmpeg's JPEGs, tfbench the decoded frames: docs/metrics/lse.md)")
    print("- largest |tools - tfbench scoring the tool's JPEG pixels and audio| of the per-clip LSE-C, LSE-D: "
          f"{largest_difference(tools, {'values': on_tool_pixels}, ('lse_c', 'lse_d'))}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--sizes", default="256,512")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved repetitions (min wall time is reported)")
    parser.add_argument("--workers", type=int, default=None, help="tfbench's parallel run (default: usable cores)")
    parser.add_argument("--quick", action="store_true", help="4 clips at 256 only, one round")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--set", choices=("offline", "full"), default="offline",
                        help="offline: psnr, ssim, mse, cpbd, lmd@dlib, csim@dlib, efd@fer; full: + fid, lpips@alex, lse, fvd "
                             "(random weights of the exact architectures on both sides)")
    parser.add_argument("--metrics", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--runs", default="tools,tfbench,one-core,floor",
                        help="which sides to run (tools, tfbench = 1 and N workers, one-core = tfbench pinned to one CPU, floor)")
    parser.add_argument("--child", choices=("tools", "tfbench", "floor", "lse-check"), help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)
    from benchmarks.bench_evaluate import build_pairs, sample_videos
    from benchmarks.full_set_tools import FULL, install_weights
    from tfbench.evaluate.workers import usable_cores
    from tfbench.io.video import read_video

    if args.quick:
        args.clips, args.sizes, args.rounds = 4, "256", 1
    cores = usable_cores()
    workers = args.workers or cores
    full = args.set == "full"
    metrics = OFFLINE + (FULL if full else [])
    work = args.work or Path(tempfile.mkdtemp(prefix="tfbench-vs-tools-"))
    weights_env = install_weights(work / "weights") if full else {}
    print(f"{time.strftime('%Y-%m-%d %H:%M')}; {cores} usable cores; metrics {', '.join(metrics)}; "
          f"load average at start {os.getloadavg()[0]:.1f}\n")
    print("| size | clips | frames | run | wall s | CPU s | cores used | frames/s | peak RSS MiB | load | tools / run |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    details = {}
    for size in [int(s) for s in args.sizes.split(",")]:
        data = work / f"pairs{size}"
        jobs = build_pairs(sample_videos(work), args.clips, size, data)
        frames = sum(len(read_video(job.pred).frames) for job in jobs)
        runs: dict[str, list[dict]] = {}
        for _ in range(args.rounds):
            for name, side, kind, count, one_core in (
                    ("tools users run", "tools", "tools", 1, False), ("tfbench, 1 worker", "tfbench", "tfbench", 1, False),
                    ("tfbench, 1 core", "one-core", "tfbench", 1, True),
                    (f"tfbench, {workers} workers", "tfbench", "tfbench", workers, False),
                    ("floor (1 core)", "floor", "floor", 1, True)):
                if side not in args.runs.split(","):
                    continue
                result = measure(kind, data, count, metrics, weights_env, full, one_core)
                runs.setdefault(name, []).append(result)
                print(f"<!-- {size}² {name}: {result['wall']:.1f} s, load {result['load']:.1f} -->", flush=True)
        best = {name: min(results, key=lambda r: r["wall"]) for name, results in runs.items()}
        tools_wall = best["tools users run"]["wall"] if "tools users run" in best else None

        def ratio(wall: float) -> str:
            return f"{tools_wall / wall:.2f}×" if tools_wall else "–"

        for name, result in best.items():
            print(f"| {size}² | {len(jobs)} | {frames} | {name} | {result['wall']:.1f} | {result['cpu']:.1f} | "
                  f"{result['cpu'] / result['wall']:.2f} | {frames / result['wall']:.1f} | "
                  f"{result['peak_rss_mib']:.0f} | {result['load']:.1f} | {ratio(result['wall'])} |", flush=True)
        if "floor (1 core)" in best:
            floor = best["floor (1 core)"]["wall"]
            print(f"| {size}² | | | floor / {cores} cores | {floor / cores:.1f} | | | | | | {ratio(floor / cores)} |")
        parallel = best.get(f"tfbench, {workers} workers")
        for name in ("tfbench, 1 core", "tfbench, 1 worker"):
            if parallel and name in best and workers > 1:
                print(f"\n{workers} workers on {cores} cores against {name}: "
                      f"{best[name]['wall'] / parallel['wall']:.2f}× (issue 17's target: ≥ 1.8× with 2 cores)")
        if full and "tools" in args.runs.split(","):
            best["lse-check"] = measure("lse-check", data, 1, metrics, weights_env, full)
        details[size] = best
    for size, best in details.items():
        print(f"\nPer piece at {size}² (seconds; tfbench: score_clip time summed over clips, shared work counted "
              "for the first metric using it):\n")
        for name, result in best.items():
            if result["seconds"]:
                parts = ", ".join(f"{k} {v:.1f}" for k, v in sorted(result["seconds"].items(), key=lambda kv: -kv[1]))
                print(f"- {name}: {parts}")
        if "tools users run" not in best or "tfbench, 1 worker" not in best:
            continue
        tools, ours = best["tools users run"], best["tfbench, 1 worker"]
        print(f"- largest |tools - tfbench| of the per-clip SSIM, MSE, CPBD: {largest_difference(tools, ours, ('ssim', 'mse', 'cpbd'))}")
        if full:
            print_full_parity(tools, ours, best["lse-check"]["values"])
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
