"""Open prepared datasets (the output of ``tfbench prepare``).

``open_prepared("sample")`` prepares the bundled sample into ``$TFBENCH_HOME/datasets/sample``
on first use (offline, dlib backends) and reuses it afterwards; any other name opens
``$TFBENCH_HOME/datasets/<name>``, and a path opens that folder. On disk::

    <root>/dataset/          DatasetDict.save_to_disk (splits listed in meta.json)
    <root>/clips/<id>.mp4    processed clip: 25 fps, square face crop, H.264 + AAC 16 kHz
    <root>/audio/<id>.wav    the clip's audio, 16 kHz 16-bit PCM (lossless)
    <root>/meta.json         recipe, versions, backends + weights sha256, parameters, fingerprint
    <root>/failures.jsonl    one JSON object per clip that could not be processed
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from tfbench.errors import InputError


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
        if name not in self.meta["split_sizes"]:
            raise InputError(f"dataset {self.root} has no split {name!r}; it has {', '.join(self.splits)}")
        if name not in self._splits:
            import datasets

            self._splits[name] = datasets.load_from_disk(str(self.root / "dataset" / name))
        return self._splits[name]

    def clip_path(self, row: Mapping[str, Any]) -> Path:
        """The processed clip (mp4) of a row."""
        return self.root / row["video"]

    def audio_path(self, row: Mapping[str, Any]) -> Path:
        """The row's 16 kHz PCM wav."""
        return self.root / row["audio"]

    def density_maps(self, row: Mapping[str, Any], size: int | None = None) -> np.ndarray:
        """float32 [T,size,size] landmark density maps of a row (CPNet; derived, not stored)."""
        from tfbench.annotate.density import density_maps

        landmarks = np.asarray(row["landmarks"], dtype=np.float32)
        return density_maps(landmarks, size or int(row["width"]), source_size=int(row["width"]))

    def failures(self) -> list[dict]:
        path = self.root / "failures.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


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
