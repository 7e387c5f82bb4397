"""Compare two prepared datasets file by file: are the outputs of two `tfbench prepare` runs identical?

    python benchmarks/compare_prepared.py OUT_A OUT_B

Used to check that a change to the prepare pipeline (e.g. its speed) changes no output:
prepare the same raw folder with the old and the new code, then compare. Every file must be
byte-identical, except where bytes legitimately differ between two runs of the same code:

- ``*.npz`` (the per-clip cache, the offline 3DMM model): zip members carry the time they
  were written, so the arrays inside are compared instead (exact equality, same dtype/shape);
- ``cache/sources/*.json``: the ``timings`` entry (seconds measured) is left out;
- ``dataset/**/state.json``: ``datasets`` fingerprints hash the output path; left out.

Prints each difference and exits 1 if there is any, else prints the number of files compared.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def _npz_differences(a: Path, b: Path) -> list[str]:
    with np.load(a) as left, np.load(b) as right:
        if sorted(left.files) != sorted(right.files):
            return [f"members {sorted(left.files)} != {sorted(right.files)}"]
        problems = []
        for key in left.files:
            x, y = left[key], right[key]
            if x.dtype != y.dtype or x.shape != y.shape or not np.array_equal(x, y):
                problems.append(f"array {key!r} differs")
        return problems


def differences(a: Path, b: Path) -> tuple[list[str], int]:
    """(differences as lines, number of files compared) between prepared folders ``a`` and ``b``."""
    def files(root: Path) -> set[Path]:
        return {p.relative_to(root) for p in root.rglob("*") if p.is_file() and p.name != ".tfbench.lock"}

    left, right = files(a), files(b)
    found = [f"only in {a}: {p}" for p in sorted(left - right)] + [f"only in {b}: {p}" for p in sorted(right - left)]
    for relative in sorted(left & right):
        x, y = a / relative, b / relative
        if relative.suffix == ".npz":
            found += [f"{relative}: {problem}" for problem in _npz_differences(x, y)]
        elif relative.parts[:2] == ("cache", "sources"):
            drop = lambda path: {k: v for k, v in json.loads(path.read_text()).items() if k != "timings"}  # noqa: E731
            if drop(x) != drop(y):
                found.append(f"{relative}: differs (timings aside)")
        elif relative.name == "state.json" and relative.parts[0] == "dataset":
            continue
        elif x.read_bytes() != y.read_bytes():
            found.append(f"{relative}: bytes differ")
    return found, len(left & right)


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    found, compared = differences(Path(sys.argv[1]), Path(sys.argv[2]))
    for line in found:
        print(line)
    print(f"{compared} files compared, {len(found)} differences")
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
