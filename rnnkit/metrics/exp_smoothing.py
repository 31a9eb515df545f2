"""Holt-Winters exponential smoothing fitted for many series at once.

Additive trend and (when m > 1) additive season, as statsmodels' ``ExponentialSmoothing(trend=
"add", seasonal="add")`` in its error-correction form. With level l, trend b and the seasonal
states s of the next m periods, each period t:

    e_t     = y_t - (l + b + s_t)                   (the one-step forecast error)
    l      <- l + b + alpha e_t
    b      <- b + alpha beta e_t
    s_{t+m} = s_t + gamma e_t

with alpha, beta in (0, 1) and gamma in (0, 1 - alpha). The forecast k periods after the end is
l + k b + s_{T+k}. The smoothing parameters and the initial states of every series are fitted
together, by Adam on each series' sum of squared one-step errors (on the series standardised),
with the gradient of the adjoint recursion backwards in time (``_gradient``, checked against
finite differences): the series share no parameter, so Adam's per-parameter steps treat each
series as if fitted alone, and the work is array operations over all series per period.

As statsmodels, the smoothing parameters start from the best point of a grid (``GRID``, the
initial states held), since the squared error has several basins; the initial states start
from statsmodels' "simple" initialisation with a season (the first season's mean, the change
of the mean to the second season, the first season's deviations from its mean) and from the
least-squares line through the first 10 periods without. The forecasts come close to
statsmodels' (``tests/metrics/test_baselines_many.py`` compares MASE), not equal.
"""

from __future__ import annotations

import numpy as np

# STEPS, LR and GRID: chosen on 60 synthetic series (14, 34 and 114 periods) against the
# in-sample squared error of statsmodels' fit: at most 4.3% above it on every series (median
# 1.00 to 1.01 per length), below it on some
STEPS = 150  # Adam steps
LR = 0.1  # peak step size, in units of the standardised series
# starting smoothing parameters tried for every series (alpha, beta, gamma), as statsmodels'
# brute search: the squared error has several basins (a fast level, or a fast season)
GRID = ((0.01, 0.2, 0.5, 0.8, 0.99), (0.01, 0.3), (0.01, 0.3, 0.7, 0.99))
CHUNK = 20_000  # series fitted together at most (bounds the memory: (T, CHUNK) errors)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.5 * x))


def _initial_states(y: np.ndarray, m: int) -> np.ndarray:
    """Starting states (2 + m, N) of y (T, N): level, trend, m seasonals. With a season,
    statsmodels' simple initialisation (the first season's mean, the change of the mean to the
    second season per period, the first season's deviations from its mean); without, the least-
    squares line through the first 10 periods (level + trend = the line at period 0)."""
    t, n = y.shape
    if m > 1:
        first = y[:m].mean(0)  # (N,)
        trend = (y[m : 2 * m].mean(0) - first) / m
        return np.vstack([first, trend, y[:m] - first])
    k = min(t, 10)
    x = np.arange(k) - (k - 1) / 2  # centred periods
    slope = (x @ y[:k]) / max((x**2).sum(), 1.0)  # (N,)
    at_zero = y[:k].mean(0) - slope * (k - 1) / 2
    return np.vstack([at_zero - slope, slope, np.zeros((1, n))])


def _smoothing(params: np.ndarray, m: int) -> tuple[np.ndarray, ...]:
    """(alpha, beta, gamma, sigmoids (3, N)) of the unconstrained params[:3] (3, N): alpha
    in (0, 1), beta = alpha sig(.) (the trend's step), gamma = (1 - alpha) sig(.) (0 if m = 1)."""
    sig = _sigmoid(params[:3])  # (3, N)
    alpha = sig[0]
    gamma = (1 - alpha) * sig[2] if m > 1 else np.zeros_like(alpha)
    return alpha, alpha * sig[1], gamma, sig


