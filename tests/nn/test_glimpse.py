"""rnnkit.nn.glimpse: DRAW's Gaussian filterbank read/write against a direct loop over
filters, identities, gradcheck in float64, and argument checks."""

import math

import pytest
import torch

from rnnkit.nn.glimpse import (
    EPS,
    GaussianGlimpse,
    Glimpse,
    filterbanks,
    glimpse_params,
    read,
    write,
)


def loop_bank(center: float, stride: float, variance: float, n: int, length: int) -> list:
    """The paper's F[i][a], 1-based i and a, written out filter by filter."""
    bank = []
    for i in range(1, n + 1):
        mu = center + (i - n / 2 - 0.5) * stride
        row = [math.exp(-((a - mu) ** 2) / (2 * variance)) for a in range(1, length + 1)]
        z = sum(row) + EPS
        bank.append([v / z for v in row])
    return bank


def loop_read(image, fx, fy, gamma):
    """patch[j][i] = gamma sum_b sum_a F_Y[j][b] x[b][a] F_X[i][a]."""
    h, w, n = len(image), len(image[0]), len(fx)
    return [
        [
            gamma * sum(fy[j][b] * image[b][a] * fx[i][a] for b in range(h) for a in range(w))
            for i in range(n)
        ]
        for j in range(n)
    ]


def loop_write(patch, fx, fy, gamma):
    """image[b][a] = 1/gamma sum_j sum_i F_Y[j][b] w[j][i] F_X[i][a]."""
    n, h, w = len(fx), len(fy[0]), len(fx[0])
    return [
        [
            sum(fy[j][b] * patch[j][i] * fx[i][a] for j in range(n) for i in range(n)) / gamma
            for a in range(w)
        ]
        for b in range(h)
    ]


def random_glimpse(batch: int, generator: torch.Generator) -> torch.Tensor:
    return torch.randn(batch, 5, generator=generator, dtype=torch.float64) * 0.5


def test_filterbanks_params_read_write_match_a_loop_over_filters():
    g = torch.Generator().manual_seed(0)
    height, width, n = 7, 9, 3
    raw = random_glimpse(2, g)
    glimpse = glimpse_params(raw, height, width, n)
    fx, fy = filterbanks(glimpse, n, height, width)
    images = torch.rand(2, height, width, generator=g, dtype=torch.float64)
    patches = torch.randn(2, n, n, generator=g, dtype=torch.float64)
    got_read = read(images, fx, fy, glimpse.intensity)
    got_write = write(patches, fx, fy, glimpse.intensity)
    for b in range(2):
        gx_, gy_, log_var, log_stride, log_gamma = raw[b].tolist()
        # the paper's equations (19)-(24), from the raw linear outputs
        gx, gy = (width + 1) / 2 * (gx_ + 1), (height + 1) / 2 * (gy_ + 1)
        stride = (max(width, height) - 1) / (n - 1) * math.exp(log_stride)
        var, gamma = math.exp(log_var), math.exp(log_gamma)
        bx = loop_bank(gx, stride, var, n, width)
        by = loop_bank(gy, stride, var, n, height)
        torch.testing.assert_close(fx[b], torch.tensor(bx, dtype=torch.float64))
        torch.testing.assert_close(fy[b], torch.tensor(by, dtype=torch.float64))
        want = loop_read(images[b].tolist(), bx, by, gamma)
        torch.testing.assert_close(got_read[b], torch.tensor(want, dtype=torch.float64))
        want = loop_write(patches[b].tolist(), bx, by, gamma)
        torch.testing.assert_close(got_write[b], torch.tensor(want, dtype=torch.float64))


def test_full_size_glimpse_with_tiny_variance_and_unit_stride_reads_the_image():
    g = torch.Generator().manual_seed(1)
    for height, width in ((6, 6), (5, 7)):
        images = torch.rand(3, height, width, generator=g, dtype=torch.float64)
        ones = torch.ones(3, dtype=torch.float64)
        # a grid of max(H, W) filters, centred, stride 1, variance 1e-4: one pixel per filter
        n = max(height, width)
        glimpse = Glimpse(ones * (width + 1) / 2, ones * (height + 1) / 2, ones, ones * 1e-4, ones)
        fx, fy = filterbanks(glimpse, n, height, width)
        patch = read(images, fx, fy, glimpse.intensity)  # (3, n, n): the image, zero-padded
        top, left = (n - height) // 2, (n - width) // 2
        torch.testing.assert_close(patch[:, top : top + height, left : left + width], images)
        if n == height == width:
            # write is read's transpose: with the identity banks it puts the image back
            torch.testing.assert_close(write(patch, fx, fy, glimpse.intensity), images)
    # the same through the raw parameters: g~ = 0, stride (max - 1)/(N - 1) = 1, gamma 1
    raw = torch.tensor([[0.0, 0.0, math.log(1e-4), 0.0, 0.0]], dtype=torch.float64)
    glimpse = glimpse_params(raw, 6, 6, 6)
    images = torch.rand(1, 6, 6, generator=g, dtype=torch.float64)
    torch.testing.assert_close(read(images, *filterbanks(glimpse, 6, 6, 6), glimpse[4]), images)


