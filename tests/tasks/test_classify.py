"""rnnkit.tasks.classify: learning (many-to-one, tagging), padding, LSTM-FCN, real loaders, CLI."""

import gzip
import json
import re
import struct
import sys

import numpy as np
import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

from rnnkit.cli import main
from rnnkit.data.ucr import from_arrays
from rnnkit.tasks import classify
from rnnkit.tasks.classify import LSTMFCN, Config, MaskedBatchNorm1d, build_model
from rnnkit.tasks.classify.config import resolve_model
from rnnkit.tasks.classify.data import resolve, resolve_validation
from rnnkit.tasks.classify.swa import WeightAverage
from rnnkit.train.checkpoint import load_checkpoint
from rnnkit.train.config import ConfigError

FAST = ["--no-tensorboard", "--threads", "1", "--warmup-steps", "10"]


def cli(capsys, *argv):
    """(exit code, stdout, stderr) of ``rnnkit ARGV``."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:  # argparse refusing a flag
        code = e.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def memory_data(n: int, seed: int) -> dict:
    """Many-to-one, solvable only by remembering step 0: the label is the sign of the first
    value; every other value (and the length, 6..12) is independent noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 12, 2)).astype(np.float32)
    lengths = rng.integers(6, 13, size=n)
    return {"x": x, "y": np.where(x[:, 0, 0] > 0, "pos", "neg"), "lengths": lengths}


