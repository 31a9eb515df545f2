"""torch's fused recurrent kernels: which one each mode calls, and whether it runs in 16 bits.

``_FUSED`` names the ``torch._VF`` function of each mode (looked up at each call, so a test can
stand in for the kernel) and ``_GATES`` its gate count. On AVX2-only CPUs (no AVX-512 BF16/AMX)
oneDNN has no 16-bit LSTM, and even torch.nn.LSTM fails under bf16 autocast; so before a layer
calls a kernel in 16 bits (autocast's dtype, or a CPU input's own: ``_low_precision_dtype``) it
asks ``fused_kernel_available``, a tiny call of the kernel made once per process and cached.
"""

from __future__ import annotations

import functools

import torch
from torch import _VF, Tensor

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}
# looked up on _VF at each call, so a test can stand in for the kernel
_FUSED = {"RNN_TANH": "rnn_tanh", "RNN_RELU": "rnn_relu", "LSTM": "lstm", "GRU": "gru"}
_LOW_PRECISION = (torch.bfloat16, torch.float16)


if hasattr(torch, "get_autocast_dtype"):  # torch >= 2.4

    def _autocast_dtype(device_type: str) -> torch.dtype | None:
        """The dtype autocast computes in on ``device_type``, or None when it is off there."""
        if not torch.is_autocast_enabled(device_type):
            return None
        return torch.get_autocast_dtype(device_type)

else:  # torch 2.3: one function per device type

    def _autocast_dtype(device_type: str) -> torch.dtype | None:
        """The dtype autocast computes in on ``device_type``, or None when it is off there."""
        if device_type == "cpu" and torch.is_autocast_cpu_enabled():
            return torch.get_autocast_cpu_dtype()
        if device_type == "cuda" and torch.is_autocast_enabled():
            return torch.get_autocast_gpu_dtype()
        return None


def _low_precision_dtype(x: Tensor) -> torch.dtype | None:
    """The 16-bit dtype a fused kernel would compute x in: autocast's, or a CPU input's own."""
    dtype = _autocast_dtype(x.device.type)
    if dtype is None and x.device.type == "cpu":
        dtype = x.dtype
    return dtype if dtype in _LOW_PRECISION else None


@functools.cache
def fused_kernel_available(mode: str, device_type: str, dtype: torch.dtype) -> bool:
    """Whether torch's fused kernel for ``mode`` ("RNN_TANH", "RNN_RELU", "LSTM", "GRU") runs in
    ``dtype`` on ``device_type``.

    Probed once per arguments on 1x1x1 tensors, both ways a layer reaches it (float32 tensors
    under autocast to ``dtype``, and tensors of ``dtype``), each in training with a backward and
    in inference; any RuntimeError (oneDNN's "could not create a primitive descriptor") means
    no. Cached: ``fused_kernel_available.cache_clear()`` probes again.
    """
    fn = getattr(_VF, _FUSED[mode])
    gates = _GATES[mode]

    def call(tensor_dtype: torch.dtype, train: bool) -> Tensor:
        new = functools.partial(torch.zeros, device=device_type, dtype=tensor_dtype)
        x, h = new(1, 1, 1), new(1, 1, 1)  # (L, N, H_in), (layers, N, H)
        weights = [new(gates, 1), new(gates, 1), new(gates), new(gates)]  # w_ih w_hh b_ih b_hh
        for w in weights:
            w.requires_grad_(train)
        hx = (h, h) if mode == "LSTM" else h
        # bias, num_layers, dropout, train, bidirectional, batch_first
        output = fn(x, hx, weights, True, 1, 0.0, train, False, False)[0]  # (1, 1, 1)
        if train:
            output.sum().backward()
        return output

    try:
        with torch.inference_mode(False):
            for train in (True, False):
                with torch.set_grad_enabled(train):
                    with torch.autocast(device_type, dtype):
                        call(torch.float32, train)
                    with torch.autocast(device_type, enabled=False):
                        call(dtype, train)
    except RuntimeError:
        return False
    return True
