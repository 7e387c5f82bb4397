"""Run a recipe: process sources into the per-clip cache, then assemble the dataset.

:func:`prepare` is what ``tfbench prepare`` calls. Without shard flags it processes every
source that is not cached yet (``num_proc`` worker processes) and then builds
``<out>/dataset`` (``DatasetDict.save_to_disk``), ``meta.json`` and ``failures.jsonl``.
With ``num_shards``/``shard_index`` it only fills the cache for its share of the sources
(``shard_of(source_id) == shard_index``) and builds nothing; a final run without shard
flags finds every shard's cached clips, processes whatever is still missing and builds the
dataset, which is then identical to a single run's (docs/datasets/scaling.md).

Dataset-wide annotations are computed while building, in streaming passes over the cache
(only one clip's arrays in memory at a time): the offline 3DMM model and AU normaliser need
statistics over all clips (the expression basis over the train split only).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from tfbench.errors import InputError, TfbenchError
from tfbench.recipes.hub import WRITER_BATCH_SIZE, media_cell, storage_features, with_media_features, write_card
from tfbench.fsutil import (
    OutputLock, atomic_write, remove_stale_temps, storage_errors, write_json_atomic, write_text_atomic,
)
from tfbench.recipes.base import ClipParams, Recipe, RecipeOptions, Source
from tfbench.recipes.clip_cache import finished_marker, load_clip, remove_tree, shard_of
from tfbench.recipes.process import process_source

LANDMARK_BACKENDS = ("dlib", "fan")


@dataclass(frozen=True)
class BuildParams:
    """Choices that change the dataset but not the per-clip cache."""

    tdmm: str = "offline"
    au: str = "offline"
    text_variants: int = 5
    text_seed: int = 0


def features(num_aus: int = 10):
    """The explicit schema of every prepared dataset (docs/datasets/schema.md); ``num_aus`` =
    AU columns of the AU backend (offline 10, network 12)."""
    import datasets

    f32 = datasets.Value("float32")
    return datasets.Features({
        "clip_id": datasets.Value("string"),
        "speaker": datasets.Value("string"),
        "gender": datasets.Value("string"),
        "emotion": datasets.Value("string"),
        "level": datasets.Value("int32"),
        "view": datasets.Value("string"),
        "split": datasets.Value("string"),
        "transcript": datasets.Value("string"),
        "source_video": datasets.Value("string"),
        "source_audio": datasets.Value("string"),
        "source_size": datasets.Value("int64"),
        "source_sha256": datasets.Value("string"),
        "segment_start_s": datasets.Value("float64"),
        "segment_end_s": datasets.Value("float64"),
        "crop_box": datasets.Sequence(f32, length=4),
        "video": datasets.Video(),  # mp4 bytes inside the dataset (recipes/hub.py)
        "clip_sha256": datasets.Value("string"),
        "audio": datasets.Audio(sampling_rate=16000),  # wav bytes inside the dataset
        "audio_sha256": datasets.Value("string"),
        "audio_num_samples": datasets.Value("int64"),
        "sample_rate": datasets.Value("int32"),
        "fps": datasets.Value("float32"),
        "num_frames": datasets.Value("int32"),
        "width": datasets.Value("int32"),
        "height": datasets.Value("int32"),
        "boxes": datasets.Array2D(shape=(None, 4), dtype="float32"),
        "landmarks": datasets.Array3D(shape=(None, 68, 2), dtype="float32"),
        "log_mel": datasets.Array2D(shape=(None, 80), dtype="float32"),
        "coeffs_3dmm": datasets.Array2D(shape=(None, 257), dtype="float32"),
        "coeffs_3dmm_align": datasets.Array2D(shape=(None, 5), dtype="float32"),
        "au": datasets.Array2D(shape=(None, num_aus), dtype="float32"),
        "au_mean": datasets.Sequence(f32, length=num_aus),
        "text": datasets.Sequence(datasets.Value("string")),
        "phonemes": datasets.Sequence(datasets.Value("string")),
        "content_sha256": datasets.Value("string"),
    })


def check_backends(landmarks: str, build: BuildParams) -> dict[str, dict]:
    """Fail before any work when a backend cannot run; return each backend's record for meta.json."""
    from tfbench.annotate import au, tdmm
    from tfbench.weights import weights_record

    if landmarks not in LANDMARK_BACKENDS:
        raise InputError(f"--landmarks must be one of {', '.join(LANDMARK_BACKENDS)}, got {landmarks!r}")
    if build.tdmm not in tdmm.BACKENDS:
        raise InputError(f"--tdmm must be one of {', '.join(tdmm.BACKENDS)}, got {build.tdmm!r}")
    if build.au not in au.BACKENDS:
        raise InputError(f"--au must be one of {', '.join(au.BACKENDS)}, got {build.au!r}")
    if build.tdmm == "deep3d":
        from tfbench.annotate.deep3d import load_model

        load_model()  # missing or wrong files fail here, before any work
    if build.au == "network":
        au.require_network_backend()  # missing or wrong weights fail here, before any work
    landmark_weights = "dlib_landmarks68" if landmarks == "dlib" else "fan2d"
    records = {
        "face_detector": {"name": "dlib-hog", "weights": None, "dlib_version": _dlib_version()},
        "landmarks": {"name": landmarks, "weights": weights_record(landmark_weights).to_dict()},
        "tdmm": {"name": build.tdmm, "weights": None, "representation": "tfbench landmark model, not BFM"}
        if build.tdmm == "offline" else
        {"name": "deep3d", "representation": "Deep3DFaceRecon_pytorch (BFM 2009)",
         "weights": weights_record("deep3d_recon").to_dict(), "lm3d": weights_record("deep3d_lm3d").to_dict()},
        "au": {"name": "offline", "weights": None, "representation": "landmark geometry, per-speaker normalised"}
        if build.au == "offline" else
        {"name": "network", "weights": weights_record("libreface_au").to_dict(),
         "representation": "LibreFace AU-intensity ResNet-18 (DISFA scale 0-5), aligned with the clip's 68 landmarks"},
        "phonemes": {"name": "pocketsphinx-allphone", "weights": _pocketsphinx_record()},
        "text": {"name": "ta-mead-templates", "au_table": au.backend_au_table(build.au),
                 "tables": _text_tables(au.backend_au_table(build.au))},
    }
    return records


