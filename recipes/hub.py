"""What makes a prepared dataset self-contained and publishable on the Hugging Face Hub.

* **Media columns.** ``video`` is a ``datasets.Video()`` and ``audio`` a
  ``datasets.Audio(sampling_rate=16000)`` column whose cells hold the file *bytes* (the clip
  mp4 and the 16 kHz wav) and the file name, so ``<out>/dataset`` carries every clip
  inside its Arrow files: ``load_from_disk`` works from any folder and ``push_to_hub``
  uploads the media with the rows. Rows are generated with a plain ``{bytes, path}``
  struct (``datasets``' Audio encoder needs torchcodec even for bytes; tfbench does not)
  and cast to the media features afterwards, an Arrow-level cast that needs nothing.
* **Dataset card.** :func:`write_card` writes ``<out>/dataset/README.md`` (recipe and
  version, options, backends, fingerprint, source hashes, counts per split, failures,
  licence terms and citation of the source dataset); :func:`card_text` also serves the
  Hub export (:meth:`tfbench.data.PreparedDataset.export_for_hub`).

docs/datasets/schema.md explains the choice (and what decoding through ``datasets`` needs).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tfbench.recipes.base import Recipe

MEDIA_COLUMNS = ("video", "audio")
#: Rows per Arrow record batch while building: each row carries its clip's mp4 and wav bytes.
WRITER_BATCH_SIZE = 64
#: Sources listed one by one in the card; beyond that the card gives their count and digest.
MAX_LISTED_SOURCES = 50


def media_features():
    """The media features of the stored dataset, by column."""
    import datasets

    return {"video": datasets.Video(), "audio": datasets.Audio(sampling_rate=16000)}


def storage_features(features):
    """``features`` with each media column as the plain ``{bytes, path}`` struct it is written with."""
    import datasets

    plain = {"bytes": datasets.Value("binary"), "path": datasets.Value("string")}
    return datasets.Features({name: (plain if name in MEDIA_COLUMNS else feature) for name, feature in features.items()})


def with_media_features(dataset, features):
    """Cast the struct media columns of ``dataset`` to the ``Video``/``Audio`` of ``features``."""
    for name in MEDIA_COLUMNS:
        dataset = dataset.cast_column(name, features[name])
    return dataset


def media_cell(out: Path, relative: str) -> dict:
    """The cell of one media column: the file's bytes and its name (``<clip_id>.mp4``)."""
    path = Path(out) / relative
    return {"bytes": path.read_bytes(), "path": path.name}


# ------------------------------------------------------------------ dataset card


def source_hashes(dataset_dict) -> list[dict]:
    """Distinct raw sources of a built ``DatasetDict``: path (relative to the raw folder) and sha256."""
    seen = {}
    for split in dataset_dict.values():
        columns = split.select_columns(["source_video", "source_audio", "source_sha256", "source_size"])
        for row in columns:
            seen[row["source_video"]] = row
    return [seen[key] for key in sorted(seen)]


def sources_digest(sources: list[dict]) -> str:
    """sha256 over the sorted ``<source_video> <source_sha256>`` lines (one number for every raw file)."""
    digest = hashlib.sha256()
    for source in sources:
        digest.update(f"{source['source_video']} {source['source_sha256']}\n".encode())
    return digest.hexdigest()


def _yaml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid YAML scalar


