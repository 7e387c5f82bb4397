"""Data-parallel training with ``torch.distributed``, launched by ``torchrun``.

``torchrun --nproc_per_node N -m tfbench.cli train NAME ...`` starts N processes with
``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` set; :func:`setup` joins them into one process
group (gloo on CPU, nccl on CUDA, where rank ``r`` uses ``cuda:LOCAL_RANK``).
Without those variables everything here is a no-op for one process.

Scheme (so N processes give the same parameters as one process with the same global
batch, up to float summation order):

- every rank seeds identically and builds identical networks (checked at start);
- at step ``k`` every rank draws the *global* batch from the same
  ``numpy.random.default_rng([seed, k])`` and keeps only its :meth:`Context.local`
  slice (equal shards: the global batch size must be divisible by N);
- after ``backward`` a trainer calls :meth:`tfbench.train.loop.Trainer.reduce_gradients`,
  which averages every gradient over ranks (all-reduce, then divide by N), so each
  rank's optimiser takes the step the global-batch mean loss gives;
- only rank 0 writes checkpoints, ``train_log.jsonl`` and ``config.json``; logged
  losses are the mean over ranks.

Losses must be means over the batch (a sum would scale with the shard), and statistics
over the batch dimension (BatchNorm in train mode, in-batch contrastive negatives) see
only the local shard, so such trainers match the single-process run only approximately.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from tfbench.errors import TfbenchError


@dataclass(frozen=True)
class Context:
    """This process's place in the job: ``rank`` of ``world_size`` (1 process: 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    def local(self, global_batch: int) -> slice:
        """This rank's slice of a global batch of ``global_batch`` samples."""
        if global_batch % self.world_size:
            raise TfbenchError(f"the global batch size {global_batch} is not divisible by the {self.world_size} "
                               "processes; choose a batch size that is (--set batch_size=...)")
        size = global_batch // self.world_size
        return slice(self.rank * size, (self.rank + 1) * size)

    def device(self, device: str) -> str:
        """``cuda`` -> ``cuda:LOCAL_RANK`` under torchrun; anything else unchanged."""
        return f"cuda:{self.local_rank}" if self.enabled and device == "cuda" else device


SINGLE = Context()


def setup(device: str = "cpu") -> Context:
    """Join the torchrun process group (idempotent); the single-process context otherwise."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return SINGLE
    import torch.distributed as dist

    context = Context(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        import atexit

        dist.init_process_group(backend="nccl" if str(device).startswith("cuda") else "gloo")
        # leave the group before the interpreter exits: a gloo group torn down by the exit itself
        # can abort a rank ("terminate called without an active exception"), seen under load
        atexit.register(_leave)
    return context


def _leave() -> None:
    import gc

    import torch.distributed as dist

    if dist.is_initialized():
        gc.collect()  # finished collectives' work objects (holding tensors) go before the group's threads stop
        dist.destroy_process_group()


def average_gradients(parameters, context: Context) -> None:
    """All-reduce and average the ``.grad`` of ``parameters`` over ranks (no-op for one process).

    A parameter without a gradient on this rank takes part with zeros, so every rank
    calls the same collectives in the same order.
    """
    if not context.enabled:
        return
    import torch
    import torch.distributed as dist

    for parameter in parameters:
        if not parameter.requires_grad:
            continue
        if parameter.grad is None:
            parameter.grad = torch.zeros_like(parameter)
        dist.all_reduce(parameter.grad, op=dist.ReduceOp.SUM)
        parameter.grad.div_(context.world_size)


def average_floats(values: dict[str, float], context: Context) -> dict[str, float]:
    """Mean over ranks of each float (same keys on every rank), for the log."""
    if not context.enabled or not values:
        return values
    import torch
    import torch.distributed as dist

    keys = sorted(values)
    tensor = torch.tensor([float(values[key]) for key in keys], dtype=torch.float64)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    mean = (tensor / context.world_size).tolist()
    return {key: mean[keys.index(key)] for key in values}


def check_same_state(state: dict, context: Context) -> None:
    """Raise when the ranks did not build identical networks (a seeding bug)."""
    if not context.enabled:
        return
    import torch
    import torch.distributed as dist

    total = torch.zeros((), dtype=torch.float64)
    for tensor in _tensors(state):
        if tensor.is_floating_point():
            total += tensor.detach().double().sum().cpu()
    gathered = [torch.zeros((), dtype=torch.float64) for _ in range(context.world_size)]
    dist.all_gather(gathered, total)
    if any(value.item() != gathered[0].item() for value in gathered):
        raise TfbenchError("the data-parallel processes built different networks; the trainer must initialise "
                           "only from torch.manual_seed (called by the loop)")


def barrier(context: Context) -> None:
    if context.enabled:
        import torch.distributed as dist

        dist.barrier()


def _tensors(value):
    import torch

    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, dict):
        for key in sorted(value, key=str):
            yield from _tensors(value[key])
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item)
