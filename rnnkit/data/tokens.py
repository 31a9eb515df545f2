"""Tokenizers of sentences: characters, words, or SentencePiece subwords (BPE).

Every tokenizer has the ids ``PAD`` 0, ``UNK`` 1, ``START`` 2 and ``END`` 3, then its
vocabulary; ``encode(text) -> list[int]`` (without START and END), ``decode(ids) -> str`` (stops
at nothing; special ids other than UNK are dropped, UNK is written ``<unk>``). A tokenizer
round-trips to JSON (``to_dict``/``from_dict``) so that checkpoints carry it: the
SentencePiece model goes as base64 of its serialized proto.

- ``char``: each character one token.
- ``word``: words and punctuation marks, each marked with whether a space came before it
  (SentencePiece's ``▁``), so ``decode(encode(s))`` gives ``s`` back (whitespace runs made one
  space) whatever the language's spacing around punctuation.
- ``bpe``: SentencePiece BPE of ``vocab_size`` pieces (``sentencepiece`` package), trained on the
  training side's sentences, deterministically (one thread).

Tokens seen fewer than ``min_count`` times in training, and beyond ``vocab_size`` (char, word:
the most frequent kept), are unknown: UNK.
"""

from __future__ import annotations

import base64
import io
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any, Literal

PAD, UNK, START, END = 0, 1, 2, 3
SPECIALS = ("<pad>", "<unk>", "<s>", "</s>")
KINDS = ("char", "word", "bpe")
SPACE = "\u2581"  # ▁, before a word that follows a space
_WORD = re.compile(r"\s*(\w+|[^\w\s])")


class Tokenizer:
    """Text <-> token ids (see the module docstring): ``Tokenizer.fit(kind, texts, ...)``."""

    def __init__(self, kind: Literal["char", "word", "bpe"], vocab: list[str], model: bytes = b""):
        if kind not in KINDS:
            raise ValueError(f"Tokenizer: expected kind char, word or bpe, got {kind!r}")
        self.kind, self.vocab, self.model = kind, list(vocab), model
        self.index = {t: i for i, t in enumerate(self.vocab)}
        self._sp = None
        if kind == "bpe":
            import sentencepiece as spm

            self._sp = spm.SentencePieceProcessor(model_proto=model)

    def __len__(self) -> int:
        return len(self.vocab)

    def __repr__(self) -> str:
        return f"Tokenizer({self.kind!r}, {len(self)} tokens)"

    # -- fitting -----------------------------------------------------------------------------

    @classmethod
    def fit(
        cls, kind: str, texts: Iterable[str], vocab_size: int = 8000, min_count: int = 1
    ) -> Tokenizer:
        """A tokenizer of ``kind`` fit on ``texts`` (``vocab_size`` counts the 4 specials)."""
        texts = list(texts)
        if not texts:
            raise ValueError("Tokenizer.fit: no texts to fit on")
        if kind == "bpe":
            return cls("bpe", [], _train_sentencepiece(texts, vocab_size))
        if kind not in KINDS:
            raise ValueError(f"Tokenizer: expected kind char, word or bpe, got {kind!r}")
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(_split(kind, text))
        kept = [t for t, n in counts.most_common() if n >= min_count]
        kept = kept[: max(0, vocab_size - len(SPECIALS))]
        return cls(kind, [*SPECIALS, *sorted(kept)])

    # -- text <-> ids ------------------------------------------------------------------------

    def encode(self, text: str) -> list[int]:
        if self._sp is not None:
            return self._sp.encode(text)
        return [self.index.get(t, UNK) for t in _split(self.kind, text)]

    def decode(self, ids: Iterable[int]) -> str:
        ids = [int(i) for i in ids if int(i) not in (PAD, START, END)]
        if self._sp is not None:
            return self._sp.decode(ids)
        tokens = [self.vocab[i] if 0 <= i < len(self.vocab) else SPECIALS[UNK] for i in ids]
        if self.kind == "char":
            return "".join(tokens)
        return "".join(tokens).replace(SPACE, " ").strip()

    def tokens(self, text: str) -> list[str]:
        """The tokens of ``text`` as strings (unknown ones as ``<unk>``), for plots."""
        return [self.piece(i) for i in self.encode(text)]

    def piece(self, i: int) -> str:
        """The string of token id ``i``."""
        if self._sp is not None:
            return self._sp.id_to_piece(int(i))
        return self.vocab[i] if 0 <= i < len(self.vocab) else SPECIALS[UNK]

    @property
    def size(self) -> int:
        """The number of ids (the embedding's rows)."""
        return self._sp.get_piece_size() if self._sp is not None else len(self.vocab)

    # -- JSON --------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "bpe":
            return {"kind": "bpe", "model": base64.b64encode(self.model).decode("ascii")}
        return {"kind": self.kind, "vocab": self.vocab}

    @classmethod
    def from_dict(cls, value: Any) -> Tokenizer:
        """The tokenizer of ``to_dict``'s JSON; ValueError when it is damaged."""
        try:
            if value["kind"] == "bpe":
                return cls("bpe", [], base64.b64decode(value["model"], validate=True))
            vocab = value["vocab"]
            if not all(isinstance(t, str) for t in vocab) or vocab[:4] != list(SPECIALS):
                raise ValueError("vocabulary")
            return cls(value["kind"], vocab)
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise ValueError(f"the saved tokenizer is damaged ({e})") from None


def _split(kind: str, text: str) -> list[str]:
    if kind == "char":
        return list(text)
    return [(SPACE if m.group(0)[0].isspace() or m.start() == 0 else "") + m.group(1)
            for m in _WORD.finditer(text)]  # fmt: skip


def _train_sentencepiece(texts: list[str], vocab_size: int) -> bytes:
    """The serialized SentencePiece BPE model of ``texts``."""
    import sentencepiece as spm

    chars = len(set("".join(texts)))
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(texts), model_writer=model, model_type="bpe",
            vocab_size=max(vocab_size, chars + len(SPECIALS) + 1), character_coverage=1.0,
            pad_id=PAD, unk_id=UNK, bos_id=START, eos_id=END, hard_vocab_limit=False,
            num_threads=1, minloglevel=2, input_sentence_size=0, shuffle_input_sentence=False,
            max_sentence_length=1 << 16, split_digits=True, normalization_rule_name="identity",
        )  # fmt: skip
    except RuntimeError as e:
        raise ValueError(f"--tokens bpe: SentencePiece could not train ({e})") from None
    return model.getvalue()
