"""Training stages, `--stage all`, `--init`, predecessor sha256 checks and the one `--set` parser."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tfbench.errors import CheckpointError, TfbenchError
from tfbench.models.base import Generator
from tfbench.train.checkpoint import load_checkpoint
from tfbench.train.config import apply_overrides, override_note, parse_overrides
from tfbench.train.loop import Trainer


@dataclass(frozen=True)
class ToyConfig:
    name: str = "tiny"
    lr: float = 0.1
    steps: int = 3
    flag: bool = False
    layers: tuple = (1, 2)
    notes: str = ""


class ToyStaged(Trainer):
    """Three stages: "a" from scratch, "b" builds on "a", "c" on "a" and "b"."""

    model_name = "toy_staged"
    stages = ("a", "b", "c")
    requires = {"b": ("a",), "c": ("a", "b")}
    seen: list = []

    @classmethod
    def default_steps_for(cls, config_name, overrides=None, stage="main"):
        return {"a": 2, "b": 3, "c": 1}[stage]

    def __init__(self, config_name, dataset, *, stage, total_steps, predecessors, overrides=None, device="cpu", echo=print):
        self.cfg = apply_overrides(ToyConfig(), overrides)
        self.config, self.config_name = {"lr": self.cfg.lr}, config_name
        self.default_steps, self.checkpoint_every = 99, 2
        self.canonical, self.notes = not overrides, "toy" + override_note(self.cfg, overrides)
        self.stage, self.total_steps, self.predecessors = stage, total_steps, predecessors
        self.layer = torch.nn.Linear(2, 1)
        for checkpoint in predecessors.values():  # build on the earlier stage's weights
            self.layer.load_state_dict(checkpoint.state["layer"])
        ToyStaged.seen.append((stage, total_steps, sorted(predecessors)))

    def step(self, step, rng):
        x = torch.from_numpy(rng.standard_normal((4, 2)).astype(np.float32))
        loss = (self.layer(x) ** 2).mean()
        self.layer.zero_grad()
        loss.backward()
        self.reduce_gradients(self.layer)
        with torch.no_grad():
            for parameter in self.layer.parameters():
                parameter -= self.cfg.lr * parameter.grad
        return {"total": loss.item()}

    def state_dict(self):
        return {"layer": self.layer.state_dict()}

    def load_state_dict(self, state):
        self.layer.load_state_dict(state["layer"])


class ToyStagedModel(Generator):
    name = "toy_staged"

    @classmethod
    def from_checkpoint(cls, path, device="cpu"):
        raise NotImplementedError

    def generate(self, request):
        raise NotImplementedError

    @classmethod
    def trainer_class(cls):
        return ToyStaged


@pytest.fixture
def cli(monkeypatch):
    import tfbench.data
    from tfbench.cli import app
    from tfbench.models import MODELS

    MODELS.add("toy_staged", "test_train_stages:ToyStagedModel")
    fake = SimpleNamespace(name="fake", fingerprint="f" * 8, root="/nowhere")
    monkeypatch.setattr(tfbench.data, "open_prepared", lambda name: fake)
    ToyStaged.seen = []
    return lambda *args: CliRunner().invoke(app, ["train", "toy_staged", "--dataset", "x", "--quiet", *map(str, args)])


def test_stage_all_runs_the_chain_and_records_predecessors(cli, tmp_path):
    result = cli("--out", tmp_path, "--stage", "all")
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert ToyStaged.seen == [("a", 2, []), ("b", 3, ["a"]), ("c", 1, ["a", "b"])]
    a, b, c = (load_checkpoint(tmp_path / s / "last.pt") for s in "abc")
    assert (a.stage, a.step, a.predecessors) == ("a", 2, {})
    assert b.predecessors == {"a": a.sha256} and c.predecessors == {"a": a.sha256, "b": b.sha256}
    assert c.canonical and not torch.equal(a.state["layer"]["weight"], c.state["layer"]["weight"])


def test_one_stage_finds_or_is_given_its_predecessors(cli, tmp_path):
    missing = cli("--out", tmp_path / "run", "--stage", "b")
    assert isinstance(missing.exception, CheckpointError) and "Train one with" in str(missing.exception)
    assert cli("--out", tmp_path / "run", "--stage", "a").exit_code == 0
    other = tmp_path / "other"
    assert cli("--out", other, "--stage", "a", "--seed", "1").exit_code == 0
    assert cli("--out", tmp_path / "run", "--stage", "b", "--steps", "2").exit_code == 0
    # Resuming b on another stage-a checkpoint is refused: b was trained on run/a.
    result = cli("--out", tmp_path / "run", "--stage", "b", "--steps", "3", "--resume", "--init", f"a={other / 'a' / 'last.pt'}")
    assert isinstance(result.exception, CheckpointError) and "other earlier-stage checkpoints" in str(result.exception)
    # c given run/b but other/a: b was built on a different a -> one chain only.
    result = cli("--out", tmp_path / "run", "--stage", "c", "--init", f"a={other / 'a' / 'last.pt'}")
    assert isinstance(result.exception, CheckpointError) and "use checkpoints of one chain" in str(result.exception)
    assert cli("--out", tmp_path / "run", "--stage", "b", "--steps", "3", "--resume").exit_code == 0
    assert load_checkpoint(tmp_path / "run" / "b" / "last.pt").step == 3


def test_unknown_stage_and_bad_init(cli, tmp_path):
    result = cli("--out", tmp_path, "--stage", "z")
    assert isinstance(result.exception, TfbenchError) and "no stage 'z'; stages: a, b, c" in str(result.exception)
    result = cli("--out", tmp_path, "--init", "q=x.pt")
    assert isinstance(result.exception, TfbenchError) and "unknown stages ['q']" in str(result.exception)


def test_set_overrides_make_the_run_non_canonical(cli, tmp_path):
    result = cli("--out", tmp_path, "--stage", "a", "--set", "lr=0.5")
    assert result.exit_code == 0 and "NOT CANONICAL" in result.output
    checkpoint = load_checkpoint(tmp_path / "a" / "last.pt")
    assert checkpoint.config == {"lr": 0.5} and "OVERRIDDEN: lr=0.5" in checkpoint.notes


def test_apply_overrides_casts_by_field_type():
    config = apply_overrides(ToyConfig(), parse_overrides(["lr=1e-4", "steps=7", "flag=yes", "layers=3,4,5"]))
    assert (config.lr, config.steps, config.flag, config.layers) == (1e-4, 7, True, (3, 4, 5))
    assert apply_overrides(ToyConfig(), {}) == ToyConfig()
    with pytest.raises(TfbenchError, match="cannot use '2.5' for a int field"):
        apply_overrides(ToyConfig(), {"steps": "2.5"})
    with pytest.raises(TfbenchError, match="cannot override ToyConfig field 'nme'"):
        apply_overrides(ToyConfig(), {"nme": "x"})
    with pytest.raises(TfbenchError, match="cannot override ToyConfig field 'name'"):
        apply_overrides(ToyConfig(), {"name": "paper"})
    with pytest.raises(TfbenchError, match="--set expects KEY=VALUE"):
        parse_overrides(["lr"])