def _dlib_version() -> str:
    import dlib

    return str(dlib.__version__)


def _pocketsphinx_record() -> dict:
    import pocketsphinx

    from tfbench.weights import cached_sha256

    model = Path(pocketsphinx.get_model_path()) / "en-us"
    return {"package": "pocketsphinx", "version": getattr(pocketsphinx, "__version__", "5"),
            "phone_lm_sha256": cached_sha256(model / "en-us-phone.lm.bin")}


def _text_tables(au_table: str) -> dict:
    from tfbench.annotate.text import _data_file
    from tfbench.fsutil import sha256_file

    return {name: sha256_file(_data_file(name)) for name in (au_table, "emotion_words.csv")}


# ------------------------------------------------------------------ processing


def _process_many(sources: list[Source], out: Path, params: ClipParams, raw_dir: Path, num_proc: int,
                  progress: Callable[[dict], None] | None) -> list[dict]:
    markers = []
    if num_proc <= 1 or len(sources) <= 1:
        from concurrent.futures import ThreadPoolExecutor

        # the next video's media check (an ffmpeg process) runs while this one is processed
        with ThreadPoolExecutor(1, thread_name_prefix="tfbench-check") as ahead:
            checked = None
            for k, source in enumerate(sources):
                if checked is not None:
                    checked.result()  # done (memoised) before this source reads its video
                checked = ahead.submit(_check_ahead, sources[k + 1].video) if k + 1 < len(sources) else None
                marker = process_source(source, out, params, raw_dir)
                markers.append(marker)
                if progress:
                    progress(marker)
        return markers
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with context.Pool(num_proc, maxtasksperchild=50) as pool:
        jobs = [(source, out, params, raw_dir) for source in sources]
        for marker in pool.imap(_process_star, jobs):
            markers.append(marker)
            if progress:
                progress(marker)
    return markers


def _check_ahead(video: Path) -> None:
    """The media check of a video read later (:func:`tfbench.io.video.check_video`). Its result
    is memoised for that read; errors are left to the read, which raises them itself."""
    from tfbench.io.video import check_video

    try:
        check_video(video)
    except Exception:  # noqa: BLE001 - the read repeats or replays the check and reports it
        pass


def _process_star(job: tuple) -> dict:
    return process_source(*job)


