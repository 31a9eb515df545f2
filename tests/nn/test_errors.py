"""Bad arguments and inputs: each names what was expected and what came."""

import warnings

import pytest
import torch

import rnnkit.nn as rnn


@pytest.mark.parametrize(
    "make,error,message",
    [
        (lambda: rnn.LSTM(0, 4), ValueError, "input_size must be greater than zero, got 0"),
        (lambda: rnn.GRU(3, -2), ValueError, "hidden_size must be greater than zero, got -2"),
        (lambda: rnn.RNN(3, 4, num_layers=0), ValueError, "num_layers must be greater than zero"),
        (lambda: rnn.LSTM(3.0, 4), TypeError, "input_size should be of type int, got float"),
        (lambda: rnn.LSTM(3, 4, dropout=1.5), ValueError, r"dropout must be a number in \[0, 1\]"),
        (lambda: rnn.LSTM(3, 4, dropout=-0.1), ValueError, "dropout must be a number"),
        (lambda: rnn.GRU(3, 4, recurrent_dropout=1.0), ValueError, "recurrent_dropout"),
        (lambda: rnn.GRU(3, 4, zoneout=-1), ValueError, "zoneout must be a number"),
        (lambda: rnn.GRU(3, 4, proj_size=2), ValueError, "proj_size is only supported by LSTM"),
        (lambda: rnn.RNN(3, 4, proj_size=2), ValueError, "proj_size is only supported by LSTM"),
        (lambda: rnn.LSTM(3, 4, proj_size=4), ValueError, "proj_size has to be smaller"),
        (lambda: rnn.LSTM(3, 4, proj_size=-1), ValueError, "proj_size should be a positive"),
        (lambda: rnn.RNN(3, 4, nonlinearity="gelu"), ValueError, "unknown nonlinearity 'gelu'"),
        (lambda: rnn.LSTM(3, 4, impl="cudnn"), ValueError, "impl must be one of"),
        (lambda: rnn.LSTM(3, 4, bias=False, forget_bias=1.0), ValueError, "forget_bias needs"),
        (lambda: rnn.LSTM(3, 4, batch_first=1), TypeError, "batch_first should be of type bool"),
    ],
)
def test_bad_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_dropout_with_one_layer_warns_as_torch_does():
    with pytest.warns(UserWarning, match="num_layers=1 does nothing"):
        rnn.LSTM(3, 4, dropout=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rnn.LSTM(3, 4, num_layers=2, dropout=0.5)


@pytest.mark.parametrize("impl", ["fused", "reference"])
def test_bad_inputs(impl):
    lstm = rnn.LSTM(3, 4, num_layers=2, impl=impl)
    gru = rnn.GRU(3, 4, impl=impl)
    x = torch.randn(5, 2, 3)
    cases = [
        (
            lambda: lstm(torch.randn(1, 5, 2, 3)),
            ValueError,
            "Expected input to be 2D or 3D, got 4D",
        ),
        (lambda: lstm(torch.randn(5, 2, 7)), RuntimeError, "Expected 3, got 7"),
        (lambda: lstm(x.double()), ValueError, r"input dtype \(torch.float64\) does not match"),
        (lambda: lstm(x, torch.zeros(2, 2, 4)), TypeError, r"tuple \(h_0, c_0\)"),
        (
            lambda: lstm(x, (torch.zeros(1, 2, 4), torch.zeros(2, 2, 4))),
            RuntimeError,
            r"expected h0 of shape \(2, 2, 4\).*got \(1, 2, 4\)",
        ),
        (
            lambda: lstm(x, (torch.zeros(2, 2, 4), torch.zeros(2, 3, 4))),
            RuntimeError,
            r"expected c0 of shape \(2, 2, 4\)",
        ),
        (
            lambda: lstm(x, (torch.zeros(2, 2, 4).double(), torch.zeros(2, 2, 4))),
            RuntimeError,
            "h0 has dtype torch.float64 but input has torch.float32",
        ),
        (
            lambda: gru(x, torch.zeros(1, 2, 4, device="meta")),
            RuntimeError,
            "h0 is on meta but input is on cpu",
        ),
        (lambda: gru(x, torch.zeros(2, 4)), RuntimeError, "batched 3-D input, h0 should be 3-D"),
        (
            lambda: gru(torch.randn(5, 3), torch.zeros(1, 2, 4)),
            RuntimeError,
            "unbatched 2-D input, h0 should be 2-D",
        ),
        (lambda: gru([1, 2, 3]), TypeError, "Tensor or PackedSequence, got list"),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()
