"""Clip jobs of an evaluation: predictions matched to ground truth by path, or a model run on a prepared dataset.

- ``pred-vs-gt/v1`` (:func:`match_folders`): videos made by any method, matched by relative
  path (extension ignored); audio from the gt file unless an audio folder is given.
- ``self-reconstruction/v1`` (:func:`model_jobs`): a model re-generates each clip of a
  prepared split; generated clips are written losslessly to ``<out>/generated/``.
"""

from __future__ import annotations

from pathlib import Path

from tfbench.errors import InputError
from tfbench.evaluate.cache import _safe_clip_dir
from tfbench.evaluate.jobs import ClipJob, RunInfo

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm")
AUDIO_EXTENSIONS = (".wav", ".m4a", ".mp3", ".flac", ".aac", ".mp4")


def _index(folder: Path, extensions: tuple[str, ...]) -> dict[str, Path]:
    """{relative path without extension: file} of every file under ``folder`` with one of ``extensions``."""
    if not folder.is_dir():
        raise InputError(f"not a folder: {folder}")
    found: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix.lower() in extensions and not path.name.startswith("."):
            key = path.relative_to(folder).with_suffix("").as_posix()
            if key in found:
                raise InputError(f"two files for clip {key!r} in {folder}: {found[key].name} and {path.name}; keep one")
            found[key] = path
    return found


def match_folders(pred: Path, gt: Path, audio: Path | None = None):
    """Clip jobs matching ``pred`` and ``gt`` by relative path, plus the gt clips without a prediction.

    A prediction without a ground truth becomes a failed job; a ground truth without a
    prediction is returned in the second list (listed, not scored).
    """
    preds, gts = _index(pred, VIDEO_EXTENSIONS), _index(gt, VIDEO_EXTENSIONS)
    audios = _index(audio, AUDIO_EXTENSIONS) if audio is not None else {}
    if not preds:
        raise InputError(f"no video ({', '.join(VIDEO_EXTENSIONS)}) under {pred}")
    jobs = []
    for clip_id, pred_path in preds.items():
        gt_path = gts.get(clip_id)
        audio_path = audios.get(clip_id, audio / f"{clip_id}.wav") if audio is not None else None
        error = None if gt_path else f"no ground truth for {pred_path.relative_to(pred)} under {gt}"
        jobs.append(ClipJob(clip_id, pred_path, gt_path, audio=audio_path, error=error))
    gt_only = [clip_id for clip_id in gts if clip_id not in preds]
    return jobs, gt_only


def prepared_gt(gt: Path):
    """The prepared dataset ``gt`` belongs to (its root or its ``clips/`` folder), else None.

    Scoring against a prepared dataset records its name and fingerprint, so such results
    can enter a leaderboard; a plain folder of videos has no fingerprint.
    """
    from tfbench.data import open_prepared

    for root in (gt, gt.parent if gt.name == "clips" else None):
        if root is not None and (root / "meta.json").exists() and (root / "dataset").is_dir():
            return open_prepared(root)
    return None


def restrict_to_split(jobs, gt_only: list[str], prepared, split: str):
    """Keep the jobs and unmatched gt clips of ``split``; a prediction of another split fails."""
    if split not in prepared.splits:
        raise InputError(f"{prepared.root} has no split {split!r} (splits: {', '.join(prepared.splits)})")
    wanted = set(prepared.split(split)["clip_id"])
    for job in jobs:
        if job.error is None and job.clip_id not in wanted:
            job.error = f"clip {job.clip_id!r} is not in the {split!r} split of {prepared.root}"
    return jobs, [clip_id for clip_id in gt_only if clip_id in wanted]


def model_jobs(model_name, checkpoint, dataset, split, limit, out, device, options=None):
    """Jobs, run info and identity of the ``--model`` mode. ``options``: generation options
    (``--set KEY=VALUE``), given to every request and recorded in the run's model name
    (``name[key=value,...]``) and identity, so runs with other options never share scores."""
    from tfbench.data import open_prepared
    from tfbench.evaluate.protocol import SELF_RECONSTRUCTION, self_reconstruction_request
    from tfbench.models import MODELS

    prepared = open_prepared(str(dataset))
    if split not in prepared.splits:
        raise InputError(f"dataset {prepared.name!r} has no split {split!r}; it has {', '.join(prepared.splits)}")
    rows = prepared.split(split)
    count = len(rows) if limit is None else min(limit, len(rows))
    generator = MODELS.get(model_name).from_checkpoint(checkpoint, device=device)
    caveat = generator.check_dataset(prepared, split)  # e.g. a person-specific model on other identities

    def generate_for(index: int):
        def generate(clip):
            request = self_reconstruction_request(rows[index], clip, generator.needs, meta=prepared.meta,
                                                  accepts=generator.accepts, options=options)
            generator.check_request(request)
            return generator.generate(request)

        return generate

    light = rows.select(range(count)).select_columns([c for c in ("clip_id", "video") if c in rows.column_names])
    jobs = []
    for index, row in enumerate(light):
        clip_id = str(row["clip_id"])
        generated = _safe_clip_dir(out / "generated", clip_id)
        pred = generated.with_name(generated.name + ".mp4")
        jobs.append(ClipJob(clip_id, pred, prepared.clip_path(row), generate=generate_for(index)))
    recorded_name = model_name + (f"[{','.join(f'{k}={v}' for k, v in sorted(options.items()))}]" if options else "")
    info = RunInfo(
        model=recorded_name,
        dataset=prepared.name,
        split=split,
        protocol=SELF_RECONSTRUCTION,
        dataset_fingerprint=prepared.fingerprint,
        recipe_version=str(prepared.meta.get("recipe_version")) if prepared.meta.get("recipe_version") is not None else None,
        checkpoint_sha256=generator.checkpoint_sha256,
        model_canonical=bool(generator.canonical) and not caveat,
        model_notes="; ".join(filter(None, [generator.notes, caveat])),
    )
    identity = {
        "protocol": SELF_RECONSTRUCTION,
        "model": recorded_name,
        "checkpoint_sha256": generator.checkpoint_sha256,
        "dataset_fingerprint": prepared.fingerprint,
        "split": split,
    }
    return jobs, info, identity
