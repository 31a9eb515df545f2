"""Scale-out with torchrun and DistributedDataParallel: PyTorch's own engine, never ours.

``torchrun --nproc-per-node N -m rnnkit TASK train ...`` starts N processes with RANK,
WORLD_SIZE and LOCAL_RANK in their environment. ``session()`` (held by ``open_run`` around a
run) joins them in a process group (gloo on the CPU, NCCL for CUDA tensors) and leaves it at
the end; ``current()`` is the ``Distributed`` record of this process. A process started
without torchrun's environment is world size 1: no process group, nothing changes.

What the rest of the stack does with it:

- ``TorchEngine`` wraps the model in DDP (which averages the gradients), sums each rank's share
  of the loss so that the logged loss is the global batch's, and gathers the carried state of
  the ranks' streams for checkpoints;
- the tasks give each rank its part of the global batch (``--batch-size`` stays global and must
  divide by the world size; ``split_batch_size``, ``shard``);
- ``Trainer`` runs on every rank, with rank 0's clock and Ctrl-C (``from_main``), and only rank
  0 writes the run directory and prints; ``open_run`` lets rank 0 alone claim the directory
  (``agree``: the other ranks raise rank 0's error, if any).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from rnnkit.train.config import ConfigError

ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class Distributed:
    """This process's place among the training processes: ``rank`` of ``world_size`` (and its
    ``local_rank`` on its machine, which picks its GPU)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes the run directory and prints."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        """More than one process: collectives are needed."""
        return self.world_size > 1


def from_env(environ: Any = None) -> Distributed:
    """The record torchrun's environment describes (world size 1 without it)."""
    env = os.environ if environ is None else environ
    if "WORLD_SIZE" not in env:
        return Distributed()
    try:
        rank, world, local = (int(env.get(k, "0")) for k in ENV)
    except ValueError:
        raise ConfigError(
            f"torchrun's environment: expected integers in RANK, WORLD_SIZE and LOCAL_RANK, got "
            f"{[env.get(k) for k in ENV]}; start the run with torchrun"
        ) from None
    if not (world >= 1 and 0 <= rank < world and local >= 0):
        raise ConfigError(
            f"torchrun's environment: expected 0 <= RANK < WORLD_SIZE, got RANK={rank}, "
            f"WORLD_SIZE={world}; start the run with torchrun"
        )
    return Distributed(rank, world, local)


def current() -> Distributed:
    """This process's record in the process group (``session``); world size 1 when no group
    is up (one process, or torchrun's processes outside a session: each on its own)."""
    found = from_env()
    if not found.enabled:
        return found
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return Distributed(dist.get_rank(), dist.get_world_size(), found.local_rank)
    return Distributed()


def _backend() -> str:
    """gloo for CPU tensors, and NCCL for CUDA tensors where there is CUDA."""
    import torch

    return "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"


@contextlib.contextmanager
def session() -> Iterator[Distributed]:
    """Join torchrun's process group for the block (when WORLD_SIZE > 1 and no group is up
    yet), and leave it after; yields this process's record."""
    found = from_env()
    if not found.enabled:  # one process: torch.distributed is not even imported
        yield found
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():  # the caller's own group
        yield current()
        return
    if not dist.is_available():
        raise ConfigError("torchrun: this torch build has no torch.distributed; run one process")
    import torch

    if torch.cuda.is_available():
        torch.cuda.set_device(found.local_rank)
    dist.init_process_group(_backend())
    try:
        yield current()
        # every rank done before any tears its connections down (gloo aborts a process whose
        # peer closes a socket it is still reading)
        dist.barrier()
    finally:
        dist.destroy_process_group()


# ---------------------------------------------------------------------------------------------
# what the ranks share


def agree(error: BaseException | None) -> None:
    """Rank 0's outcome of a step that it alone took (claiming the run directory): every rank
    calls this; the others raise rank 0's error as a ConfigError of the same words."""
    info = current()
    if not info.enabled:
        return
    import torch.distributed as dist

    message = [None if error is None else str(error) or type(error).__name__]
    dist.broadcast_object_list(message, src=0)
    if message[0] is not None and not info.is_main:
        raise ConfigError(message[0])


def from_main(*values: float) -> tuple[float, ...]:
    """Rank 0's ``values`` on every rank (its clock, its Ctrl-C): the ranks decide alike."""
    if not current().enabled:
        return values
    import torch
    import torch.distributed as dist

    tensor = torch.tensor(values, dtype=torch.float64)
    dist.broadcast(tensor, src=0)
    return tuple(tensor.tolist())


def sum_over_ranks(*values: float) -> tuple[float, ...]:
    """The sum of ``values`` over the ranks (the loss of the global batch, its items)."""
    if not current().enabled:
        return values
    import torch
    import torch.distributed as dist

    tensor = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(tensor)
    return tuple(tensor.tolist())


def barrier() -> None:
    """Wait until every rank is here (one process: return at once)."""
    if current().enabled:
        import torch.distributed as dist

        dist.barrier()


def gather(tensor: Any, dim: int = 0) -> Any:
    """The ranks' ``tensor`` (same shape on each) joined along ``dim`` in rank order."""
    if not current().enabled:
        return tensor
    import torch
    import torch.distributed as dist

    parts = [torch.empty_like(tensor) for _ in range(current().world_size)]
    dist.all_gather(parts, tensor)
    return torch.cat(parts, dim)


def split_batch_size(batch_size: int, flag: str = "--batch-size") -> int:
    """Each rank's part of the global ``batch_size``; a size that does not divide by the world
    size is refused."""
    world = current().world_size
    if batch_size % world:
        raise ConfigError(
            f"{flag} {batch_size}: the global batch is split over the {world} processes of "
            f"torchrun, so it must divide by {world}; pass a multiple of {world}"
        )
    return batch_size // world


@dataclass(frozen=True)
class Shard:
    """This rank's part of a step's global batch: ``index`` (never empty, so that every rank
    runs the model) and ``empty`` (True: the part is a stand-in whose loss counts for 0)."""

    index: np.ndarray
    empty: bool


def shard(index: np.ndarray) -> Shard:
    """This rank's part of a global batch ``index``: the parts are as equal as can be (a last
    partial batch of an epoch too), in rank order."""
    info = current()
    part = np.array_split(index, info.world_size)[info.rank]
    return Shard(index[:1], True) if len(part) == 0 else Shard(part, False)


def rank_seed(seed: int, rank: int, step: int = 0) -> int:
    """The torch seed of rank ``rank`` > 0 (rank 0 keeps the run's seed), for dropout masks of
    its own; ``step`` for a run resumed at another world size."""
    return int(np.random.SeedSequence([seed, rank, step]).generate_state(1, np.uint64)[0] >> 1)
