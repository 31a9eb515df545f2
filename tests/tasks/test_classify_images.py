"""rnnkit classify on images: CNN, ST-CNN and ST-LSTM, IDX folders, the distorted sets,
transforms.png, checkpoints, and bad input."""

import dataclasses
import gzip
import json
import struct

import numpy as np
import pytest
import torch
from cli_helpers import fails
from PIL import Image
from torch.nn.utils.rnn import pack_padded_sequence

from rnnkit.cli import main
from rnnkit.data.ucr import SequenceDataError, from_arrays
from rnnkit.tasks.classify import Classifier, Config, build_model
from rnnkit.tasks.classify import image_model as image_module
from rnnkit.tasks.classify.image_model import ImageClassifier, write_transforms
from rnnkit.train.config import saved_config
from rnnkit.viz.stn import plot_transforms

TINY = ["--channels", 4, "--hidden-size", 16, "--batch-size", 16, "--warmup-steps", 0]
TINY += ["--threads", 1, "--no-tensorboard", "--eval-every", 10]


def run(capsys, *argv):
    """(exit code, stdout, stderr) of ``rnnkit ARGV``."""
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def bars(n: int, seed: int, size: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, size, size) uint8 of one bar 2 pixels thick at a random place: label 0 for a
    horizontal bar, 1 for a vertical one."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, size, size), np.uint8)
    labels = rng.integers(0, 2, n)
    for i in range(n):
        start, length = rng.integers(0, size - 2), rng.integers(size // 2, size)
        offset = rng.integers(0, size - length + 1)
        if labels[i] == 0:
            images[i, start : start + 2, offset : offset + length] = 255
        else:
            images[i, offset : offset + length, start : start + 2] = 255
    return images, labels


def write_idx(path, values: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, values.ndim]) + struct.pack(f">{values.ndim}I", *values.shape)
    path.write_bytes(gzip.compress(header + values.astype(np.uint8).tobytes()))


def idx_folder(folder, n_train: int = 96, n_test: int = 24, size: int = 12, test: bool = True):
    folder.mkdir(parents=True, exist_ok=True)
    splits = (("train", n_train, 0), ("t10k", n_test, 1)) if test else (("train", n_train, 0),)
    for prefix, n, seed in splits:
        images, labels = bars(n, seed, size)
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return folder


# ---------------------------------------------------------------------------------------------
# the models


@pytest.mark.parametrize("kind", ["cnn", "st-cnn", "st-lstm"])
@pytest.mark.parametrize("size", [(28, 28), (42, 42), (60, 60), (5, 7)])
def test_shapes_scale_with_the_input(kind, size):
    h, w = size
    model = build_model(Config(model=kind, channels=4, hidden_size=8), w, 10, seq_len=h)
    assert isinstance(model, ImageClassifier) and model.image
    logits, loss = model(torch.rand(3, h, w), torch.tensor([0, 1, 9]))
    assert logits.shape == (3, 10) and loss.ndim == 0
    if kind != "cnn":
        assert model.transformer.transform == "affine"


@pytest.mark.parametrize("transform", ["affine", "projective", "tps", "attention", "similarity"])
def test_an_untrained_transformer_passes_the_image_through(transform):
    cfg = Config(model="st-cnn", channels=4, hidden_size=8, transform=transform)
    torch.manual_seed(0)
    model = build_model(cfg, 14, 3, seq_len=14).eval()
    model.mean.fill_(0.3)
    model.std.fill_(0.5)
    x = torch.rand(4, 14, 14)
    out, _ = model.transformed(x)
    torch.testing.assert_close(out, x, atol=1e-6, rtol=0)
    # so ST-CNN starts as the CNN of the same seed: the same weights, the same outputs
    torch.manual_seed(0)
    cnn = build_model(Config(model="cnn", channels=4, hidden_size=8), 14, 3, seq_len=14).eval()
    cnn.mean.fill_(0.3)
    cnn.std.fill_(0.5)
    torch.testing.assert_close(model(x)[0], cnn(x)[0], atol=1e-5, rtol=0)


def test_the_localisation_net_reads_the_input_at_full_or_half_resolution():
    torch.manual_seed(0)
    x = torch.rand(2, 1, 28, 28)
    full = image_module.localization_net(28, 28, 16)
    half = image_module.localization_net(28, 28, 16, "half")
    assert isinstance(full[0], torch.nn.Conv2d) and full[0].out_channels == 8
    assert isinstance(half[0], torch.nn.MaxPool2d) and half[1].out_channels == 4
    assert full(x).shape == half(x).shape == (2, image_module.LOCALIZATION_FEATURES)
    assert full[-2].in_features == 16 * 7 * 7 and half[-2].in_features == 8 * 4 * 4
    cfg = Config(model="st-cnn", channels=16, hidden_size=8)
    assert cfg.localization == "full"
    model = build_model(dataclasses.replace(cfg, localization="half"), 28, 10, seq_len=28)
    assert isinstance(model.transformer.localization[0], torch.nn.MaxPool2d)


