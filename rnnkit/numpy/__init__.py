"""rnnkit.numpy: the NumPy engine (imports NumPy only, never torch).

min-char-rnn generalized: forward and hand-written backward through time for RNN (tanh/relu),
LSTM and GRU layers, stacked, over B streams at once, with torch.nn's parameter names, shapes,
gate order and equations, so weights move between this engine and the torch one.

    model = CharRNN(vocab_size=65, hidden_size=128, num_layers=2, model="lstm", dtype=np.float32)
    opt = Adam(lr=2e-3)
    state = model.init_state(batch_size)
    loss, grads, state = model.loss_and_grads(x, y, state)     # x, y: (B, T) ids; loss in nats/char
    clip_grad_norm(grads, 5.0)
    opt.step(model.params, grads)
    logp, _ = model.log_probs(x, model.init_state(B))          # (B, T, V), for evaluation
    ids = model.sample([prime_id], 200, temperature=0.8, rng=np.random.default_rng(0))

``MinCharRNN`` (presets.py) is Karpathy's min-char-rnn training loop, reproduced exactly.

Modules: layers (RNN, LSTM, GRU), model (Embedding, Linear, SoftmaxCrossEntropy, CharRNN),
optim (clipping, SGD, Adagrad, RMSProp, Adam), gradcheck (finite differences), presets.
"""

from rnnkit.numpy.gradcheck import check_gradients, numerical_gradient, relative_error
from rnnkit.numpy.layers import GRU, LSTM, RNN
from rnnkit.numpy.model import CharRNN, Embedding, Linear, SoftmaxCrossEntropy, State
from rnnkit.numpy.optim import (
    SGD,
    Adagrad,
    Adam,
    Optimizer,
    RMSProp,
    clip_elementwise,
    clip_grad_norm,
)
from rnnkit.numpy.presets import (
    MIN_CHAR_RNN,
    MinCharRNN,
    MinCharRNNConfig,
    Step,
    min_char_rnn_model,
)

__all__ = [
    "RNN",
    "LSTM",
    "GRU",
    "Embedding",
    "Linear",
    "SoftmaxCrossEntropy",
    "CharRNN",
    "State",
    "Optimizer",
    "SGD",
    "Adagrad",
    "RMSProp",
    "Adam",
    "clip_elementwise",
    "clip_grad_norm",
    "numerical_gradient",
    "relative_error",
    "check_gradients",
    "MIN_CHAR_RNN",
    "MinCharRNNConfig",
    "MinCharRNN",
    "Step",
    "min_char_rnn_model",
]
