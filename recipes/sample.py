"""The bundled sample: a tiny MEAD-layout dataset shipped in ``tfbench/sample_raw/``.

Prepared exactly like MEAD (same code, same schema) with one difference: the test split is
the last speaker in sorted order (the sample has two speakers), so both splits are
non-empty. ``tfbench prepare sample`` needs no ``--raw-dir`` and writes to
``$TFBENCH_HOME/datasets/sample`` unless ``--out`` is given.
"""

from __future__ import annotations

from pathlib import Path

from tfbench.recipes.base import Recipe, RecipeOptions, Source, require_dir
from tfbench.recipes.mead import mead_sources



class SampleRecipe(Recipe):
    name = "sample"
    title = "bundled sample"  # display name (leaderboards)
    version = "1"
    splits = ("train", "test")

    def default_raw_dir(self) -> Path:
        from importlib import resources

        return Path(str(resources.files("tfbench") / "sample_raw"))

    def _test_speakers(self, raw_dir: Path, options: RecipeOptions) -> tuple[str, ...]:
        if options.test_speakers:
            return options.test_speakers
        speakers = sorted(p.name for p in require_dir(raw_dir, "sample raw folder").iterdir() if (p / "video").is_dir())
        return tuple(speakers[-1:])

    def sources(self, raw_dir: Path, options: RecipeOptions) -> list[Source]:
        return mead_sources(raw_dir, options.views or ("front",), self._test_speakers(raw_dir, options))

    def resolved_options(self, options: RecipeOptions) -> dict:
        return {"views": list(options.views or ("front",)),
                "test_speakers": list(options.test_speakers) if options.test_speakers else "last speaker"}


RECIPE = SampleRecipe()
