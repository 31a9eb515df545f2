"""rnnkit.data.distorted: the warps against known answers and scipy, the data sets on small
MNIST-format folders written here (determinism, prefixes, shapes, labels, clutter sources,
errors); Debian's Fashion-MNIST when it is installed."""

import struct

import numpy as np
import pytest

from rnnkit.data.distorted import (
    DISTORTIONS,
    NAMES,
    DistortionParameters,
    distorted_images,
    elastic,
    homography,
    item_corners,
    item_rng,
    main,
    project,
    rotate,
    smooth,
)
from rnnkit.data.images import IMAGES_DIR, ImageDataError

SHAPES = {"R": (28, 28), "RTS": (42, 42), "P": (28, 28), "E": (28, 28), "Cluttered": (60, 60)}


def write_idx(path, values: np.ndarray) -> None:
    """``values`` (uint8) as an uncompressed IDX file at ``path``."""
    header = bytes([0, 0, 0x08, values.ndim]) + struct.pack(f">{values.ndim}I", *values.shape)
    path.write_bytes(header + values.astype(np.uint8).tobytes())


def write_split(folder, prefix: str, images: np.ndarray, labels: np.ndarray) -> None:
    write_idx(folder / f"{prefix}-images-idx3-ubyte", images)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels)


def blocks(n: int, seed: int) -> np.ndarray:
    """``n`` 28x28 uint8 images, each a bright rectangle near the centre (so rotations keep it
    on the image)."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 28, 28), np.uint8)
    for k in range(n):
        top, left = rng.integers(8, 12, size=2)
        height, width = rng.integers(4, 9, size=2)
        images[k, top : top + height, left : left + width] = rng.integers(128, 256)
    return images


@pytest.fixture
def folder(tmp_path):
    """train: 12 block images, labels 0..9,0,1; t10k: 5 other blocks, labels 9..5."""
    write_split(tmp_path, "train", blocks(12, 0), np.arange(12) % 10)
    write_split(tmp_path, "t10k", blocks(5, 1), np.arange(9, 4, -1))
    return tmp_path


def one_pixel(row: int, col: int, size: int = 28) -> np.ndarray:
    image = np.zeros((1, size, size), np.float32)
    image[0, row, col] = 1.0
    return image


# ---- the warps -----------------------------------------------------------------------------


@pytest.mark.parametrize("degrees, expected", [(90, (7, 13)), (180, (14, 7)), (-90, (20, 14))])
def test_rotate_moves_a_pixel_counter_clockwise(degrees, expected):
    # (row 13, col 20) is 6.5 right of and 0.5 above the centre (13.5, 13.5)
    out = rotate(one_pixel(13, 20), degrees)
    assert out.shape == (1, 28, 28)
    assert np.argwhere(out[0] > 1e-4).tolist() == [list(expected)]
    assert out[0][expected] == pytest.approx(1.0, abs=1e-5)


def test_rotate_matches_scipy():
    ndimage = pytest.importorskip("scipy.ndimage")
    image = np.random.default_rng(1).random((28, 28)).astype(np.float32)
    for degrees in (30.0, -72.5):
        want = ndimage.rotate(image, degrees, reshape=False, order=1, mode="grid-constant")
        np.testing.assert_allclose(rotate(image[None], degrees)[0], want, atol=1e-5)


def test_rotate_scales_and_places_on_a_canvas():
    # the centre pixel pair lands at the canvas centre plus the offset
    out = rotate(one_pixel(13, 13), 0.0, 1.0, np.array([[5.0, -3.0]]), canvas=(42, 42))
    assert out.shape == (1, 42, 42)
    # item pixel 13 is 0.5 left/above the item centre 13.5; canvas centre 20.5
    assert np.argwhere(out[0] > 1e-4).tolist() == [[20 - 3, 20 + 5]]
    square = np.zeros((1, 28, 28), np.float32)
    square[0, 10:18, 10:18] = 1.0
    doubled = rotate(square, 0.0, 2.0, canvas=(42, 42))
    assert doubled.sum() == pytest.approx(4 * square.sum(), rel=0.02)
    assert (doubled[0, 5:37, 5:37] > 0.99).sum() >= 14 * 14  # the 8x8 square made 16x16


def test_homography_maps_the_points_and_project_identity():
    rng = np.random.default_rng(2)
    src = rng.uniform(0, 28, size=(3, 4, 2))
    dst = src + rng.normal(0, 2, size=(3, 4, 2))
    h = homography(src, dst)
    mapped = np.einsum("nij,nkj->nki", h, np.concatenate([src, np.ones((3, 4, 1))], axis=2))
    np.testing.assert_allclose(mapped[..., :2] / mapped[..., 2:], dst, atol=1e-9)
    images = rng.random((3, 28, 28)).astype(np.float32)
    same = project(images, np.broadcast_to(item_corners(28, 28), (3, 4, 2)))
    np.testing.assert_allclose(same, images, atol=1e-5)


def test_project_with_rotated_corners_is_a_rotation():
    # corners turned 90 degrees counter-clockwise about the centre: (x, y) -> (y, -x)
    images = np.random.default_rng(3).random((2, 28, 28)).astype(np.float32)
    rel = item_corners(28, 28) - 13.5
    corners = np.stack([rel[:, 1], -rel[:, 0]], axis=1) + 13.5
    got = project(images, np.broadcast_to(corners, (2, 4, 2)))
    np.testing.assert_allclose(got, rotate(images, 90.0), atol=1e-5)
    np.testing.assert_allclose(got, np.rot90(images, 1, axes=(1, 2)), atol=1e-5)


def test_project_leaves_beyond_the_horizon_black():
    # a strongly projective quadrilateral: no ghost copies from points behind the camera
    images = np.ones((1, 28, 28), np.float32)
    corners = np.array([[[10.0, 10.0], [17.0, 10.0], [27.0, 27.0], [0.0, 27.0]]])
    out = project(images, corners)
    assert out[0, :9].max() == 0.0  # above the quadrilateral
    assert out[0, 20, 13] == pytest.approx(1.0)


def test_smooth_matches_scipy():
    ndimage = pytest.importorskip("scipy.ndimage")
    for shape in [(2, 2, 28, 28), (1, 2, 5, 7)]:
        field = np.random.default_rng(4).uniform(-1, 1, shape)
        want = ndimage.gaussian_filter(field, sigma=(0, 0, 4.0, 4.0), mode="reflect")
        np.testing.assert_allclose(smooth(field, 4.0), want, atol=1e-12)


def test_elastic_zero_field_is_identity_and_constant_field_shifts():
    images = np.random.default_rng(5).random((2, 28, 28)).astype(np.float32)
    zero = np.zeros((2, 2, 28, 28))
    np.testing.assert_allclose(elastic(images, zero, 4.0, 34.0), images, atol=1e-6)
    shift = np.zeros((2, 2, 28, 28))
    shift[:, 0] = 0.25  # x displacement 0.25 * alpha 8 = 2 pixels: out[y, x] = in[y, x + 2]
    out = elastic(images, shift, 4.0, 8.0)
    np.testing.assert_allclose(out[:, :, :26], images[:, :, 2:], atol=1e-5)
    assert np.abs(out[:, :, 26:]).max() < 1e-5  # beyond the edge: zeros


# ---- the data sets -------------------------------------------------------------------------


def test_plain_is_the_files(folder):
    images, labels = distorted_images("FashionMNIST", "train", folder)
    np.testing.assert_allclose(images, blocks(12, 0) / 255.0, rtol=1e-6)
    assert images.dtype == np.float32 and labels.dtype == np.int64
    np.testing.assert_array_equal(labels, np.arange(12) % 10)


@pytest.mark.parametrize("distortion", DISTORTIONS)
def test_shapes_range_labels_determinism_and_prefix(folder, distortion):
    name = f"FashionMNIST-{distortion}"
    images, labels = distorted_images(name, "train", folder, seed=3)
    assert images.shape == (12, *SHAPES[distortion]) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert (images.reshape(12, -1).max(axis=1) > 0.4).all()  # every item is there
    np.testing.assert_array_equal(labels, np.arange(12) % 10)
    assert labels.dtype == np.int64
    again, _ = distorted_images(name, "train", folder, seed=3)
    np.testing.assert_array_equal(again, images)
    np.testing.assert_array_equal(distorted_images(name, "train", folder, 3, limit=99)[0], images)
    prefix, first = distorted_images(name, "train", folder, seed=3, limit=5)
    np.testing.assert_array_equal(prefix, images[:5])
    np.testing.assert_array_equal(first, labels[:5])
    other, _ = distorted_images(name, "train", folder, seed=4)
    assert not np.array_equal(other, images)
    test, test_labels = distorted_images(name, "test", folder, seed=3)
    assert test.shape == (5, *SHAPES[distortion])
    np.testing.assert_array_equal(test_labels, [9, 8, 7, 6, 5])


def test_degenerate_ranges_give_the_items_back(folder):
    plain, _ = distorted_images("FashionMNIST", "train", folder)
    still = DistortionParameters(
        r_degrees=0.0, rts_degrees=0.0, rts_scale=(1.0, 1.0), p_scale=(1.0, 1.0),
        p_corner_sd=0.0, e_alpha=0.0,
    )  # fmt: skip
    for name in ("FashionMNIST-R", "FashionMNIST-P", "FashionMNIST-E"):
        images, _ = distorted_images(name, "train", folder, parameters=still, progress=True)
        np.testing.assert_allclose(images, plain, atol=1e-5, err_msg=name)
    placed, _ = distorted_images("FashionMNIST-RTS", "train", folder, parameters=still)
    np.testing.assert_allclose(placed.sum(axis=(1, 2)), plain.sum(axis=(1, 2)), rtol=1e-4)
    shift = centroids(placed) - centroids(plain) - 7.0  # (N, 2): the canvas adds 7 each side
    assert np.abs(shift).max() <= 7.0 + 1e-4


def test_rotation_keeps_the_item(folder):
    plain, _ = distorted_images("FashionMNIST", "train", folder)
    rotated, _ = distorted_images("FashionMNIST-R", "train", folder)
    np.testing.assert_allclose(rotated.sum(axis=(1, 2)), plain.sum(axis=(1, 2)), rtol=0.05)
    assert not np.allclose(rotated, plain, atol=0.1)


def centroids(images: np.ndarray) -> np.ndarray:
    """The centres of mass (N, 2) of ``images`` (N, H, W) as (x, y) pixels."""
    y, x = np.mgrid[0 : images.shape[1], 0 : images.shape[2]]
    mass = images.sum(axis=(1, 2))
    return (
        np.stack([(images * x).sum(axis=(1, 2)), (images * y).sum(axis=(1, 2))], 1) / mass[:, None]
    )


def test_r_and_rts_draw_from_their_ranges(tmp_path):
    # a 2x2 square 9 pixels right of the centre; a 6x6 one at the centre
    right, centre = np.zeros((40, 28, 28), np.uint8), np.zeros((40, 28, 28), np.uint8)
    right[:, 13:15, 22:24] = 255
    centre[:, 11:17, 11:17] = 255
    write_split(tmp_path, "train", right, np.zeros(40))
    write_split(tmp_path, "t10k", centre, np.zeros(40))
    rotated, _ = distorted_images("FashionMNIST-R", "train", tmp_path)
    rel = centroids(rotated) - 13.5  # (40, 2)
    np.testing.assert_allclose(np.hypot(*rel.T), 9.0, atol=0.05)  # turned about the centre
    angles = np.degrees(np.arctan2(-rel[:, 1], rel[:, 0]))  # counter-clockwise, rows down
    assert np.abs(angles).max() <= 90.5 and angles.min() < -45 and angles.max() > 45
    placed, _ = distorted_images("FashionMNIST-RTS", "test", tmp_path)
    offsets = centroids(placed) - 20.5  # (40, 2): from the 42x42 canvas's centre
    assert np.abs(offsets).max() <= 7.05 and np.abs(offsets).min(axis=0).max() < 1
    assert (np.abs(offsets) > 5).any(axis=0).all()  # both axes spread over the range
    scales = np.sqrt(placed.sum(axis=(1, 2)) / 36.0)  # the mass grows as the scale squared
    assert 0.68 <= scales.min() < 0.8 and 1.1 < scales.max() <= 1.22


def test_item_generators_are_pinned():
    # the data sets' identity: changing the seeding scheme would silently change every set
    assert item_rng("FashionMNIST-R", "train", 0, 0).random() == pytest.approx(0.11048243108450617)
    assert item_rng("FashionMNIST-R", "train", 0, 59999).random() == pytest.approx(
        0.8172036113036739
    )
    assert (
        item_rng("FashionMNIST-R", "test", 0, 0).random()
        != item_rng("FashionMNIST-R", "train", 0, 0).random()
    )


def constant_images(values: list[int]) -> np.ndarray:
    return np.stack([np.full((28, 28), v, np.uint8) for v in values])


def test_cluttered_places_the_item_among_pieces_of_the_same_split(tmp_path):
    train_values, test_values = [40, 80, 120, 160], [60, 100]
    write_split(tmp_path, "train", constant_images(train_values), np.arange(4))
    write_split(tmp_path, "t10k", constant_images(test_values), np.arange(2))
    for split, values in (("train", train_values), ("test", test_values)):
        images, _ = distorted_images("FashionMNIST-Cluttered", split, tmp_path)
        for k, image in enumerate(images):
            seen = set(np.unique(np.round(image * 255).astype(int)).tolist())
            assert seen <= {0, *values}  # pieces only from this split's files
            assert seen - {0, values[k]}  # some clutter from other images
            windows = np.lib.stride_tricks.sliding_window_view(image, (28, 28))  # (33, 33, 28, 28)
            assert (windows.min(axis=(2, 3)) >= values[k] / 255 - 1e-6).any()  # the whole item
    # two items: the clutter of each comes only from the other
    images, _ = distorted_images("FashionMNIST-Cluttered", "test", tmp_path)
    for k in range(2):
        brighter = images[k] > test_values[k] / 255 + 1e-6
        assert brighter.sum() > 0 if test_values[1 - k] > test_values[k] else brighter.sum() == 0


def test_a_folder_of_other_sizes_scales_the_canvases(tmp_path):
    write_split(tmp_path, "train", np.full((3, 14, 14), 200, np.uint8), np.arange(3))
    write_split(tmp_path, "t10k", np.full((2, 14, 14), 200, np.uint8), np.arange(2))
    assert distorted_images("FashionMNIST-RTS", "train", tmp_path)[0].shape == (3, 21, 21)
    assert distorted_images("FashionMNIST-Cluttered", "test", tmp_path)[0].shape == (2, 30, 30)
    assert distorted_images("FashionMNIST-E", "test", tmp_path)[0].shape == (2, 14, 14)


def test_errors(folder, tmp_path):
    with pytest.raises(ImageDataError, match="unknown data set 'MNIST-R'.*FashionMNIST-RTS"):
        distorted_images("MNIST-R", "train", folder)
    with pytest.raises(ImageDataError, match="split: expected one of train, test, got 'val'"):
        distorted_images("FashionMNIST-R", "val", folder)
    with pytest.raises(ImageDataError, match="no such folder.*apt-get install.*--data DIR"):
        distorted_images("FashionMNIST-R", "train", tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    write_idx(empty / "train-images-idx3-ubyte", blocks(2, 0))
    with pytest.raises(ImageDataError, match="no train-labels-idx1-ubyte.*dataset-fashion-mnist"):
        distorted_images("FashionMNIST-R", "train", empty)
    with pytest.raises(ImageDataError, match="no t10k-images-idx3-ubyte"):
        distorted_images("FashionMNIST-R", "test", empty)
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    write_split(damaged, "train", blocks(2, 0), np.arange(2))
    (damaged / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + bytes(10))
    with pytest.raises(ImageDataError, match="train-images-idx3-ubyte: truncated IDX header"):
        distorted_images("FashionMNIST-R", "train", damaged)
    for limit in (0, -1, 2.5, True):
        with pytest.raises(ImageDataError, match="limit: expected a positive integer"):
            distorted_images("FashionMNIST-R", "train", folder, limit=limit)
    with pytest.raises(ImageDataError, match="seed: expected an integer >= 0"):
        distorted_images("FashionMNIST-R", "train", folder, seed=-1)
    assert len(NAMES) == 1 + len(DISTORTIONS)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("rts_scale", (1.2, 0.7), "rts_scale: expected 0 < low <= high"),
        ("e_sigma", 0.0, "e_sigma: expected > 0"),
        ("rts_canvas", 0.9, "rts_canvas: expected >= 1"),
        ("clutter_piece", 1.5, "clutter_piece: expected"),
    ],
)
def test_parameters_are_checked(folder, field, value, message):
    with pytest.raises(ImageDataError, match=message):
        DistortionParameters(**{field: value})
    wider = DistortionParameters(r_degrees=180.0)
    images, _ = distorted_images("FashionMNIST-R", "train", folder, limit=3, parameters=wider)
    assert not np.array_equal(
        images, distorted_images("FashionMNIST-R", "train", folder, limit=3)[0]
    )


def test_main_writes_a_png(folder, tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert main(["FashionMNIST-RTS", "--data", str(folder), "--out", str(out), "--count", "4"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(SystemExit) as exit_info:
        main(["FashionMNIST-X", "--data", str(folder), "--out", str(out)])
    assert exit_info.value.code == 2
    assert "unknown data set" in capsys.readouterr().err


@pytest.mark.skipif(not IMAGES_DIR.is_dir(), reason="Debian's dataset-fashion-mnist not installed")
def test_installed_fashion_mnist():
    plain, labels = distorted_images("FashionMNIST", "test", limit=8)
    images, same = distorted_images("FashionMNIST-RTS", "test", limit=8)
    assert images.shape == (8, 42, 42) and plain.shape == (8, 28, 28)
    np.testing.assert_array_equal(same, labels)
    np.testing.assert_allclose(images.sum(axis=(1, 2)), plain.sum(axis=(1, 2)), rtol=0.5)
