"""The min-char-rnn preset against the line-by-line reference (min_char_rnn_reference.py).

min-char-rnn is chaotic: test_the_algorithm_is_chaotic shows a 1e-15 change to one initial
weight of the reference changing its loss sequence within a few dozen iterations. The two
implementations round differently (batched products and reductions in another order), so run
free they part the same way. The lockstep test therefore runs both loops side by side for 500
iterations, each with its own data pointer, resets, carried hidden state, sampling and RNG, and
after comparing each iteration copies the reference's weights and Adagrad memory into the preset:
every loss, smoothed loss, sample, hidden state and update must then agree.
"""

import numpy as np
import pytest
from min_char_rnn_reference import train

from rnnkit.numpy import MIN_CHAR_RNN, MinCharRNN, MinCharRNNConfig

# reference name -> the preset's (torch) name
NAMES = {
    "Wxh": "rnn.weight_ih_l0",
    "Whh": "rnn.weight_hh_l0",
    "Why": "head.weight",
    "bh": "rnn.bias_ih_l0",
    "by": "head.bias",
}


def make_text(n_words: int = 300, seed: int = 0) -> str:
    words = ["the ", "cat ", "sat ", "on ", "a ", "mat.\n", "and ", "dog ", "ran ", "far, "]
    rng = np.random.RandomState(seed)
    return "".join(words[i] for i in rng.randint(0, len(words), n_words))


def encode(text: str) -> tuple[np.ndarray, list[str]]:
    chars = sorted(set(text))
    return np.array([chars.index(c) for c in text]), chars


def test_first_500_iterations_equal_the_reference():
    text = make_text()  # ~1200 characters: the data pointer wraps about every 50 iterations
    ids, chars = encode(text)
    ref, preset = train(text, seed=3), MinCharRNN(ids, len(chars), seed=3)
    params = preset.model.params
    samples = 0
    for n in range(500):
        ours, theirs = preset.step(), next(ref)
        assert ours.iteration == theirs["n"] == n
        assert ours.loss == pytest.approx(theirs["loss"], rel=1e-12, abs=0), n
        assert ours.smooth_loss == pytest.approx(theirs["smooth_loss"], rel=1e-12), n
        if theirs["sample"] is not None:
            assert "".join(chars[i] for i in ours.sample) == theirs["sample"], n
            samples += 1
        else:
            assert ours.sample is None
        np.testing.assert_allclose(preset.h.ravel(), theirs["hprev"].ravel(), atol=1e-12)
        np.testing.assert_array_equal(params["rnn.bias_hh_l0"], 0)  # frozen
        for name, value, memory in zip(
            NAMES.values(), theirs["params"], theirs["memory"], strict=True
        ):
            np.testing.assert_allclose(params[name].ravel(), value.ravel(), atol=1e-10)
            params[name][...] = value.reshape(params[name].shape)  # lockstep: see the docstring
            preset.optimizer.buffers[f"sum/{name}"][...] = memory.reshape(params[name].shape)
    assert samples == 5


def test_the_algorithm_is_chaotic():
    """Why the lockstep: the reference against itself, one weight changed by 1e-15 relative."""
    text = make_text()
    a, b = train(text, seed=3, sample_every=0), train(text, seed=3, sample_every=0)
    next(a)
    next(b)["params"][1][0, 0] *= 1 + 1e-15  # Whh[0, 0]
    gaps = [abs(next(a)["loss"] - next(b)["loss"]) / 25 for _ in range(150)]  # nats per char
    assert max(gaps[:3]) < 1e-12 and max(gaps) > 1e-4  # from ~1e-16 to > 1e-4


def test_resume_from_state_dict_continues_identically():
    ids, chars = encode(make_text(100))
    a = MinCharRNN(ids, len(chars), seed=0)
    for _ in range(30):
        a.step()
    b = MinCharRNN(ids, len(chars), seed=99)
    b.load_state_dict(a.state_dict())
    for _ in range(120):  # crosses a data wrap and a sample
        sa, sb = a.step(), b.step()
        assert sa == sb


def test_config_and_data_errors():
    ids, chars = encode(make_text(100))
    assert MIN_CHAR_RNN == MinCharRNNConfig(hidden_size=100, seq_length=25, learning_rate=0.1)
    with pytest.raises(ValueError, match="more than seq_length"):
        MinCharRNN(ids[:26], len(chars))
    with pytest.raises(ValueError, match="1-D integer ids"):
        MinCharRNN(ids.astype(float), len(chars))
    a = MinCharRNN(ids, len(chars), config=MinCharRNNConfig(hidden_size=10))
    with pytest.raises(ValueError, match="another config"):
        MinCharRNN(ids, len(chars)).load_state_dict(a.state_dict())
