"""Recurrent layers and cells, drop-in compatible with torch.nn, plus extras torch lacks."""

from rnnkit.nn.attention import (
    SCORES,
    Attention,
    AttentionPooling,
    lengths_mask,
    masked_softmax,
    padded,
)
from rnnkit.nn.cells import GRUCell, LSTMCell, RNNCell
from rnnkit.nn.conv import ConvBlock, MaskedBatchNorm1d
from rnnkit.nn.decoding import Decoded, beam_search, greedy, sample, select_batch
from rnnkit.nn.glimpse import GaussianGlimpse, Glimpse, filterbanks, glimpse_params
from rnnkit.nn.losses import REGRESSION_LOSSES, pinball_loss, regression_loss
from rnnkit.nn.mdn import MixtureDensityHead, mdn_nll, mdn_sample
from rnnkit.nn.recurrent import GRU, LSTM, RNN
from rnnkit.nn.stn import SpatialTransformer
from rnnkit.nn.trace import Trace, TracedCall, trace

RNNS = {"lstm": LSTM, "gru": GRU, "rnn": RNN}  # the layer of a config's "lstm" | "gru" | "rnn"

__all__ = [
    "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "RNNS", "trace", "Trace", "TracedCall",
    "Attention", "AttentionPooling", "SCORES", "lengths_mask", "masked_softmax", "padded",
    "Decoded", "beam_search", "greedy", "sample", "select_batch",
    "ConvBlock", "MaskedBatchNorm1d",
    "REGRESSION_LOSSES", "pinball_loss", "regression_loss",
    "MixtureDensityHead", "mdn_nll", "mdn_sample",
    "GaussianGlimpse", "Glimpse", "filterbanks", "glimpse_params",
    "SpatialTransformer",
]  # fmt: skip
