"""Recurrent layers in NumPy, each with its hand-written backward through time beside its forward.

Every layer runs over a whole chunk of T steps for B independent streams at once, time-major:

    x   (T, B, I) floats, or (T, B) integer ids standing for one-hot vectors of size I
    h0  (B, H)            (LSTM: a pair (h0, c0))
    out (T, B, H)         the hidden state of every step
    hT  (B, H)            (LSTM: (hT, cT)), to carry into the next chunk

The input projection of all T steps is one matrix product, x W_ih^T + b_ih, done before the loop
over time; for one-hot input it is a column lookup W_ih[:, x], no product at all. Only
h_{t-1} W_hh^T remains inside the loop. The backward mirrors this: the loop over time carries
dL/dh_t backwards, and the weight gradients of all steps are again one product each afterwards.

Parameters are named, shaped and gate-ordered as torch.nn.RNN/LSTM/GRU's layer k
(``weight_ih_l{k}`` etc.), so their values move between the two unchanged (they start at zero
here; CharRNN initializes them):

    weight_ih (G*H, I)   weight_hh (G*H, H)   bias_ih (G*H,)   bias_hh (G*H,)

with G = 1 (RNN), 4 (LSTM, gates i|f|g|o), 3 (GRU, gates r|z|n).

``forward`` caches what ``backward`` needs in buffers that the next ``forward`` of the same shape
reuses, so call ``backward`` before the next ``forward``. ``backward(dout, dhT)`` takes dL/dout
(T, B, H) and dL/dhT (or None for zero) and returns ``(dx, dh0, grads)``: dL/dx (None for ids),
dL/dh0 and a dict of parameter gradients keyed as the parameters.
"""

from __future__ import annotations

import numpy as np

__all__ = ["RNN", "LSTM", "GRU", "scatter_add_rows"]


def scatter_add_rows(index: np.ndarray, rows: np.ndarray, num_rows: int) -> np.ndarray:
    """out[v] = sum of rows[n] over all n with index[n] == v; (N,), (N, D) -> (num_rows, D).

    The backward of a row lookup (embedding, one-hot projection). Done as one 1-D ``np.add.at``
    over the flat positions v * D + d, several times faster than ``np.add.at`` on rows.
    """
    D = rows.shape[1]
    out = np.zeros((num_rows, D), rows.dtype)
    flat = (index[:, None] * D + np.arange(D)).ravel()  # (N*D,) positions in out.ravel()
    np.add.at(out.reshape(-1), flat, rows.reshape(-1))
    return out


def _sigmoid_(a: np.ndarray) -> np.ndarray:
    """sigmoid(a) in place, as 0.5 + 0.5 tanh(a / 2): no overflow for large |a|."""
    a *= 0.5
    np.tanh(a, out=a)
    a *= 0.5
    a += 0.5
    return a


