"""Character corpora: vocabulary, encoding, the default corpus, splits and TBPTT batches.

A corpus is one long stream of characters (Unicode code points, not bytes). It is encoded once
into a compact NumPy array of ids (uint8 for up to 256 distinct characters, uint16 up to 65536,
int32 beyond) without ever building a Python list of characters: each file is decoded, turned
into code points with ``numpy.frombuffer`` on its UTF-32 encoding, chunk by chunk, and mapped
to ids through a lookup table. Two passes over the files (vocabulary, then ids) keep memory at
one byte or two per character of the corpus.

``--data`` takes a UTF-8 text file or a directory. A directory means every text file below it
(hidden files and folders skipped), in sorted order of their relative paths, joined with a
newline added after any file that does not end with one; files that are binary (contain a NUL
byte) or are not valid UTF-8 are skipped and counted.

The default corpus is the source of Python's own standard library, found through
``sysconfig.get_paths()["stdlib"]``: the modules named in ``STDLIB_MODULES`` (each ``NAME.py``,
or ``NAME/__init__.py`` where the module is a package), in that order. About 3.4 MB on
Python 3.11; every CPython from 3.10 on has them.
"""

from __future__ import annotations

import json
import os
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from rnnkit.data.batch import StatefulBatch

STDLIB_MODULES: tuple[str, ...] = (
    "_pydecimal", "_pyio", "abc", "argparse", "ast", "base64", "bdb", "bisect", "calendar",
    "cmd", "code", "codecs", "collections", "configparser", "contextlib", "copy", "csv",
    "dataclasses", "difflib", "dis", "doctest", "enum", "filecmp", "fnmatch", "fractions",
    "ftplib", "functools", "getopt", "gettext", "glob", "gzip", "heapq", "hmac", "imaplib",
    "inspect", "ipaddress", "locale", "logging", "mailbox", "numbers", "operator", "optparse",
    "os", "pdb", "pickle", "pkgutil", "platform", "poplib", "pprint", "pydoc", "queue",
    "random", "reprlib", "sched", "secrets", "selectors", "shlex", "shutil", "signal",
    "smtplib", "socket", "socketserver", "ssl", "statistics", "string", "subprocess",
    "tarfile", "tempfile", "textwrap", "threading", "timeit", "tokenize", "trace",
    "traceback", "typing", "uuid", "warnings", "weakref", "zipfile",
)  # fmt: skip

_CHUNK = 1 << 22  # characters turned into code points at a time (16 MiB of UTF-32)
_NUM_CODE_POINTS = 0x110000


class TextDataError(ValueError):
    """A text corpus that cannot be used; the message says what is wrong and what to do."""


# ---------------------------------------------------------------------------------------------
# helpers: files, decoding, code points


def _code_points(text: str) -> Iterator[np.ndarray]:
    """The code points of ``text`` as uint32 arrays, ``_CHUNK`` characters at a time."""
    for start in range(0, len(text), _CHUNK):
        yield np.frombuffer(text[start : start + _CHUNK].encode("utf-32-le"), dtype="<u4")


def _decode(path: Path) -> tuple[str | None, str]:
    """(text, "") for a UTF-8 text file, else (None, why it is not one)."""
    data = path.read_bytes()
    nul = data.find(b"\0")
    if nul >= 0:
        return None, f"is a binary file (NUL byte at offset {nul})"
    try:
        return data.decode("utf-8"), ""
    except UnicodeDecodeError as e:
        return None, f"is not UTF-8 text (invalid byte 0x{data[e.start]:02x} at offset {e.start})"


