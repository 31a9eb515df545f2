"""Centered finite differences, to check hand-written gradients.

    df/dx_i ~ (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)        (error O(eps^2))

Use float64: with eps = 1e-5 the truncation error is ~1e-10 and the rounding error ~1e-11 of f,
so a correct analytic gradient agrees to a relative error well under 1e-6.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["numerical_gradient", "relative_error", "check_gradients"]


def numerical_gradient(f: Callable[[], float], x: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """d f() / d x by centered differences, perturbing x in place (restored afterwards).

    f takes no arguments and reads x (e.g. a closure over a model whose parameter x is).
    """
    if x.dtype != np.float64:
        raise ValueError(f"numerical_gradient: expected a float64 array, got {x.dtype}")
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        f_plus = f()
        x[i] = old - eps
        f_minus = f()
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / max(||a||, ||b||) in the L2 norm (0 when both are zero)."""
    scale = max(float(np.linalg.norm(a)), float(np.linalg.norm(b)))
    return float(np.linalg.norm(a - b)) / scale if scale > 0 else 0.0


def check_gradients(
    f: Callable[[], float],
    params: dict[str, np.ndarray],
    grads: dict[str, np.ndarray],
    eps: float = 1e-5,
) -> dict[str, float]:
    """Relative error of grads[name] against the numerical gradient of f wrt params[name]."""
    return {
        name: relative_error(g, numerical_gradient(f, params[name], eps))
        for name, g in grads.items()
    }