def tagging_data(n: int, seed: int) -> dict:
    """Many-to-many: symbols 0..2 (one-hot); the tag of step t is the symbol of step t-2 (of
    step t itself for t < 2), so each tag needs the earlier steps."""
    rng = np.random.default_rng(seed)
    symbols = rng.integers(0, 3, size=(n, 12))
    tags = np.concatenate([symbols[:, :2], symbols[:, :-2]], axis=1)  # (N, T)
    x = np.eye(3, dtype=np.float32)[symbols]  # (N, T, 3)
    return {"x": x, "y": tags, "lengths": rng.integers(5, 13, size=n)}


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A small model trained on the memory task: (run directory, data folder)."""
    folder = tmp_path_factory.mktemp("memory")
    np.savez(folder / "train.npz", **memory_data(512, seed=0))
    np.savez(folder / "test.npz", **memory_data(200, seed=1))
    args = ["classify", "train", "--data", folder / "train.npz", "--test-data"]
    args += [folder / "test.npz", "--out", folder / "run", "--cell", "gru", "--hidden-size", 32]
    args += ["--lr", 1e-2, "--max-steps", 150, "--eval-every", 50, *FAST]
    assert main([str(a) for a in args]) == 0
    return folder / "run", folder


# ---------------------------------------------------------------------------------------------
# learning: many-to-one and tagging, through the CLI


def test_memory_task_many_to_one(trained_run, capsys):
    run, folder = trained_run
    for name in ("config.json", "metrics.csv", "summary.json", "loss.png", "confusion.png"):
        assert (run / name).is_file(), name
    assert (run / "best.safetensors").is_file() and (run / "last.safetensors").is_file()
    code, out, _ = cli(capsys, "classify", "eval", run, "--json")
    result = json.loads(out)
    assert code == 0 and set(result) == {"accuracy", "macro_f1", "n"}
    assert result["n"] == 200 and result["accuracy"] > 0.9  # chance: 0.5
    assert json.loads((run / "summary.json").read_text())["test_accuracy"] == result["accuracy"]
    code, out, _ = cli(capsys, "classify", "eval", run)
    assert "macro-F1" in out and "neg" in out and "pos" in out
    code, out, _ = cli(capsys, "classify", "predict", run, "--data", folder / "test.npz")
    lines = out.splitlines()
    header = "index,label,probability,p_neg,p_pos"  # every class's probability
    assert code == 0 and lines[0] == header and len(lines) == 201
    row = [float(v) for v in lines[1].split(",")[2:]]
    assert row[0] == max(row[1:]) and sum(row[1:]) == pytest.approx(1, abs=1e-5)
    truth = memory_data(200, seed=1)["y"]
    predicted = np.array([line.split(",")[1] for line in lines[1:]])
    assert (predicted == truth).mean() == pytest.approx(result["accuracy"])


def test_tagging_task_many_to_many(tmp_path, capsys):
    np.savez(tmp_path / "tags.npz", **tagging_data(400, seed=0))
    args = ["classify", "train", "--data", tmp_path / "tags.npz", "--out", tmp_path / "run"]
    args += ["--cell", "gru", "--hidden-size", 32, "--lr", 1e-2, "--max-steps", 150, *FAST]
    code, out, err = cli(capsys, *args)
    assert code == 0, err
    assert json.loads((tmp_path / "run" / "config.json").read_text())["head"] == "step"
    code, out, _ = cli(capsys, "classify", "eval", tmp_path / "run", "--json")
    result = json.loads(out)
    assert 80 * 5 <= result["n"] <= 80 * 12  # every valid step of the 80 held-out sequences
    assert result["accuracy"] > 0.95  # chance: 1/3
    np.savez(tmp_path / "new.npz", x=tagging_data(3, seed=5)["x"], lengths=[5, 6, 7])
    code, out, _ = cli(
        capsys, "classify", "predict", tmp_path / "run", "--data", tmp_path / "new.npz"
    )
    lines = out.splitlines()
    assert lines[0].startswith("index,step,label,probability,p_") and len(lines) == 1 + 5 + 6 + 7


# ---------------------------------------------------------------------------------------------
# padding never leaks; causality; masked batch norm; LSTM-FCN's shape


MODELS = [
    {"cell": "lstm", "pooling": "last"},
    {"cell": "gru", "pooling": "mean", "bidirectional": True},
    {"cell": "rnn", "pooling": "attention", "num_layers": 2},
    {"cell": "lstm", "pooling": "last", "bidirectional": True, "num_layers": 2},
    {"cell": "gru", "head": "step", "bidirectional": True},
    {"model": "lstm_fcn"},
    {"model": "lstm_fcn", "dimension_shuffle": False, "bidirectional": True},
]


@pytest.mark.parametrize("options", MODELS, ids=lambda o: "-".join(map(str, o.values())))
def test_padding_does_not_change_predictions(options):
    cfg = Config(hidden_size=8, **options)
    model = build_model(cfg, input_size=3, num_classes=4, seq_len=9).eval()
    lengths = [9, 3, 6, 1]
    x = torch.randn(4, 9, 3)
    x[1, 3:] = 1e3  # garbage beyond the lengths: it must not matter
    batch = model.predict(pack_padded_sequence(x, torch.tensor(lengths), True, False))
    for i, n in enumerate(lengths):
        alone = model.predict(x[i : i + 1, :n])  # (1, C) or (1, n, C), no padding at all
        expected = batch[i] if batch.dim() == 2 else batch[i, :n]
        torch.testing.assert_close(alone[0], expected, atol=1e-5, rtol=1e-5)


def test_unidirectional_tagging_is_causal():
    model = build_model(Config(hidden_size=8, head="step"), 2, 3, 10).eval()
    x = torch.randn(1, 10, 2)
    changed = x.clone()
    changed[0, 6:] = torch.randn(4, 2)
    before, after = model.predict(x), model.predict(changed)
    torch.testing.assert_close(before[0, :6], after[0, :6])
    assert not torch.allclose(before[0, 6:], after[0, 6:])


def test_masked_batch_norm_counts_valid_steps_only():
    norm, reference = MaskedBatchNorm1d(4), torch.nn.BatchNorm1d(4)
    x = torch.randn(3, 4, 7)  # (B, C, T)
    mask = torch.arange(7)[None, :] < torch.tensor([7, 2, 5])[:, None]  # (B, T)
    out = norm(x, mask)
    valid = x.transpose(1, 2)[mask]  # (valid steps, C)
    torch.testing.assert_close(out.transpose(1, 2)[mask], reference(valid))
    assert out.transpose(1, 2)[~mask].abs().max() == 0
    torch.testing.assert_close(norm.running_mean, reference.running_mean)
    torch.testing.assert_close(norm.running_var, reference.running_var)


def test_masked_batch_norm_without_padding_is_batch_norm_over_every_step():
    norm, reference = MaskedBatchNorm1d(4), torch.nn.BatchNorm1d(4)
    x = torch.randn(3, 4, 7, requires_grad=True)
    out = norm(x, torch.ones(3, 7, dtype=torch.bool))  # the fast path: no gather, no scatter
    expected = reference(x.transpose(1, 2).reshape(-1, 4)).reshape(3, 7, 4).transpose(1, 2)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(norm.running_var, reference.running_var)
    (grad,) = torch.autograd.grad(out.square().sum(), x)
    (expected_grad,) = torch.autograd.grad(expected.square().sum(), x)
    torch.testing.assert_close(grad, expected_grad)


def test_lstm_fcn_follows_the_paper():
    model = build_model(Config(model="lstm_fcn", hidden_size=8), 2, 5, seq_len=30)
    assert isinstance(model, LSTMFCN)
    convs = [(b.conv.out_channels, b.conv.kernel_size[0]) for b in model.blocks]
    assert convs == [(128, 8), (256, 5), (128, 3)]
    assert model.rnn.input_size == 30  # dimension shuffle: the F features are the steps
    assert model.head.in_features == 8 + 128
    logits, loss = model(torch.randn(4, 30, 2), torch.tensor([0, 1, 2, 3]))
    assert logits.shape == (4, 5) and loss.dim() == 0
    with pytest.raises(ValueError, match="at most 30 steps"):
        model(torch.randn(1, 31, 2))


def test_classification_report_matches_sklearn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    y_pred[y_pred == 3] = 2  # class 3 never predicted
    report = classify.classification_report(y_true, y_pred, ["a", "b", "c", "d"])
    assert report["accuracy"] == pytest.approx(metrics.accuracy_score(y_true, y_pred))
    assert report["macro_f1"] == pytest.approx(
        metrics.f1_score(y_true, y_pred, average="macro", zero_division=0)
    )
    np.testing.assert_array_equal(report["confusion"], metrics.confusion_matrix(y_true, y_pred))


# ---------------------------------------------------------------------------------------------
# the real loaders, end to end (a few steps each)


@pytest.mark.parametrize(
    "dataset, options, n_test",
    [
        ("ItalyPowerDemand", ["--model", "lstm_fcn", "--hidden-size", 8], 1029),
        ("JapaneseVowels", ["--model", "lstm_fcn", "--hidden-size", 8], 370),  # 7..29 steps
        ("GunPoint", ["--cell", "gru", "--hidden-size", 8, "--pooling", "attention"], 150),
    ],
)
def test_bundled_datasets_end_to_end(tmp_path, capsys, dataset, options, n_test):
    pytest.importorskip("sktime")
    args = ["classify", "train", "--dataset", dataset, "--out", tmp_path, "--max-steps", 3]
    code, out, err = cli(capsys, *args, *options, "--batch-size", 32, *FAST)
    assert code == 0, err
    code, out, _ = cli(capsys, "classify", "eval", tmp_path, "--json")
    assert code == 0 and json.loads(out)["n"] == n_test


def test_fashion_mnist_rows_as_steps(tmp_path, capsys, monkeypatch):
    rng = np.random.default_rng(0)
    folder = tmp_path / "fmnist"
    folder.mkdir()
    for prefix, n in (("train", 40), ("t10k", 12)):
        for kind, shape in (("images-idx3", (n, 28, 28)), ("labels-idx1", (n,))):
            values = rng.integers(0, 256 if kind.startswith("images") else 10, size=shape)
            header = bytes([0, 0, 0x08, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)
            data = gzip.compress(header + values.astype(np.uint8).tobytes())
            (folder / f"{prefix}-{kind}-ubyte.gz").write_bytes(data)
    monkeypatch.setattr(classify.data, "FASHION_MNIST_DIR", folder)
    args = ["classify", "train", "--dataset", "FashionMNIST", "--out", tmp_path / "run"]
    code, _, err = cli(capsys, *args, "--max-steps", 2, "--hidden-size", 8, *FAST)
    assert code == 0, err
    code, out, _ = cli(capsys, "classify", "eval", tmp_path / "run", "--json")
    assert json.loads(out)["n"] == 12


# ---------------------------------------------------------------------------------------------
# bad input: one line on stderr, exit code 2


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 5, 2))
    y = np.array(["a", "b"] * 10)
    np.savez(tmp_path / "ok.npz", x=x, y=y)
    np.save(tmp_path / "unlabelled.npy", x)
    np.savez(tmp_path / "single.npz", x=x, y=np.array(["a"] * 20))
    nan = x.copy()
    nan[3, 2, 1] = np.nan
    np.savez(tmp_path / "nan.npz", x=nan, y=y)
    np.savez(tmp_path / "three.npz", x=rng.normal(size=(20, 5, 3)), y=y)
    np.savez(tmp_path / "other.npz", x=x, y=np.array(["a", "c"] * 10))
    np.savez(tmp_path / "steps.npz", x=x, y=np.tile(["a", "b", "a", "b", "b"], (20, 1)))
    (tmp_path / "missing.csv").write_text("id,label,v\ns1,a,1\ns2,,2\ns3,b,3\n")
    return tmp_path


BAD_TRAIN = [
    (["--data", "unlabelled.npy"], "no labels"),
    (["--data", "single.npz"], "a single class"),
    (["--data", "nan.npz"], "1 NaN or infinite value"),
    (["--data", "missing.csv"], "missing label"),
    (["--data", "ok.npz", "--test-data", "three.npz"], "have 3 feature.*trained on 2"),
    (["--data", "ok.npz", "--test-data", "other.npz"], r"\['c'\] are not among"),
    (["--data", "ok.npz", "--head", "step"], "a label per sequence; use --head sequence"),
    (["--data", "steps.npz", "--model", "lstm_fcn"], "LSTM-FCN labels whole sequences"),
    (["--data", "nothing.npz"], "no such file"),
    ([], "no data: expected --dataset NAME or --data PATH"),
    (["--data", "ok.npz", "--dataset", "GunPoint"], "got both"),
    (["--dataset", "GunPoint", "--test-data", "ok.npz"], "--test-data goes with --data"),
    (["--dataset", "NoSuchSet"], "unknown; the sets available offline are .*GunPoint"),
    (["--data", "ok.npz", "--dropout", "1.5"], r"--dropout: expected a number in \[0, 1\)"),
    (["--data", "ok.npz", "--pooling", "max"], "invalid choice"),
    (["--data", "ok.npz", "--val-data", "three.npz"], "have 3 feature.*trained on 2"),
    (["--data", "ok.npz", "--val-data", "other.npz"], r"\['c'\] are not among"),
    (["--data", "ok.npz", "--val-data", "nan.npz"], "NaN"),
    (["--data", "ok.npz", "--val-data", "unlabelled.npy"], "no labels"),
    (["--data", "ok.npz", "--val-data", "steps.npz"], "one per step, the training data's one per"),
]


@pytest.mark.parametrize("argv, message", BAD_TRAIN, ids=[m for _, m in BAD_TRAIN])
def test_bad_training_input(files, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(files)
    code, _, err = cli(capsys, "classify", "train", "--out", "run", *argv, *FAST)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and re.search(message, err)


def test_missing_extras_and_packages(files, capsys, monkeypatch):
    monkeypatch.chdir(files)
    monkeypatch.setitem(sys.modules, "sktime", None)
    code, _, err = cli(capsys, "classify", "train", "--dataset", "GunPoint")
    assert code == 2 and "pip install 'rnnkit[data]'" in err
    monkeypatch.setattr(classify.data, "FASHION_MNIST_DIR", files / "absent")
    code, _, err = cli(capsys, "classify", "train", "--dataset", "FashionMNIST")
    assert code == 2 and "apt-get install dataset-fashion-mnist" in err


def test_bad_predict_and_eval_input(trained_run, files, capsys):
    run, _ = trained_run
    np.savez(files / "one.npz", x=np.zeros((2, 4, 1)))
    for verb, path, message in [
        ("predict", files / "one.npz", "have 1 feature.*trained on 2"),
        ("predict", files / "nan.npz", "NaN"),
        ("eval", files / "unlabelled.npy", "no labels"),
        ("eval", files / "steps.npz", "labels each sequence but the data has a label per step"),
    ]:
        code, _, err = cli(capsys, "classify", verb, run, "--data", path)
        assert code == 2 and re.search(message, err), err
    code, _, err = cli(capsys, "classify", "eval", files)
    assert code == 2 and "no best.safetensors" in err
    args = ["classify", "train", "--out", run, "--resume", "--data", files / "ok.npz"]
    code, _, err = cli(capsys, *args)
    assert code == 2 and "--data cannot change" in err
    code, _, err = cli(capsys, "classify", "train", "--out", run, "--data", files / "ok.npz")
    assert code == 2 and "already holds a run; pass --resume" in err


def test_epochs_set_the_step_budget(tmp_path, capsys):
    np.savez(tmp_path / "d.npz", **memory_data(100, seed=0))
    args = ["classify", "train", "--data", tmp_path / "d.npz", "--out", tmp_path / "run"]
    code, _, err = cli(capsys, *args, "--epochs", 2, "--batch-size", 16, "--hidden-size", 4, *FAST)
    assert code == 0, err
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["max_steps"] == 2 * 5  # 80 training sequences, 72 after validation: 5 batches


@pytest.mark.parametrize(
    "per_step, fit_size, given, expected",
    [
        # auto: LSTM-FCN (8 cells, dropout 0.8) for a label per sequence, 1000 steps at the least
        (False, 45, {}, ("lstm_fcn", 8, 0.8, 1000)),
        # ... or 10 epochs where that is more (6000 / 16 = 375 batches an epoch), at most 20000
        (False, 6000, {}, ("lstm_fcn", 8, 0.8, 3750)),
        (False, 60000, {}, ("lstm_fcn", 8, 0.8, 20000)),
        # the recurrent tagger (128 units, dropout 0.1) for a label per step
        (True, 45, {}, ("rnn", 128, 0.1, 1000)),
        # what is given stays
        (False, 45, {"model": "rnn", "max_steps": 7}, ("rnn", 128, 0.1, 7)),
        (False, 45, {"dropout": 0.0, "epochs": 2}, ("lstm_fcn", 8, 0.0, 6)),
        (False, 45, {"hidden_size": 64}, ("lstm_fcn", 64, 0.8, 1000)),
        (True, 45, {"hidden_size": 8}, ("rnn", 8, 0.1, 1000)),
    ],
)
def test_auto_defaults_resolve_from_the_data(per_step, fit_size, given, expected):
    data = tagging_data(4, seed=0) if per_step else memory_data(4, seed=0)
    train_set = from_arrays(data["x"], data["y"], data["lengths"])
    cfg = resolve(Config(**given), train_set, fit_size)
    assert (cfg.model, cfg.hidden_size, cfg.dropout, cfg.max_steps) == expected
    assert cfg.head == ("step" if per_step else "sequence") and cfg.batch_size == 16


def test_auto_hidden_size_of_image_models_is_128():
    assert resolve_model(Config(), images=True).hidden_size == 128
    assert resolve_model(Config(model="cnn")).hidden_size == 128


@pytest.mark.parametrize(
    "train_size, given, expected",
    [(490, {}, 0.0), (500, {}, 0.1), (5000, {}, 0.1), (40, {"val_fraction": 0.2}, 0.2),
     (5000, {"val_data": "v.npz"}, 0.0)],
)  # fmt: skip
def test_auto_validation_only_where_it_holds_enough_sequences(train_size, given, expected):
    # 10% of a few dozen sequences would pick the checkpoint by chance: the training loss does
    assert resolve_validation(Config(**given), train_size).val_fraction == expected


def test_auto_is_refused_where_it_means_nothing(capsys):
    code, _, err = cli(capsys, "charlm", "train", "--max-steps", -1)
    assert code == 2 and "--max-steps: expected an int >= 0, got -1" in err
    code, _, err = cli(capsys, "classify", "train", "--dataset", "GunPoint", "--dropout", -0.5)
    assert code == 2 and "--dropout: expected a number in [0, 1), or -1 (auto), got -0.5" in err
    code, _, err = cli(capsys, "classify", "train", "--dataset", "GunPoint", "--hidden-size", 0)
    assert code == 2 and "--hidden-size: expected an int >= 1, or -1 (auto), got 0" in err


def test_val_data_picks_the_checkpoint(tmp_path, capsys):
    """--val-data: all the training data is fitted, and best.safetensors is the checkpoint
    with the lowest loss on the given validation set."""
    np.savez(tmp_path / "train.npz", **memory_data(100, seed=0))
    np.savez(tmp_path / "val.npz", **memory_data(40, seed=2))
    args = ["classify", "train", "--data", tmp_path / "train.npz", "--out", tmp_path / "run"]
    args += ["--val-data", tmp_path / "val.npz", "--max-steps", 30, "--eval-every", 10]
    code, out, err = cli(capsys, *args, "--hidden-size", 8, "--test-fraction", 0.2, *FAST)
    assert code == 0, err
    assert "80 training, 40 validation, 20 test sequences" in out
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    model, _, _ = classify.load_model(tmp_path / "run")
    val = classify.load_file(tmp_path / "val.npz")
    targets = classify.LabelEncoder(["neg", "pos"]).encode(val)
    loss = classify.mean_loss(model, val, targets)
    assert loss == pytest.approx(summary["best_val_loss"], rel=1e-5)
    test = classify.stratified_split(classify.load_file(tmp_path / "train.npz"), 0.2, 1337)[1]
    test_loss = classify.mean_loss(model, test, classify.LabelEncoder(["neg", "pos"]).encode(test))
    assert summary["test_log_loss"] == pytest.approx(test_loss, rel=1e-5)


# ---------------------------------------------------------------------------------------------
# stochastic weight averaging (the default with LSTM-FCN)


@pytest.mark.parametrize(
    "given, expected",
    [({}, 0.25), ({"model": "rnn"}, 0.0), ({"swa": 0.5, "model": "rnn"}, 0.5), ({"swa": 0.0}, 0.0)],
)
def test_swa_auto_averages_lstm_fcn_only(given, expected):
    train_set = from_arrays(*(memory_data(4, seed=0)[k] for k in ("x", "y", "lengths")))
    assert resolve(Config(**given), train_set, 45).swa == expected


def test_swa_refuses_a_bad_fraction():
    with pytest.raises(ConfigError, match="swa"):
        Config(swa=1.0)


def test_weight_average_is_the_mean_of_every_fifth_step_after_its_start():
    model = torch.nn.Linear(2, 1)
    average = WeightAverage(model, start=10, build=lambda: torch.nn.Linear(2, 1))

    class Step:  # what the callback reads of the trainer
        step = 0

    taken = []
    for step in range(1, 31):
        with torch.no_grad():
            model.weight.fill_(float(step))
        Step.step = step
        average(Step)
        if step > 10 and step % 5 == 0:
            taken.append(float(step))
    assert average.count == len(taken) == 4  # steps 15, 20, 25, 30
    assert torch.allclose(average.mean["weight"], torch.full((1, 2), np.mean(taken)))
    averaged = average.averaged(from_arrays(np.zeros((3, 4, 2), np.float32), lengths=[4, 4, 4]))
    assert torch.allclose(averaged.weight, torch.full((1, 2), np.mean(taken)))
    assert torch.equal(averaged.bias, model.bias) and not averaged.training


def _swa_run(tmp_path, name, *more):
    """A tiny LSTM-FCN run averaging the weights of steps 10 and 15 (of 15); its exit code
    and directory."""
    np.savez(tmp_path / "d.npz", **memory_data(64, seed=0))
    np.savez(tmp_path / "t.npz", **memory_data(16, seed=1))
    args = ["classify", "train", "--data", tmp_path / "d.npz", "--test-data", tmp_path / "t.npz"]
    args += ["--out", tmp_path / name]
    args += ["--hidden-size", 4, "--max-steps", 15, "--eval-every", 5, "--swa", 0.4, *FAST]
    return main([str(a) for a in [*args, *more]]), tmp_path / name


def test_swa_writes_the_average_with_fresh_batch_norm_to_best_and_resumes(tmp_path, monkeypatch):
    code, whole = _swa_run(tmp_path, "whole")
    assert code == 0
    summary = json.loads((whole / "summary.json").read_text())
    # the checkpoint is picked on the training loss (64 sequences): the average is kept
    assert summary["swa"] == summary["swa"] | {"from_step": 9, "weights": 2, "kept": True}
    model, _, meta = classify.load_model(whole, "cpu")
    assert meta["swa"]["weights"] == 2 and meta["best_step"] == 15
    last, _ = load_checkpoint(whole / "last.safetensors")
    assert not torch.equal(model.head.weight, last["model.head.weight"])  # not the last weights
    # the batch-norm statistics are the training data's under the averaged weights
    norm = model.blocks[0].norm
    saved = norm.running_mean.clone(), norm.running_var.clone()
    train_set = classify.load_file(tmp_path / "d.npz")  # all of it fits (no validation split)
    norm.reset_running_stats()
    norm.momentum = None
    model.train()
    with torch.no_grad():
        model(classify.api.make_batch(train_set, np.arange(len(train_set)))[0])
    assert torch.allclose(norm.running_mean, saved[0], atol=1e-5)
    assert torch.allclose(norm.running_var, saved[1], atol=1e-4)

    # Ctrl-C after step 12, between two evaluations: --resume ends with the same average
    class StopAt12(classify.api.Trainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.add_callback("step", lambda t: t.step == 12 and t.request_stop())

    monkeypatch.setattr(classify.api, "Trainer", StopAt12)
    code, run = _swa_run(tmp_path, "run")
    assert code == 130 and load_checkpoint(run / "swa.safetensors")[1]["step"] == 12
    monkeypatch.undo()
    assert main(["classify", "train", "--out", str(run), "--resume"]) == 0
    resumed, _ = load_checkpoint(run / "best.safetensors")
    expected, _ = load_checkpoint(whole / "best.safetensors")
    assert resumed.keys() == expected.keys()
    assert all(torch.equal(resumed[k], expected[k]) for k in expected)