def card_text(recipe: "Recipe", meta: dict, sources: list[dict], failures: list[dict]) -> str:
    """The README.md dataset card of a prepared dataset (YAML header + markdown).

    The header's ``configs`` point at ``data/<split>-*.parquet``, the layout of the Hub
    export; ``load_from_disk`` ignores the card.
    """
    sizes = meta["split_sizes"]
    filled = [split for split in meta["splits"] if sizes.get(split)]
    lines = ["---", f"license: {recipe.license_id}"]
    if recipe.license_id == "other":
        lines.append(f"license_name: {recipe.name}-terms")
    lines += [
        f"pretty_name: {_yaml_string(f'tfbench {recipe.name} (prepared, recipe v{recipe.version})')}",
        "tags:", "- talking-face", "- audio-driven", "- tfbench", f"- {recipe.name}",
        "configs:", "- config_name: default", "  data_files:",
    ]
    for split in filled:
        lines += [f"  - split: {split}", f"    path: data/{split}-*"]
    lines.append("---")
    body = [
        f"# {recipe.full_name or recipe.title or recipe.name}: prepared by tfbench",
        "",
        f"Made by `tfbench prepare {recipe.name}` (recipe `{recipe.name}` version {recipe.version}, "
        f"tfbench {meta['tfbench_version']}). Each row is one processed clip: a 25 fps square face crop "
        f"(`video`, mp4 with AAC audio), its 16 kHz wav (`audio`), landmarks, 3DMM coefficients, AU "
        "intensities, text and audio features. Columns: tfbench `docs/datasets/schema.md`.",
        "",
        f"**Fingerprint** `{meta['fingerprint']}`: sha256 of the parameters and of every clip's content "
        "hash. Two runs on the same raw files with the same parameters give the same fingerprint; results "
        "computed on this dataset record it.",
        "",
        "## Source data",
        "",
        f"{recipe.full_name or recipe.title or recipe.name}. Homepage: {recipe.homepage or '-'}",
        "",
        "**Licence and terms of the source data.** " + recipe.license,
        "",
        "This prepared dataset is derived from those files and stays under their terms: check them "
        "before you share or publish it.",
        "",
        "**Citation** (cite the source dataset when you use it):",
        "",
        "```bibtex",
        recipe.citation.strip(),
        "```",
        "",
        "## Splits",
        "",
        "| split | clips |",
        "|---|---|",
    ]
    body += [f"| {split} | {sizes.get(split, 0)} |" for split in meta["splits"]]
    body += [
        "",
        "## Options and parameters",
        "",
        "Recipe options, clip processing and build parameters, as recorded in `meta.json`:",
        "",
        "```json",
        json.dumps(meta["parameters"], indent=1, sort_keys=True),
        "```",
        "",
        "Annotation backends (with the sha256 of every weights file used):",
        "",
        "```json",
        json.dumps(meta["backends"], indent=1, sort_keys=True),
        "```",
        "",
        "## Source files",
        "",
        f"{len(sources)} raw video(s); sha256 over their sorted `<path> <sha256>` lines: "
        f"`{sources_digest(sources)}`. Each row also carries `source_video` and `source_sha256`.",
        "",
    ]
    if len(sources) <= MAX_LISTED_SOURCES:
        body += ["| source video | bytes | sha256 |", "|---|---|---|"]
        body += [f"| `{s['source_video']}` | {s['source_size']} | `{s['source_sha256']}` |" for s in sources]
        body.append("")
    body += ["## Failures", "", f"{len(failures)} clip(s) or video(s) could not be processed."]
    if failures:
        reasons: dict[str, int] = {}
        for failure in failures:
            key = failure["reason"].split(":")[0]
            reasons[key] = reasons.get(key, 0) + 1
        body += ["", "| reason | count |", "|---|---|"]
        body += [f"| {reason} | {count} |" for reason, count in sorted(reasons.items())]
        body += ["", "Each one with its reason: `failures.jsonl` next to the dataset folder."]
    body += [
        "",
        "## Loading",
        "",
        "```python",
        "import datasets",
        "ds = datasets.load_from_disk(\"dataset\")          # this folder; or load_dataset(\"<user>/<repo>\") from the Hub",
        "row = ds[\"" + (filled[0] if filled else "train") + "\"][0]",
        "frames = row[\"video\"].get_frames_in_range(0, 10).data   # uint8 [10,3,H,W] (needs torchcodec)",
        "samples = row[\"audio\"].get_all_samples().data           # float32 [1,N] at 16 kHz",
        "```",
        "",
        "With tfbench: `tfbench.data.open_prepared(path)` (no torchcodec needed).",
        "",
    ]
    return "\n".join(lines + [""] + body)


def write_card(out: Path, recipe: "Recipe", meta: dict, failures: list[dict]) -> Path:
    """Write ``<out>/dataset/README.md`` (atomically) for the dataset just built."""
    import datasets

    dataset_dir = Path(out) / "dataset"
    sources = source_hashes(datasets.load_from_disk(str(dataset_dir)))
    path = dataset_dir / "README.md"
    partial = path.with_name("README.md.tmp")
    partial.write_text(card_text(recipe, meta, sources, failures))
    os.replace(partial, path)
    return path
