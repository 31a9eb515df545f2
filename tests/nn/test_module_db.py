"""Every sample input of torch's own module tests (module_db) gives torch's result in rnnkit."""

import warnings

import pytest
import torch

with warnings.catch_warnings():  # torch's test internals warn when hypothesis is absent
    warnings.simplefilter("ignore", ImportWarning)
    from torch.testing._internal.common_modules import module_db

import rnnkit.nn as rnn

OURS = {
    torch.nn.RNN: rnn.RNN,
    torch.nn.LSTM: rnn.LSTM,
    torch.nn.GRU: rnn.GRU,
    torch.nn.RNNCell: rnn.RNNCell,
    torch.nn.LSTMCell: rnn.LSTMCell,
    torch.nn.GRUCell: rnn.GRUCell,
}
INFOS = [info for info in module_db if info.module_cls in OURS]


def _samples(info, training, errors=False):
    func = info.module_error_inputs_func if errors else info.module_inputs_func
    if func is None:
        return []
    return func(info, device="cpu", dtype=torch.float32, requires_grad=True, training=training)


def _tensors(value):
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, torch.nn.utils.rnn.PackedSequence):
        return [value.data]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _tensors(v)]
    return []


def test_module_db_has_all_six():
    assert {info.module_cls for info in INFOS} == set(OURS)


@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("info", INFOS, ids=[i.module_cls.__name__ for i in INFOS])
def test_sample_inputs_match_torch(info, training, impl):
    samples = _samples(info, training)
    assert samples, "module_db gave no samples"
    for sample in samples:
        args, kwargs = sample.constructor_input.args, sample.constructor_input.kwargs
        theirs = info.module_cls(*args, **kwargs).train(training)
        ours = OURS[info.module_cls](*args, **kwargs, impl=impl).train(training)
        ours.load_state_dict(theirs.state_dict())
        fargs, fkwargs = sample.forward_input.args, sample.forward_input.kwargs
        expected = _tensors(theirs(*fargs, **fkwargs))
        actual = _tensors(ours(*fargs, **fkwargs))
        assert len(actual) == len(expected)
        for a, e in zip(actual, expected, strict=True):
            torch.testing.assert_close(a, e, atol=1e-5, rtol=1e-5)
        leaves = [t for t in _tensors(fargs) if t.requires_grad]
        weights = [torch.randn_like(e) for e in expected]
        g_ours, g_theirs = (
            torch.autograd.grad(
                sum((o * w).sum() for o, w in zip(outs, weights, strict=True)),
                leaves + list(module.parameters()),
            )
            for outs, module in ((actual, ours), (expected, theirs))
        )
        for a, e in zip(g_ours, g_theirs, strict=True):
            torch.testing.assert_close(a, e, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize("info", INFOS, ids=[i.module_cls.__name__ for i in INFOS])
def test_error_inputs_raise_as_torch(info, impl):
    for sample in _samples(info, True, errors=True):
        module_input = sample.module_error_input
        args = module_input.constructor_input.args
        kwargs = module_input.constructor_input.kwargs
        ours_cls = OURS[info.module_cls]
        if sample.error_on.name == "CONSTRUCTION_ERROR":
            with pytest.raises(sample.error_type):
                ours_cls(*args, **kwargs, impl=impl)
            continue
        ours = ours_cls(*args, **kwargs, impl=impl)
        fargs = module_input.forward_input.args
        with pytest.raises(sample.error_type, match=sample.error_regex):
            ours(*fargs, **module_input.forward_input.kwargs)
