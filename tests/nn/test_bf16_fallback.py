"""bf16 autocast where torch's fused kernel is missing (oneDNN on AVX2-only CPUs): the probe, the
fallback to the reference path, the error of impl="fused", and charlm training end to end.

The missing kernel is simulated (torch._VF's functions raise oneDNN's error in 16 bits), and so
is a working one, so no verdict here depends on the CPU the tests run on.
"""

import pytest
import torch
from torch import _VF
from torch.nn.utils.rnn import pack_padded_sequence

import rnnkit.nn as rnn
from rnnkit.nn import recurrent
from rnnkit.nn.recurrent import fused_kernel_available

ONEDNN_ERROR = (
    "could not create a primitive descriptor for the LSTM forward propagation primitive. Run "
    "workload with environment variable ONEDNN_VERBOSE=all to get additional diagnostic "
    "information."
)
KERNELS = ("lstm", "gru", "rnn_tanh", "rnn_relu")
L, N, H_IN, H = 5, 3, 4, 6
# what torch.nn's fused layers return under CPU bf16 autocast where the kernel runs
EXPECTED_DTYPE = {"LSTM": torch.bfloat16, "GRU": torch.float32, "RNN": torch.bfloat16}


@pytest.fixture(autouse=True)
def fresh_probe():
    """Each test probes anew, and leaves no verdict behind for other tests."""
    fused_kernel_available.cache_clear()
    yield
    fused_kernel_available.cache_clear()


@pytest.fixture
def kernel_calls(monkeypatch):
    """torch's fused kernels fail in 16 bits as oneDNN does on AVX2-only CPUs; float32 calls run.

    Returns the list of (kernel, input dtype) of every call, failed or not.
    """
    calls = []

    def missing(name):
        real = getattr(_VF, name)

        def kernel(input, *args):
            calls.append((name, input.dtype))
            if input.dtype in (torch.bfloat16, torch.float16) or torch.is_autocast_enabled("cpu"):
                raise RuntimeError(ONEDNN_ERROR)
            return real(input, *args)

        return kernel

    for name in KERNELS:
        monkeypatch.setattr(_VF, name, missing(name))
    return calls


def working_kernel(input, hx, params, *args):
    """Stands in for a fused kernel that runs: an output that depends on every weight."""
    output = input.float() + sum(p.float().sum() for p in params)  # (L, N, H_in)
    return output, hx


@pytest.fixture
def paths(monkeypatch):
    """Records which path each forward takes; the fused path runs the reference math, so a
    layer reaches it without calling a real kernel."""
    taken = []
    reference = recurrent._RNNBase._reference

    def fused(self, x, h0, c0, packed):
        taken.append("fused")
        return reference(self, x, h0, c0, None)

    def ref(self, *args):
        taken.append("reference")
        return reference(self, *args)

    monkeypatch.setattr(recurrent._RNNBase, "_fused", fused)
    monkeypatch.setattr(recurrent._RNNBase, "_reference", ref)
    return taken


def make(cls: str, seed: int = 0, **kw):
    torch.manual_seed(seed)
    return getattr(rnn, cls)(H_IN, H, **kw), torch.randn(L, N, H_IN)


def states(state) -> tuple:
    return state if isinstance(state, tuple) else (state,)


# --- the probe -------------------------------------------------------------------------------


def test_probe_detects_the_missing_kernel(kernel_calls):
    assert not fused_kernel_available("LSTM", "cpu", torch.bfloat16)
    assert kernel_calls[0] == ("lstm", torch.float32)  # the first try: under autocast


def test_probe_detects_a_working_kernel(monkeypatch):
    monkeypatch.setattr(_VF, "lstm", working_kernel)
    assert fused_kernel_available("LSTM", "cpu", torch.bfloat16)


def test_probe_runs_once_per_mode_device_and_dtype(kernel_calls):
    assert not fused_kernel_available("LSTM", "cpu", torch.bfloat16)
    probes = len(kernel_calls)
    assert not fused_kernel_available("LSTM", "cpu", torch.bfloat16)
    assert len(kernel_calls) == probes  # cached
    assert not fused_kernel_available("GRU", "cpu", torch.bfloat16)
    assert len(kernel_calls) > probes  # another mode: probed


def test_float32_never_probes(monkeypatch, kernel_calls):
    def probe(*args):
        raise AssertionError("probed in float32")

    monkeypatch.setattr(recurrent, "fused_kernel_available", probe)
    layer, x = make("LSTM")
    layer(x)
    assert kernel_calls == [("lstm", torch.float32)]  # the fused kernel, straight away


# --- the fallback ----------------------------------------------------------------------------


