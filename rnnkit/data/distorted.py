"""Distorted Fashion-MNIST, made as Jaderberg et al. (2015) made distorted MNIST for spatial
transformers: each item of a split warped by its own random draw.

``distorted_images(name, split)`` returns images float32 (N, H, W) in [0, 1] and labels int64
(N,). ``name`` is ``FashionMNIST`` (the plain images) or ``FashionMNIST-<D>`` with ``<D>`` one
of ``DISTORTIONS`` (sizes for 28x28 items; other item sizes scale alike):

- ``R``: rotation uniform in +-90 degrees, about the centre; 28x28.
- ``RTS``: rotation +-45 degrees, scale 0.7-1.2, the item's centre placed uniformly within
  +-7 pixels of the centre of a 42x42 canvas (so the unscaled item box stays inside); 42x42.
- ``P``: projective: the item scaled by 0.75-1.0 about its centre, then each of its four
  corners moved by a Gaussian of standard deviation 0.1 of the size (clipped at 2 standard
  deviations so the corners stay a convex quadrilateral), the image mapped onto that
  quadrilateral; 28x28.
- ``E``: elastic (Simard et al. 2003): a displacement field uniform in [-1, 1] per pixel and
  axis, smoothed by a Gaussian of sigma 4 pixels (mirrored edges) and scaled by
  alpha = 34 pixels; 28x28.
- ``Cluttered``: the item placed at a uniform position on a 60x60 canvas with eight 8x8
  pieces, each cut at a uniform position from another uniformly chosen image of the same split
  and placed uniformly; overlaps keep the brighter pixel (the maximum); 60x60.

Images are read from ``root``, a folder of MNIST-format IDX files (see
``rnnkit.data.images``; Debian's ``dataset-fashion-mnist`` package by default, or any folder the
user has, e.g. MNIST's), the test split from the ``t10k`` files only. Warps sample bilinearly
(``torch.nn.functional.grid_sample``, ``align_corners=False``: pixel centres at integer
coordinates, the image's edge at -0.5 and size - 0.5) with zeros outside the item; the
parameters are in ``DistortionParameters``. Rotations are counter-clockwise on screen for
positive angles (rows downwards).

Deterministic: item ``i`` of (name, split, seed) is drawn from its own numpy Generator (PCG64)
seeded with a digest of the name and split, the seed and ``i``, so the same call gives the same
arrays on every run and machine (up to float rounding in the CPU's kernels), and ``limit=n``
gives the first ``n`` items of the full set. Nothing is cached on disk: a split of 60000 items
takes 5-13 s on one busy core (measured on a shared 2-core machine), so each call generates it
afresh (``progress=True`` shows a bar). The arrays are float32 in memory: Cluttered's training
split is 60000 x 60 x 60 x 4 bytes = 0.86 GB, RTS's 0.42 GB; ``limit`` keeps a prefix.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from rnnkit.data.fashion_mnist import INSTALL_HINT
from rnnkit.data.images import (
    IMAGES_DIR,
    SPLITS,
    ImageDataError,
    find_idx,
    load_image_folder,
)
from rnnkit.data.sequences import SequenceDataError

BASE = "FashionMNIST"
DISTORTIONS: tuple[str, ...] = ("R", "RTS", "P", "E", "Cluttered")
NAMES: tuple[str, ...] = (BASE, *(f"{BASE}-{d}" for d in DISTORTIONS))
CHUNK = 2048  # items warped per grid_sample call


@dataclass(frozen=True)
class DistortionParameters:
    """The random ranges of each distortion, sizes as fractions of the item's side (for 28x28
    items: RTS canvas 42, elastic sigma 4 and alpha 34 pixels, clutter canvas 60, pieces 8)."""

    r_degrees: float = 90.0
    rts_degrees: float = 45.0
    rts_scale: tuple[float, float] = (0.7, 1.2)
    rts_canvas: float = 1.5
    p_scale: tuple[float, float] = (0.75, 1.0)
    p_corner_sd: float = 0.1
    p_corner_clip: float = 2.0  # in standard deviations
    e_sigma: float = 4 / 28
    e_alpha: float = 34 / 28
    clutter_canvas: float = 60 / 28
    clutter_piece: float = 8 / 28
    clutter_pieces: int = 8

    def __post_init__(self) -> None:
        for field in ("rts_scale", "p_scale"):
            low, high = getattr(self, field)
            if not 0 < low <= high:
                raise ImageDataError(f"{field}: expected 0 < low <= high, got {(low, high)}")
        for field in ("e_sigma", "p_corner_clip"):
            if not getattr(self, field) > 0:
                raise ImageDataError(f"{field}: expected > 0, got {getattr(self, field)!r}")
        least = {"rts_canvas": 1, "clutter_canvas": 1, "r_degrees": 0, "rts_degrees": 0,
                 "p_corner_sd": 0, "e_alpha": 0, "clutter_pieces": 0}  # fmt: skip
        for field, low in least.items():
            if not getattr(self, field) >= low:
                raise ImageDataError(f"{field}: expected >= {low}, got {getattr(self, field)!r}")
        if not 0 < self.clutter_piece <= 1:
            raise ImageDataError(f"clutter_piece: expected (0, 1], got {self.clutter_piece!r}")


PARAMETERS = DistortionParameters()


# ---- warps with explicit parameters (tested directly) --------------------------------------


def _to_unit(height: int, width: int) -> np.ndarray:
    """The map (3, 3) from (x, y, 1) pixels of an image to grid_sample's [-1, 1] coordinates
    (``align_corners=False``: the image's edge at -1 and 1)."""
    return np.array([[2 / width, 0, 1 / width - 1], [0, 2 / height, 1 / height - 1], [0, 0, 1]])


def _grid_sample(images: np.ndarray, grid: torch.Tensor) -> np.ndarray:
    """Bilinear samples of ``images`` (N, H, W) at ``grid`` (N, Ho, Wo, 2) in [-1, 1]
    coordinates, zeros outside, as (N, Ho, Wo) float32 in [0, 1]."""
    out = F.grid_sample(
        torch.from_numpy(np.ascontiguousarray(images, np.float32))[:, None],  # (N, 1, H, W)
        grid.float(),
        mode="bilinear",
        padding_mode="zeros",
        align_corners=False,
    )[:, 0]  # (N, Ho, Wo)
    return out.clamp_(0.0, 1.0).numpy()


def sample(images: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``images`` (N, H, W) at ``points`` (N, Ho, Wo, 2), given as (x, y)
    input pixel coordinates (pixel centres at integers); zeros outside. Returns (N, Ho, Wo)."""
    _, h, w = images.shape
    unit = _to_unit(h, w)
    grid = points * unit.diagonal()[:2] + unit[:2, 2]  # (N, Ho, Wo, 2)
    return _grid_sample(images, torch.from_numpy(grid))


def _pixel_grid(height: int, width: int) -> np.ndarray:
    """Homogeneous (x, y, 1) pixel coordinates of an image, (height * width, 3)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    return np.stack([x.ravel(), y.ravel(), np.ones(height * width)], axis=1)


def warp(images: np.ndarray, inverse: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``images`` (N, H, W) warped by the maps ``inverse`` (N, 3, 3), each taking an output
    pixel (x, y, 1) to its input pixel (homogeneous: affine or projective), onto ``size``
    (Ho, Wo). Output points mapped to depth <= 0 (beyond a projective map's horizon) are zero,
    so a map's sign must make the item's depth positive. Returns (N, Ho, Wo)."""
    n, h, w = images.shape
    ho, wo = size
    m = _to_unit(h, w) @ inverse  # (N, 3, 3): output pixel -> input unit
    if np.array_equal(inverse[:, 2], np.broadcast_to([0.0, 0.0, 1.0], (n, 3))):  # affine
        theta = m @ np.linalg.inv(_to_unit(ho, wo))  # (N, 3, 3): output unit -> input unit
        theta = torch.from_numpy(theta[:, :2].astype(np.float32))  # (N, 2, 3)
        grid = F.affine_grid(theta, [n, 1, ho, wo], align_corners=False)  # (N, Ho, Wo, 2)
        return _grid_sample(images, grid)
    m = torch.from_numpy(m)
    mapped = m @ torch.from_numpy(_pixel_grid(ho, wo).T)  # (N, 3, Ho*Wo)
    depth = mapped[:, 2:]  # (N, 1, Ho*Wo)
    behind = depth <= 1e-9
    grid = mapped[:, :2] / torch.where(behind, 1.0, depth)  # (N, 2, Ho*Wo)
    grid = torch.where(behind, -10.0, grid)  # far outside: sampled as zero
    return _grid_sample(images, grid.transpose(1, 2).reshape(n, ho, wo, 2))  # (N, Ho, Wo)


def similarity_inverse(
    degrees: np.ndarray,
    scale: np.ndarray,
    offset: np.ndarray,
    size: tuple[int, int],
    canvas: tuple[int, int],
) -> np.ndarray:
    """The maps (N, 3, 3) from canvas pixels to item pixels of: rotate the item (H, W) = ``size``
    by ``degrees`` (N,) counter-clockwise about its centre, scale it by ``scale`` (N,), and put
    its centre at the canvas centre plus ``offset`` (N, 2) as (x, y) pixels."""
    theta = np.radians(np.asarray(degrees, np.float64))
    cos, sin = np.cos(theta), np.sin(theta)
    inv_s = 1.0 / np.asarray(scale, np.float64)
    c_in = np.array([(size[1] - 1) / 2, (size[0] - 1) / 2])
    c_out = np.array([(canvas[1] - 1) / 2, (canvas[0] - 1) / 2]) + np.asarray(offset)  # (N, 2)
    # forward (rows down): p_out - c_out = s [[cos, sin], [-sin, cos]] (p_in - c_in)
    m = np.zeros((len(theta), 3, 3))
    m[:, 0, 0], m[:, 0, 1] = cos * inv_s, -sin * inv_s
    m[:, 1, 0], m[:, 1, 1] = sin * inv_s, cos * inv_s
    m[:, :2, 2] = c_in - np.einsum("nij,nj->ni", m[:, :2, :2], c_out)
    m[:, 2, 2] = 1.0
    return m


def rotate(
    images: np.ndarray,
    degrees: np.ndarray | float,
    scale: np.ndarray | float = 1.0,
    offset: np.ndarray | None = None,
    canvas: tuple[int, int] | None = None,
) -> np.ndarray:
    """``images`` (N, H, W) rotated by ``degrees`` counter-clockwise, scaled by ``scale``
    (each a number or one per image) and centred at the centre of ``canvas`` (default: the
    image's size) plus ``offset`` (N, 2) (x, y) pixels. Returns (N, *canvas)."""
    n, h, w = images.shape
    canvas = canvas or (h, w)
    degrees = np.broadcast_to(np.asarray(degrees, np.float64), (n,))
    scale = np.broadcast_to(np.asarray(scale, np.float64), (n,))
    offset = np.zeros((n, 2)) if offset is None else np.asarray(offset, np.float64)
    return warp(images, similarity_inverse(degrees, scale, offset, (h, w), canvas), canvas)


def homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The projective maps (N, 3, 3) taking the four points ``src`` (N, 4, 2) to ``dst``
    (N, 4, 2), as (x, y); normalised so the bottom-right entry is 1."""
    n = len(src)
    x, y = src[..., 0], src[..., 1]  # (N, 4)
    u, v = dst[..., 0], dst[..., 1]
    zero, one = np.zeros_like(x), np.ones_like(x)
    rows_u = np.stack([x, y, one, zero, zero, zero, -u * x, -u * y], axis=-1)  # (N, 4, 8)
    rows_v = np.stack([zero, zero, zero, x, y, one, -v * x, -v * y], axis=-1)
    a = np.concatenate([rows_u, rows_v], axis=1)  # (N, 8, 8)
    b = np.concatenate([u, v], axis=1)  # (N, 8)
    h = np.linalg.solve(a, b[..., None])[..., 0]  # (N, 8)
    return np.concatenate([h, np.ones((n, 1))], axis=1).reshape(n, 3, 3)


def item_corners(height: int, width: int) -> np.ndarray:
    """The corners (4, 2) of an image's edge as (x, y): top-left, top-right, bottom-right,
    bottom-left."""
    return np.array([[-0.5, -0.5], [width - 0.5, -0.5], [width - 0.5, height - 0.5],
                     [-0.5, height - 0.5]])  # fmt: skip


def project(images: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """``images`` (N, H, W) mapped so their corners (``item_corners``) land at ``corners``
    (N, 4, 2) (x, y), on the same size. Returns (N, H, W)."""
    n, h, w = images.shape
    corners = np.asarray(corners, np.float64)
    inverse = homography(corners, np.broadcast_to(item_corners(h, w), (n, 4, 2)))  # (N, 3, 3)
    middle = np.concatenate([corners.mean(axis=1), np.ones((n, 1))], axis=1)  # (N, 3)
    depth = np.einsum("ni,ni->n", inverse[:, 2], middle)  # in front of the camera: positive
    return warp(images, inverse * np.sign(depth)[:, None, None], (h, w))


def _gaussian_matrix(size: int, sigma: float, truncate: float) -> np.ndarray:
    """The (size, size) matrix of a 1-D Gaussian filter of ``sigma``, cut at ``truncate``
    sigmas, with mirrored edges (d c b a | a b c d), as scipy.ndimage's "reflect" mode."""
    radius = int(truncate * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()  # (K,)
    source = np.arange(size)[:, None] + offsets  # (size, K): the taps of each output
    period = np.mod(source, 2 * size)  # mirrored edges repeat every 2 * size
    source = np.where(period < size, period, 2 * size - 1 - period)
    matrix = np.zeros((size, size))
    np.add.at(matrix, (np.repeat(np.arange(size), len(offsets)), source.ravel()),
              np.tile(kernel, size))  # fmt: skip
    return matrix


def smooth(field: np.ndarray, sigma: float, truncate: float = 4.0) -> np.ndarray:
    """``field`` (..., H, W) smoothed over its last two axes by a Gaussian of ``sigma`` pixels,
    cut at ``truncate`` sigmas, edges mirrored: scipy.ndimage.gaussian_filter's "reflect"."""
    h, w = field.shape[-2:]
    rows = _gaussian_matrix(h, sigma, truncate)  # (H, H)
    cols = _gaussian_matrix(w, sigma, truncate)  # (W, W)
    return rows @ np.asarray(field, np.float64) @ cols.T  # (..., H, W)


def elastic(images: np.ndarray, noise: np.ndarray, sigma: float, alpha: float) -> np.ndarray:
    """``images`` (N, H, W) warped by the displacement field ``noise`` (N, 2, H, W) (x then y,
    uniform in [-1, 1] for Simard's warp) smoothed by a Gaussian of ``sigma`` pixels and scaled
    by ``alpha`` pixels. Returns (N, H, W)."""
    _, h, w = images.shape
    field = alpha * smooth(noise, sigma)  # (N, 2, H, W)
    grid = _pixel_grid(h, w)[:, :2].reshape(h, w, 2)  # (H, W, 2) as (x, y)
    return sample(images, grid + field.transpose(0, 2, 3, 1))  # (N, H, W)


def paste(canvas: np.ndarray, piece: np.ndarray, top: int, left: int) -> None:
    """``piece`` (h, w) written into ``canvas`` at (top, left), keeping the brighter pixel."""
    h, w = piece.shape
    region = canvas[top : top + h, left : left + w]
    np.maximum(region, piece, out=region)


# ---- the data sets -------------------------------------------------------------------------


def parse_name(name: str) -> str | None:
    """The distortion of a data set's name (None for the plain images); unknown names raise."""
    if name not in NAMES:
        raise ImageDataError(
            f"unknown data set {name!r}; expected one of {', '.join(NAMES)} "
            "(pass root=DIR / --data DIR for other MNIST-format IDX files)"
        )
    return None if name == BASE else name[len(BASE) + 1 :]


def item_rng(name: str, split: str, seed: int, index: int) -> np.random.Generator:
    """The Generator of item ``index`` of (name, split, seed): the same on every machine."""
    return np.random.Generator(np.random.PCG64([_key(name, split), seed, index]))


@functools.lru_cache(maxsize=64)
def _key(name: str, split: str) -> int:
    """A 64-bit number of (name, split), the same on every machine (unlike ``hash``)."""
    digest = hashlib.sha256(f"{name}/{split}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _load(root: str | Path | None, split: str) -> tuple[np.ndarray, np.ndarray]:
    folder = Path(IMAGES_DIR if root is None else root).expanduser()
    if split not in SPLITS:
        raise ImageDataError(f"split: expected one of {', '.join(SPLITS)}, got {split!r}")
    prefix = SPLITS[split]
    hint = f"install Fashion-MNIST ({INSTALL_HINT}) or pass --data DIR with MNIST-format IDX files"
    if not folder.is_dir():
        raise ImageDataError(f"{folder}: no such folder; {hint}")
    for kind in ("images", "labels"):
        if find_idx(folder, prefix, kind) is None:
            dims = 3 if kind == "images" else 1
            raise ImageDataError(f"{folder}: no {prefix}-{kind}-idx{dims}-ubyte[.gz]; {hint}")
    try:
        data = load_image_folder(folder, split)
    except SequenceDataError as e:  # a damaged IDX file
        raise ImageDataError(str(e)) from e
    return data.images, data.labels


def _distort_chunk(
    distortion: str,
    images: np.ndarray,
    rngs: list[np.random.Generator],
    pool: np.ndarray,
    first: int,
    p: DistortionParameters,
) -> np.ndarray:
    """Items ``images`` (B, H, W), numbered from ``first`` in ``pool`` (the whole split, for
    clutter), distorted by draws from their ``rngs``."""
    b, h, w = images.shape
    side = (h + w) / 2
    if distortion == "R":
        degrees = [g.uniform(-p.r_degrees, p.r_degrees) for g in rngs]
        return rotate(images, np.array(degrees))
    if distortion == "RTS":
        canvas = (round(p.rts_canvas * h), round(p.rts_canvas * w))
        room = np.array([(canvas[1] - w) / 2, (canvas[0] - h) / 2])  # (x, y) half-range
        draws = np.array(
            [[g.uniform(-p.rts_degrees, p.rts_degrees), g.uniform(*p.rts_scale),
              *g.uniform(-room, room)] for g in rngs]
        )  # (B, 4): degrees, scale, dx, dy  # fmt: skip
        return rotate(images, draws[:, 0], draws[:, 1], draws[:, 2:], canvas)
    if distortion == "P":
        corners = item_corners(h, w)
        centre = np.array([(w - 1) / 2, (h - 1) / 2])
        sd, clip = p.p_corner_sd * side, p.p_corner_clip
        dst = np.stack(
            [centre + g.uniform(*p.p_scale) * (corners - centre)
             + sd * np.clip(g.standard_normal((4, 2)), -clip, clip) for g in rngs]
        )  # (B, 4, 2)  # fmt: skip
        return project(images, dst)
    if distortion == "E":
        noise = np.stack([g.uniform(-1.0, 1.0, (2, h, w)) for g in rngs])  # (B, 2, H, W)
        return elastic(images, noise, p.e_sigma * side, p.e_alpha * side)
    # Cluttered
    ch, cw = round(p.clutter_canvas * h), round(p.clutter_canvas * w)
    ph, pw = min(h, round(p.clutter_piece * h)), min(w, round(p.clutter_piece * w))
    out = np.zeros((b, ch, cw), np.float32)
    n, m = len(pool), p.clutter_pieces
    highs = np.repeat([max(n - 1, 1), h - ph + 1, w - pw + 1, ch - ph + 1, cw - pw + 1], m)
    highs = np.concatenate([highs, [ch - h + 1, cw - w + 1]])  # (5 m + 2,)
    for k, g in enumerate(rngs):
        draws = g.integers(0, highs)  # (5 m + 2,): sources, cut rows/cols, place rows/cols
        sources, cut_top, cut_left, top, left = draws[: 5 * m].reshape(5, m)
        sources = np.where((n > 1) & (sources >= first + k), sources + 1, sources)  # not the item
        for j in range(m):
            piece = pool[sources[j], cut_top[j] : cut_top[j] + ph, cut_left[j] : cut_left[j] + pw]
            paste(out[k], piece, top[j], left[j])
        paste(out[k], images[k], draws[-2], draws[-1])
    return out


def distorted_images(
    name: str,
    split: str,
    root: str | Path | None = None,
    seed: int = 0,
    limit: int | None = None,
    *,
    progress: bool = False,
    parameters: DistortionParameters = PARAMETERS,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``split`` ("train" or "test") of the data set ``name`` (see the module docstring):
    images float32 (N, H, W) in [0, 1] and labels int64 (N,); with ``limit``, the first
    ``limit`` items (all of them where the split has fewer). ``root``: a folder of MNIST-format
    IDX files (default: Debian's Fashion-MNIST). ``parameters``: the random ranges."""
    distortion = parse_name(name)
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ImageDataError(f"seed: expected an integer >= 0, got {seed!r}")
    if limit is not None and (
        not isinstance(limit, (int, np.integer)) or isinstance(limit, bool) or limit < 1
    ):
        raise ImageDataError(f"limit: expected a positive integer or None, got {limit!r}")
    pool, labels = _load(root, split)
    count = len(pool) if limit is None else min(limit, len(pool))
    if distortion is None:
        return pool[:count].copy(), labels[:count].copy()
    out = None
    starts = range(0, count, CHUNK)
    for start in tqdm(starts, desc=name, unit="chunk", disable=not progress, leave=False):
        stop = min(start + CHUNK, count)
        rngs = [item_rng(name, split, int(seed), i) for i in range(start, stop)]
        part = _distort_chunk(distortion, pool[start:stop], rngs, pool, start, parameters)
        if out is None:
            out = np.empty((count, *part.shape[1:]), np.float32)  # (N, Ho, Wo)
        out[start:stop] = part
    return out, labels[:count].copy()


def main(argv: list[str] | None = None) -> int:
    """``python -m rnnkit.data.distorted NAME --out PNG``: a grid of the first items."""
    import argparse

    from rnnkit.viz.images import save_grid

    parser = argparse.ArgumentParser(description="Write a PNG grid of a distorted data set.")
    parser.add_argument("name", help=f"one of {', '.join(NAMES)}")
    parser.add_argument("--out", required=True, help="the PNG to write")
    parser.add_argument("--split", default="train", choices=tuple(SPLITS))
    parser.add_argument("--data", default=None, help="a folder of MNIST-format IDX files")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=int, default=36, help="how many items to show")
    args = parser.parse_args(argv)
    try:
        images, _ = distorted_images(args.name, args.split, args.data, args.seed, args.count)
    except (ImageDataError, OSError) as e:
        parser.exit(2, f"error: {e}\n")
    print(save_grid(images, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
