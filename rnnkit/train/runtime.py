"""Where and how a run trains: seeds, the device, CPU threads, and the record of it all
(versions, device, threads) that summary.json and every checkpoint carry."""

from __future__ import annotations

import os
import platform
import random
import sys
from typing import Any

import numpy as np

from rnnkit import __version__
from rnnkit.train.config import ConfigError, check_device


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's random generators."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _mps_available() -> bool:
    import torch

    mps = getattr(torch.backends, "mps", None)
    return mps is not None and mps.is_available()


def resolve_device(name: str):
    """The ``torch.device`` of ``--device name``: auto is cuda when torch sees a CUDA device,
    else mps when it sees Apple's, else cpu; a device torch cannot use here is a ConfigError."""
    import torch

    check_device(name)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu"
    elif name.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if not count:
            raise ConfigError(
                f"--device {name}: torch sees no CUDA device here; use --device auto or cpu"
            )
        index = int(name.partition(":")[2] or 0)
        if index >= count:
            raise ConfigError(
                f"--device {name}: torch sees {count} CUDA device(s) here (cuda:0..cuda:"
                f"{count - 1}); pass one of them, or --device auto"
            )
    elif name == "mps" and not _mps_available():
        raise ConfigError(
            "--device mps: torch sees no Apple MPS device here; use --device auto or cpu"
        )
    return torch.device(name)


# --threads 0 (auto): one thread below this many parameters, else half the cores, at most
# AUTO_MAX_THREADS (benchmarks/threads.py: small matrices gain little from more threads; on a
# machine with other work, threads on every core wait for one another at each matrix product,
# 2 threads on 2 cores ran charlm's default model 7x slower than 1; one time step's products
# are too small to split over more than about 4)
MANY_PARAMETERS = 500_000
AUTO_MAX_THREADS = 4


def cpu_cores() -> int:
    """The CPU cores this process may run on (its affinity mask, where the OS tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def resolve_threads(threads: int, parameters: int) -> int:
    """The CPU threads of ``--threads threads`` for a model of ``parameters`` parameters: the
    number given, or for 0 (auto) 1 below ``MANY_PARAMETERS``, else half the cores (those of
    this process, when torchrun starts several on this machine), at most 4."""
    if threads:
        return threads
    if parameters < MANY_PARAMETERS:
        return 1
    local_processes = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))
    return max(1, min(cpu_cores() // local_processes // 2, AUTO_MAX_THREADS))


def runtime_info(engine: Any) -> dict[str, Any]:
    """What a run trains with, for summary.json and every checkpoint: the rnnkit, torch (None
    when not loaded), NumPy and Python versions, and ``engine``'s device (resolved: "cpu",
    "cuda:0" ...) and CPU threads."""
    torch = sys.modules.get("torch")
    return {
        "rnnkit": __version__,
        "torch": str(torch.__version__) if torch is not None else None,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "device": str(getattr(engine, "device", "cpu")),
        "threads": getattr(engine, "threads", None),
    }
