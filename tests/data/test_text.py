"""rnnkit.data.text: vocabulary, corpora (file, directory, default), splits and batches."""

import numpy as np
import pytest

from rnnkit.data import text as text_module
from rnnkit.data.text import (
    Corpus,
    StreamBatches,
    TextDataError,
    Vocab,
    default_corpus_files,
    encode_text,
    load_corpus,
    scoring_batches,
    split_corpus,
)

UNICODE = "Grüße, 世界! ✓ naïve café 🙂\nΣ = αβγ\ttab\n"


# --- vocabulary ------------------------------------------------------------------------------


def test_vocab_round_trip_unicode():
    vocab = Vocab("".join(sorted(set(UNICODE))))
    ids = vocab.encode(UNICODE)
    assert ids.dtype == np.uint8 and ids.shape == (len(UNICODE),)
    assert vocab.decode(ids) == UNICODE
    assert vocab.decode(list(ids)) == UNICODE
    assert [vocab.chars[i] for i in ids] == list(UNICODE)  # id i is chars[i]


@pytest.mark.parametrize("size, dtype", [(256, np.uint8), (257, np.uint16), (70000, np.int32)])
def test_vocab_dtype_by_size(size, dtype):
    chars = "".join(chr(c) for c in range(32, 32 + size + 2048) if not 0xD800 <= c < 0xE000)
    vocab = Vocab(chars[:size])
    assert vocab.dtype == dtype
    assert vocab.decode(vocab.encode(chars[size - 3 : size])) == chars[size - 3 : size]


def test_vocab_refuses_unknown_characters_and_bad_chars():
    vocab = Vocab("abc")
    with pytest.raises(TextDataError, match=r"2 character\(s\) not in the model's vocabulary"):
        vocab.encode("abxz")
    with pytest.raises(TextDataError, match="distinct characters in code point order"):
        Vocab("ba")
    with pytest.raises(TextDataError):
        Vocab("")


# --- corpora ---------------------------------------------------------------------------------


def test_load_corpus_file_is_exact_and_chunked(tmp_path, monkeypatch):
    path = tmp_path / "t.txt"
    path.write_text(UNICODE * 50, encoding="utf-8")
    monkeypatch.setattr(text_module, "_CHUNK", 7)  # exercise the chunked encoding
    corpus = load_corpus(path)
    assert corpus.vocab.chars == "".join(sorted(set(UNICODE)))
    assert corpus.vocab.decode(corpus.ids) == UNICODE * 50
    assert (corpus.files, corpus.skipped) == (1, 0)


def test_load_corpus_directory_sorted_joined_skipping(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "2.txt").write_text("second")
    (tmp_path / "a.txt").write_text("first\n")
    (tmp_path / "b" / "1.c").write_text("int main;")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x").write_text("hidden")
    (tmp_path / "img.bin").write_bytes(b"\x89PNG\x00\x01")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    corpus = load_corpus(tmp_path)
    assert corpus.vocab.decode(corpus.ids) == "first\nint main;\nsecond\n"
    assert (corpus.files, corpus.skipped) == (3, 2)


def test_default_corpus_is_python_stdlib():
    files = default_corpus_files()
    assert len(files) == len(text_module.STDLIB_MODULES)
    assert [f.name for f in files][:2] == ["_pydecimal.py", "_pyio.py"]
    corpus = load_corpus(None)
    assert 1_000_000 < len(corpus.ids) < 10_000_000
    assert "def " in corpus.vocab.decode(corpus.ids[:20000])
    assert corpus.source.startswith("Python standard library")


