"""rnnkit.train.checkpoint: round trips, atomic writes, and clear errors for bad files."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from rnnkit.train import checkpoint as ckpt
from rnnkit.train.checkpoint import (
    CheckpointError,
    load_checkpoint,
    resolve_checkpoint,
    save_checkpoint,
    strip_prefix,
    with_prefix,
)

META = {"task": "charlm", "step": 3, "config": {"lr": 0.1}, "vocab": "ab\n✓"}


def test_round_trip_torch_and_numpy(tmp_path):
    path = tmp_path / "c.safetensors"
    tensors = {"model.w": torch.randn(3, 4), "rng.torch": torch.get_rng_state()}
    tensors["state.0"] = np.arange(6, dtype=np.float32).reshape(2, 3)  # mixed: NumPy too
    save_checkpoint(path, tensors, META)
    loaded, meta = load_checkpoint(path, task="charlm")
    assert meta == {"format": ckpt.FORMAT_VERSION, **META}
    torch.testing.assert_close(loaded["model.w"], tensors["model.w"])
    assert torch.equal(loaded["rng.torch"], tensors["rng.torch"])
    np.testing.assert_array_equal(loaded["state.0"].numpy(), tensors["state.0"])
    as_numpy, _ = load_checkpoint(path, framework="np")
    assert isinstance(as_numpy["model.w"], np.ndarray)


def test_numpy_path_needs_no_torch(tmp_path):
    code = (
        "import sys, numpy as np\n"
        "from rnnkit.train.checkpoint import save_checkpoint, load_checkpoint\n"
        f"p = {str(tmp_path / 'n.safetensors')!r}\n"
        "save_checkpoint(p, {'model.w': np.ones((2, 2))}, {'task': 'charlm', 'engine': 'numpy'})\n"
        "t, m = load_checkpoint(p, task='charlm', framework='np')\n"
        "assert t['model.w'].sum() == 4 and m['engine'] == 'numpy'\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "last.safetensors"
    save_checkpoint(path, {"w": torch.zeros(2)}, META)
    before = path.read_bytes()

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(ckpt.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"w": torch.ones(2)}, META)
    assert path.read_bytes() == before  # the old checkpoint is whole
    assert os.listdir(tmp_path) == ["last.safetensors"]  # and no temporary file is left


def test_bad_files_give_clear_errors(tmp_path):
    path = tmp_path / "c.safetensors"
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_checkpoint(path)
    save_checkpoint(path, {"w": torch.randn(100)}, META)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(path)
    path.write_bytes(b"hello, I am text")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(path)
    save_file({"w": torch.zeros(1)}, str(path))  # safetensors, not rnnkit's
    with pytest.raises(CheckpointError, match="not an rnnkit checkpoint"):
        load_checkpoint(path)
    save_checkpoint(path, {"w": torch.zeros(1)}, {**META, "task": "forecast"})
    with pytest.raises(CheckpointError, match="a checkpoint of task 'forecast', expected 'charlm'"):
        load_checkpoint(path, task="charlm")
    newer = {"rnnkit": json.dumps({"format": ckpt.FORMAT_VERSION + 1, "task": "charlm"})}
    save_file({"w": torch.zeros(1)}, str(path), metadata=newer)
    with pytest.raises(CheckpointError, match="newer than this rnnkit"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="name its 'task'"):
        save_checkpoint(path, {}, {})


def test_resolve_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="no best.safetensors or last.safetensors"):
        resolve_checkpoint(tmp_path)
    save_checkpoint(tmp_path / "last.safetensors", {"w": torch.zeros(1)}, META)
    assert resolve_checkpoint(tmp_path) == tmp_path / "last.safetensors"
    save_checkpoint(tmp_path / "best.safetensors", {"w": torch.zeros(1)}, META)
    assert resolve_checkpoint(tmp_path) == tmp_path / "best.safetensors"
    assert resolve_checkpoint(tmp_path / "last.safetensors") == tmp_path / "last.safetensors"
    with pytest.raises(CheckpointError, match="no such run directory"):
        resolve_checkpoint(tmp_path / "nope")


def test_prefixes():
    sd = {"embed.weight": 1, "head.bias": 2}
    assert with_prefix("model", sd) == {"model.embed.weight": 1, "model.head.bias": 2}
    assert strip_prefix("model", {**with_prefix("model", sd), "optim.0.x": 3}) == sd
