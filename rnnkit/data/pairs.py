"""Sentence pairs (source, target) for sequence-to-sequence tasks, all offline.

- ``load_pairs(path)``: a TSV of one pair a line, source TAB target (the format of the PyTorch
  tutorial's ``eng-fra.txt`` and of Tatoeba/ManyThings exports); columns after the second are
  ignored. An empty file, a line without a TAB, an empty side or bytes that are not UTF-8 are a
  ``PairsDataError`` naming the file and line.
- ``messages_pairs(lang)``: real human translations from the gettext message catalogs installed
  on the machine (``/usr/share/locale/LANG/LC_MESSAGES/*.mo``, read with Python's ``gettext``):
  English message -> its translation, format placeholders kept, whitespace runs (newlines,
  tabs) made one space, message contexts dropped, plural messages by their singular, pairs whose
  two sides are equal (untranslated) left out, each source once (its first catalog in sorted
  order).
- ``numbers_pairs(lang)``: integers of 1 to 6 digits -> their words (``num2words``).
- ``dates_pairs()``: dates written in many locale forms (``babel``) -> ISO 8601.

``split_pairs`` splits any of them by a hash of the source, so a source (and every duplicate
of it) is in exactly one split, whatever the order or the other pairs.
"""

from __future__ import annotations

import datetime
import gettext
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

Pair = tuple[str, str]
LOCALE_DIR = Path("/usr/share/locale")
DATE_LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT")
DATE_FORMATS = ("medium", "long", "full")  # the short forms are ambiguous (3/4/21)
_SPACE = re.compile(r"\s+")


class PairsDataError(ValueError):
    """Pairs that cannot be used; the message says where and what to do."""


@dataclass
class Splits:
    """The pairs of each split, and where they came from."""

    train: list[Pair]
    valid: list[Pair]
    test: list[Pair]
    source: str


