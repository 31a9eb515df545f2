"""rnnkit.nn.stn: the identity at initialisation, known maps moving a marker pixel, a direct
NumPy reimplementation of each transform's grid and the bilinear sampler, gradcheck in float64,
and argument checks."""

import numpy as np
import pytest
import torch
from torch import nn

from rnnkit.nn import LSTM, SpatialTransformer
from rnnkit.nn.stn import TRANSFORMS, base_grid

H, W = 7, 9


def loc_net(channels: int = 1, height: int = H, width: int = W, features: int = 5) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(channels * height * width, features), nn.Tanh())


def randomized(st: SpatialTransformer, scale: float = 0.05) -> SpatialTransformer:
    """``st`` with a non-zero last layer, so the grid depends on the input."""
    with torch.no_grad():
        st.fc.weight.normal_(0, scale)
        st.fc.bias.add_(torch.randn_like(st.fc.bias) * scale)
    return st


# ---------------------------------------------------------------------------------------------
# a direct reimplementation: maps written point by point, bilinear sampling with zero padding


def naive_map(transform: str, theta: np.ndarray, x: float, y: float, grid: int = 3):
    if transform in ("affine", "attention", "similarity"):
        return theta @ np.array([x, y, 1.0])
    if transform == "projective":
        u, v, w = theta @ np.array([x, y, 1.0])
        return np.array([u, v]) / max(w, 1e-3)
    axis = np.linspace(-1, 1, grid)
    centres = np.array([(cx, cy) for cy in axis for cx in axis])  # (K, 2), row by row

    def u(p, c):
        r2 = ((p - c) ** 2).sum()
        return r2 * np.log(r2) if r2 > 0 else 0.0

    k = len(centres)
    system = np.zeros((k + 3, k + 3))
    system[:k, :k] = [[u(a, b) for b in centres] for a in centres]
    system[:k, k] = system[k, :k] = 1.0
    system[:k, k + 1 :] = centres
    system[k + 1 :, :k] = centres.T
    rhs = np.concatenate([theta, np.zeros((3, 2))])  # theta: (K, 2) source control points
    coeffs = np.linalg.solve(system, rhs)  # (K+3, 2)
    p = np.array([x, y])
    phi = np.array([u(p, c) for c in centres] + [1.0, x, y])
    return phi @ coeffs


def naive_sample(image: np.ndarray, x: float, y: float) -> float:
    """Bilinear value of ``image`` (H, W) at normalized (x, y), align_corners False, zeros out."""
    h, w = image.shape
    px, py = ((x + 1) * w - 1) / 2, ((y + 1) * h - 1) / 2  # pixel coordinates
    x0, y0 = int(np.floor(px)), int(np.floor(py))
    total = 0.0
    for yy, wy in ((y0, 1 - (py - y0)), (y0 + 1, py - y0)):
        for xx, wx in ((x0, 1 - (px - x0)), (x0 + 1, px - x0)):
            if 0 <= yy < h and 0 <= xx < w:
                total += wy * wx * image[yy, xx]
    return total


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_matches_a_direct_reimplementation(transform):
    st = randomized(SpatialTransformer(loc_net(), transform, output_size=(5, 6)), 0.3)
    x = torch.rand(2, 1, H, W)
    out, theta = st(x)
    assert out.shape == (2, 1, 5, 6)
    ys, xs = (2 * np.arange(5) + 1) / 5 - 1, (2 * np.arange(6) + 1) / 6 - 1
    for b in range(2):
        t = theta[b].detach().double().numpy()
        for i, y in enumerate(ys):
            for j, xv in enumerate(xs):
                sx, sy = naive_map(transform, t, xv, y)
                want = naive_sample(x[b, 0].double().numpy(), sx, sy)
                assert out[b, 0, i, j].item() == pytest.approx(want, abs=1e-5)