def test_a_run_saved_before_the_option_keeps_the_half_resolution_net():
    values = dataclasses.asdict(Config(model="st-cnn"))
    del values["localization"]  # as rnnkit saved it before the option
    assert saved_config(Config, values).localization == "half"
    assert saved_config(Config, {**values, "localization": "full"}).localization == "full"


def test_images_of_another_size_or_unequal_lengths_are_refused():
    model = build_model(Config(model="cnn", channels=2, hidden_size=4), 6, 2, seq_len=5)
    with pytest.raises(SequenceDataError, match=r"expected images \(B, 5, 6\), got \(2, 4, 6\)"):
        model(torch.rand(2, 4, 6))
    packed = pack_padded_sequence(torch.rand(2, 5, 6), [5, 3], batch_first=True)
    with pytest.raises(SequenceDataError, match="sequences of unequal lengths"):
        model(packed)


def test_the_cnn_learns_bars():
    x, y = bars(256, seed=0)
    clf = Classifier(model="cnn", channels=4, hidden_size=16, batch_size=32, max_steps=60,
                     lr=5e-3, warmup_steps=0, threads=1, eval_every=20)  # fmt: skip
    clf.fit(x.astype(np.float32) / 255, y)
    x_test, y_test = bars(100, seed=1)
    accuracy = (clf.predict(x_test.astype(np.float32) / 255) == y_test).mean()
    assert accuracy > 0.9  # chance: 0.5
    assert clf.cfg.model == "cnn" and clf.classes_.tolist() == [0, 1]


# ---------------------------------------------------------------------------------------------
# the CLI: a folder of IDX images, transforms.png, eval, predict, checkpoints


@pytest.fixture(scope="module")
def st_run(tmp_path_factory):
    folder = idx_folder(tmp_path_factory.mktemp("bars") / "idx")
    out = folder.parent / "run"
    argv = ["classify", "train", "--data", folder, "--out", out, "--max-steps", 20, *TINY]
    assert main([str(a) for a in argv]) == 0
    return out, folder


def test_auto_is_st_cnn_on_an_idx_folder(st_run):
    out, _ = st_run
    config = json.loads((out / "config.json").read_text())
    assert config["model"] == "st-cnn" and config["transform"] == "affine"
    for name in ("best.safetensors", "confusion.png", "transforms.png"):
        assert (out / name).is_file(), name
    with Image.open(out / "transforms.png") as image:
        assert image.format == "PNG"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["test_n"] == 24  # the folder's t10k images


def test_eval_and_predict_on_the_folder(st_run, capsys, tmp_path):
    out, folder = st_run
    code, stdout, _ = run(capsys, "classify", "eval", out, "--json")
    assert code == 0 and json.loads(stdout)["n"] == 24
    plot = tmp_path / "c.png"
    code, stdout, _ = run(capsys, "classify", "eval", out, "--data", folder, "--plot", plot)
    assert code == 0 and (tmp_path / "transforms.png").is_file() and "transforms.png" in stdout
    code, stdout, _ = run(capsys, "classify", "predict", out, "--data", folder)
    lines = stdout.strip().splitlines()
    assert code == 0 and lines[0].startswith("index,label,probability,p_0,p_1")
    assert len(lines) == 25


def test_checkpoint_rebuilds_the_model(st_run):
    out, _ = st_run
    clf = Classifier.load(out)
    assert isinstance(clf.model, ImageClassifier) and clf.model.transformer is not None
    x, _ = bars(8, seed=5)
    probs = clf.predict_proba(x.astype(np.float32) / 255)
    assert probs.shape == (8, 2) and np.allclose(probs.sum(1), 1, atol=1e-5)
    with pytest.raises(SequenceDataError, match=r"images of 12 x 12 pixels"):
        clf.predict(np.zeros((2, 10, 12), np.float32))


def test_inspect_refuses_a_model_without_a_recurrent_layer(st_run, capsys):
    out, _ = st_run
    fails(["inspect", str(out)], capsys, "st-cnn classifier, which has no recurrent layer")


def test_eval_refuses_images_of_another_size(st_run, capsys, tmp_path):
    out, _ = st_run
    other = idx_folder(tmp_path / "big", 20, 8, size=14)
    fails(["classify", "eval", str(out), "--data", str(other)], capsys, "images of 12 x 12")


@pytest.mark.parametrize("transform", ["tps", "attention", "similarity"])
def test_st_lstm_and_other_transforms_train(tmp_path, capsys, transform):
    folder = idx_folder(tmp_path / "idx", 48, 8, test=False)  # no t10k: --test-fraction
    argv = ["classify", "train", "--data", folder, "--out", tmp_path / "run", "--model"]
    argv += ["st-lstm", "--transform", transform, "--max-steps", 4, *TINY]
    code, stdout, err = run(capsys, *argv)
    assert code == 0, err
    assert "ST-LSTM" in stdout and (tmp_path / "run" / "transforms.png").is_file()
    assert 8 <= json.loads((tmp_path / "run" / "summary.json").read_text())["test_n"] <= 11


