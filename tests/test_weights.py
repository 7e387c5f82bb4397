"""Weights manager: download to .part, verify, atomic rename; import; offline errors."""

import hashlib
import http.server
import threading
from functools import partial
from pathlib import Path

import pytest

from tfbench import weights
from tfbench.errors import MissingWeightsError, UnknownNameError, WeightsHashError
from tfbench.weights import WeightsSpec


@pytest.fixture()
def payload(tmp_path) -> Path:
    path = tmp_path / "served" / "model.bin"
    path.parent.mkdir()
    path.write_bytes(b"tfbench test weights " * 1000)
    return path


@pytest.fixture()
def spec_for(monkeypatch):
    """Register a temporary spec (removed after the test)."""

    def make(**fields) -> WeightsSpec:
        base = dict(name="unit_test_net", filename="unit_test_net.bin", description="test", license="none", source="download")
        base.update(fields)
        spec = WeightsSpec(**base)
        weights.specs()  # load the catalogue first
        monkeypatch.setitem(weights._SPECS, spec.name, spec)
        return spec

    return make


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_catalogue_entry_is_complete():
    names = [spec.name for spec in weights.specs()]
    for required in ("fid_inception", "fvd_i3d", "alexnet", "vgg16", "syncnet_v2", "s3fd", "fan2d",
                     "arcface_r50", "emotion_fan", "dlib_landmarks68", "dlib_face_embedding", "mtcnn_onet", "fer_emotion"):
        assert required in names
    for spec in weights.specs():
        assert spec.source in ("download", "package")
        if spec.source == "package":
            assert spec.package and spec.package_path and spec.sha256
        else:
            assert spec.urls or spec.install_hint, spec.name


def test_package_weights_resolve_offline_and_are_canonical():
    record = weights.weights_record("dlib_landmarks68")
    assert Path(record.path).is_file()
    assert record.canonical
    assert record.sha256 == weights.get_spec("dlib_landmarks68").sha256


def test_missing_weights_error_names_the_fix():
    with pytest.raises(MissingWeightsError) as error:
        weights.weights_path("fid_inception")
    message = str(error.value)
    assert "tfbench weights download fid_inception" in message
    assert "tfbench weights import fid_inception" in message


def test_require_lists_every_missing_file():
    with pytest.raises(MissingWeightsError) as error:
        weights.require(["fid_inception", "dlib_landmarks68", "s3fd"])
    assert "fid_inception" in str(error.value) and "s3fd" in str(error.value)
    assert "dlib_landmarks68" not in str(error.value)


def test_unknown_name_suggests():
    with pytest.raises(UnknownNameError, match="fid_inception"):
        weights.get_spec("fid_inceptoin")


def test_download_from_file_url_verifies_and_renames(payload, spec_for):
    spec_for(urls=(payload.as_uri(),), sha256=sha(payload))
    seen = []
    path = weights.download("unit_test_net", progress=lambda done, total: seen.append(done))
    assert path.read_bytes() == payload.read_bytes()
    assert seen and seen[-1] == payload.stat().st_size
    assert not list(path.parent.glob("*.part"))
    assert weights.weights_record("unit_test_net").canonical


def test_download_from_loopback_http_server(payload, spec_for):
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(payload.parent))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{payload.name}"
        spec_for(urls=(url,), sha256=sha(payload))
        path = weights.download("unit_test_net")
    finally:
        server.shutdown()
    assert sha(path) == sha(payload)


def test_wrong_hash_is_rejected_and_leaves_no_file(payload, spec_for):
    spec_for(urls=(payload.as_uri(),), sha256="0" * 64)
    with pytest.raises(WeightsHashError):
        weights.download("unit_test_net")
    assert not any(weights.weights_dir().glob("unit_test_net*"))
    with pytest.raises(MissingWeightsError):
        weights.weights_path("unit_test_net")


def test_hash_prefix_checked_when_full_hash_unknown(payload, spec_for):
    spec_for(hash_prefix=sha(payload)[:8])
    weights.install_file("unit_test_net", payload)
    assert weights.weights_record("unit_test_net").canonical

    other = payload.with_name("other.bin")
    other.write_bytes(b"not it")
    with pytest.raises(WeightsHashError):
        weights.install_file("unit_test_net", other)
    assert weights.weights_path("unit_test_net").read_bytes() == payload.read_bytes()


def test_unreachable_url_error_says_how_to_import(spec_for, tmp_path):
    spec_for(urls=((tmp_path / "nowhere.bin").as_uri(),))
    with pytest.raises(Exception, match="tfbench weights import unit_test_net"):
        weights.download("unit_test_net")


def test_random_test_weights_are_non_canonical():
    import torch

    from tfbench.testing import install_random_weights

    install_random_weights("syncnet_v2", torch.nn.Linear(2, 2))
    record = weights.weights_record("syncnet_v2")
    assert not record.canonical
    assert weights.status("syncnet_v2", verify=True).state == "non-canonical"


def test_cli_weights_list_and_import(payload, spec_for):
    from typer.testing import CliRunner

    from tfbench.cli import app

    spec_for(sha256=sha(payload))
    runner = CliRunner()
    result = runner.invoke(app, ["weights", "list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "fid_inception" in result.output and "missing" in result.output
    result = runner.invoke(app, ["weights", "import", "unit_test_net", str(payload)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["weights", "verify", "unit_test_net"])
    assert result.exit_code == 0 and "ok" in result.output
