"""rnnkit: recurrent neural networks (RNN, LSTM, GRU) on PyTorch, with ready pipelines."""

__version__ = "0.1.0"