# ---------------------------------------------------------------------------------------------
# the identity, and known maps


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("align_corners", [False, True])
def test_identity_initialisation_returns_the_input(transform, align_corners):
    st = SpatialTransformer(loc_net(3), transform, align_corners=align_corners)
    x = torch.rand(4, 3, H, W)
    out, theta = st(x)
    assert out.shape == x.shape  # the size kept: nothing cropped, nothing shrunk
    torch.testing.assert_close(out, x, atol=1e-6, rtol=0)
    assert torch.equal(st.fc.weight, torch.zeros_like(st.fc.weight))
    if transform == "projective":
        torch.testing.assert_close(theta, torch.eye(3).expand(4, 3, 3))
    elif transform != "tps":
        torch.testing.assert_close(theta, torch.eye(2, 3).expand(4, 2, 3))


def test_tps_zero_offsets_is_the_identity_grid():
    st = SpatialTransformer(loc_net(), "tps", grid=4)
    theta = st.theta(torch.zeros(2, 32))  # zero offsets of 16 control points
    grid = st.grid_of(theta, (H, W))  # (2, H, W, 2)
    torch.testing.assert_close(grid[1].reshape(-1, 2), base_grid(H, W), atol=1e-6, rtol=0)


def test_tps_takes_the_control_points_where_predicted():
    st = SpatialTransformer(loc_net(), "tps", grid=3, align_corners=True)
    offsets = torch.randn(1, 18) * 0.2
    theta = st.theta(offsets)  # (1, 9, 2): lattice + offsets
    grid = st.grid_of(theta, (5, 5))[0]  # with align_corners the 5x5 grid holds the 3x3 lattice
    torch.testing.assert_close(grid[::2, ::2].reshape(-1, 2), theta[0], atol=1e-5, rtol=0)


def marker(row: int, col: int, n: int = 9) -> torch.Tensor:
    image = torch.zeros(1, 1, n, n)
    image[0, 0, row, col] = 1.0
    return image


def with_theta(st: SpatialTransformer, params: list[float]) -> SpatialTransformer:
    with torch.no_grad():
        st.fc.bias.copy_(torch.tensor(params))
    return st


def test_translation_moves_the_marker():
    # the output at x reads the input at x + t: t = two pixels (2 * 2/9) right and one down
    st = with_theta(SpatialTransformer(loc_net(1, 9, 9), "affine"), [1, 0, 4 / 9, 0, 1, 2 / 9])
    out, _ = st(marker(5, 6))
    assert torch.nonzero(out[0, 0]).tolist() == [[4, 4]]
    assert out[0, 0, 4, 4].item() == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("transform", ["affine", "projective"])
def test_a_quarter_turn_moves_the_marker(transform):
    # (x', y') = (-y, x): the output pixel (row i, col j) reads the input at (row j, col 8-i)
    params = [0, -1, 0, 1, 0, 0] + ([0, 0] if transform == "projective" else [])
    st = with_theta(SpatialTransformer(loc_net(1, 9, 9), transform), params)
    out, _ = st(marker(2, 6))
    assert torch.nonzero(out[0, 0].abs() > 1e-6).tolist() == [[2, 2]]
    assert out[0, 0, 2, 2].item() == pytest.approx(1.0, abs=1e-6)


def test_similarity_quarter_turn_moves_the_marker():
    # angle pi/2: A = [[0, -1], [1, 0]], the affine quarter turn above from one parameter
    st = with_theta(SpatialTransformer(loc_net(1, 9, 9), "similarity"), [np.pi / 2, 0, 0, 0])
    out, theta = st(marker(2, 6))
    assert torch.nonzero(out[0, 0].abs() > 1e-6).tolist() == [[2, 2]]
    assert out[0, 0, 2, 2].item() == pytest.approx(1.0, abs=1e-6)
    torch.testing.assert_close(theta[0], torch.tensor([[0.0, -1, 0], [1, 0, 0]]), atol=1e-6, rtol=0)


@pytest.mark.parametrize("size", [(9, 9), (7, 12)])
def test_similarity_is_the_data_sets_rotation(size):
    # angle a and log-scale -log(s) turn and scale the pixels as rnnkit.data.distorted.rotate
    # (a degrees counter-clockwise, scale s) does, on a non-square image too
    from rnnkit.data.distorted import rotate

    h, w = size
    images = np.random.default_rng(0).random((2, h, w)).astype(np.float32)
    degrees, scale = np.array([30.0, -75.0]), np.array([1.25, 0.8])
    st = SpatialTransformer(nn.Flatten(), "similarity", features=h * w)
    params = torch.tensor(
        [[np.radians(d), -np.log(s), 0, 0] for d, s in zip(degrees, scale, strict=True)],
        dtype=torch.float32,
    )
    grid = st.grid_of(st.theta(params, h / w), (h, w))
    out = st.sample(torch.from_numpy(images)[:, None], grid)[:, 0]
    want = rotate(images, degrees, scale)
    np.testing.assert_allclose(out.numpy(), want, atol=1e-5)


