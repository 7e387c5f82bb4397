"""Layering rules of the code base, checked on the source (AST), and lists computed from registries."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path, package: str) -> set[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved against ``package``)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def _modules(folder: Path, package: str):
    for path in sorted(folder.rglob("*.py")):
        parts = path.relative_to(folder).with_suffix("").parts
        yield path, ".".join((package, *parts[:-1]))


@pytest.mark.parametrize("folder, package, forbidden", [
    ("models", "tfbench.models", ("tfbench.evaluate",)),
    ("tfbench/nets", "tfbench.nets", ("tfbench.evaluate", "tfbench.models")),
    ("tfbench/train", "tfbench.train", ("tfbench.evaluate",)),
])
def test_layering(folder, package, forbidden):
    """Methods never import evaluation code (networks they share live in tfbench/nets)."""
    offenders = []
    for path, module_package in _modules(ROOT / folder, package):
        for name in _imports(path, module_package):
            if any(name == bad or name.startswith(bad + ".") for bad in forbidden):
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offenders, "\n".join(offenders)


def test_the_ast_walk_sees_relative_and_nested_imports(tmp_path):
    source = tmp_path / "x.py"
    source.write_text("def f():\n    from ..evaluate.metrics import base\n    import tfbench.evaluate.runner\n")
    names = _imports(source, "tfbench.models")
    assert "tfbench.evaluate.metrics.base" in names and "tfbench.evaluate.runner" in names


def test_weights_users_are_computed_from_declarations():
    from tfbench.registry import weights_users
    from tfbench.weights import specs

    users = weights_users()
    assert {"lmd@dlib", "csim@dlib", "efd@fer", "efd@fan", "landmarks backend dlib"} <= set(users["dlib_landmarks68"])
    assert users["syncnet_v2"] == ["g4g training", "lse"] and users["vgg19"] == ["g4g training"]
    assert set(users) == {spec.name for spec in specs()}  # no plug-in declares an unknown weights name


def test_every_network_module_registers_its_weights_beside_it():
    from tfbench import nets
    from tfbench.weights import specs

    names = {spec.name for spec in specs()}
    for module in nets.MODULES:
        assert (ROOT / "tfbench" / "nets" / f"{module}.py").is_file()
    assert {"clip_vit_b32", "syncnet_v2", "s3fd", "fid_inception", "fvd_i3d", "alexnet", "vgg16", "vgg19"} <= names


def test_cli_help_and_dataset_titles_come_from_the_registries():
    from typer.testing import CliRunner

    from tfbench.cli import app
    from tfbench.models import MODELS
    from tfbench.recipes import RECIPES
    from tfbench.registry import dataset_titles

    titles = dataset_titles()
    assert set(titles) == set(RECIPES.names()) and titles["mead"] == "MEAD" and titles["obamaset"] == "ObamaSet"
    prepare = CliRunner().invoke(app, ["prepare", "--help"], terminal_width=200).output
    assert ", ".join(RECIPES.names()) in prepare
    generate = CliRunner().invoke(app, ["generate", "--help"], terminal_width=200).output
    assert ", ".join(MODELS.names()) in generate