class _Recurrent:
    """What RNN, LSTM and GRU share: parameters, buffers and the input projection."""

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, *, dtype: type = np.float64) -> None:
        if input_size < 1 or hidden_size < 1:
            raise ValueError(
                f"{type(self).__name__}: expected input_size >= 1 and hidden_size >= 1, "
                f"got {input_size} and {hidden_size}"
            )
        G = self.gates * hidden_size
        self.input_size, self.hidden_size, self.dtype = input_size, hidden_size, np.dtype(dtype)
        self.weight_ih = np.zeros((G, input_size), self.dtype)
        self.weight_hh = np.zeros((G, hidden_size), self.dtype)
        self.bias_ih = np.zeros(G, self.dtype)
        self.bias_hh = np.zeros(G, self.dtype)
        self._buffers: dict[str, np.ndarray] = {}

    def parameters(self) -> dict[str, np.ndarray]:
        """The parameter arrays themselves (not copies), by torch's name without ``_l{k}``."""
        return {
            "weight_ih": self.weight_ih,
            "weight_hh": self.weight_hh,
            "bias_ih": self.bias_ih,
            "bias_hh": self.bias_hh,
        }

    def _buffer(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A scratch array kept between calls; reallocated only when the shape changes."""
        buf = self._buffers.get(name)
        if buf is None or buf.shape != shape:
            buf = self._buffers[name] = np.empty(shape, self.dtype)
        return buf

    def _project(self, x: np.ndarray) -> np.ndarray:
        """xw = x W_ih^T + b_ih for all steps at once: (T, B, I) or ids (T, B) -> (T, B, G*H)."""
        one_hot = x.dtype.kind in "iu"
        if x.ndim != (2 if one_hot else 3) or (not one_hot and x.shape[2] != self.input_size):
            raise ValueError(
                f"{type(self).__name__}: expected input (T, B, {self.input_size}) or integer ids "
                f"(T, B), got shape {x.shape} of {x.dtype}"
            )
        self._x = x
        if one_hot:
            w_t = np.ascontiguousarray(self.weight_ih.T)  # (I, G*H): rows gather faster
            xw = np.take(w_t, x, axis=0)  # (T, B, G*H): column x of W_ih = W_ih @ one_hot(x)
        else:
            T, B, I = x.shape
            xw = (x.reshape(T * B, I) @ self.weight_ih.T).reshape(T, B, -1)  # (T, B, G*H)
        xw += self.bias_ih
        return xw

    def _project_backward(self, dxw: np.ndarray) -> tuple[np.ndarray | None, dict]:
        """From dL/dxw (T, B, G*H) to dL/dx and the gradients of weight_ih and bias_ih."""
        x = self._x
        dxw2 = dxw.reshape(-1, dxw.shape[2])  # (T*B, G*H)
        grads = {"bias_ih": dxw2.sum(0)}
        if x.dtype.kind in "iu":  # one-hot: scatter-add the rows into the looked-up columns
            dw_t = scatter_add_rows(x.ravel(), dxw2, self.input_size)  # (I, G*H)
            grads["weight_ih"] = np.ascontiguousarray(dw_t.T)
            return None, grads
        grads["weight_ih"] = dxw2.T @ x.reshape(-1, self.input_size)  # (G*H, I)
        return (dxw2 @ self.weight_ih).reshape(x.shape), grads

    def _weight_hh_grad(self, dz: np.ndarray, hs: np.ndarray) -> np.ndarray:
        """sum_t dz_t^T h_{t-1} as one product: dz (T, B, G*H), hs (T+1, B, H) -> (G*H, H)."""
        T, B, G = dz.shape
        return dz.reshape(T * B, G).T @ hs[:-1].reshape(T * B, self.hidden_size)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size})"


class RNN(_Recurrent):
    """Elman RNN layer, as torch.nn.RNN:

        h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh),   act = tanh or relu

    Backward, with dh_t = dL/dh_t from the output plus from step t+1:

        da_t = dh_t * act'(a_t)            (tanh: 1 - h_t^2; relu: [h_t > 0])
        dh_{t-1} += da_t W_hh
        dW_hh = sum_t da_t^T h_{t-1},  db_hh = db_ih = sum_t da_t,  dxw_t = da_t
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        nonlinearity: str = "tanh",
        dtype: type = np.float64,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, x: np.ndarray, h0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        xw = self._project(x)  # (T, B, H)
        xw += self.bias_hh  # the two biases act as one
        T, B, H = xw.shape
        hs = self._buffer("hs", (T + 1, B, H))  # hs[0] = h0, hs[t + 1] = h_t
        hs[0] = h0
        w_hh_t = np.ascontiguousarray(self.weight_hh.T)  # (H, G*H): faster products than a view
        for t in range(T):
            h = hs[t + 1]
            np.dot(hs[t], w_hh_t, out=h)
            h += xw[t]
            if self.nonlinearity == "tanh":
                np.tanh(h, out=h)
            else:
                np.maximum(h, 0, out=h)
        self._hs = hs
        return hs[1:], hs[T]

    def backward(
        self, dout: np.ndarray, dhT: np.ndarray | None = None
    ) -> tuple[np.ndarray | None, np.ndarray, dict]:
        hs = self._hs
        T, B, H = dout.shape
        da = self._buffer("da", (T, B, H))  # act'(a_t) for all t first, then dL/da_t
        if self.nonlinearity == "tanh":
            np.multiply(hs[1:], hs[1:], out=da)
            np.subtract(1, da, out=da)  # tanh' = 1 - h_t^2
        else:
            np.greater(hs[1:], 0, out=da)  # relu' = [h_t > 0]
        dh = np.zeros((B, H), self.dtype) if dhT is None else dhT.astype(self.dtype)
        w_hh = self.weight_hh
        for t in range(T - 1, -1, -1):
            dh += dout[t]
            da[t] *= dh
            np.dot(da[t], w_hh, out=dh)  # now dL/dh_{t-1}
        dx, grads = self._project_backward(da)
        grads["weight_hh"] = self._weight_hh_grad(da, hs)
        grads["bias_hh"] = grads["bias_ih"].copy()
        return dx, dh, grads


