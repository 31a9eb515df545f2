"""Forward+backward time of rnnkit.nn layers vs torch.nn, side by side in one run.

    python benchmarks/layers.py [--repeats 5] [--configs 100x64x512x512,25x1x65x100]

Contenders on the same inputs and weights, timed interleaved (one iteration of each in turn,
repeated), median reported:
- torch.nn.{RNN,LSTM,GRU} vs rnnkit.nn's auto path (the fused kernel) and reference path;
- the layer-norm LSTM (rnnkit, reference path) vs an idiomatic hand-written PyTorch loop.
The ratio column is peer time / rnnkit time: 1.00 means as fast, above 1 faster.
Goal: auto path >= 0.95x torch.nn. Config T x B x I x H (PyTorch's fastrnns defaults first).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

import rnnkit.nn as rnn

CONFIGS = ["100x64x512x512", "100x32x256x256", "25x1x65x100"]


class HandWrittenLayerNormLSTM(nn.Module):
    """How a layer-norm LSTM is usually written by hand: a step loop with nn.LayerNorm."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.ih = nn.Linear(input_size, 4 * hidden_size, bias=False)
        self.hh = nn.Linear(hidden_size, 4 * hidden_size)
        self.ln_ih = nn.LayerNorm(4 * hidden_size)
        self.ln_hh = nn.LayerNorm(4 * hidden_size)
        self.ln_c = nn.LayerNorm(hidden_size)

    def forward(self, x):  # x: (T, B, I)
        h = x.new_zeros(x.size(1), self.hidden_size)
        c = x.new_zeros(x.size(1), self.hidden_size)
        outputs = []
        for x_t in x:
            gates = self.ln_ih(self.ih(x_t)) + self.ln_hh(self.hh(h))  # (B, 4H)
            i, f, g, o = gates.chunk(4, 1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(self.ln_c(c))
            outputs.append(h)
        return torch.stack(outputs), (h, c)


def fwd_bwd(module: nn.Module, x: torch.Tensor) -> float:
    start = time.perf_counter()
    out, _ = module(x)
    out.sum().backward()
    elapsed = time.perf_counter() - start
    module.zero_grad(set_to_none=True)
    x.grad = None
    return elapsed


def race(contenders: dict[str, nn.Module], x: torch.Tensor, repeats: int) -> dict[str, float]:
    """Median seconds per forward+backward, the contenders interleaved."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for round_ in range(repeats + 1):
        for name, module in contenders.items():
            t = fwd_bwd(module, x)
            if round_ > 0:  # the first round warms up
                times[name].append(t)
    return {name: statistics.median(ts) for name, ts in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {args.threads} threads, median of {args.repeats}")
    header = f"{'T x B x I x H':<16} {'layer':<10} {'peer':<12} {'peer ms':>9} "
    header += f"{'auto ms':>9} {'ratio':>6} {'ref ms':>9} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    for config in args.configs.split(","):
        t, b, i, h = (int(v) for v in config.split("x"))
        x = torch.randn(t, b, i, requires_grad=True)
        for name, ours_cls, peer_cls in (
            ("RNN", rnn.RNN, nn.RNN),
            ("LSTM", rnn.LSTM, nn.LSTM),
            ("GRU", rnn.GRU, nn.GRU),
        ):
            peer = peer_cls(i, h)
            auto = ours_cls(i, h)
            auto.load_state_dict(peer.state_dict())
            reference = ours_cls(i, h, impl="reference")
            reference.load_state_dict(peer.state_dict())
            ms = race({"peer": peer, "auto": auto, "ref": reference}, x, args.repeats)
            ms = {k: v * 1e3 for k, v in ms.items()}
            print(
                f"{config:<16} {name:<10} {'torch.nn':<12} {ms['peer']:>9.2f} {ms['auto']:>9.2f} "
                f"{ms['peer'] / ms['auto']:>6.2f} {ms['ref']:>9.2f} {ms['peer'] / ms['ref']:>6.2f}"
            )
        peer = HandWrittenLayerNormLSTM(i, h)
        ours = rnn.LSTM(i, h, layer_norm=True)
        ms = {k: v * 1e3 for k, v in race({"peer": peer, "ours": ours}, x, args.repeats).items()}
        print(
            f"{config:<16} {'LN-LSTM':<10} {'hand loop':<12} {ms['peer']:>9.2f} {'':>9} {'':>6} "
            f"{ms['ours']:>9.2f} {ms['peer'] / ms['ours']:>6.2f}"
        )


if __name__ == "__main__":
    main()