def test_intensity_scales_read_and_divides_write():
    g = torch.Generator().manual_seed(2)
    glimpse = glimpse_params(random_glimpse(2, g), 8, 8, 4)
    fx, fy = filterbanks(glimpse, 4, 8, 8)
    x, w = torch.rand(2, 8, 8, dtype=torch.float64), torch.rand(2, 4, 4, dtype=torch.float64)
    two = torch.full((2,), 2.0, dtype=torch.float64)
    one = torch.ones(2, dtype=torch.float64)
    torch.testing.assert_close(read(x, fx, fy, two), 2 * read(x, fx, fy, one))
    torch.testing.assert_close(write(w, fx, fy, two), write(w, fx, fy, one) / 2)
    # each filter sums to 1 (up to EPS), so a constant image reads as a constant patch
    torch.testing.assert_close(fx.sum(-1), torch.ones(2, 4, dtype=torch.float64))
    torch.testing.assert_close(read(torch.ones(2, 8, 8, dtype=torch.float64), fx, fy, one),
                               torch.ones(2, 4, 4, dtype=torch.float64))  # fmt: skip


def test_channels_read_each_channel_alike_and_write_read_shapes():
    g = torch.Generator().manual_seed(3)
    module = GaussianGlimpse(hidden_size=6, size=3, height=10, width=12).double()
    h = torch.randn(4, 6, generator=g, dtype=torch.float64)
    x = torch.rand(4, 2, 10, 12, generator=g, dtype=torch.float64)
    patch = module.read(x, h)
    assert patch.shape == (4, 2, 3, 3)
    torch.testing.assert_close(patch[:, 1], module.read(x[:, 1], h))
    image = module.write(module.read(x[:, 0], h), h)  # write(read(x)): back to image size
    assert image.shape == (4, 10, 12)
    assert module.write(patch, h).shape == (4, 2, 10, 12)
    box = module.glimpse(h).box(3)
    assert box.shape == (4, 4) and bool((box[:, 2] > box[:, 0]).all())
    assert "size=3, height=10, width=12, init='cover'" in repr(module)


@pytest.mark.parametrize("size", [1, 2, 5, 8])
@torch.no_grad()
def test_cover_init_tiles_the_image_smoothly_linear_init_samples_points(size):
    height, width = 28, 24
    zero = torch.zeros(1, 7, dtype=torch.float64)  # DRAW's first read: h_dec = 0
    cover = GaussianGlimpse(7, size, height, width).double()
    g = cover.glimpse(zero)
    stride = (height - 1) / max(size - 1, 1)
    want = [(width + 1) / 2, (height + 1) / 2, stride, (stride / 2) ** 2, 1.0]
    torch.testing.assert_close(torch.cat(g), torch.tensor(want).double(), rtol=1e-6, atol=0)
    # a constant patch written: every pixel of the span gets ink, none 4 times as much as any
    span = slice(0, height) if size > 1 else slice(height // 2 - 2, height // 2 + 2)
    ink = cover.write(torch.ones(1, size, size, dtype=torch.float64), zero)[0, span, 2:-2]
    if size > 1:
        assert float(ink.min() / ink.max()) > 0.25  # the edges: filters cut by the border
    torch.manual_seed(0)
    linear = GaussianGlimpse(7, size, height, width, init="linear").double()
    g = linear.glimpse(zero)  # the bias: nn.Linear's, uniform in +-1/sqrt(7)
    assert abs(float(g.variance) - 1) < 0.5 and abs(float(g.intensity) - 1) < 0.5
    if size > 2:  # unit-deviation filters spaced by several pixels: gaps between the points
        ink = linear.write(torch.ones(1, size, size, dtype=torch.float64), zero)[0]
        assert float(ink.min() / ink.max()) < 0.01
    with pytest.raises(ValueError, match="init must be one of"):
        GaussianGlimpse(7, size, height, width, init="zero")


def test_gradcheck_float64():
    g = torch.Generator().manual_seed(4)
    height, width, n = 5, 6, 3
    raw = random_glimpse(2, g).requires_grad_()
    x = torch.rand(2, height, width, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, n, n, generator=g, dtype=torch.float64, requires_grad=True)

    def glimpse_read(raw, x):
        glimpse = glimpse_params(raw, height, width, n)
        return read(x, *filterbanks(glimpse, n, height, width), glimpse.intensity)

    def glimpse_write(raw, w):
        glimpse = glimpse_params(raw, height, width, n)
        return write(w, *filterbanks(glimpse, n, height, width), glimpse.intensity)

    assert torch.autograd.gradcheck(glimpse_read, (raw, x))
    assert torch.autograd.gradcheck(glimpse_write, (raw, w))
    module = GaussianGlimpse(4, n, height, width).double()
    h = torch.randn(2, 4, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda h, x: module.read(x, h), (h, x))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda fx, fy, one: read(torch.zeros(2, 5, 5), fx, fy, one), "expected images"),
        (lambda fx, fy, one: write(torch.zeros(2, 4, 4), fx, fy, one), "N = 3"),
        (lambda fx, fy, one: read(torch.zeros(2, 6, 7), fx, fy[:1], one), "filterbanks"),
        (lambda fx, fy, one: write(torch.zeros(2, 3, 3), fx, fy, one[:1]), "intensity (B,)"),
        (lambda fx, fy, one: glimpse_params(torch.zeros(2, 4), 6, 7, 3), "raw (B, 5)"),
        (lambda fx, fy, one: GaussianGlimpse(4, 0, 6, 7), "size must be a positive int"),
    ],
)
def test_refuses_bad_shapes(call, message):
    glimpse = glimpse_params(torch.zeros(2, 5), 6, 7, 3)
    fx, fy = filterbanks(glimpse, 3, 6, 7)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call(fx, fy, glimpse.intensity)
