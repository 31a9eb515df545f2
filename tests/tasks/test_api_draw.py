"""``rnnkit.tasks.draw.Draw``: fit on arrays, sample, drawing, nll_bound, evaluate, load; the
data splits and batches."""

import numpy as np
import pytest
import torch

from rnnkit.data.images import ImageDataError
from rnnkit.tasks.draw import Config, Draw, make_splits
from rnnkit.tasks.draw.data import train_batch
from rnnkit.train.config import ConfigError

QUICK = {"hidden_size": 16, "latent_size": 4, "steps": 3, "batch_size": 16, "val_size": 20,
         "max_steps": 4, "eval_every": 2, "threads": 1}  # fmt: skip


def gray(n: int, seed: int, size: int = 10) -> np.ndarray:
    """(n, size, size) float images in [0, 1]: a bright bar on a dim background."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 0.2, size=(n, size, size)).astype(np.float32)
    for image, row in zip(images, rng.integers(0, size, n), strict=True):
        image[row] = 0.95
    return images


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    out = tmp_path_factory.mktemp("api") / "run"
    return Draw(**QUICK).fit(gray(100, 0), gray(30, 1), out=out), out


def test_fit_sample_drawing_and_bound(fitted):
    draw, out = fitted
    assert draw.summary["steps"] == 4 and draw.summary["test_n"] == 30
    samples = draw.sample(5, seed=1)
    assert samples.shape == (5, 10, 10) and samples.dtype == np.float32
    assert 0 <= samples.min() and samples.max() <= 1
    np.testing.assert_array_equal(samples, draw.sample(5, seed=1))
    assert not np.array_equal(samples, draw.sample(5, seed=2))
    drawing = draw.drawing(5, seed=1)
    assert drawing.canvases.shape == (3, 5, 10, 10) and drawing.boxes.shape == (3, 5, 4)
    np.testing.assert_array_equal(drawing.canvases[-1].numpy(), samples)
    binary = (gray(8, 2) > 0.5).astype(np.uint8)
    bounds = draw.nll_bound(binary)
    assert bounds.shape == (8,) and np.isfinite(bounds).all()
    np.testing.assert_array_equal(bounds, draw.nll_bound(binary))  # the latents' seed is fixed
    report = draw.evaluate(binary)
    assert report["n"] == 8 and report["nll_bound"] == pytest.approx(bounds.mean())
    assert report["nll_bound"] == pytest.approx(report["reconstruction"] + report["kl"])
    np.testing.assert_allclose(draw.nll_bound(binary.astype(np.float64)), bounds)
    loaded = Draw.load(out)
    np.testing.assert_array_equal(loaded.nll_bound(binary), bounds)
    np.testing.assert_array_equal(loaded.sample(3, seed=4), draw.sample(3, seed=4))


def test_api_errors(fitted):
    draw, _ = fitted
    with pytest.raises(ImageDataError, match="expected binary images"):
        draw.nll_bound(gray(3, 0))
    with pytest.raises(ValueError, match=r"expected \(N, 10, 10\) as in training"):
        draw.nll_bound(np.zeros((2, 8, 8), np.uint8))
    with pytest.raises(ValueError, match="n: expected an int >= 1"):
        draw.sample(0)
    with pytest.raises(RuntimeError, match="call fit"):
        Draw().sample(2)
    with pytest.raises(ConfigError, match="unknown config key"):
        Draw(hidden=3)
    with pytest.raises(ConfigError, match="--latent-size: expected an int >= 1"):
        Draw(latent_size=0)
    with pytest.raises(ImageDataError, match="test images are 8 x 8"):
        Draw(**QUICK).fit(gray(50, 0), gray(5, 0, size=8))


@pytest.mark.parametrize("method", ["stochastic", "threshold", "dynamic"])
def test_splits_and_batches(method):
    cfg = Config(binarize=method, val_size=10, batch_size=8, train_size=30, seed=3)
    images = gray(60, 0)
    splits = make_splits(cfg, images, gray(7, 1))
    assert splits.val.shape == (10, 10, 10) and splits.test.shape == (7, 10, 10)
    assert len(splits.fit) == 30 and splits.shape == (10, 10)
    for part in (splits.val, splits.test):
        assert part.dtype == np.uint8 and set(np.unique(part)) <= {0, 1}
    again = make_splits(Config(binarize=method, val_size=10, train_size=30, seed=9), images)
    np.testing.assert_array_equal(again.val, splits.val)  # not the run's seed: comparable runs
    if method == "threshold":
        np.testing.assert_array_equal(splits.val.sum((1, 2)), np.full(10, 10))  # the bar
    batches = [train_batch(cfg, splits, step) for step in range(5)]
    assert all(b.shape == (8, 10, 10) and b.dtype == torch.float32 for b in batches[:3])
    assert batches[3].shape == (6, 10, 10)  # the end of the epoch: 30 = 3 x 8 + 6
    torch.testing.assert_close(train_batch(cfg, splits, 2), batches[2])  # a function of step
    assert set(torch.unique(batches[0]).tolist()) <= {0.0, 1.0}
    # a batch of the whole (8-image) training set at each step: the same pixels, in another
    # order, unless dynamic binarization draws them anew
    whole = Config(binarize=method, val_size=10, batch_size=8, train_size=8)
    small = make_splits(whole, images)
    first, second = (train_batch(whole, small, step).sum(0) for step in (0, 1))
    assert torch.equal(first, second) == (method != "dynamic")
    with pytest.raises(ImageDataError, match="--val-size 60: the training split has only 60"):
        make_splits(Config(val_size=60), images)