def test_attention_zooms_on_a_corner():
    # s = 1/3 and t = (-2/3, -2/3): the output is the top-left 3x3 block of a 9x9 input, enlarged
    st = with_theta(SpatialTransformer(loc_net(1, 9, 9), "attention"), [1 / 3, -2 / 3, -2 / 3])
    out, theta = st(marker(1, 1))
    assert out[0, 0, 4, 4].item() == pytest.approx(1.0, abs=1e-6)  # the block's centre pixel
    assert out[0, 0, 4].argmax().item() == 4 and out[0, 0, :, 8].abs().max() < 1e-6
    assert theta[0, 0, 1] == 0 and theta[0, 0, 0] == theta[0, 1, 1]  # isotropic, no shear


# ---------------------------------------------------------------------------------------------
# gradients


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_gradcheck_float64(transform):
    st = randomized(SpatialTransformer(loc_net(1, 4, 5, 3), transform, output_size=(3, 4)), 0.2)
    st = st.double()
    x = torch.rand(2, 1, 4, 5, dtype=torch.float64, requires_grad=True)
    params = tuple(st.parameters())

    def f(x, *_):
        return st(x)[0]

    assert torch.autograd.gradcheck(f, (x, *params), eps=1e-6, atol=1e-5)


def test_before_a_recurrent_reader():
    # an ST, then an LSTM over the rectified image's rows: gradients reach the localisation net
    st = randomized(SpatialTransformer(loc_net(1, 8, 8, 6), "affine", output_size=(6, 8)))
    lstm, head = LSTM(8, 16, batch_first=True), nn.Linear(16, 3)
    out, _ = st(torch.rand(4, 1, 8, 8))
    rows, _ = lstm(out[:, 0])  # (B, 6 rows, 16)
    head(rows[:, -1]).sum().backward()
    assert st.fc.weight.grad.abs().sum() > 0 and st.localization[1].weight.grad.abs().sum() > 0


def test_source_is_sampled_with_the_localisation_of_x():
    st = randomized(SpatialTransformer(loc_net(), "affine"))
    x = torch.rand(2, 1, H, W)
    out, theta = st(x, source=2 * x)
    torch.testing.assert_close(out, 2 * st(x)[0])
    assert theta.shape == (2, 2, 3)


# ---------------------------------------------------------------------------------------------
# bad arguments, bad shapes


def test_bad_input_shapes():
    st = SpatialTransformer(loc_net(), "affine")
    with pytest.raises(ValueError, match=r"expected x of 4 dims \(B, C, H, W\), got 3"):
        st(torch.rand(2, H, W))
    with pytest.raises(ValueError, match=r"give \(B, 5\) features, got \(2, 7\)"):
        SpatialTransformer(nn.Flatten(), features=5)(torch.rand(2, 1, 1, 7))
    with pytest.raises(ValueError, match="source of batch 2 as x, got 3"):
        st(torch.rand(2, 1, H, W), torch.rand(3, 1, H, W))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"transform": "rigid"}, "transform expected one of affine"),
        ({"output_size": (0, 4)}, "output_size expected"),
        ({"output_size": (4,)}, "output_size expected"),
        ({"padding_mode": "constant"}, "padding_mode expected"),
        ({"transform": "tps", "grid": 1}, "grid >= 2"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SpatialTransformer(loc_net(), **kwargs)


def test_features_are_needed_without_a_linear():
    with pytest.raises(ValueError, match="pass features=F"):
        SpatialTransformer(nn.Flatten())
    assert SpatialTransformer(nn.Flatten(), features=63).fc.in_features == 63
    assert "transform='tps', grid=4" in repr(SpatialTransformer(loc_net(), "tps", grid=4))
