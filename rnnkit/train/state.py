"""Training state <-> checkpoint tensors and JSON, for both engines.

A full checkpoint holds the weights as ``model.<key>``, the optimizer's buffers as
``optim.<index or slot>.<name>`` (its scalars in meta["optim"]), the recurrent state carried
across batches as ``state`` (one tensor) or ``state.0``, ``state.1`` ... (a tuple) with its
arity in meta["state"] (-1 one tensor, n a tuple, None no state), and the random generators'
states (torch's as tensors ``rng.*``, Python's and NumPy's in meta["rng"]).
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from rnnkit.train.checkpoint import strip_prefix

State = Any  # a tensor/array, a tuple of them, or None


def state_to_tensors(state: State) -> tuple[dict[str, Any], int | None]:
    """(tensors, n): {"state": h}, -1; {"state.0": h, "state.1": c}, 2; or {}, None."""
    if state is None:
        return {}, None
    if isinstance(state, tuple):
        return {f"state.{i}": s for i, s in enumerate(state)}, len(state)
    return {"state": state}, -1


def state_from_tensors(tensors: dict[str, Any], n: int | None, device=None) -> State:
    """The state back from ``state_to_tensors``'s tensors and ``n`` (torch: on ``device``)."""
    if n is None:
        return None
    move = (lambda t: t.to(device)) if device is not None else (lambda t: t)
    if n == -1:
        return move(tensors["state"])
    return tuple(move(tensors[f"state.{i}"]) for i in range(n))


def detach(state: State) -> State:
    """The carried state cut from the graph of the batch that made it."""
    if state is None or isinstance(state, torch.Tensor):
        return None if state is None else state.detach()
    return tuple(s.detach() for s in state)


# ---------------------------------------------------------------------------------------------
# torch.optim and the random generators


def torch_optimizer_to_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, Any], dict]:
    """torch.optim's state_dict as tensors ``optim.<param index>.<key>`` and JSON meta."""
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for index, param_state in sd["state"].items():
        for key, value in param_state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{index}.{key}"] = value
            else:
                scalars[f"{index}.{key}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def torch_optimizer_from_tensors(opt: torch.optim.Optimizer, tensors: dict, meta: dict) -> None:
    """Load ``torch_optimizer_to_tensors``'s tensors and meta into ``opt``."""
    state: dict[int, dict[str, Any]] = {}
    for name, value in strip_prefix("optim", tensors).items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    for name, value in meta["scalars"].items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def rng_to_tensors() -> tuple[dict[str, torch.Tensor], dict]:
    """torch's (and CUDA's) generator states as tensors; Python's and NumPy's as JSON."""
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    version, mt, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    meta = {
        "python": [version, list(mt), gauss],
        "numpy": [name, keys.tolist(), pos, has_gauss, cached],
    }
    return tensors, meta


def rng_from_tensors(tensors: dict, meta: dict) -> None:
    """Set every generator back to the state of ``rng_to_tensors``."""
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    version, mt, gauss = meta["python"]
    random.setstate((version, tuple(mt), gauss))
    name, keys, pos, has_gauss, cached = meta["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))


# ---------------------------------------------------------------------------------------------
# the NumPy engine's optimizers


def numpy_optimizer_to_tensors(opt: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """An ``rnnkit.numpy`` optimizer's buffers "slot/param" -> "optim.slot.param"; scalars ->
    meta."""
    scalars = opt.state_dict()
    buffers = scalars.pop("buffers")
    return {"optim." + k.replace("/", ".", 1): v for k, v in buffers.items()}, scalars


def numpy_optimizer_state(tensors: dict[str, np.ndarray], scalars: dict[str, Any]) -> dict:
    """The optimizer's state_dict back from ``numpy_optimizer_to_tensors``'s output."""
    buffers = {k.replace(".", "/", 1): v for k, v in strip_prefix("optim", tensors).items()}
    return scalars | {"buffers": buffers}