def _one_line(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


# ---------------------------------------------------------------------------------------------
# files


def load_pairs(path: str | Path, reverse: bool = False) -> list[Pair]:
    """The (source, target) pairs of a TSV file (``reverse``: target, source)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise PairsDataError(f"{path}: cannot read it ({e.strerror or type(e).__name__})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise PairsDataError(
            f"{path}: not UTF-8 text (invalid byte 0x{data[e.start]:02x} on line {line}); "
            f"convert it, e.g. iconv -f latin1 -t utf-8"
        ) from None
    pairs: list[Pair] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        columns = line.split("\t")
        if len(columns) < 2:
            raise PairsDataError(
                f"{path}: line {number} has no TAB; expected source TAB target on each line"
            )
        source, target = _one_line(columns[0]), _one_line(columns[1])
        if not source or not target:
            side = "source" if not source else "target"
            raise PairsDataError(f"{path}: line {number} has an empty {side}; give both sides")
        pairs.append((target, source) if reverse else (source, target))
    if not pairs:
        raise PairsDataError(f"{path}: no pairs (empty file); expected source TAB target lines")
    return pairs


# ---------------------------------------------------------------------------------------------
# named data sets


def catalogs(lang: str, locale_dir: str | Path = LOCALE_DIR) -> list[Path]:
    """The gettext catalogs (.mo) of ``lang`` installed under ``locale_dir``, sorted."""
    return sorted((Path(locale_dir) / lang / "LC_MESSAGES").glob("*.mo"))


def messages_pairs(lang: str, locale_dir: str | Path = LOCALE_DIR) -> list[Pair]:
    """English messages -> their ``lang`` translations, from the installed gettext catalogs."""
    files = catalogs(lang, locale_dir)
    if not files:
        found = sorted(p.parent.parent.name for p in Path(locale_dir).glob("*/LC_MESSAGES/*.mo"))
        have = ", ".join(sorted(set(found))[:30]) or "none"
        raise PairsDataError(
            f"--dataset messages:{lang}: no gettext catalogs in {locale_dir}/{lang}/LC_MESSAGES; "
            f"languages with catalogs here: {have}"
        )
    seen: dict[str, str] = {}
    for file in files:
        try:
            with open(file, "rb") as handle:
                catalog = gettext.GNUTranslations(handle)._catalog
        except (OSError, UnicodeDecodeError, ValueError):
            continue  # a damaged catalog or one in a charset gettext cannot read
        for key, value in catalog.items():
            if isinstance(key, tuple):  # a plural: (msgid, form); its singular is form 0
                if key[1] != 0:
                    continue
                key = key[0]
            source = _one_line(key.rpartition("\x04")[2])  # context\x04message
            target = _one_line(value)
            if source and target and source != target and source not in seen:
                seen[source] = target
    if not seen:
        raise PairsDataError(f"--dataset messages:{lang}: the catalogs hold no translations")
    return list(seen.items())


def numbers_pairs(lang: str, count: int = 20_000, seed: int = 0) -> list[Pair]:
    """``count`` integers below a million -> their words in ``lang`` (``num2words``): the
    number of digits drawn uniformly from 1..6, then the number among those of that many
    digits; duplicates dropped."""
    import numpy as np
    from num2words import CONVERTER_CLASSES, num2words

    if lang not in CONVERTER_CLASSES:
        raise PairsDataError(
            f"--dataset numbers:{lang}: num2words has no language {lang!r}; try one of "
            f"{', '.join(sorted(CONVERTER_CLASSES)[:25])} ..."
        )
    rng = np.random.default_rng(seed)
    digits = rng.integers(1, 7, count)
    low = np.where(digits == 1, 0, 10 ** (digits - 1))
    numbers = dict.fromkeys(int(n) for n in rng.integers(low, 10**digits))
    return [(str(n), num2words(n, lang=lang)) for n in numbers]


def dates_pairs(count: int = 30_000, seed: int = 0) -> list[Pair]:
    """``count`` dates of 1900..2099 written in a locale's medium, long or full form
    (``babel``; locales ``DATE_LOCALES``) -> their ISO 8601 form; duplicates dropped."""
    import numpy as np
    from babel.dates import format_date

    rng = np.random.default_rng(seed)
    first, days = datetime.date(1900, 1, 1), (datetime.date(2100, 1, 1) - datetime.date(1900, 1, 1))
    seen: dict[str, str] = {}
    for offset, loc, fmt in zip(
        rng.integers(0, days.days, count),
        rng.integers(0, len(DATE_LOCALES), count),
        rng.integers(0, len(DATE_FORMATS), count),
        strict=True,
    ):
        date = first + datetime.timedelta(days=int(offset))
        written = format_date(date, format=DATE_FORMATS[fmt], locale=DATE_LOCALES[loc])
        seen.setdefault(_one_line(written), date.isoformat())
    return list(seen.items())


def named_pairs(name: str) -> list[Pair]:
    """The pairs of ``--dataset NAME``: messages:LANG, numbers:LANG or dates."""
    kind, _, lang = name.partition(":")
    if kind == "messages" and lang:
        return messages_pairs(lang)
    if kind == "numbers" and lang:
        return numbers_pairs(lang)
    if name == "dates":
        return dates_pairs()
    raise PairsDataError(
        f"--dataset {name}: unknown; expected messages:LANG (gettext catalogs, e.g. "
        f"messages:de), numbers:LANG (e.g. numbers:fr) or dates"
    )


# ---------------------------------------------------------------------------------------------
# splits


def _fraction(source: str) -> float:
    """A fixed number in [0, 1) for ``source`` (the first 8 bytes of its SHA-1)."""
    digest = hashlib.sha1(source.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_pairs(
    pairs: list[Pair], valid_fraction: float, test_fraction: float
) -> tuple[list[Pair], list[Pair], list[Pair]]:
    """(train, valid, test) by a hash of each source: test below ``test_fraction``, valid
    the next ``valid_fraction``; order kept within each split."""
    train: list[Pair] = []
    valid: list[Pair] = []
    test: list[Pair] = []
    for pair in pairs:
        h = _fraction(pair[0])
        (
            test if h < test_fraction else valid if h < test_fraction + valid_fraction else train
        ).append(pair)
    return train, valid, test
