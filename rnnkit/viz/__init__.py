"""Plots (matplotlib, Agg): loss curves, and later forecasts, gate activations, attention maps."""

from rnnkit.viz.plots import plot_loss

__all__ = ["plot_loss"]
