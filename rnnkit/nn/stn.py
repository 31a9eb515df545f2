"""Spatial transformers (Jaderberg, Simonyan, Zisserman & Kavukcuoglu 2015).

A localisation network reads the input and predicts the parameters of a transformation; a grid
generator maps every point of the output grid to a point of the input; a bilinear sampler reads
the input there. Everything is differentiable, so the network learns where to look.

Coordinates are torch's normalized ones: x (columns) and y (rows) in [-1, 1], -1 the left/top
edge of the image and +1 the right/bottom edge (``align_corners=False``: the edges of the edge
pixels, not their centres), the convention of ``F.affine_grid``/``F.grid_sample``. The grid of
the identity then hits the input's pixel centres exactly, so an untrained transformer returns
its input unchanged (a mismatch of ``align_corners`` between grid and sampler shrinks the
image by a pixel; both are set from the one attribute here). A point maps as

- ``affine`` (6 parameters): (x', y') = A (x, y, 1), A (2, 3);
- ``attention`` (3): (x', y') = s (x, y) + (t_x, t_y), the paper's attention variant (an
  isotropic crop);
- ``similarity`` (4: angle a in radians, log-scale l, t_x, t_y): a rotation, an isotropic scale
  s = e^l and a shift, (x', y') = s R(a) (x, y) + (t_x, t_y), R rotating the source's pixels
  (on a source of H != W rows and columns its normalized coordinates are rescaled around the
  rotation, so that it stays a rotation on screen: A = [[s cos a, -s (H/W) sin a, t_x],
  [s (W/H) sin a, s cos a, t_y]]). The output is the input turned counter-clockwise on screen
  (rows downwards) by a and shrunk by s; a rotation is one parameter here, not a coordinated
  change of four entries of A as in ``affine``;
- ``projective`` (8): (u, v, w) = P (x, y, 1), P (3, 3) with P_33 = 1, (x', y') = (u, v) / w;
- ``tps`` (2K): the thin-plate spline that takes K control points on a regular ``grid`` x
  ``grid`` lattice of the output to the lattice plus the predicted offsets (K (x, y) pairs),
  f(p) = a_0 + a_1 x + a_2 y + sum_k w_k U(|p - c_k|), U(r) = r^2 log r^2.

Shapes: B batch, C channels, (H, W) input size, (H_out, W_out) output size, F the localisation
net's features.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Transform = Literal["affine", "projective", "tps", "attention", "similarity"]
TRANSFORMS = ("affine", "projective", "tps", "attention", "similarity")
PADDING_MODES = ("zeros", "border", "reflection")
_W_MIN = 1e-3  # projective: the homogeneous w is kept >= this (a point behind the camera)


def base_grid(
    height: int, width: int, align_corners: bool = False, dtype=None, device=None
) -> Tensor:
    """The (H*W, 2) normalized (x, y) of each output pixel, row by row, as ``F.affine_grid``
    places them (pixel centres with ``align_corners=False``, -1..1 inclusive with True)."""

    def axis(n: int) -> Tensor:
        if align_corners:
            return torch.linspace(-1, 1, n, dtype=dtype, device=device) * (n > 1)
        return (2 * torch.arange(n, dtype=dtype, device=device) + 1) / n - 1

    y, x = torch.meshgrid(axis(height), axis(width), indexing="ij")  # (H, W) each
    return torch.stack([x.reshape(-1), y.reshape(-1)], dim=1)  # (H*W, 2)


def _tps_kernel(points: Tensor, centres: Tensor) -> Tensor:
    """U(|p - c|) = r^2 log r^2 for each point and centre: (P, 2), (K, 2) -> (P, K)."""
    r2 = (points[:, None, :] - centres[None, :, :]).pow(2).sum(-1)  # (P, K)
    return torch.where(r2 > 0, r2 * torch.log(r2.clamp_min(1e-12)), torch.zeros_like(r2))


def tps_control_points(grid: int, dtype=None, device=None) -> Tensor:
    """The (grid*grid, 2) control points of a TPS: a regular lattice over [-1, 1]^2."""
    axis = torch.linspace(-1, 1, grid, dtype=dtype, device=device)
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([x.reshape(-1), y.reshape(-1)], dim=1)  # (K, 2)


def _tps_inverse(centres: Tensor) -> Tensor:
    """The inverse of the TPS system [[U, P], [P^T, 0]] of the centres (K, 2): (K+3, K+3)."""
    k = len(centres)
    p = torch.cat([torch.ones(k, 1, dtype=centres.dtype), centres], dim=1)  # (K, 3)
    system = torch.zeros(k + 3, k + 3, dtype=centres.dtype)
    system[:k, :k] = _tps_kernel(centres, centres)
    system[:k, k:] = p
    system[k:, :k] = p.T
    return torch.linalg.inv(system)


def _last_linear_features(module: nn.Module) -> int | None:
    linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
    return linears[-1].out_features if linears else None


class SpatialTransformer(nn.Module):
    """A spatial transformer: localisation net -> parameters -> grid -> bilinear sampler.

    Args:
        localization: a module taking the input (B, C, H, W) to features (B, F).
        transform: "affine" | "projective" | "tps" | "attention" | "similarity" (see the
            module docstring).
        output_size: (H_out, W_out) of the output; None: the input's (H, W).
        features: F (default: the ``out_features`` of the last nn.Linear in ``localization``).
        grid: TPS: control points per side (K = grid**2; 3 gives 3x3, 4 gives 4x4).
        align_corners: the coordinate convention of grid and sampler alike (default False:
            -1 and +1 are the outer edges of the image, so the identity is exact).
        padding_mode: what is read outside the input: "zeros" (default: a background of 0, as
            the paper), "border" or "reflection". The output keeps the size asked for; nothing
            is cropped to the valid region.

    The last layer, ``fc`` (nn.Linear(F, n_params)), starts with zero weights and the
    identity's parameters as its bias, so an untrained transformer returns its input.

    ``forward(x, source=None) -> (output, theta)``: the localisation net reads ``x``
    (B, C, H, W); the sampler reads ``source`` (default ``x``; any (B, C', H', W') image of the
    same scene, e.g. unnormalized or at a higher resolution). ``output`` is (B, C', H_out,
    W_out); ``theta`` the transformation: (B, 2, 3) for affine, attention and similarity (the
    matrix A of the source's size), (B, 3, 3) for
    projective, (B, K, 2) the TPS's source control points (lattice + offsets).
    """

    n_params: int

    def __init__(
        self,
        localization: nn.Module,
        transform: Transform = "affine",
        output_size: tuple[int, int] | None = None,
        *,
        features: int | None = None,
        grid: int = 3,
        align_corners: bool = False,
        padding_mode: Literal["zeros", "border", "reflection"] = "zeros",
    ):
        super().__init__()
        if transform not in TRANSFORMS:
            raise ValueError(
                f"SpatialTransformer: transform expected one of {', '.join(TRANSFORMS)}, "
                f"got {transform!r}"
            )
        if padding_mode not in PADDING_MODES:
            raise ValueError(
                f"SpatialTransformer: padding_mode expected one of {', '.join(PADDING_MODES)}, "
                f"got {padding_mode!r}"
            )
        if output_size is not None and (
            len(output_size) != 2 or any(int(n) != n or n < 1 for n in output_size)
        ):
            raise ValueError(
                f"SpatialTransformer: output_size expected (H_out, W_out) of ints >= 1, "
                f"got {output_size!r}"
            )
        if transform == "tps" and grid < 2:
            raise ValueError(f"SpatialTransformer: tps expects grid >= 2, got {grid}")
        features = features if features is not None else _last_linear_features(localization)
        if features is None:
            raise ValueError(
                "SpatialTransformer: cannot tell the localisation net's output size (it has no "
                "nn.Linear); pass features=F"
            )
        self.localization, self.transform = localization, transform
        self.output_size = None if output_size is None else tuple(int(n) for n in output_size)
        self.align_corners, self.padding_mode, self.grid = align_corners, padding_mode, grid
        if transform == "affine":
            identity = torch.tensor([1.0, 0, 0, 0, 1, 0])
        elif transform == "attention":
            identity = torch.tensor([1.0, 0, 0])  # s, t_x, t_y
        elif transform == "similarity":
            identity = torch.zeros(4)  # angle, log-scale, t_x, t_y
        elif transform == "projective":
            identity = torch.tensor([1.0, 0, 0, 0, 1, 0, 0, 0])
        else:
            identity = torch.zeros(2 * grid * grid)  # offsets of the control points
            centres = tps_control_points(grid, dtype=torch.float64)
            # float64 (cast where used): the zero offsets give the identity to float precision
            self.register_buffer("centres", centres, persistent=False)
            self.register_buffer("tps_inverse", _tps_inverse(centres), persistent=False)
        self.n_params = len(identity)
        self.fc = nn.Linear(features, self.n_params)
        with torch.no_grad():
            self.fc.weight.zero_()
            self.fc.bias.copy_(identity)

    def extra_repr(self) -> str:
        extra = [f"transform={self.transform!r}"]
        if self.output_size is not None:
            extra.append(f"output_size={self.output_size}")
        if self.transform == "tps":
            extra.append(f"grid={self.grid}")
        if self.align_corners:
            extra.append("align_corners=True")
        if self.padding_mode != "zeros":
            extra.append(f"padding_mode={self.padding_mode!r}")
        return ", ".join(extra)

    def parameters_of(self, x: Tensor) -> Tensor:
        """The transformation's parameters (B, n_params) the localisation net predicts."""
        features = self.localization(x)
        if features.dim() != 2 or features.size(1) != self.fc.in_features:
            raise ValueError(
                f"SpatialTransformer: expected the localisation net to give (B, "
                f"{self.fc.in_features}) features, got {tuple(features.shape)}"
            )
        return self.fc(features)  # (B, n_params)

    def theta(self, params: Tensor, aspect: float = 1.0) -> Tensor:
        """The transformation of ``params`` (B, n_params): (B, 2, 3) affine, attention and
        similarity, (B, 3, 3) projective, (B, K, 2) TPS source control points. ``aspect``: the
        source's H / W (similarity only: what keeps its rotation a rotation of pixels)."""
        b = params.size(0)
        if self.transform == "affine":
            return params.view(b, 2, 3)  # (B, 2, 3)
        if self.transform == "attention":
            s, tx, ty = params.unbind(1)  # (B,) each
            zero = torch.zeros_like(s)
            return torch.stack([s, zero, tx, zero, s, ty], dim=1).view(b, 2, 3)  # (B, 2, 3)
        if self.transform == "similarity":
            angle, log_scale, tx, ty = params.unbind(1)  # (B,) each
            s = log_scale.exp()
            cos, sin = s * angle.cos(), s * angle.sin()
            return torch.stack([cos, -sin * aspect, tx, sin / aspect, cos, ty], dim=1).view(
                b, 2, 3
            )  # (B, 2, 3)
        if self.transform == "projective":
            one = torch.ones_like(params[:, :1])
            return torch.cat([params, one], dim=1).view(b, 3, 3)  # (B, 3, 3)
        return self.centres.to(params) + params.view(b, -1, 2)  # (B, K, 2)

    def grid_of(self, theta: Tensor, size: tuple[int, int]) -> Tensor:
        """The sampling grid (B, H_out, W_out, 2) of ``theta`` for an output of ``size``."""
        b, (h, w) = theta.size(0), size
        if self.transform in ("affine", "attention", "similarity"):
            return F.affine_grid(theta, [b, 1, h, w], align_corners=self.align_corners)
        points = base_grid(h, w, self.align_corners, theta.dtype, theta.device)  # (P, 2)
        if self.transform == "projective":
            homogeneous = torch.cat([points, torch.ones_like(points[:, :1])], dim=1)  # (P, 3)
            uvw = torch.einsum("bij,pj->bpi", theta, homogeneous)  # (B, P, 3)
            xy = uvw[..., :2] / uvw[..., 2:].clamp_min(_W_MIN)  # (B, P, 2)
            return xy.view(b, h, w, 2)
        # the spline is linear in its targets and takes the lattice to itself by the identity,
        # so it is the identity plus the spline of the offsets alone: zero offsets are exact
        centres = self.centres.to(theta)
        offsets = theta - centres  # (B, K, 2)
        coeffs = self.tps_inverse.to(theta)[:, : len(centres)] @ offsets  # (B, K+3, 2)
        phi = torch.cat(
            [_tps_kernel(points, centres), torch.ones_like(points[:, :1]), points], dim=1
        )  # (P, K+3)
        return (points + phi @ coeffs).view(b, h, w, 2)  # (B, P, 2) -> (B, H_out, W_out, 2)

    def sample(self, source: Tensor, grid: Tensor) -> Tensor:
        """Bilinear sampling of ``source`` (B, C, H, W) at ``grid`` (B, H_out, W_out, 2)."""
        return F.grid_sample(
            source, grid, mode="bilinear", padding_mode=self.padding_mode,
            align_corners=self.align_corners,
        )  # fmt: skip

    def forward(self, x: Tensor, source: Tensor | None = None) -> tuple[Tensor, Tensor]:
        source = x if source is None else source
        for name, t in (("x", x), ("source", source)):
            if t.dim() != 4:
                raise ValueError(
                    f"SpatialTransformer: expected {name} of 4 dims (B, C, H, W), got "
                    f"{t.dim()} dims {tuple(t.shape)}"
                )
        if source.size(0) != x.size(0):
            raise ValueError(
                f"SpatialTransformer: expected source of batch {x.size(0)} as x, got "
                f"{source.size(0)}"
            )
        theta = self.theta(self.parameters_of(x), source.size(2) / source.size(3))
        size = self.output_size or (source.size(2), source.size(3))
        grid = self.grid_of(theta.to(source.dtype), size)  # (B, H_out, W_out, 2)
        return self.sample(source, grid), theta
