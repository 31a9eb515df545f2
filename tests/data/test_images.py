"""rnnkit.data.images: MNIST-format folders written here, checks, binarization; the Debian
Fashion-MNIST package when it is installed."""

import gzip
import struct

import numpy as np
import pytest

from rnnkit.data.images import (
    IMAGES_DIR,
    ImageDataError,
    as_images,
    binarize,
    load_idx_images,
    load_image_folder,
)


def idx_bytes(array: np.ndarray) -> bytes:
    """``array`` (uint8) as an IDX file."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(">u1").tobytes()


def write_images(folder, prefix="train", n=5, height=4, width=3, labels=True, gz=False, dot=False):
    """An MNIST-format images file (and labels) in ``folder``; returns (images, labels)."""
    rng = np.random.default_rng(len(prefix) + n)
    images = rng.integers(0, 256, size=(n, height, width)).astype(np.uint8)
    y = rng.integers(0, 10, size=n).astype(np.uint8)
    sep = "." if dot else "-"
    pack = gzip.compress if gz else bytes
    suffix = ".gz" if gz else ""
    (folder / f"{prefix}-images{sep}idx3-ubyte{suffix}").write_bytes(pack(idx_bytes(images)))
    if labels:
        (folder / f"{prefix}-labels{sep}idx1-ubyte{suffix}").write_bytes(pack(idx_bytes(y)))
    return images, y


@pytest.mark.parametrize("gz, dot", [(False, False), (True, False), (False, True)])
def test_load_image_folder_reads_both_splits(tmp_path, gz, dot):
    train, y_train = write_images(tmp_path, "train", n=5, gz=gz, dot=dot)
    test, _ = write_images(tmp_path, "t10k", n=2, labels=False, gz=gz, dot=dot)
    got = load_image_folder(tmp_path, "train")
    assert got.images.dtype == np.float32 and got.images.shape == (5, 4, 3)
    assert (got.height, got.width, len(got)) == (4, 3, 5)
    np.testing.assert_allclose(got.images, train / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(got.labels, y_train)
    assert "train-images" in got.source
    got = load_image_folder(tmp_path, "test")
    assert got.labels is None and got.images.shape == (2, 4, 3)
    np.testing.assert_allclose(got.subset(slice(1, 2)).images, test[1:2] / 255.0, rtol=1e-6)


def test_load_idx_images_checks_labels(tmp_path):
    write_images(tmp_path, "train", n=5)
    write_images(tmp_path, "other", n=4)
    with pytest.raises(ImageDataError, match="expected 5 labels"):
        load_idx_images(tmp_path / "train-images-idx3-ubyte", tmp_path / "other-labels-idx1-ubyte")


def test_load_image_folder_says_what_is_missing(tmp_path):
    with pytest.raises(ImageDataError, match="no such folder.*dataset-fashion-mnist"):
        load_image_folder(tmp_path / "nowhere")
    write_images(tmp_path, "train")
    with pytest.raises(ImageDataError, match="no t10k-images-idx3-ubyte"):
        load_image_folder(tmp_path, "test")
    with pytest.raises(ImageDataError, match="split: expected one of train, test"):
        load_image_folder(tmp_path, "val")
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "train-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros(3)))
    with pytest.raises(ImageDataError, match=r"expected images \(N, H, W\)"):
        load_image_folder(tmp_path / "labels")


def test_as_images():
    np.testing.assert_array_equal(as_images(np.full((2, 2), 255, np.uint8)), np.ones((1, 2, 2)))
    assert as_images(np.zeros((3, 2, 2), np.float64)).dtype == np.float32
    for bad, message in (
        (np.full((1, 2, 2), 2.0), r"pixels in \[0, 1\]"),
        (np.full((1, 2, 2), np.nan), r"pixels in \[0, 1\]"),
        (np.zeros((1, 2, 2, 3)), "expected images"),
        (np.zeros((0, 2, 2)), "expected images"),
        (np.array([[["a"]]]), "expected numbers"),
    ):
        with pytest.raises(ImageDataError, match=message):
            as_images(bad)


def test_binarize_threshold_and_stochastic():
    images = np.array([[[0.0, 0.3, 0.5, 0.51, 1.0]]], dtype=np.float32)
    np.testing.assert_array_equal(binarize(images, "threshold"), [[[0, 0, 0, 1, 1]]])
    np.testing.assert_array_equal(binarize(images, "threshold", 0.2), [[[0, 1, 1, 1, 1]]])
    assert binarize(images, "threshold").dtype == np.uint8
    # stochastic: each pixel 1 with its intensity as probability; fixed by the seed
    gray = np.full((200, 10, 10), 0.3, dtype=np.float32)
    gray[:, :, :5] = 0.0
    gray[:, :, 9] = 1.0
    b = binarize(gray, "stochastic", rng=0)
    assert set(np.unique(b)) == {0, 1}
    assert b[:, :, :5].max() == 0 and b[:, :, 9].min() == 1
    assert abs(b[:, :, 5:9].mean() - 0.3) < 0.01  # 8000 draws: std 0.005
    np.testing.assert_array_equal(b, binarize(gray, "stochastic", rng=0))
    assert not np.array_equal(b, binarize(gray, "stochastic", rng=1))
    with pytest.raises(ImageDataError, match="expected one of threshold, stochastic"):
        binarize(gray, "dynamic")
    with pytest.raises(ImageDataError, match="threshold: expected a number in"):
        binarize(gray, "threshold", 1.0)


@pytest.mark.skipif(
    not (IMAGES_DIR / "t10k-images-idx3-ubyte.gz").is_file(),
    reason="Debian's dataset-fashion-mnist is not installed",
)
def test_debian_fashion_mnist():
    test = load_image_folder(IMAGES_DIR, "test")
    assert test.images.shape == (10000, 28, 28) and test.labels.shape == (10000,)
    assert 0.2 < test.images.mean() < 0.4 and set(np.unique(test.labels)) == set(range(10))
