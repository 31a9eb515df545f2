"""rnnkit.data.ucr: arrays, .ts / CSV / NumPy files, sktime's bundled sets, checks, batches."""

import sys

import numpy as np
import pytest
import torch
from torch.nn.utils.rnn import pad_packed_sequence

from rnnkit.data import ucr
from rnnkit.data.ucr import IGNORE_INDEX, LabelEncoder, SequenceDataError

TS_VARIABLE = """# a comment
@problemName Toy
@timeStamps false
@univariate false
@dimensions 2
@equalLength false
@classLabel true b a
@data
1,2,3:4,5,6:a
7,8:9,10:b
11:12:a
"""


def write(path, text):
    path.write_text(text)
    return path


# ---------------------------------------------------------------------------------------------
# arrays


def test_from_arrays_cube_list_and_lengths():
    data = ucr.from_arrays(np.ones((3, 4)), y=[1, 2, 1], lengths=np.array([4, 2, 1]))
    assert data.x.shape == (3, 4, 1) and data.x.dtype == np.float32
    assert data.x[1, 2:].sum() == 0 and data.x[2, 1:].sum() == 0  # padding zeroed
    assert list(data.labels) == ["1", "2", "1"]
    seqs = ucr.from_arrays([np.ones((2, 3)), np.ones((5, 3))], y=np.array([0.0, 1.0]))
    assert seqs.x.shape == (2, 5, 3) and list(seqs.lengths) == [2, 5]
    assert list(seqs.labels) == ["0", "1"]  # integer-valued floats read as integers


def test_from_arrays_per_step_labels_blank_beyond_length():
    data = ucr.from_arrays(np.zeros((2, 3, 1)), y=np.arange(6).reshape(2, 3), lengths=[3, 1])
    assert data.per_step
    assert data.labels[1].tolist() == ["3", "", ""]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"x": np.zeros((2, 3, 4, 5))}, "expected x of shape"),
        ({"x": np.zeros((0, 3, 1))}, "expected x of shape"),
        ({"x": np.array([["a"]])}, "expected numeric x"),
        ({"x": np.zeros((2, 3)), "lengths": [3, 4]}, "lengths must be in 1..3"),
        ({"x": np.zeros((2, 3)), "lengths": [3]}, "expected lengths of shape"),
        ({"x": np.zeros((2, 3)), "y": [1, 2, 3]}, "expected labels of shape"),
        ({"x": [np.zeros((2, 1)), np.zeros((2, 2))]}, "different feature counts"),
    ],
)
def test_from_arrays_refuses(kwargs, message):
    with pytest.raises(SequenceDataError, match=message):
        ucr.from_arrays(**kwargs)


# ---------------------------------------------------------------------------------------------
# files


def test_read_ts_variable_length_multivariate(tmp_path):
    data = ucr.read_ts(write(tmp_path / "toy.ts", TS_VARIABLE))
    assert data.x.shape == (3, 3, 2)
    assert list(data.lengths) == [3, 2, 1]
    np.testing.assert_array_equal(data.x[0], [[1, 4], [2, 5], [3, 6]])
    np.testing.assert_array_equal(data.x[1, 2], [0, 0])
    assert list(data.labels) == ["a", "b", "a"]
    assert data.classes == ("b", "a")
    assert LabelEncoder.fit(data).classes == ["b", "a"]  # the declared order


@pytest.mark.parametrize(
    "text, message",
    [
        ("@problemName x\n", "no @data"),
        ("hello\n", "expected an @ header"),
        ("@classLabel true a\n@data\n", "no cases"),
        ("@classLabel true a\n@data\n1,x:a\n", "not a number"),
        ("@classLabel true a\n@data\n1,2:3:a\n", "different lengths"),
        ("@timeStamps true\n@data\n(1,2):a\n", "timeStamps"),
        ("@targetLabel true\n@data\n1,2:0.5\n", "regression"),
    ],
)
def test_read_ts_refuses(tmp_path, text, message):
    with pytest.raises(SequenceDataError, match=message):
        ucr.read_ts(write(tmp_path / "bad.ts", text))


def test_read_ts_missing_values_become_nan_and_are_refused(tmp_path):
    data = ucr.read_ts(write(tmp_path / "m.ts", "@classLabel true a b\n@data\n1,?,3:a\n1,2,3:b\n"))
    assert np.isnan(data.x[0, 1, 0])
    with pytest.raises(SequenceDataError, match="1 NaN .* sequence 0, step 1, feature 0"):
        ucr.check_finite(data)