def test_a_distorted_set_of_the_folder(tmp_path, capsys):
    folder = idx_folder(tmp_path / "idx", 40, 8, size=28)
    argv = ["classify", "train", "--dataset", "FashionMNIST-RTS", "--data", folder]
    argv += ["--out", tmp_path / "run", "--max-steps", 2, "--model", "cnn", *TINY]
    code, stdout, err = run(capsys, *argv)
    assert code == 0, err
    assert "images of 42 x 42 pixels" in stdout  # the RTS canvas
    assert not (tmp_path / "run" / "transforms.png").exists()  # no transformer


def test_plain_fashion_mnist_stays_a_sequence_set_for_auto(monkeypatch):
    from rnnkit.tasks.classify.data import is_image_data

    assert not is_image_data(Config(dataset="FashionMNIST"))
    assert is_image_data(Config(dataset="FashionMNIST-R"))


# ---------------------------------------------------------------------------------------------
# transforms.png


def test_the_outline_of_the_identity_is_the_image(monkeypatch, tmp_path):
    model = build_model(Config(model="st-cnn", channels=4, hidden_size=8), 9, 2, seq_len=7)
    seen = {}
    monkeypatch.setattr(
        image_module, "plot_transforms",
        lambda inputs, outputs, path, outlines, title: seen.update(outlines=outlines),
    )  # fmt: skip
    data = from_arrays(np.random.default_rng(0).random((3, 7, 9)), np.array(["a", "b", "a"]))
    write_transforms(model, data, tmp_path)
    outlines = seen["outlines"]  # (3, P, 2) the pixel centres along the edge
    assert outlines.shape == (3, 2 * (7 + 9), 2)
    np.testing.assert_allclose(outlines.min((0, 1)), [0, 0], atol=1e-5)
    np.testing.assert_allclose(outlines.max((0, 1)), [8, 6], atol=1e-5)


def test_plot_transforms(tmp_path):
    rng = np.random.default_rng(0)
    square = np.array([[0, 0], [5, 0], [5, 5], [0, 5]], float)
    plot_transforms(rng.random((5, 6, 6)), rng.random((5, 4, 4)), tmp_path / "t.png",
                    np.stack([square] * 5))  # fmt: skip
    with Image.open(tmp_path / "t.png") as image:
        assert image.size[0] > 100
    with pytest.raises(ValueError, match="same N"):
        plot_transforms(rng.random((5, 6, 6)), rng.random((4, 4, 4)), tmp_path / "u.png")
    with pytest.raises(ValueError, match=r"outlines \(2, P, 2\)"):
        plot_transforms(rng.random((2, 6, 6)), rng.random((2, 6, 6)), tmp_path / "u.png",
                        np.zeros((2, 4, 3)))  # fmt: skip


# ---------------------------------------------------------------------------------------------
# bad input: one line, exit 2


def test_bad_input(tmp_path, capsys):
    x = np.random.default_rng(0).random((20, 6, 2)).astype(np.float32)
    np.savez(tmp_path / "ragged.npz", x=x, y=np.array(["a", "b"] * 10), lengths=[6, 4] * 10)
    base = ["classify", "train", "--out", str(tmp_path / "run"), "--threads", "1"]
    fails([*base, "--data", str(tmp_path / "ragged.npz"), "--model", "cnn"], capsys,
          "sequences of unequal lengths")  # fmt: skip
    fails([*base, "--data", str(tmp_path / "none"), "--dataset", "GunPoint"], capsys,
          "got both")  # fmt: skip
    fails([*base, "--model", "st-cnn", "--head", "step", "--dataset", "GunPoint"], capsys,
          "--model st-cnn labels whole sequences")  # fmt: skip
    fails([*base, "--dataset", "FashionMNIST-RTS", "--data", str(tmp_path / "nowhere")], capsys,
          "no such folder")  # fmt: skip
    fails([*base, "--dataset", "FashionMNIST-X"], capsys, "FashionMNIST-RTS")
    fails([*base, "--data", str(tmp_path), "--model", "cnn"], capsys, "train-images-idx3")
    fails([*base, "--transform", "shear"], capsys, "--transform")


def test_resume_continues_an_image_run_and_keeps_its_shape(tmp_path, capsys):
    folder = idx_folder(tmp_path / "idx", 48, 8)
    argv = ["classify", "train", "--data", folder, "--out", tmp_path / "run", *TINY]
    code, _, err = run(capsys, *argv, "--max-steps", 4)
    assert code == 0, err
    code, _, err = run(capsys, *argv, "--max-steps", 8, "--resume")
    assert code == 0, err
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["steps"] == 8
    args = [*argv, "--max-steps", 10, "--resume", "--transform", "tps"]
    fails([str(a) for a in args], capsys, "--transform cannot change")
