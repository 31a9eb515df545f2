"""rnnkit.data.fashion_mnist: the IDX reader on tiny files, and the Debian package when present."""

import gzip
import struct

import numpy as np
import pytest

from rnnkit.data import fashion_mnist
from rnnkit.data.fashion_mnist import FASHION_MNIST_DIR, read_idx
from rnnkit.data.ucr import SequenceDataError


def idx_bytes(array: np.ndarray, type_code: int, dtype: str) -> bytes:
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(dtype).tobytes()


def write_idx_set(folder, prefix, images, labels, gz):
    suffix = ".gz" if gz else ""
    pack = gzip.compress if gz else bytes
    (folder / f"{prefix}-images-idx3-ubyte{suffix}").write_bytes(
        pack(idx_bytes(images, 0x08, ">u1"))
    )
    (folder / f"{prefix}-labels-idx1-ubyte{suffix}").write_bytes(
        pack(idx_bytes(labels, 0x08, ">u1"))
    )


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_uint8_gz_or_not(tmp_path, gz):
    images = np.arange(2 * 3 * 4).reshape(2, 3, 4).astype(np.uint8)
    data = idx_bytes(images, 0x08, ">u1")
    path = tmp_path / "images.idx"  # the name says nothing: gzip is told by its magic bytes
    path.write_bytes(gzip.compress(data) if gz else data)
    np.testing.assert_array_equal(read_idx(path), images)


def test_read_idx_big_endian_types(tmp_path):
    values = np.array([[1, -2], [300000, 4]], dtype=np.int32)
    (tmp_path / "a").write_bytes(idx_bytes(values, 0x0C, ">i4"))
    np.testing.assert_array_equal(read_idx(tmp_path / "a"), values)
    floats = np.array([0.5, -1.25], dtype=np.float64)
    (tmp_path / "b").write_bytes(idx_bytes(floats, 0x0E, ">f8"))
    np.testing.assert_array_equal(read_idx(tmp_path / "b"), floats)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\x01\x00\x08\x01", "not an IDX file"),
        (b"\x00\x00\x08\x02\x00\x00", "truncated IDX header"),
        (idx_bytes(np.zeros((2, 2)), 0x08, ">u1")[:-1], "needs 16 bytes, the file has 15"),
        (b"\x1f\x8bnot gzip", "damaged gzip"),
    ],
)
def test_read_idx_refuses(tmp_path, data, message):
    (tmp_path / "bad").write_bytes(data)
    with pytest.raises(SequenceDataError, match=message):
        read_idx(tmp_path / "bad")


def test_load_rows_as_steps_from_a_folder(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 28, 28)).astype(np.uint8)
    write_idx_set(tmp_path, "train", images, np.array([0, 1, 2, 9, 1]), gz=True)
    write_idx_set(tmp_path, "t10k", images[:2], np.array([3, 4]), gz=False)
    train, test = fashion_mnist.load_fashion_mnist(tmp_path)
    assert train.x.shape == (5, 28, 28) and test.x.shape == (2, 28, 28)
    np.testing.assert_allclose(train.x[2, 7], images[2, 7] / 255.0, rtol=1e-6)  # row 7 = step 7
    assert list(train.labels[:4]) == ["T-shirt/top", "Trouser", "Pullover", "Ankle boot"]
    assert train.classes == fashion_mnist.CLASSES


def test_missing_folder_or_files_say_how_to_install(tmp_path):
    with pytest.raises(SequenceDataError, match="apt-get install dataset-fashion-mnist"):
        fashion_mnist.load_fashion_mnist(tmp_path / "absent")
    with pytest.raises(SequenceDataError, match="no train-images-idx3-ubyte.*apt-get install"):
        fashion_mnist.load_fashion_mnist(tmp_path)


@pytest.mark.skipif(not FASHION_MNIST_DIR.is_dir(), reason="dataset-fashion-mnist not installed")
def test_debian_package_files():
    labels = read_idx(FASHION_MNIST_DIR / "t10k-labels-idx1-ubyte.gz")
    images = read_idx(FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and set(np.unique(labels)) == set(range(10))