def test_read_csv_long_form(tmp_path):
    path = write(
        tmp_path / "d.csv",
        "id,label,f1,f2\ns1,up,1,2\ns1,up,3,4\ns2,down,5,6\ns3,up,7,8\ns3,up,9,10\ns3,up,1,1\n",
    )
    data = ucr.read_csv(path)
    assert data.x.shape == (3, 3, 2) and list(data.lengths) == [2, 1, 3]
    assert list(data.labels) == ["up", "down", "up"]
    np.testing.assert_array_equal(data.x[0, :2], [[1, 2], [3, 4]])


def test_read_csv_per_step_labels_and_unlabelled(tmp_path):
    data = ucr.read_csv(write(tmp_path / "t.csv", "id,label,v\na,x,1\na,y,2\nb,y,3\n"))
    assert data.per_step and data.labels.tolist() == [["x", "y"], ["y", ""]]
    data = ucr.read_csv(write(tmp_path / "u.csv", "id,v\na,1\na,2\n"))
    assert data.labels is None and data.x.shape == (1, 2, 1)


@pytest.mark.parametrize(
    "text, message",
    [
        ("label,v\na,1\n", "expected an 'id' column"),
        ("id,label\na,x\n", "no feature columns"),
        ("id,v,w\na,1,x\n", r"\['w'\] are not numeric"),
        ("id,v\na,1\n,2\n", "row 3 has no id"),
    ],
)
def test_read_csv_refuses(tmp_path, text, message):
    with pytest.raises(SequenceDataError, match=message):
        ucr.read_csv(write(tmp_path / "bad.csv", text))


def test_read_numpy_npz_and_npy(tmp_path):
    x = np.random.default_rng(0).normal(size=(4, 5, 2))
    np.savez(tmp_path / "d.npz", x=x, y=np.array(["a", "b", "a", "b"]), lengths=[5, 4, 3, 2])
    data = ucr.load_file(tmp_path / "d.npz")
    assert data.x.shape == (4, 5, 2) and list(data.lengths) == [5, 4, 3, 2]
    np.testing.assert_allclose(data.x[3, :2], x[3, :2], rtol=1e-6)
    assert data.x[3, 2:].sum() == 0
    np.save(tmp_path / "x.npy", x)
    assert ucr.load_file(tmp_path / "x.npy").labels is None
    np.savez(tmp_path / "bad.npz", z=x)
    with pytest.raises(SequenceDataError, match="expected an array 'x'"):
        ucr.load_file(tmp_path / "bad.npz")


def test_load_file_refuses_unknown_and_missing(tmp_path):
    with pytest.raises(SequenceDataError, match="no such file"):
        ucr.load_file(tmp_path / "nope.csv")
    with pytest.raises(SequenceDataError, match="expected a .ts, .csv, .npz or .npy"):
        ucr.load_file(write(tmp_path / "d.txt", "1"))
    with pytest.raises(SequenceDataError, match="not a readable NumPy file"):
        ucr.load_file(write(tmp_path / "d.npy", "not numpy"))


# ---------------------------------------------------------------------------------------------
# sktime's bundled sets


def test_bundled_sets_load_offline():
    pytest.importorskip("sktime")
    names = ucr.bundled_datasets()
    for name in ("GunPoint", "ItalyPowerDemand", "ArrowHead", "OSULeaf", "BasicMotions"):
        assert name in names
    shapes = {
        "GunPoint": ((50, 150, 1), (150, 150, 1)),
        "ItalyPowerDemand": ((67, 24, 1), (1029, 24, 1)),
        "BasicMotions": ((40, 100, 6), (40, 100, 6)),
    }
    for name, (train_shape, test_shape) in shapes.items():
        train, test = ucr.load_bundled(name)
        assert (train.x.shape, test.x.shape) == (train_shape, test_shape)
    train, test = ucr.load_bundled("JapaneseVowels")  # variable length, 12 dimensions
    assert (len(train), len(test), train.num_features) == (270, 370, 12)
    assert train.lengths.min() == 7 and test.lengths.max() == 29
    assert LabelEncoder.fit(train).classes == [str(k) for k in range(1, 10)]


def test_bundled_parse_matches_sktime_loader():
    sktime_datasets = pytest.importorskip("sktime.datasets")
    for name in ("GunPoint", "JapaneseVowels"):
        X, y = sktime_datasets.load_UCR_UEA_dataset(name, split="test", return_X_y=True)
        ours = ucr.load_bundled(name)[1]
        assert list(ours.labels) == list(y)
        for i in (0, 17, len(y) - 1):
            theirs = np.stack([X.iloc[i, j].to_numpy() for j in range(X.shape[1])], axis=1)
            np.testing.assert_allclose(ours.x[i, : ours.lengths[i]], theirs, rtol=1e-6)