def prepare(
    recipe: Recipe,
    raw_dir: Path | None,
    out: Path,
    *,
    options: RecipeOptions = RecipeOptions(),
    size: int = 256,
    landmarks: str = "dlib",
    build: BuildParams = BuildParams(),
    num_proc: int = 1,
    limit: int | None = None,
    num_shards: int = 1,
    shard_index: int = 0,
    progress: Callable[[dict], None] | None = None,
    notify: Callable[[str], None] | None = None,
) -> dict:
    """Prepare ``recipe`` from ``raw_dir`` into ``out``; returns a summary dict
    (``built``, ``clips``, ``failures``, ``processed``, ``reused``, ``timings``).

    The run owns ``out`` (:class:`~tfbench.fsutil.OutputLock`; shard runs share it with each
    other only). ``notify(line)`` hears about scratch removed and corrupt cache entries
    recomputed. Storage errors raise :class:`~tfbench.fsutil.StorageError` (docs/reliability.md)."""
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise InputError(f"--shard-index must be in 0..{num_shards - 1}, got {shard_index}")
    if size < 16 or size % 2:
        raise InputError(f"--size must be an even number of pixels >= 16, got {size}")
    raw_dir = Path(raw_dir) if raw_dir is not None else recipe.default_raw_dir()
    if raw_dir is None:
        raise InputError(f"tfbench prepare {recipe.name} needs --raw-dir pointing at the raw dataset")
    backends = check_backends(landmarks, build)
    params = ClipParams(recipe=recipe.name, recipe_version=recipe.version, size=size, landmarks=landmarks,
                        landmarks_weights_sha256=backends["landmarks"]["weights"]["sha256"], tdmm=build.tdmm,
                        tdmm_weights_sha256=(backends["tdmm"]["weights"] or {}).get("sha256", ""),
                        au=build.au, au_weights_sha256=(backends["au"]["weights"] or {}).get("sha256", ""),
                        max_clip_seconds=recipe.max_clip_seconds)
    sources = sorted(recipe.sources(Path(raw_dir), options), key=lambda s: s.source_id)
    if not sources:
        raise InputError(f"no {recipe.name} videos found under {raw_dir}; see docs/datasets/{recipe.name}.md for the layout")
    if limit is not None:
        sources = sources[:limit]
    out = Path(out)
    notify = notify or (lambda line: print(line, file=sys.stderr))
    with OutputLock(out, shard=(shard_index, num_shards) if num_shards > 1 else None), storage_errors(out):
        if num_shards == 1:  # this run owns the whole folder: scratch of killed runs goes
            _remove_scratch(out, notify)
        return _prepare_locked(recipe, out, sources, params, build, options, backends, Path(raw_dir), num_proc,
                               num_shards, shard_index, progress, notify)


def _remove_scratch(out: Path, notify: Callable[[str], None]) -> None:
    """Remove what killed runs left in ``out``: build scratch, a half-saved dataset, temporary files."""
    left = sorted(out.glob("build-*")) + [p for p in (out / "dataset.tmp", out / "dataset.old") if p.exists()]
    for folder in left:
        remove_tree(folder)
    temps = remove_stale_temps(out)
    if left or temps:
        notify(f"removed {len(left) + len(temps)} scratch file(s)/folder(s) left by an interrupted run in {out}")


def _prepare_locked(recipe: Recipe, out: Path, sources: list[Source], params: ClipParams, build: BuildParams,
                    options: RecipeOptions, backends: dict, raw_dir: Path, num_proc: int, num_shards: int,
                    shard_index: int, progress: Callable[[dict], None] | None, notify: Callable[[str], None]) -> dict:
    mine = [s for s in sources if num_shards == 1 or shard_of(s.source_id, num_shards) == shard_index]
    markers: dict[str, dict] = {}
    pending = []
    for source in mine:
        marker = finished_marker(out, source, params, notify)
        if marker is None:
            pending.append(source)
        else:
            markers[source.source_id] = marker
    reused = len(markers)
    for marker in _process_many(pending, out, params, raw_dir, num_proc, progress):
        markers[marker["source_id"]] = marker
    summary = {"processed": len(pending), "reused": reused, "sources": len(mine), "built": False}
    summary["timings"] = _sum_timings(markers[s.source_id]["timings"] for s in mine)
    summary["failures"] = [f for s in mine for f in markers[s.source_id]["failures"]]
    summary["clips"] = sum(len(markers[s.source_id]["clips"]) for s in mine)
    if num_shards > 1:
        write_json_atomic(out / "cache" / "shards" / f"{shard_index:05d}-of-{num_shards:05d}.json",
                          {"sources": [s.source_id for s in mine], "params": params.digest()})
        return summary
    meta = build_dataset(recipe, out, sources, markers, params, build, options, backends, raw_dir)
    summary.update(built=True, fingerprint=meta["fingerprint"], split_sizes=meta["split_sizes"])
    summary["timings"] = {**summary["timings"], **meta["build_timings"]}
    return summary


def _sum_timings(items) -> dict[str, float]:
    total: dict[str, float] = {}
    for timings in items:
        for stage, seconds in timings.items():
            total[stage] = total.get(stage, 0.0) + seconds
    return total


