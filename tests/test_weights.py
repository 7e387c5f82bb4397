"""Weights manager: download to .part, verify, atomic rename; import; offline errors."""

import hashlib
import subprocess
import sys
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
    record = weights.weights_record("unit_test_net")
    assert not record.canonical and record.status == "unverified"  # a prefix proves nothing
    assert record.sha256 == sha(payload)

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


PINS = {  # the list: several independent public sources agree on these
    "syncnet_v2": ("961e8696f888fce4f3f3a6c3d5b3267cf5b343100b238e79b2659bff2c605442", 54573114),
    "s3fd": ("d54a87c2b7543b64729c9a25eafd188da15fd3f6e02f0ecec76ae1b30d86c491", 89844381),
    "fid_inception": ("6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2", 95628359),
    "vgg16": ("397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0", 553433881),
    "alexnet": ("7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02", 244408911),
    "arcface_r50": ("4c06341c33c2ca1f86781dab0e829f88ad5b64be9fba56e56bc9ebdefc619e43", 174383860),
}


def test_public_digests_are_pinned_and_urls_are_https():
    for name, (digest, size) in PINS.items():
        spec = weights.get_spec(name)
        assert (spec.sha256, spec.size) == (digest, size), name
    for spec in weights.specs():
        assert all(url.startswith(("https://")) for url in spec.urls), spec.name


def test_pinned_match_is_canonical(payload, spec_for):
    spec_for(sha256=sha(payload))
    weights.install_file("unit_test_net", payload)
    record = weights.weights_record("unit_test_net")
    assert record.canonical and record.status == "canonical"


def test_import_rejects_a_file_that_is_not_the_network(tmp_path):
    """1000 random bytes imported as syncnet_v2 used to succeed and be called canonical: a
    pinned name now takes only its pinned file, an unpinned one only a file of its network."""
    import torch

    from tfbench.errors import CheckpointError

    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(250)) * 4)
    with pytest.raises(WeightsHashError, match="syncnet_v2 must be 961e8696"):
        weights.install_file("syncnet_v2", junk)
    with pytest.raises(CheckpointError, match="is not a TorchScript archive"):
        weights.install_file("fvd_i3d", junk)
    linear = tmp_path / "linear.pth"
    torch.save(torch.nn.Linear(2, 2).state_dict(), linear)  # a real torch file of another network
    with pytest.raises(CheckpointError, match="is not an Emotion-FAN ResNet-18 checkpoint"):
        weights.install_file("emotion_fan", linear)
    assert not any(weights.weights_dir().glob("*"))
    # the checks themselves accept the real architectures (random weights here)
    from tfbench.nets.syncnet import SyncNet

    torch.save(SyncNet().state_dict(), tmp_path / "syncnet.pth")
    weights.check_network("syncnet_v2", tmp_path / "syncnet.pth")
    with pytest.raises(CheckpointError, match="SyncNet"):
        weights.check_network("syncnet_v2", linear)


class _Tiny(__import__("torch").nn.Module):
    def forward(self, x):
        return x.mean(dim=(2, 3, 4))


def test_unpinned_file_is_unverified_everywhere(tmp_path):
    """A TorchScript imported as fvd_i3d (no public digest pinned): accepted, recorded as
    unverified with its hash (never canonical); `weights verify` says so and exits 0, and
    exits 1 once the file no longer loads."""
    import torch
    from typer.testing import CliRunner

    from tfbench.cli import app

    path = tmp_path / "i3d_torchscript.pt"
    torch.jit.script(_Tiny()).save(str(path))
    result = CliRunner().invoke(app, ["weights", "import", "fvd_i3d", str(path)])
    assert result.exit_code == 0, result.output
    record = weights.weights_record("fvd_i3d")
    assert (record.canonical, record.status, record.sha256) == (False, "unverified", sha(path))
    result = CliRunner().invoke(app, ["weights", "verify", "fvd_i3d"])
    assert result.exit_code == 0 and "fvd_i3d: unverified (no pinned sha256)" in result.output
    assert f"sha256={sha(path)}" in result.output and "not canonical" in result.output

    weights.weights_path("fvd_i3d").write_bytes(b"corrupted in place")
    result = CliRunner().invoke(app, ["weights", "verify", "fvd_i3d"])
    assert result.exit_code == 1 and "not the network" in result.output


def test_unverified_weights_reach_the_result_and_the_leaderboard_refusal(tmp_path):
    from tfbench.leaderboard import refusal_reasons
    from tfbench.results import MetricResult, ResultRecord, validate

    entry = {"sha256": "ab" * 32, "canonical": False, "status": "unverified"}
    metric = MetricResult("lse_c", 7.0, "1", True, 1, 0, weights={"syncnet_v2": entry})
    record = ResultRecord(model="m", dataset="mead", split="test", protocol="p", metrics={"lse_c": metric},
                          dataset_fingerprint="f", git_commit="c" * 40, git_dirty=False)
    data = record.to_dict()
    validate(data)
    assert data["canonical"] is False
    assert any("unverified: no pinned sha256, file " + "ab" * 32 in reason for reason in refusal_reasons(record))


def test_download_unpacks_the_member_of_a_zip(tmp_path, spec_for):
    """arcface_r50's URL is buffalo_l.zip: the pinned w600k_r50.onnx is taken out of it."""
    import zipfile

    member = b"onnx bytes " * 100
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("bundle/model.onnx", member)
        out.writestr("bundle/other.onnx", b"other")
    spec_for(filename="model.onnx", urls=(archive.as_uri(),), sha256=hashlib.sha256(member).hexdigest())
    path = weights.download("unit_test_net")
    assert path.read_bytes() == member and weights.weights_record("unit_test_net").canonical
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"<html>not a zip</html>")
    spec_for(filename="model2.onnx", urls=(broken.as_uri(),), sha256="0" * 64)
    with pytest.raises(Exception, match="does not give model2.onnx"):
        weights.download("unit_test_net")
    assert not list(weights.weights_dir().glob("model2*"))


def test_catalog_lookup_imports_no_torch():
    """Files of no network (dlib, fer) resolve without importing the networks' modules, so
    a run of torch-free metrics, and each of its workers, does not pay torch's import."""
    code = (
        "import sys\n"
        "from tfbench.weights import get_spec\n"
        "get_spec('dlib_landmarks68'); get_spec('fer_emotion')\n"
        "assert 'torch' not in sys.modules, 'catalog lookup imported torch'\n"
        "get_spec('syncnet_v2')\n"
        "assert 'torch' in sys.modules  # a network's spec sits beside its code\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
