"""rnnkit.data.pairs and rnnkit.data.tokens: pair files and their errors, the named sets (on
catalogs the tests write), hash splits, and the tokenizers' round trips."""

import re
import struct
from pathlib import Path

import pytest

from rnnkit.data.pairs import (
    PairsDataError,
    catalogs,
    dates_pairs,
    load_pairs,
    messages_pairs,
    named_pairs,
    numbers_pairs,
    split_pairs,
)
from rnnkit.data.tokens import END, PAD, START, UNK, Tokenizer


def write_mo(path: Path, entries: dict[str, str]) -> Path:
    """A GNU .mo catalog of ``entries`` (msgid -> msgstr; plural ids joined by NUL)."""
    ids = sorted(entries)
    keys = [k.encode() for k in ids]
    values = [entries[k].encode() for k in ids]
    n = len(ids)
    start = 7 * 4 + 16 * n
    offsets, data = [], b""
    for blob in keys + values:
        offsets.append((len(blob), start + len(data)))
        data += blob + b"\0"
    header = struct.pack("<7I", 0x950412DE, 0, n, 28, 28 + 8 * n, 0, 0)
    table = b"".join(struct.pack("<2I", *o) for o in offsets)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + table + data)
    return path


HEADER = "Content-Type: text/plain; charset=UTF-8\nPlural-Forms: nplurals=2; plural=(n != 1);\n"


def test_load_pairs(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_bytes(b"Go.\tVa !\textra\tcolumns\r\n\n  Hi  there \tSalut.\n")
    assert load_pairs(path) == [("Go.", "Va !"), ("Hi there", "Salut.")]
    assert load_pairs(path, reverse=True) == [("Va !", "Go."), ("Salut.", "Hi there")]


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "no pairs (empty file)"),
        (b"\n \n", "no pairs (empty file)"),
        (b"a\tb\nno tab here\n", "line 2 has no TAB"),
        (b"a\tb\n\tb\n", "line 2 has an empty source"),
        (b"a\t  \n", "line 1 has an empty target"),
        (b"a\tb\nc\t\xe9t\xe9\n", "not UTF-8 text (invalid byte 0xe9 on line 2)"),
    ],
)
def test_bad_pairs(tmp_path, data, message):
    path = tmp_path / "pairs.tsv"
    path.write_bytes(data)
    with pytest.raises(PairsDataError, match=re.escape(message)):
        load_pairs(path)
    with pytest.raises(PairsDataError, match="cannot read it"):
        load_pairs(tmp_path / "missing.tsv")


def test_messages_from_catalogs(tmp_path):
    folder = tmp_path / "de" / "LC_MESSAGES"
    write_mo(folder / "a.mo", {
        "": HEADER,
        "Open %s file": "Datei %s öffnen",
        "menu\x04Quit": "Beenden",
        "%d file\0%d files": "%d Datei\0%d Dateien",
        "Name": "Name",  # untranslated: left out
        "two\nlines\tand tab": "zwei\nZeilen",
    })  # fmt: skip
    write_mo(folder / "b.mo", {"": HEADER, "Open %s file": "Öffne %s", "Yes": "Ja"})
    (folder / "broken.mo").write_bytes(b"not a catalog")
    assert [p.name for p in catalogs("de", tmp_path)] == ["a.mo", "b.mo", "broken.mo"]
    pairs = messages_pairs("de", tmp_path)
    assert sorted(pairs) == sorted([
        ("Open %s file", "Datei %s öffnen"),  # the first catalog's, once
        ("Quit", "Beenden"),
        ("%d file", "%d Datei"),
        ("two lines and tab", "zwei Zeilen"),
        ("Yes", "Ja"),
    ])  # fmt: skip
    with pytest.raises(PairsDataError, match="no gettext catalogs in .*; languages with"):
        messages_pairs("xx", tmp_path)