# ------------------------------------------------------------------ building


def _neutral(info: dict) -> bool:
    return info.get("emotion") == "neutral"


def _fit_models(out: Path, clips: list[dict]):
    """Streaming passes over the cached landmarks: offline 3DMM model + AU normaliser.

    The 3DMM bases are learned from the train split (from every clip when it is empty)."""
    from tfbench.annotate.au import SpeakerAuNormaliser
    from tfbench.annotate.tdmm import OfflineTdmmFitter

    basis_clips = [c for c in clips if c["split"] == "train"] or clips
    fitter = OfflineTdmmFitter(train_speakers={c["speaker"] for c in basis_clips})
    normaliser = SpeakerAuNormaliser()
    for clip in clips:
        _info, arrays = load_clip(out, clip["clip_id"], keys=("landmarks",))
        fitter.add_identity(clip["speaker"], arrays["landmarks"], _neutral(clip))
        normaliser.add(clip["speaker"], arrays["landmarks"], _neutral(clip))
    fitter.identity_model()
    for clip in basis_clips:
        fitter.add_expression(clip["speaker"], load_clip(out, clip["clip_id"], keys=("landmarks",))[1]["landmarks"])
    return fitter.finish(), normaliser


def _row(out: Path, clip: dict, model, normaliser, build: BuildParams) -> dict:
    from tfbench.annotate.au import backend_au_names, backend_au_table
    from tfbench.annotate.text import _data_file, describe

    info, arrays = load_clip(out, clip["clip_id"])
    landmarks = arrays["landmarks"]
    if "coeffs_3dmm" in arrays:  # deep3d: regressed per frame while processing the clip
        coeffs, align = arrays["coeffs_3dmm"], arrays["coeffs_3dmm_align"]
    else:
        coeffs, align = model.coefficients(landmarks, info["speaker"], info["width"], info["height"])
    if build.au == "network":  # regressed per frame while processing the clip
        intensities = arrays["au_network"]
    else:
        intensities = normaliser.intensities(info["speaker"], landmarks)
    au_mean = intensities.mean(axis=0)
    gender = info.get("gender") or None
    text = describe(info["clip_id"], info["emotion"], int(info["level"]),
                    dict(zip(backend_au_names(build.au), au_mean.tolist())), gender=gender,
                    variants=build.text_variants, seed=build.text_seed, au_table=str(_data_file(backend_au_table(build.au))))
    row = {key: info[key] for key in (
        "clip_id", "speaker", "gender", "emotion", "level", "view", "transcript", "source_video",
        "source_audio", "source_size", "source_sha256", "segment_start_s", "segment_end_s", "video",
        "clip_sha256", "audio", "audio_sha256", "audio_num_samples", "num_frames", "width", "height",
        "content_sha256")}
    row.update(
        split=clip["split"], sample_rate=16000, fps=25.0, crop_box=arrays["crop_box"], boxes=arrays["boxes"], landmarks=landmarks,
        log_mel=arrays["log_mel"], coeffs_3dmm=coeffs, coeffs_3dmm_align=align, au=intensities,
        au_mean=au_mean.astype(np.float32), text=text, phonemes=[str(p) for p in arrays["phonemes"]],
        video=media_cell(out, info["video"]), audio=media_cell(out, info["audio"]),
    )
    return row


def _generate(out: str, clips_json: str, model_path: str, normaliser_path: str, build_json: str, fingerprint: str):
    """Rows of one split (a module-level generator so ``datasets`` can hash its arguments)."""
    import pickle

    from tfbench.annotate.tdmm import OfflineTdmm

    model = OfflineTdmm.load(Path(model_path))
    with open(normaliser_path, "rb") as handle:
        normaliser = pickle.load(handle)
    build = BuildParams(**json.loads(build_json))
    for clip in json.loads(clips_json):
        yield _row(Path(out), clip, model, normaliser, build)


def fingerprint_of(clips: list[dict], parameters: dict) -> str:
    """sha256 of the parameters and the sorted (clip id, per-clip content hash) pairs."""
    digest = hashlib.sha256(json.dumps(parameters, sort_keys=True).encode())
    for clip in sorted(clips, key=lambda c: c["clip_id"]):
        digest.update(f"{clip['clip_id']}:{clip['content_sha256']}:{clip['split']}\n".encode())
    return digest.hexdigest()


