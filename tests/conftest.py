"""Shared fixtures: every test gets its own empty TFBENCH_HOME, so no test reads or
writes the user's weights cache."""

import pytest


@pytest.fixture(autouse=True)
def isolated_tfbench_home(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("tfbench_home")
    monkeypatch.setenv("TFBENCH_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def prepared_sample(tmp_path_factory):
    """The bundled sample prepared once per test session (dlib backends, offline), as a
    ``tfbench.data.PreparedDataset``. Its TFBENCH_HOME is a session temp folder."""
    from tfbench.data import prepare_sample

    home = tmp_path_factory.mktemp("prepared_sample_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TFBENCH_HOME", str(home))
        return prepare_sample(home / "datasets" / "sample")