@pytest.mark.skipif(not catalogs("de"), reason="no German gettext catalogs installed")
def test_installed_german_catalogs():
    pairs = named_pairs("messages:de")
    assert len(pairs) > 1000 and len({s for s, _ in pairs}) == len(pairs)
    assert all("\n" not in s + t and "\t" not in s + t and s and t for s, t in pairs)


def test_numbers_and_dates():
    numbers = numbers_pairs("fr", count=300)
    assert len({s for s, _ in numbers}) == len(numbers)
    assert {len(s) for s, _ in numbers} == {1, 2, 3, 4, 5, 6}
    assert dict(numbers_pairs("fr", 60, seed=1)) == dict(numbers_pairs("fr", 60, seed=1))
    from num2words import num2words

    assert all(num2words(int(s), lang="fr") == t for s, t in numbers[:20])
    assert num2words(4721, lang="fr") == "quatre mille sept cent vingt et un"
    dates = dates_pairs(200, seed=3)
    assert all(re.fullmatch(r"(19|20)\d\d-\d\d-\d\d", t) and t[:4] in s for s, t in dates)
    assert any("März" in s or "mars" in s or "March" in s for s, _ in dates_pairs(2000))
    with pytest.raises(PairsDataError, match="num2words has no language 'zz'"):
        numbers_pairs("zz")
    with pytest.raises(PairsDataError, match="unknown; expected messages:LANG"):
        named_pairs("numbers")


def test_split_by_hash():
    pairs = [(f"sentence {i}", f"Satz {i}") for i in range(4000)]
    train, valid, test = split_pairs(pairs, 0.1, 0.2)
    assert len(train) + len(valid) + len(test) == 4000
    assert 0.17 < len(test) / 4000 < 0.23 and 0.07 < len(valid) / 4000 < 0.13
    sources = [{s for s, _ in part} for part in (train, valid, test)]
    assert not (sources[0] & sources[1] or sources[0] & sources[2] or sources[1] & sources[2])
    # a pair's split depends on its source alone: not on the order nor the other pairs
    again = split_pairs(pairs[::-1][:1000] + [pairs[5]], 0.1, 0.2)
    for part, seen in zip(again, sources, strict=True):
        assert {s for s, _ in part} <= seen


@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_tokenizers_round_trip(kind):
    texts = [f"Open the file %s, then {w}!" for w in ("close it", "save it", "quit")] * 5
    texts += ["Überprüfe „Datei“ … (ok?)", "nombre 71: soixante et onze"]
    tok = Tokenizer.fit(kind, texts, vocab_size=120)
    for text in texts:
        ids = tok.encode(text)
        assert ids and min(ids) > END and tok.decode(ids) == text
        assert tok.decode([START, *ids, END, PAD]) == text
    loaded = Tokenizer.from_dict(tok.to_dict())
    assert loaded.encode(texts[-1]) == tok.encode(texts[-1]) and loaded.size == tok.size
    unseen = tok.encode("Zebra ζ")
    assert UNK in unseen
    assert all(0 <= i < tok.size for i in unseen)


def test_word_tokens_and_limits():
    tok = Tokenizer.fit("word", ["a b, a c.", "a b"], vocab_size=6)  # 4 specials + a, b
    assert tok.tokens("a b, a c.") == ["▁a", "▁b", "<unk>", "▁a", "<unk>", "<unk>"]
    assert tok.decode(tok.encode("a b")) == "a b"
    assert Tokenizer.fit("char", ["aab"], min_count=2).vocab[4:] == ["a"]
    with pytest.raises(ValueError, match="damaged"):
        Tokenizer.from_dict({"kind": "word", "vocab": ["x"]})
    with pytest.raises(ValueError, match="damaged"):
        Tokenizer.from_dict({"kind": "bpe", "model": "!!"})
    with pytest.raises(ValueError, match="expected kind char, word or bpe"):
        Tokenizer.fit("bytes", ["a"])