@pytest.mark.parametrize("cls", ["LSTM", "GRU", "RNN"])
def test_missing_kernel_falls_back_to_the_reference_path(cls, kernel_calls):
    layer, x = make(cls, num_layers=2, bidirectional=True)
    want, want_state = layer(x)  # float32: the fused kernel
    want_grads = torch.autograd.grad(want.sum(), list(layer.parameters()))
    with torch.autocast("cpu", torch.bfloat16):
        got, got_state = layer(x)
    for tensor in (got, *states(got_state)):
        assert tensor.dtype == EXPECTED_DTYPE[cls]
    torch.testing.assert_close(got.float(), want, atol=5e-2, rtol=0)
    for g, w in zip(states(got_state), states(want_state), strict=True):
        torch.testing.assert_close(g.float(), w, atol=5e-2, rtol=0)
    grads = torch.autograd.grad(got.float().sum(), list(layer.parameters()))
    for g, w in zip(grads, want_grads, strict=True):
        torch.testing.assert_close(g, w, atol=5e-2, rtol=5e-2)  # bf16: ~1% of the gradient


def test_fallback_with_packed_input_and_carried_state(kernel_calls):
    layer, x = make("LSTM", batch_first=True)
    x = x.transpose(0, 1)  # (N, L, H_in)
    state = (torch.zeros(1, N, H), torch.zeros(1, N, H))  # float32, carried in
    packed = pack_padded_sequence(x, torch.tensor([5, 3, 2]), batch_first=True)
    want, (want_h, _) = layer(packed, state)
    with torch.autocast("cpu", torch.bfloat16):
        got, (got_h, got_c) = layer(packed, state)
    assert got.data.dtype == got_h.dtype == got_c.dtype == torch.float32  # as torch's packed LSTM
    torch.testing.assert_close(got.data, want.data, atol=5e-2, rtol=0)
    torch.testing.assert_close(got_h, want_h, atol=5e-2, rtol=0)


def test_bf16_weights_and_input_fall_back_without_autocast(kernel_calls):
    layer, x = make("LSTM")
    want, _ = layer(x)
    got, (h, c) = layer.bfloat16()(x.bfloat16())
    assert got.dtype == h.dtype == c.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), want, atol=5e-2, rtol=0)


def test_bf16_input_into_float32_weights_under_autocast(kernel_calls):
    layer, x = make("LSTM")
    want, _ = layer(x)
    with torch.autocast("cpu", torch.bfloat16):  # as torch.nn.LSTM, autocast casts the weights
        got, (h, c) = layer(x.bfloat16())
    assert got.dtype == h.dtype == c.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), want, atol=5e-2, rtol=0)


@pytest.mark.parametrize("cls", ["LSTM", "GRU", "RNN"])
def test_missing_kernel_runs_the_reference_path(cls, kernel_calls, paths):
    layer, x = make(cls)
    with torch.autocast("cpu", torch.bfloat16):
        layer(x)
    assert paths == ["reference"]


@pytest.mark.parametrize("cls", ["LSTM", "GRU", "RNN"])
def test_available_kernel_runs_the_fused_path(cls, monkeypatch, paths):
    for name in KERNELS:
        monkeypatch.setattr(_VF, name, working_kernel)
    layer, x = make(cls)
    with torch.autocast("cpu", torch.bfloat16):
        layer(x)
    assert paths == ["fused"]
    assert fused_kernel_available(layer.mode, "cpu", torch.bfloat16)


def test_impl_fused_without_the_kernel_says_what_to_do(kernel_calls):
    layer, x = make("LSTM", impl="fused")
    with torch.autocast("cpu", torch.bfloat16), pytest.raises(RuntimeError) as error:
        layer(x)
    message = str(error.value)
    assert "LSTM" in message and "bfloat16" in message and "AVX2" in message
    assert "impl='auto' or impl='reference'" in message and "float32" in message
    assert "primitive descriptor" not in message


def test_impl_reference_never_probes(monkeypatch):
    def probe(*args):
        raise AssertionError("probed with impl='reference'")

    monkeypatch.setattr(recurrent, "fused_kernel_available", probe)
    layer, x = make("GRU", impl="reference")
    with torch.autocast("cpu", torch.bfloat16):
        layer(x)


# --- end to end ------------------------------------------------------------------------------


def test_charlm_trains_in_bf16_without_the_kernel(tmp_path, kernel_calls):
    from rnnkit.cli import main

    text = "The quick brown fox jumps over the lazy dog, and back again.\n" * 60  # ~3.7 KB
    data = tmp_path / "corpus.txt"
    data.write_text(text, encoding="utf-8")
    torch.manual_seed(0)
    args = [
        "charlm", "train", "--data", str(data), "--out", str(tmp_path / "run"),
        "--precision", "bf16", "--max-steps", "6", "--eval-every", "3", "--batch-size", "4",
        "--seq-length", "16", "--hidden-size", "16", "--embedding-size", "8",
        "--eval-chars", "200", "--sample-every", "0", "--no-tensorboard", "--threads", "1",
    ]  # fmt: skip
    assert main(args) == 0
    assert ("lstm", torch.float32) in kernel_calls  # the probe met the missing kernel