def build_dataset(recipe: Recipe, out: Path, sources: list[Source], markers: dict[str, dict], params: ClipParams,
                  build: BuildParams, options: RecipeOptions, backends: dict, raw_dir: Path) -> dict:
    """Assemble ``<out>/dataset`` from the cache of ``sources``; write meta.json and failures.jsonl."""
    import pickle

    import datasets

    from tfbench.annotate.au import backend_au_names

    au_names = backend_au_names(build.au)
    timings: dict[str, float] = {}
    tick = time.perf_counter()
    clips = []
    failures = []
    for source in sources:
        marker = markers[source.source_id]
        failures.extend(marker["failures"])
        for clip_id in marker["clips"]:
            info, _none = load_clip(out, clip_id, keys=())
            info["split"] = source.labels.get("split", "train")  # not cached: splits change without reprocessing
            clips.append({key: info[key] for key in ("clip_id", "speaker", "emotion", "split", "content_sha256")})
    clips.sort(key=lambda c: c["clip_id"])
    unknown = sorted({c["split"] for c in clips} - set(recipe.splits))
    if unknown:
        raise TfbenchError(f"recipe {recipe.name} produced splits {unknown} outside {recipe.splits}")
    parameters = {"clip": asdict(params), "build": asdict(build), "options": recipe.resolved_options(options)}
    fingerprint = fingerprint_of(clips, parameters)
    write_text_atomic(out / "failures.jsonl",
                      "".join(json.dumps(f, sort_keys=True) + "\n" for f in sorted(failures, key=lambda f: f["clip_id"])))
    if not clips:
        raise TfbenchError(f"every clip failed; see the reasons in {out / 'failures.jsonl'}")
    model, normaliser = _fit_models(out, clips)
    timings["fit_3dmm_au"] = time.perf_counter() - tick
    tick = time.perf_counter()
    model_path = out / "tdmm_offline.npz"
    def write_model(tmp: Path) -> None:
        with open(tmp, "wb") as handle:  # a handle, so numpy does not append ".npz" to the name
            model.save(handle)

    atomic_write(model_path, write_model)
    scratch = Path(tempfile.mkdtemp(prefix="build-", dir=out))
    bars_were_enabled = not datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()  # our own progress lines are enough
    try:
        normaliser_path = scratch / "au_normaliser.pkl"
        normaliser_path.write_bytes(pickle.dumps(normaliser))
        schema = features(len(au_names))
        stored = storage_features(schema)  # media as {bytes, path} structs, cast to Video/Audio below
        splits = {}
        for split in recipe.splits:
            members = [c for c in clips if c["split"] == split]
            if members:
                splits[split] = datasets.Dataset.from_generator(
                    _generate, features=stored, cache_dir=str(scratch / "hf"), writer_batch_size=WRITER_BATCH_SIZE, gen_kwargs={
                        "out": str(out), "clips_json": json.dumps(members), "model_path": str(model_path),
                        "normaliser_path": str(normaliser_path), "build_json": json.dumps(asdict(build)),
                        "fingerprint": fingerprint,
                    })
            else:
                splits[split] = datasets.Dataset.from_dict({name: [] for name in schema}, features=stored)
            splits[split] = with_media_features(splits[split], schema)
        partial = out / "dataset.tmp"
        remove_tree(partial)
        # one shard per empty split: datasets cannot reload a split saved with zero shards
        shards = {split: 1 for split, data in splits.items() if len(data) == 0}
        try:
            datasets.DatasetDict(splits).save_to_disk(str(partial), num_shards=shards or None)
        except BaseException:
            remove_tree(partial)  # nothing half-written stays (a SIGKILL's is removed by the next run)
            raise
        del splits
        remove_tree(out / "dataset.old")
        if (out / "dataset").exists():
            os.replace(out / "dataset", out / "dataset.old")
        os.replace(partial, out / "dataset")
        remove_tree(out / "dataset.old")
    finally:
        remove_tree(scratch)
        if bars_were_enabled:
            datasets.enable_progress_bars()
    timings["build"] = time.perf_counter() - tick
    from tfbench import __version__

    meta = {
        "recipe": recipe.name,
        "recipe_version": recipe.version,
        "tfbench_version": __version__,
        "raw_dir": str(raw_dir),
        "backends": backends,
        "parameters": parameters,
        "fingerprint": fingerprint,
        "splits": list(recipe.splits),
        "split_sizes": {split: sum(c["split"] == split for c in clips) for split in recipe.splits},
        "num_failures": len(failures),
        "au_names": list(au_names),
        "tdmm_model": {"path": "tdmm_offline.npz", "k_id": int(model.id_basis.shape[1]),
                       "k_exp": int(model.exp_basis.shape[1])},
    }
    write_json_atomic(out / "meta.json", meta)
    write_card(out, recipe, meta, failures)
    return {**meta, "build_timings": timings}
