"""Open prepared datasets (the output of ``tfbench prepare``).

``open_prepared("sample")`` prepares the bundled sample into ``$TFBENCH_HOME/datasets/sample``
on first use (offline, dlib backends) and reuses it afterwards; any other name opens
``$TFBENCH_HOME/datasets/<name>``, and a path opens that folder. On disk::

    <root>/dataset/          DatasetDict.save_to_disk (splits listed in meta.json), self-contained:
                             the ``video`` and ``audio`` columns hold the mp4 and wav bytes;
                             dataset/README.md is the dataset card
    <root>/clips/<id>.mp4    processed clip: 25 fps, square face crop, H.264 + AAC 16 kHz
    <root>/audio/<id>.wav    the clip's audio, 16 kHz 16-bit PCM (lossless)
                             (clips/ and audio/ are re-extracted from the dataset when missing)
    <root>/meta.json         recipe, versions, backends + weights sha256, parameters, fingerprint
    <root>/failures.jsonl    one JSON object per clip that could not be processed
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from tfbench.errors import InputError, MediaError


@dataclass
class PreparedDataset:
    """A prepared dataset folder. ``split(name)`` loads a ``datasets.Dataset`` (memory-mapped)."""

    root: Path
    meta: dict
    _splits: dict = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.meta["recipe"]

    @property
    def fingerprint(self) -> str:
        return self.meta["fingerprint"]

    @property
    def splits(self) -> list[str]:
        return list(self.meta["splits"])

    def split(self, name: str):
        """The split as a ``datasets.Dataset``; its ``video``/``audio`` cells are ``{"bytes", "path"}``
        dicts (not decoded, so no torchcodec is needed): use :meth:`clip_path` / :meth:`audio_path`."""
        if name not in self.meta["split_sizes"]:
            raise InputError(f"dataset {self.root} has no split {name!r}; it has {', '.join(self.splits)}")
        if name not in self._splits:
            import datasets

            data = datasets.load_from_disk(str(self.root / "dataset" / name))
            for column in ("video", "audio"):
                if hasattr(data.features[column], "decode"):  # Video / Audio (string paths before)
                    data = data.cast_column(column, dataclasses.replace(data.features[column], decode=False))
            self._splits[name] = data
        return self._splits[name]

    def clip_path(self, row: Mapping[str, Any]) -> Path:
        """The processed clip (mp4) of a row, extracted from the dataset if ``clips/`` lacks it."""
        return self._media_file(row, "video", "clips", ".mp4", "clip_sha256")

    def audio_path(self, row: Mapping[str, Any]) -> Path:
        """The row's 16 kHz PCM wav, extracted from the dataset if ``audio/`` lacks it."""
        return self._media_file(row, "audio", "audio", ".wav", "audio_sha256")

    def _media_file(self, row: Mapping[str, Any], column: str, folder: str, suffix: str, hash_column: str) -> Path:
        cell = row[column]
        if isinstance(cell, str):  # datasets prepared before tfbench stored the media inside
            return self.root / cell
        path = self.root / folder / f"{row['clip_id']}{suffix}"
        if not path.exists():
            data = cell["bytes"]
            if hashlib.sha256(data).hexdigest() != str(row[hash_column]):
                raise MediaError(f"{self.root}: the {column} bytes of clip {row['clip_id']} do not match its "
                                 f"{hash_column}; the dataset is corrupt, prepare it again")
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            partial.write_bytes(data)
            os.replace(partial, path)
        return path

    def density_maps(self, row: Mapping[str, Any], size: int | None = None) -> np.ndarray:
        """float32 [T,size,size] landmark density maps of a row (CPNet; derived, not stored)."""
        from tfbench.annotate.density import density_maps

        landmarks = np.asarray(row["landmarks"], dtype=np.float32)
        return density_maps(landmarks, size or int(row["width"]), source_size=int(row["width"]))

    def failures(self) -> list[dict]:
        path = self.root / "failures.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []

    def card(self) -> str:
        """The dataset card (``dataset/README.md``, written by ``prepare``); rebuilt from meta.json
        for datasets prepared before tfbench wrote cards."""
        path = self.root / "dataset" / "README.md"
        if path.exists():
            return path.read_text()
        import datasets

        from tfbench.recipes import RECIPES
        from tfbench.recipes.hub import card_text, source_hashes

        sources = source_hashes(datasets.load_from_disk(str(self.root / "dataset")))
        return card_text(RECIPES.get(self.name), self.meta, sources, self.failures())

    def export_for_hub(self, folder: str | Path, max_shard_bytes: int = 500 << 20) -> Path:
        """Write the dataset as a Hugging Face Hub repository into ``folder``: the card as
        ``README.md`` and each non-empty split as ``data/<split>-NNNNN-of-NNNNN.parquet`` shards
        of about ``max_shard_bytes`` (media bytes inside, ``Video``/``Audio`` features kept).
        ``datasets.load_dataset(str(folder))`` loads it as it would the Hub repository."""
        import datasets

        folder = Path(folder)
        (folder / "data").mkdir(parents=True, exist_ok=True)
        for split in self.splits:
            if not self.meta["split_sizes"].get(split):
                continue
            data = datasets.load_from_disk(str(self.root / "dataset" / split))
            if not isinstance(data.features["video"], datasets.Video):
                raise InputError(f"{self.root} was prepared before tfbench stored the media inside the dataset; run "
                                 f"`tfbench prepare {self.name} --raw-dir {self.meta.get('raw_dir')} --out {self.root}` "
                                 "again (cached clips are reused: only the build step reruns)")
            num_shards = max(1, -(-data.data.nbytes // max_shard_bytes))
            for index in range(num_shards):
                shard = data.shard(num_shards, index, contiguous=True)
                shard.to_parquet(str(folder / "data" / f"{split}-{index:05d}-of-{num_shards:05d}.parquet"))
        (folder / "README.md").write_text(self.card())
        return folder

    def push_to_hub(self, repo_id: str, *, private: bool = True, token: str | None = None,
                    folder: str | Path | None = None, api: Any = None):
        """Publish the dataset as the Hub dataset repository ``repo_id``: :meth:`export_for_hub`
        into ``folder`` (a temporary folder by default), then ``HfApi.create_repo`` (``private``
        by default: check the source dataset's terms in the card first) and ``upload_folder``.
        ``api``: an ``huggingface_hub.HfApi`` (default: one with ``token``). Returns the commit info."""
        import tempfile

        if api is None:
            from huggingface_hub import HfApi

            api = HfApi(token=token)
        with tempfile.TemporaryDirectory(prefix="tfbench-hub-") as scratch:
            export = self.export_for_hub(folder if folder is not None else Path(scratch) / "repo")
            api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
            return api.upload_folder(repo_id=repo_id, repo_type="dataset", folder_path=str(export),
                                     commit_message=f"tfbench {self.name} dataset, fingerprint {self.fingerprint[:12]}")


def _open_folder(root: Path) -> PreparedDataset:
    meta_path = root / "meta.json"
    if not meta_path.exists() or not (root / "dataset").is_dir():
        raise InputError(f"{root} is not a prepared dataset (no meta.json or dataset/); run `tfbench prepare` first")
    return PreparedDataset(root=root, meta=json.loads(meta_path.read_text()))


def prepared_root(name: str) -> Path:
    from tfbench.weights import tfbench_home

    return tfbench_home() / "datasets" / name


def prepare_sample(out: Path | None = None) -> PreparedDataset:
    """Prepare the bundled sample (dlib backends, offline) into ``out`` (default
    ``$TFBENCH_HOME/datasets/sample``) unless it is already there; a file lock keeps two
    processes from preparing it at once."""
    import fcntl

    from tfbench.recipes import RECIPES
    from tfbench.recipes.build import prepare

    out = Path(out) if out is not None else prepared_root("sample")
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / f".{out.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "meta.json").exists():
            prepare(RECIPES.get("sample"), None, out)
    return _open_folder(out)


def open_prepared(path_or_name: str | Path) -> PreparedDataset:
    """Open a prepared dataset by folder path or by name under ``$TFBENCH_HOME/datasets``.

    ``"sample"`` is prepared on first use. Raises :class:`InputError` naming the command to run
    when the dataset is not there.
    """
    path = Path(path_or_name)
    if path.is_dir():
        return _open_folder(path)
    name = str(path_or_name)
    if name == "sample":
        return prepare_sample()
    root = prepared_root(name)
    if root.is_dir():
        return _open_folder(root)
    raise InputError(
        f"No prepared dataset {name!r} (looked for the folder {path} and {root}). "
        f"Prepare it with: tfbench prepare {name} --raw-dir /path/to/raw --out {root}"
    )
