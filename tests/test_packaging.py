"""The package installs as users get it: CLI entry point, and recipes/ + models/ inside tfbench."""

import subprocess
import sys
import zipfile

import pytest

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_help_does_not_import_torch():
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from tfbench.cli import app\n"
        "result = CliRunner().invoke(app, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "heavy = [m for m in ('torch', 'datasets', 'cv2', 'dlib') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_version_flag():
    result = subprocess.run([sys.executable, "-m", "tfbench.cli", "--version"], capture_output=True, text=True, check=True)
    from tfbench import __version__

    assert result.stdout.strip() == f"tfbench {__version__}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation", "-q", "-w", str(out)],
        check=True,
    )
    (path,) = out.glob("tfbench-*.whl")
    return path


def test_wheel_maps_recipes_and_models_into_tfbench(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "tfbench/recipes/__init__.py" in names
    assert "tfbench/models/__init__.py" in names
    assert "tfbench/models/base.py" in names
    assert not any(name.startswith(("recipes/", "models/")) for name in names)
    bundled = sorted((REPO / "tfbench" / "sample_raw").rglob("*.mp4"))
    assert bundled and all(f"tfbench/{path.relative_to(REPO / 'tfbench').as_posix()}" in names for path in bundled)
    mapped_subpackages = {n.rsplit("/", 1)[0] for n in names if n.startswith("tfbench/models/") and n.endswith("/__init__.py")}
    for sub in (REPO / "models").iterdir():
        if (sub / "__init__.py").exists():
            assert f"tfbench/models/{sub.name}" in mapped_subpackages


def test_regular_install_imports_recipes_and_models(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)], check=True)
    # -S: no site-packages (and so no editable install); only the regular install is visible.
    code = (
        "import tfbench, tfbench.recipes, tfbench.models\n"
        f"assert tfbench.__file__.startswith({str(target)!r}), tfbench.__file__\n"
        "from tfbench.models import MODELS\n"
        "from tfbench.recipes import RECIPES\n"
        "assert 'g4g' in MODELS.names() and 'mead' in RECIPES.names()\n"
    )
    subprocess.run([sys.executable, "-S", "-c", code], check=True, cwd=tmp_path, env={"PYTHONPATH": str(target)})