class LSTM(_Recurrent):
    """LSTM layer, as torch.nn.LSTM (gates stacked i|f|g|o in W_ih, W_hh, b_ih, b_hh):

        z = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh              (B, 4H)
        i, f, g, o = sig(z_i), sig(z_f), tanh(z_g), sig(z_o)
        c_t = f * c_{t-1} + i * g
        h_t = o * tanh(c_t)

    Backward, with dh_t and dc_t = dL/dc_t from step t+1:

        do = dh_t * tanh(c_t)          dc_t += dh_t * o * (1 - tanh(c_t)^2)
        di = dc_t * g    df = dc_t * c_{t-1}    dg = dc_t * i    dc_{t-1} = dc_t * f
        dz = [di, df, dg, do] * [i(1-i), f(1-f), 1-g^2, o(1-o)],   dh_{t-1} = dz W_hh
    """

    gates = 4

    def forward(
        self, x: np.ndarray, state: tuple[np.ndarray, np.ndarray]
    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        xw = self._project(x)  # (T, B, 4H)
        xw += self.bias_hh
        T, B, G = xw.shape
        H = self.hidden_size
        hs = self._buffer("hs", (T + 1, B, H))  # hs[t + 1] = h_t
        cs = self._buffer("cs", (T + 1, B, H))  # cs[t + 1] = c_t
        tcs = self._buffer("tcs", (T, B, H))  # tanh(c_t)
        zs = self._buffer("zs", (T, B, G))  # gate values i|f|g|o after their nonlinearity
        hs[0], cs[0] = state
        w_hh_t = np.ascontiguousarray(self.weight_hh.T)  # (H, G*H): faster products than a view
        for t in range(T):
            z = zs[t]
            np.dot(hs[t], w_hh_t, out=z)
            z += xw[t]
            _sigmoid_(z[:, : 2 * H])
            np.tanh(z[:, 2 * H : 3 * H], out=z[:, 2 * H : 3 * H])
            _sigmoid_(z[:, 3 * H :])
            i, f, g, o = z[:, :H], z[:, H : 2 * H], z[:, 2 * H : 3 * H], z[:, 3 * H :]
            c = cs[t + 1]
            np.multiply(f, cs[t], out=c)
            c += i * g
            np.tanh(c, out=tcs[t])
            np.multiply(o, tcs[t], out=hs[t + 1])
        self._hs, self._cs, self._tcs, self._zs = hs, cs, tcs, zs
        return hs[1:], (hs[T], cs[T])

    def backward(
        self, dout: np.ndarray, dstate: tuple[np.ndarray, np.ndarray] | None = None
    ) -> tuple[np.ndarray | None, tuple[np.ndarray, np.ndarray], dict]:
        hs, cs, tcs, zs = self._hs, self._cs, self._tcs, self._zs
        T, B, H = dout.shape
        dgate = zs * (1 - zs)  # (T, B, 4H): sig' for i, f, o ...
        dgate[:, :, 2 * H : 3 * H] = 1 - zs[:, :, 2 * H : 3 * H] ** 2  # ... and tanh' for g
        dtc = 1 - tcs * tcs  # (T, B, H)
        dzs = self._buffer("dzs", zs.shape)
        if dstate is None:
            dh, dc = np.zeros((B, H), self.dtype), np.zeros((B, H), self.dtype)
        else:
            dh, dc = dstate[0].astype(self.dtype), dstate[1].astype(self.dtype)
        w_hh = self.weight_hh
        for t in range(T - 1, -1, -1):
            z, dz = zs[t], dzs[t]
            i, f, g, o = z[:, :H], z[:, H : 2 * H], z[:, 2 * H : 3 * H], z[:, 3 * H :]
            dh += dout[t]
            np.multiply(dh, tcs[t], out=dz[:, 3 * H :])  # do
            dc += dh * o * dtc[t]
            np.multiply(dc, g, out=dz[:, :H])  # di
            np.multiply(dc, cs[t], out=dz[:, H : 2 * H])  # df
            np.multiply(dc, i, out=dz[:, 2 * H : 3 * H])  # dg
            dz *= dgate[t]
            dc *= f  # now dL/dc_{t-1}
            np.dot(dz, w_hh, out=dh)  # now dL/dh_{t-1}
        dx, grads = self._project_backward(dzs)
        grads["weight_hh"] = self._weight_hh_grad(dzs, hs)
        grads["bias_hh"] = grads["bias_ih"].copy()
        return dx, (dh, dc), grads


class GRU(_Recurrent):
    """GRU layer, as torch.nn.GRU (gates stacked r|z|n):

        r = sig(W_ir x + b_ir + W_hr h + b_hr)
        z = sig(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        h_t = (1 - z) * n + z * h_{t-1}

    Backward, with dh_t and hn = W_hn h_{t-1} + b_hn:

        dn = dh_t (1 - z)   dz = dh_t (h_{t-1} - n)   dh_{t-1} = dh_t z + dhw W_hh
        da_n = dn (1 - n^2)   dr = da_n hn
        dxw = [dr r(1-r), dz z(1-z), da_n],   dhw = [dr r(1-r), dz z(1-z), da_n r]
    """

    gates = 3

    def forward(self, x: np.ndarray, h0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        xw = self._project(x)  # (T, B, 3H)
        T, B, G = xw.shape
        H = self.hidden_size
        xw[:, :, : 2 * H] += self.bias_hh[: 2 * H]  # b_hr, b_hz fold into the input side
        hs = self._buffer("hs", (T + 1, B, H))  # hs[t + 1] = h_t
        gs = self._buffer("gs", (T, B, G))  # r|z|n after their nonlinearity
        hns = self._buffer("hns", (T, B, H))  # W_hn h_{t-1} + b_hn
        hw = self._buffer("hw", (B, G))  # h_{t-1} W_hh^T
        hs[0] = h0
        w_hh_t = np.ascontiguousarray(self.weight_hh.T)  # (H, 3H)
        b_hn = self.bias_hh[2 * H :]
        for t in range(T):
            gate = gs[t]
            np.dot(hs[t], w_hh_t, out=hw)
            np.add(xw[t, :, : 2 * H], hw[:, : 2 * H], out=gate[:, : 2 * H])
            _sigmoid_(gate[:, : 2 * H])
            r, z, n = gate[:, :H], gate[:, H : 2 * H], gate[:, 2 * H :]
            np.add(hw[:, 2 * H :], b_hn, out=hns[t])
            np.multiply(r, hns[t], out=n)
            n += xw[t, :, 2 * H :]
            np.tanh(n, out=n)
            h = hs[t + 1]  # h_t = n + z * (h_{t-1} - n)
            np.subtract(hs[t], n, out=h)
            h *= z
            h += n
        self._hs, self._gs, self._hns = hs, gs, hns
        return hs[1:], hs[T]

    def backward(
        self, dout: np.ndarray, dhT: np.ndarray | None = None
    ) -> tuple[np.ndarray | None, np.ndarray, dict]:
        hs, gs, hns = self._hs, self._gs, self._hns
        T, B, H = dout.shape
        dxw = self._buffer("dxw", gs.shape)  # (T, B, 3H) dL/d(input side)
        dhw = self._buffer("dhw", gs.shape)  # (T, B, 3H) dL/d(h W_hh^T + b_hh)
        dh = np.zeros((B, H), self.dtype) if dhT is None else dhT.astype(self.dtype)
        w_hh = self.weight_hh
        for t in range(T - 1, -1, -1):
            gate, dxw_t, dhw_t = gs[t], dxw[t], dhw[t]
            r, z, n = gate[:, :H], gate[:, H : 2 * H], gate[:, 2 * H :]
            dh += dout[t]
            dan = dxw_t[:, 2 * H :]
            np.multiply(dh, 1 - z, out=dan)
            dan *= 1 - n * n  # dL/d(pre-tanh of n)
            np.multiply(dan, r, out=dhw_t[:, 2 * H :])
            np.multiply(dan, hns[t], out=dxw_t[:, :H])  # dr
            dxw_t[:, :H] *= r * (1 - r)
            np.multiply(dh, hs[t] - n, out=dxw_t[:, H : 2 * H])  # dz
            dxw_t[:, H : 2 * H] *= z * (1 - z)
            dhw_t[:, : 2 * H] = dxw_t[:, : 2 * H]
            dh *= z  # the direct path z * h_{t-1} ...
            dh += dhw_t @ w_hh  # ... plus the path through W_hh: dL/dh_{t-1}
        dx, grads = self._project_backward(dxw)
        grads["weight_hh"] = self._weight_hh_grad(dhw, hs)
        grads["bias_hh"] = dhw.reshape(T * B, -1).sum(0)
        return dx, dh, grads