def _forward(y: np.ndarray, params: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """One-step errors (T, N) of y (T, N) and the final states (2 + m, N): level, trend and the
    seasonals of the m periods after the end. params (5 + m, N): three unconstrained smoothing
    parameters, then the initial states."""
    alpha, beta, gamma, _ = _smoothing(params, m)
    level, trend = params[3].copy(), params[4].copy()
    seasons = params[5 : 5 + m].copy()  # (m, N), row t % m for period t
    errors = np.empty_like(y)
    for t in range(len(y)):
        k = t % m
        e = errors[t] = y[t] - level - trend - seasons[k]  # (N,)
        level += trend + alpha * e
        trend += beta * e
        seasons[k] += gamma * e
    ahead = np.roll(seasons, -(len(y) % m), axis=0)  # (m, N) from period T on
    return errors, np.vstack([level, trend, ahead])


def _gradient(errors: np.ndarray, params: np.ndarray, m: int) -> np.ndarray:
    """d(sum_t e_t^2)/d params (5 + m, N), by the adjoint recursion backwards in time: with
    g = dL/de_t = 2 e_t + a_l alpha + a_b beta + a_s gamma (a: dL/d each state after step t),
    the states before step t get a_l <- a_l - g, a_b <- a_l + a_b - g, a_s <- a_s - g."""
    alpha, beta, gamma, sig = _smoothing(params, m)
    a_l, a_b = np.zeros_like(alpha), np.zeros_like(alpha)
    a_s = np.zeros((m, len(alpha)))  # (m, N)
    d_alpha, d_beta, d_gamma = np.zeros_like(alpha), np.zeros_like(alpha), np.zeros_like(alpha)
    for t in range(len(errors) - 1, -1, -1):
        k, e = t % m, errors[t]
        d_alpha += a_l * e
        d_beta += a_b * e
        d_gamma += a_s[k] * e
        g = 2 * e + a_l * alpha + a_b * beta + a_s[k] * gamma
        a_b += a_l - g  # (before a_l changes: d level' / d trend = 1)
        a_l -= g
        a_s[k] -= g
    grad = np.empty_like(params)
    grad[0] = (d_alpha + d_beta * sig[1] - d_gamma * sig[2] * (m > 1)) * alpha * (1 - alpha)
    grad[1] = d_beta * alpha * sig[1] * (1 - sig[1])
    grad[2] = d_gamma * (1 - alpha) * sig[2] * (1 - sig[2]) if m > 1 else 0.0
    grad[3], grad[4], grad[5:] = a_l, a_b, a_s if m > 1 else 0.0  # no season: held at 0
    return grad


def _best_on_grid(z: np.ndarray, states: np.ndarray, m: int) -> np.ndarray:
    """The unconstrained smoothing parameters (3, N) of the GRID point with the least squared
    error of each series of z (T, N), its initial states held at ``states`` (2 + m, N)."""
    grid = np.array(np.meshgrid(*GRID, indexing="ij")).reshape(3, -1)  # (3, G)
    grid = np.log(grid / (1 - grid))  # unconstrained
    best, best_sse = np.repeat(grid[:, :1], z.shape[1], axis=1), np.full(z.shape[1], np.inf)
    for point in grid.T:  # one point for every series at once
        params = np.vstack([np.repeat(point[:, None], z.shape[1], axis=1), states])  # (5 + m, N)
        sse = (_forward(z, params, m)[0] ** 2).sum(0)  # (N,)
        better = sse < best_sse
        best[:, better], best_sse[better] = point[:, None], sse[better]
    return best  # (3, N)


def _fit_chunk(y: np.ndarray, periods: int, m: int, steps: int) -> np.ndarray:
    """Forecasts (periods, N) of the columns of y (T, N), all of one length."""
    loc, scale = y.mean(0), y.std(0)
    scale = np.where(scale > 1e-12 * np.maximum(1.0, np.abs(loc)), scale, 1.0)
    z = (y - loc) / scale  # (T, N) standardised
    states = _initial_states(z, m)
    params = np.vstack([_best_on_grid(z, states, m), states])  # (5 + m, N)
    moment, second = np.zeros_like(params), np.zeros_like(params)
    best_sse = np.full(z.shape[1], np.inf)
    best = np.zeros((2 + m, z.shape[1]))
    for step in range(steps + 1):
        errors, final = _forward(z, params, m)
        sse = (errors**2).sum(0)  # (N,)
        better = sse < best_sse  # keep each series' best fit seen
        best_sse[better], best[:, better] = sse[better], final[:, better]
        if step == steps:
            break
        grad = _gradient(errors, params, m)  # Adam, with a cosine decay of the step size
        moment = 0.9 * moment + 0.1 * grad
        second = 0.999 * second + 0.001 * grad**2
        lr = LR * (0.02 + 0.98 * 0.5 * (1 + np.cos(np.pi * step / steps)))
        unbiased = moment / (1 - 0.9 ** (step + 1))
        params -= lr * unbiased / (np.sqrt(second / (1 - 0.999 ** (step + 1))) + 1e-8)
    k = np.arange(1, periods + 1)  # (K,)
    out = best[:1] + k[:, None] * best[1:2] + best[2 + (k - 1) % m]  # (K, N)
    return out * scale + loc


def holt_winters(
    histories: list[np.ndarray], periods: int, season: int, steps: int = STEPS
) -> list[np.ndarray]:
    """Holt-Winters forecasts (periods, n) of each history (T, n) (or (periods,) of a (T,)):
    additive trend, and additive season when ``season`` > 1 and two seasons are known (as
    ``rnnkit.metrics.baselines.ets``). Every column of every history is one series; series of
    one length are fitted together."""
    if periods < 1 or season < 1:
        raise ValueError(
            f"holt_winters: expected periods >= 1 and season >= 1, got {periods} and {season}"
        )
    for i, h in enumerate(histories):
        if len(h) == 0:
            raise ValueError(f"holt_winters: history {i} is empty; expected >= 1 period")
    cols = [np.asarray(h, dtype=np.float64).reshape(len(h), -1) for h in histories]  # (T, n)
    rows: dict[int, list[tuple[int, int]]] = {}  # length -> (history, column)
    for i, c in enumerate(cols):
        rows.setdefault(len(c), []).extend((i, j) for j in range(c.shape[1]))
    out = [np.empty((periods, c.shape[1])) for c in cols]
    for length, where in rows.items():
        m = season if season > 1 and length >= 2 * season else 1
        y = np.stack([cols[i][:, j] for i, j in where], axis=1)  # (T, N)
        for lo in range(0, y.shape[1], CHUNK):
            pred = _fit_chunk(y[:, lo : lo + CHUNK], periods, m, steps)  # (K, N')
            for (i, j), p in zip(where[lo : lo + CHUNK], pred.T, strict=True):
                out[i][:, j] = p
    return [o.reshape(periods, *np.shape(h)[1:]) for o, h in zip(out, histories, strict=True)]