def test_unknown_bundled_name_lists_the_bundled_ones():
    pytest.importorskip("sktime")
    with pytest.raises(SequenceDataError, match="bundled: .*GunPoint.*JapaneseVowels"):
        ucr.load_bundled("NoSuchSet")


def test_without_sktime_says_which_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sktime", None)  # import sktime now fails
    with pytest.raises(SequenceDataError, match=r"pip install 'rnnkit\[data\]'"):
        ucr.load_bundled("GunPoint")


# ---------------------------------------------------------------------------------------------
# checks, labels, splits, statistics, batches


def test_checks_refuse_bad_labels_and_features():
    x = np.zeros((3, 2))
    with pytest.raises(SequenceDataError, match="no labels"):
        ucr.check_labelled(ucr.from_arrays(x))
    with pytest.raises(SequenceDataError, match="a single class \\('a'\\)"):
        ucr.check_labelled(ucr.from_arrays(x, y=["a", "a", "a"]))
    with pytest.raises(SequenceDataError, match="1 missing label.*sequence 1"):
        ucr.check_labelled(ucr.from_arrays(x, y=np.array(["a", None, "b"], dtype=object)))
    with pytest.raises(SequenceDataError, match="have 1 feature.*trained on 3"):
        ucr.check_features(ucr.from_arrays(x), 3)
    with pytest.raises(SequenceDataError, match="infinite"):
        ucr.check_finite(ucr.from_arrays(np.array([[1.0, np.inf]])))


def test_label_encoder_orders_encodes_and_refuses_unknown():
    data = ucr.from_arrays(np.zeros((3, 2)), y=["10", "2", "1"])
    encoder = LabelEncoder.fit(data)
    assert encoder.classes == ["1", "2", "10"]  # numeric order, not "1", "10", "2"
    assert encoder.encode(data).tolist() == [2, 1, 0]
    assert list(encoder.decode(np.array([0, 2]))) == ["1", "10"]
    with pytest.raises(SequenceDataError, match=r"\['7'\] are not among the model's classes"):
        encoder.encode(ucr.from_arrays(np.zeros((2, 2)), y=["7", "1"]))
    tags = ucr.from_arrays(np.zeros((2, 3)), y=[["a", "b", "a"], ["b", "b", "b"]], lengths=[3, 2])
    assert LabelEncoder(["a", "b"]).encode(tags).tolist() == [[0, 1, 0], [1, 1, IGNORE_INDEX]]


def test_stratified_split_keeps_every_class():
    y = np.array(["a"] * 20 + ["b"] * 4 + ["c"] * 2)
    data = ucr.from_arrays(np.arange(26.0)[:, None], y=y)
    rest, held = ucr.stratified_split(data, 0.25, seed=3)
    assert len(rest) + len(held) == 26
    assert set(held.labels) == {"a", "b", "c"} and set(rest.labels) == {"a", "b", "c"}
    assert not set(rest.x[:, 0, 0]) & set(held.x[:, 0, 0])
    again = ucr.stratified_split(data, 0.25, seed=3)[1]
    np.testing.assert_array_equal(held.x, again.x)


def test_feature_stats_ignore_padding():
    data = ucr.from_arrays([np.array([[1.0], [3.0]]), np.array([[5.0]])])
    mean, std = ucr.feature_stats(data)
    np.testing.assert_allclose(mean, [3.0])
    np.testing.assert_allclose(std, [np.std([1.0, 3.0, 5.0])], rtol=1e-6)


def test_make_batch_packs_and_trims():
    data = ucr.from_arrays(np.ones((3, 6, 2)), lengths=[6, 2, 3])
    targets = np.arange(18).reshape(3, 6)
    packed, y = ucr.make_batch(data, np.array([1, 2]), targets)
    padded, lengths = pad_packed_sequence(packed, batch_first=True)
    assert lengths.tolist() == [2, 3] and padded.shape == (2, 3, 2)
    assert torch.equal(y, torch.tensor([[6, 7, 8], [12, 13, 14]]))
    x, y = ucr.make_batch(data, np.array([0, 0]), targets)  # equal lengths: a plain tensor
    assert isinstance(x, torch.Tensor) and x.shape == (2, 6, 2) and y.shape == (2, 6)