def test_corpus_cache_round_trip(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text(UNICODE)
    corpus = load_corpus(path)
    corpus.save(tmp_path)
    again = Corpus.load(tmp_path)
    assert again.vocab.chars == corpus.vocab.chars
    np.testing.assert_array_equal(again.ids, corpus.ids)
    assert again.source == str(path)


def test_encode_text_with_a_given_vocab(tmp_path):
    vocab = Vocab("".join(sorted(set(UNICODE))))
    (tmp_path / "t.txt").write_text("café")
    np.testing.assert_array_equal(encode_text(tmp_path / "t.txt", vocab), vocab.encode("café"))
    (tmp_path / "u.txt").write_text("XYZ")
    with pytest.raises(TextDataError, match="not in the model's vocabulary"):
        encode_text(tmp_path / "u.txt", vocab)


# --- bad inputs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "the file is empty"),
        (b"abc\x00\x01def", "is a binary file"),
        ("caf\xe9".encode("latin-1"), r"is not UTF-8 text \(invalid byte 0xe9 at offset 3\)"),
    ],
)
def test_bad_files(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(TextDataError, match=message):
        load_corpus(path)


def test_missing_path_and_empty_directories(tmp_path):
    with pytest.raises(TextDataError, match="no such file or directory"):
        load_corpus(tmp_path / "nope.txt")
    with pytest.raises(TextDataError, match="holds no files"):
        load_corpus(tmp_path)
    (tmp_path / "x.bin").write_bytes(b"\x00\x00")
    with pytest.raises(TextDataError, match="no UTF-8 text files"):
        load_corpus(tmp_path)
    (tmp_path / "x.bin").unlink()
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(TextDataError, match="all its text files are empty"):
        load_corpus(tmp_path)


def test_shorter_than_one_batch():
    with pytest.raises(TextDataError, match=r"has 40 characters but one batch needs .* = 44"):
        StreamBatches(np.arange(40), batch_size=4, seq_length=10)


def test_split_is_the_tail():
    train, val = split_corpus(np.arange(100), 0.1)
    np.testing.assert_array_equal(val, np.arange(90, 100))
    np.testing.assert_array_equal(train, np.arange(90))
    with pytest.raises(TextDataError, match=r"expected a number in \(0, 1\), got 1.5"):
        split_corpus(np.arange(100), 1.5)


def test_split_in_blocks_spread_over_the_text():
    train, val = split_corpus(np.arange(1000), 0.1, blocks=5)
    # five segments of 200; the middle 20 of each held out
    expected = np.concatenate([np.arange(s + 90, s + 110) for s in range(0, 1000, 200)])
    np.testing.assert_array_equal(val, expected)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(1000))
    assert train[-1] == 999 and train[0] == 0  # training text reaches both ends
    # more blocks than validation characters: one character each
    train, val = split_corpus(np.arange(20), 0.1, blocks=10)
    assert len(val) == 2 and len(train) == 18
    with pytest.raises(TextDataError, match=r"val_blocks: expected an int >= 1, got 0"):
        split_corpus(np.arange(100), 0.1, blocks=0)


# --- batches ---------------------------------------------------------------------------------


def test_stream_batches_are_contiguous_rows_that_wrap_together():
    ids = np.arange(1003)
    batches = StreamBatches(ids, batch_size=4, seq_length=10)
    L = 1003 // 4  # row length 250
    assert batches.steps_per_epoch == (L - 1) // 10 == 24
    x, y, reset = batches(0)
    assert reset and x.shape == y.shape == (4, 10)
    np.testing.assert_array_equal(x[:, 0].numpy(), [0, L, 2 * L, 3 * L])
    np.testing.assert_array_equal(y.numpy(), x.numpy() + 1)  # targets: one further
    for step in range(1, batches.steps_per_epoch):
        x_next, y_next, reset = batches(step)
        assert not reset
        # row b continues exactly where row b of the previous batch ended
        np.testing.assert_array_equal(x_next[:, 0].numpy(), y[:, -1].numpy())
        np.testing.assert_array_equal(x_next.numpy(), x.numpy() + 10)
        x, y = x_next, y_next
    x_wrap, _, reset = batches(batches.steps_per_epoch)
    assert reset
    np.testing.assert_array_equal(x_wrap.numpy(), batches(0)[0].numpy())
    assert x_wrap.dtype.is_floating_point is False and str(x_wrap.dtype) == "torch.int64"


@pytest.mark.parametrize("n, rows, seq", [(101, 4, 7), (100, 3, 50), (10, 20, 4), (2, 1, 1)])
def test_scoring_batches_score_every_target_once(n, rows, seq):
    ids = np.arange(n)
    per_row: dict[int, list[int]] = {}
    tail = []
    for x, y, is_tail in scoring_batches(ids, rows, seq):
        np.testing.assert_array_equal(y.numpy(), x.numpy() + 1)
        if is_tail:
            assert x.shape[0] == 1
            tail += y[0].tolist()
        else:
            for r in range(x.shape[0]):
                per_row.setdefault(r, []).extend(y[r].tolist())
    rows_in_order = [per_row[r] for r in sorted(per_row)]
    # the tail continues the last row: together the rows read the stream in order
    assert sum(rows_in_order, []) + tail == list(range(1, n))
    assert rows_in_order[-1][-1] + 1 == (tail[0] if tail else n)
