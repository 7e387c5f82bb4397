"""Shared fixtures: every test gets its own empty TFBENCH_HOME, so no test reads or
writes the user's weights cache."""

import pytest


@pytest.fixture(autouse=True)
def isolated_tfbench_home(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("tfbench_home")
    monkeypatch.setenv("TFBENCH_HOME", str(home))
    return home