def default_corpus_files() -> list[Path]:
    """The files of the default corpus: ``STDLIB_MODULES`` in Python's standard library."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = []
    for name in STDLIB_MODULES:
        for candidate in (stdlib / f"{name}.py", stdlib / name / "__init__.py"):
            if candidate.is_file():
                files.append(candidate)
                break
    if len(files) < len(STDLIB_MODULES) // 2:
        raise TextDataError(
            f"default corpus: found only {len(files)} of {len(STDLIB_MODULES)} standard library "
            f"modules under {stdlib}; pass --data a text file or directory instead"
        )
    return files


def text_files(path: str | Path) -> list[Path]:
    """The files ``path`` names: itself, or every non-hidden file below a directory, sorted."""
    root = Path(path)
    if not root.exists():
        raise TextDataError(
            f"{root}: no such file or directory; pass a UTF-8 text file or a folder"
        )
    if root.is_file():
        return [root]
    files = []
    for folder, subfolders, names in os.walk(root):  # symlinked folders are not followed
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]
        files += [Path(folder, n) for n in names if not n.startswith(".")]
    files = [f for f in files if f.is_file()]
    if not files:
        raise TextDataError(f"{root}: the directory holds no files; pass a folder of text files")
    return sorted(files, key=lambda f: f.relative_to(root).as_posix())


def iter_texts(files: list[Path], single: bool) -> Iterator[str]:
    """The decoded text of each usable file (of a directory: each ending with a newline).

    With ``single`` (the user named one file) a file that is empty, binary or not UTF-8 raises
    TextDataError; otherwise (a directory) such files are skipped.
    """
    for f in files:
        text, why = _decode(f)
        if text is None:
            if single:
                raise TextDataError(f"{f}: {why}; pass a UTF-8 text file")
            continue
        if single and not text:
            raise TextDataError(f"{f}: the file is empty; pass a text file with some text in it")
        if not single and text and not text.endswith("\n"):
            text += "\n"
        yield text


# ---------------------------------------------------------------------------------------------
# the vocabulary


class Vocab:
    """The distinct characters of a corpus, sorted by code point; id ``i`` is ``chars[i]``.

    ``encode`` maps a str to an array of ids (dtype ``self.dtype``), ``decode`` maps ids back.
    """

    def __init__(self, chars: str):
        codes = np.frombuffer(chars.encode("utf-32-le"), dtype="<u4")
        if len(codes) == 0 or np.any(np.diff(codes.astype(np.int64)) <= 0):
            raise TextDataError(
                f"Vocab: expected distinct characters in code point order, got {chars[:40]!r}"
            )
        self.chars = chars
        self.codes = codes  # (V,) uint32, sorted
        self.dtype = np.dtype(
            np.uint8 if len(chars) <= 256 else np.uint16 if len(chars) <= 65536 else np.int32
        )

    def __len__(self) -> int:
        return len(self.chars)

    def __repr__(self) -> str:
        return f"Vocab({len(self)} characters)"

    def encode(self, text: str) -> np.ndarray:
        """The ids of ``text``, shape (len(text),); unknown characters raise TextDataError."""
        out = np.empty(len(text), dtype=self.dtype)
        for start, codes in zip(range(0, len(text), _CHUNK), _code_points(text), strict=True):
            ids = np.minimum(np.searchsorted(self.codes, codes), len(self) - 1)
            unknown = self.codes[ids] != codes
            if unknown.any():
                missing = "".join(sorted({chr(c) for c in codes[unknown][:1000]}))
                raise TextDataError(
                    f"{int(unknown.sum())} character(s) not in the model's vocabulary of "
                    f"{len(self)}: {missing[:20]!r}; use text made of the training characters"
                )
            out[start : start + len(codes)] = ids
        return out

    def prime(self, text: str = "") -> str:
        """What sampling starts from: ``text``, else a newline, else the first character."""
        return text or ("\n" if "\n" in self.chars else self.chars[0])

    def decode(self, ids: np.ndarray | list[int]) -> str:
        """The text of ``ids``."""
        return (
            self.codes[np.asarray(ids, dtype=np.int64)].astype("<u4").tobytes().decode("utf-32-le")
        )


# ---------------------------------------------------------------------------------------------
# corpora


@dataclass
class Corpus:
    """A text encoded once: ``ids`` (N,) of dtype ``vocab.dtype``, and where it came from."""

    ids: np.ndarray
    vocab: Vocab
    source: str
    files: int
    skipped: int = 0

    def save(self, directory: Path) -> None:
        """Cache as ``corpus.npy`` + ``corpus.json`` in ``directory``."""
        np.save(directory / "corpus.npy", self.ids)
        info = {"source": self.source, "files": self.files, "skipped": self.skipped}
        info |= {"chars": len(self.ids), "vocab": self.vocab.chars}
        (directory / "corpus.json").write_text(json.dumps(info, ensure_ascii=False) + "\n")

    @classmethod
    def from_text(cls, text: str, source: str = "text") -> Corpus:
        """The corpus of one string (its vocabulary: the characters that occur in it)."""
        if not isinstance(text, str) or len(text) < 2:
            raise TextDataError(f"{source}: expected a text of at least 2 characters")
        vocab = Vocab("".join(sorted(set(text))))
        return cls(vocab.encode(text), vocab, source, 1)

    @classmethod
    def load(cls, directory: Path) -> Corpus:
        """The corpus cached by ``save`` (memory-mapped)."""
        try:
            info = json.loads((directory / "corpus.json").read_text(encoding="utf-8"))
            ids = np.load(directory / "corpus.npy", mmap_mode="r")
        except (OSError, ValueError) as e:
            raise TextDataError(f"{directory}: cannot read the cached corpus ({e})") from e
        return cls(ids, Vocab(info["vocab"]), info["source"], info["files"], info["skipped"])


def progress_bar(total: int, what: str, unit: str, show: bool = True) -> tqdm:
    """A tqdm bar of ``total`` ``unit``s on stderr, for long loading and scoring: shown only
    when ``show``, where stderr is a terminal, from a second on (quick work shows nothing),
    and removed when done (a log or a terminal keeps no trace of it)."""
    return tqdm(
        total=total, desc=what, unit=unit, unit_scale=True, disable=None if show else True,
        delay=1.0, leave=False, file=sys.stderr, dynamic_ncols=True,
    )  # fmt: skip


def _ticking(files: list[Path], bar: tqdm) -> Iterator[Path]:
    for f in files:
        yield f
        bar.update()


def load_corpus(path: str | Path | None = None, progress: bool = False) -> Corpus:
    """Encode a file, a directory of text files, or (``path`` None or "") the default corpus;
    with ``progress``, many files show a progress bar (``progress_bar``)."""
    if path:
        files, source = text_files(path), str(path)
    else:
        files = default_corpus_files()
        source = f"Python standard library ({len(files)} modules)"
    single = bool(path) and Path(path).is_file()
    with progress_bar(2 * len(files), "reading", "file", progress and len(files) > 1) as bar:
        return _encode_files(files, single, source, bar)


def _encode_files(files: list[Path], single: bool, source: str, bar: tqdm) -> Corpus:
    """The Corpus of ``files``, in two passes over them (each file ticks ``bar`` once a pass)."""
    # pass 1: which characters occur, how many in all, and how many files are usable
    seen = np.zeros(_NUM_CODE_POINTS, dtype=bool)
    total = used = 0
    for text in iter_texts(_ticking(files, bar), single):
        for codes in _code_points(text):
            seen[codes] = True
        total, used = total + len(text), used + 1
    if used == 0:
        raise TextDataError(f"{source}: no UTF-8 text files in it; pass text files")
    if total == 0:
        raise TextDataError(f"{source}: all its text files are empty; pass files with text")
    vocab_codes = np.flatnonzero(seen).astype("<u4")  # (V,)
    vocab = Vocab(vocab_codes.tobytes().decode("utf-32-le"))
    # pass 2: code point -> id through a lookup table
    table = np.zeros(_NUM_CODE_POINTS, dtype=vocab.dtype)
    table[vocab_codes] = np.arange(len(vocab))
    ids = np.empty(total, dtype=vocab.dtype)
    pos = 0
    for text in iter_texts(_ticking(files, bar), single):
        for codes in _code_points(text):
            ids[pos : pos + len(codes)] = table[codes]
            pos += len(codes)
    return Corpus(ids, vocab, source, used, len(files) - used)


def encode_text(path: str | Path, vocab: Vocab) -> np.ndarray:
    """The ids of a file or directory of text files under a given vocabulary, shape (N,)."""
    files = text_files(path)
    parts = [vocab.encode(t) for t in iter_texts(files, single=Path(path).is_file())]
    ids = np.concatenate(parts) if parts else np.empty(0, dtype=vocab.dtype)
    if len(ids) < 2:
        raise TextDataError(f"{path}: expected at least 2 characters of text, got {len(ids)}")
    return ids


def split_corpus(
    ids: np.ndarray, val_fraction: float, blocks: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """(train, val): ``val_fraction`` of the stream held out for validation.

    ``blocks=1``: the last ``val_fraction`` of the stream. ``blocks=K``: the stream cut into K
    equal segments and the middle ``val_fraction`` of each held out, so the validation text
    samples the whole stream (not only its end, which may differ from the rest) and the training
    text reaches the stream's end; each split is its pieces joined in order.
    """
    if not 0.0 < val_fraction < 1.0:
        raise TextDataError(f"val_fraction: expected a number in (0, 1), got {val_fraction}")
    if blocks < 1:
        raise TextDataError(f"val_blocks: expected an int >= 1, got {blocks}")
    n_val = int(round(len(ids) * val_fraction))
    blocks = max(1, min(blocks, n_val))
    if blocks == 1:
        return ids[: len(ids) - n_val], ids[len(ids) - n_val :]
    edges = np.linspace(0, len(ids), blocks + 1).round().astype(int)  # segment k: edges[k:k+2]
    sizes = np.diff(np.linspace(0, n_val, blocks + 1).round().astype(int))  # held out of each
    keep = np.ones(len(ids), dtype=bool)
    for start, end, size in zip(edges[:-1], edges[1:], sizes, strict=True):
        middle = start + (end - start - size) // 2
        keep[middle : middle + size] = False
    return ids[keep], ids[~keep]


# ---------------------------------------------------------------------------------------------
# batches


class StreamBatches:
    """Contiguous batches of a stream, for truncated backpropagation through time.

    The stream is cut into ``batch_size`` rows of equal length L (the remainder is not used);
    row b is ``ids[b*L : (b+1)*L]``. Step s reads T = ``seq_length`` characters of every row
    from column p = (s mod steps_per_epoch) * T, so row b of one batch continues exactly where
    row b of the previous batch ended, and its hidden state can be carried over. All rows wrap
    back to their start together, at the steps where ``reset`` is True.

    ``batches(step)`` -> (x, y, reset): x (B, T) int64 ids, y (B, T) the ids one further.

    ``shard=(r, n)``: the part r of n of every batch (n divides B), rows r*B/n .. (r+1)*B/n - 1
    of the same B rows: one process of n (torchrun) trains on its own streams.
    """

    def __init__(
        self,
        ids: np.ndarray,
        batch_size: int,
        seq_length: int,
        what: str = "text",
        shard: tuple[int, int] = (0, 1),
    ):
        if batch_size < 1 or seq_length < 1:
            raise TextDataError(
                f"expected batch_size and seq_length >= 1, got {batch_size} and {seq_length}"
            )
        row_length = len(ids) // batch_size
        need = batch_size * (seq_length + 1)
        if row_length < seq_length + 1:
            raise TextDataError(
                f"the {what} has {len(ids)} characters but one batch needs batch_size x "
                f"(seq_length + 1) = {batch_size} x {seq_length + 1} = {need}; use more text "
                f"or a smaller --batch-size / --seq-length"
            )
        self.rows = ids[: batch_size * row_length].reshape(batch_size, row_length)  # (B, L)
        rank, parts = shard
        if parts > 1:
            if batch_size % parts or not 0 <= rank < parts:
                raise TextDataError(
                    f"expected a batch_size that divides by {parts} and a part in 0..{parts - 1}, "
                    f"got {batch_size} and {rank}"
                )
            part = batch_size // parts
            self.rows = self.rows[rank * part : (rank + 1) * part]  # (B/n, L)
        self.batch_size, self.seq_length = batch_size, seq_length
        self.steps_per_epoch = (row_length - 1) // seq_length

    def __call__(self, step: int) -> StatefulBatch:
        p = (step % self.steps_per_epoch) * self.seq_length
        chunk = torch.from_numpy(self.rows[:, p : p + self.seq_length + 1].astype(np.int64))
        return StatefulBatch(chunk[:, :-1], chunk[:, 1:], p == 0)  # (B, T), (B, T)


def scoring_batches(
    ids: np.ndarray, rows: int, seq_length: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor, bool]]:
    """Every next-character target of ``ids`` exactly once, as contiguous streams.

    The N - 1 (input, target) pairs are cut into ``rows`` rows of L = (N - 1) // rows pairs and
    yielded as (x, y, False) chunks of up to ``seq_length`` columns, x and y (rows, t) int64,
    to be run with the state carried from chunk to chunk. The R = (N - 1) mod rows pairs left
    over continue the last row: they come last, as (x, y, True) of shape (1, R), to be run
    from the last row's state.
    """
    n_pairs = len(ids) - 1
    rows = max(1, min(rows, n_pairs))
    row_length = n_pairs // rows
    stream = torch.from_numpy(np.asarray(ids, dtype=np.int64))
    x = stream[: rows * row_length].view(rows, row_length)  # (rows, L)
    y = stream[1 : rows * row_length + 1].view(rows, row_length)  # (rows, L)
    for p in range(0, row_length, seq_length):
        yield x[:, p : p + seq_length], y[:, p : p + seq_length], False
    if rows * row_length < n_pairs:
        yield stream[rows * row_length : -1][None], stream[rows * row_length + 1 :][None], True
