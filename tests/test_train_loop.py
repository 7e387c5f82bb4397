"""The shared training loop and checkpoint files, with a toy least-squares trainer (fast)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tfbench.errors import CheckpointError, TfbenchError
from tfbench.train.checkpoint import LAST, Checkpoint, load_checkpoint, save_checkpoint
from tfbench.train.loop import LOG, Trainer, train


class ToyTrainer(Trainer):
    """Fits ``y = x w`` by SGD on batches drawn from the step's rng; torch noise tests seeding."""

    model_name = "toy"

    def __init__(self, config_name: str = "tiny", lr: float = 0.1) -> None:
        self.config = {"lr": lr}
        self.config_name = config_name
        self.default_steps = 8
        self.checkpoint_every = 3
        self.canonical = False
        self.notes = "toy"
        self.layer = torch.nn.Linear(4, 1)
        self.optimizer = torch.optim.SGD(self.layer.parameters(), lr=lr, momentum=0.9)
        self.target = torch.tensor([[1.0, -2.0, 3.0, 0.5]])

    def step(self, step: int, rng: np.random.Generator) -> dict[str, float]:
        x = torch.from_numpy(rng.standard_normal((16, 4)).astype(np.float32))
        noise = 0.01 * torch.randn(16, 1)  # torch RNG: must be reproducible too
        loss = ((self.layer(x) - (x @ self.target.T + noise)) ** 2).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return {"total": loss.item()}

    def state_dict(self) -> dict:
        return {"layer": self.layer.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.layer.load_state_dict(state["layer"])
        self.optimizer.load_state_dict(state["optimizer"])


def _run(out, steps, resume=False, **kwargs):
    return train(lambda: ToyTrainer(**kwargs), out, steps=steps, resume=resume, show_progress=False, echo=lambda _: None)


def _weights(path):
    return load_checkpoint(path).state["layer"]["weight"]


def test_loss_falls_and_log_has_every_step(tmp_path):
    result = _run(tmp_path / "run", 8)
    log = [json.loads(line) for line in (tmp_path / "run" / LOG).read_text().splitlines()]
    assert [entry["step"] for entry in log] == list(range(1, 9))
    assert log[-1]["total"] < 0.5 * log[0]["total"]
    assert result.last_step == 8 and result.checkpoint == tmp_path / "run" / LAST
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config == {"config_name": "tiny", "lr": 0.1}


def test_same_seed_same_weights_and_resume_continues_exactly(tmp_path):
    _run(tmp_path / "straight", 8)
    _run(tmp_path / "again", 8)
    torch.testing.assert_close(_weights(tmp_path / "straight" / LAST), _weights(tmp_path / "again" / LAST), rtol=0, atol=0)
    _run(tmp_path / "split", 5)
    # A killed run: its log goes past the checkpoint (step 5); resume trims the extra lines.
    with open(tmp_path / "split" / LOG, "a") as log:
        log.write(json.dumps({"step": 6, "total": 99.0}) + "\n")
    result = _run(tmp_path / "split", 8, resume=True)
    assert result.first_step == 6
    torch.testing.assert_close(_weights(tmp_path / "straight" / LAST), _weights(tmp_path / "split" / LAST), rtol=0, atol=0)
    steps = [json.loads(line)["step"] for line in (tmp_path / "split" / LOG).read_text().splitlines()]
    assert steps == list(range(1, 9))
    other = train(lambda: ToyTrainer(), tmp_path / "seed1", steps=8, seed=1, show_progress=False, echo=lambda _: None)
    assert not torch.equal(_weights(other.checkpoint), _weights(tmp_path / "straight" / LAST))


def test_checkpoint_carries_its_provenance(tmp_path):
    train(lambda: ToyTrainer(), tmp_path / "run", steps=2, seed=3, provenance={"dataset_fingerprint": "abc"},
          show_progress=False, echo=lambda _: None)
    checkpoint = load_checkpoint(tmp_path / "run" / LAST)
    assert (checkpoint.model, checkpoint.config_name, checkpoint.step, checkpoint.notes) == ("toy", "tiny", 2, "toy")
    assert checkpoint.provenance == {"dataset_fingerprint": "abc", "seed": 3}
    assert checkpoint.config == {"lr": 0.1} and checkpoint.tfbench_version and not checkpoint.canonical
    import hashlib

    assert checkpoint.sha256 == hashlib.sha256((tmp_path / "run" / LAST).read_bytes()).hexdigest()


def test_refuses_to_overwrite_or_to_resume_another_config(tmp_path):
    _run(tmp_path / "run", 3)
    with pytest.raises(TfbenchError, match="pass --resume"):
        _run(tmp_path / "run", 6)
    with pytest.raises(CheckpointError, match="config 'tiny', not 'paper'"):
        _run(tmp_path / "run", 6, resume=True, config_name="paper")
    with pytest.raises(CheckpointError, match=r"different 'tiny' config \(fields \['lr'\]\)"):
        _run(tmp_path / "run", 6, resume=True, lr=0.5)
    with pytest.raises(CheckpointError, match="--seed 0, not 4"):
        train(lambda: ToyTrainer(), tmp_path / "run", steps=6, seed=4, resume=True, show_progress=False, echo=lambda _: None)
    assert load_checkpoint(tmp_path / "run" / LAST).step == 3  # nothing was lost


def test_bad_checkpoint_files(tmp_path):
    with pytest.raises(CheckpointError, match="No checkpoint at"):
        load_checkpoint(tmp_path / "missing.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="not a tfbench checkpoint"):
        load_checkpoint(tmp_path / "plain.pt")
    path = save_checkpoint(Checkpoint(model="toy", config_name="tiny", config={}, step=1, state={}), tmp_path / "toy.pt")
    with pytest.raises(CheckpointError, match="model 'toy', not 'g4g'"):
        load_checkpoint(path, model="g4g")
    assert not (tmp_path / "toy.pt.part").exists()
