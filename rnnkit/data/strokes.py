"""Pen strokes and their text: IAM On-Line files, Hershey vector fonts, offsets.

A line of handwriting is held as **offsets** (T, 3) float32: ``(dx, dy, end_of_stroke)``, row t
the pen's move to point t from point t-1 (row 0 from the origin: 0, 0) and ``end_of_stroke`` 1
at the last point of each stroke (the pen lifts after it). y points up.

Sources:

- **IAM On-Line Handwriting Database** (Liwicki & Bunke 2005), for users who have it:
  ``lineStrokes/a01/a01-000/a01-000u-01.xml`` (``<StrokeSet><Stroke><Point x= y= .../>``,
  y pointing down) is line 1 of the transcription ``ascii/a01/a01-000/a01-000u.txt`` (the
  lines after its ``CSR:`` header). ``load_iam(root)`` reads a folder holding both.
- **Hershey fonts** (``.jhf``, e.g. Debian's hershey-fonts-data): single-stroke vector glyphs.
  ``read_jhf`` reads a font; ``render_line`` writes a text with one, with a random slant,
  scale, per-letter jitter, pen speed and noise, so no two renderings are alike. This is font
  data, not human handwriting.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERSHEY_DIR = Path("/usr/share/hershey-fonts")  # Debian's hershey-fonts-data
# the cursive and script faces of hershey-fonts-data: the handwriting-like ones
HERSHEY_SCRIPT_FACES = ("cursive.jhf", "scripts.jhf", "scriptc.jhf")
# words for Hershey lines when no word list is given: common English words, all letters
WORDS = (
    "the of and to in is you that it he was for on are as with his they at be this have from "
    "or one had by word but not what all were we when your can said there use an each which "
    "she do how their if will up other about out many then them these so some her would make "
    "like him into time has look two more write go see number no way could people my than "
    "first water been call who oil its now find long down day did get come made may part "
    "quick brown fox jumps over lazy dog zebra jazz quiz box wax sky vex judge quartz equal "
    "kept black knew young Quiet Zoo Xray Just Back Every Great Home Never Only Very Why"
).split()


class StrokeDataError(ValueError):
    """Stroke data that cannot be used; the message names the file and what is wrong."""


@dataclass
class StrokeSet:
    """Lines of handwriting: ``strokes[i]`` offsets (T_i, 3) float32, ``texts[i]`` its text."""

    strokes: list[np.ndarray]
    texts: list[str]
    source: str = ""
    names: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.strokes)

    def subset(self, index: np.ndarray | list[int]) -> StrokeSet:
        names = [self.names[i] for i in index] if self.names else []
        return StrokeSet(
            [self.strokes[i] for i in index], [self.texts[i] for i in index], self.source, names
        )


# ---------------------------------------------------------------------------------------------
# points <-> offsets


def points_to_offsets(strokes: list[np.ndarray]) -> np.ndarray:
    """Offsets (T, 3) of strokes given as absolute points, a list of (n_i, 2) arrays."""
    strokes = [np.asarray(s, dtype=np.float64).reshape(-1, 2) for s in strokes if len(s)]
    if not strokes:
        raise StrokeDataError("no strokes: expected at least one stroke with a point")
    points = np.concatenate(strokes)  # (T, 2)
    offsets = np.zeros((len(points), 3), dtype=np.float32)
    offsets[1:, :2] = np.diff(points, axis=0)
    offsets[0, :2] = points[0]
    offsets[np.cumsum([len(s) for s in strokes]) - 1, 2] = 1.0
    return offsets


def offsets_to_strokes(offsets: np.ndarray) -> list[np.ndarray]:
    """Absolute points of each stroke, a list of (n_i, 2) arrays, from offsets (T, 3)."""
    offsets = np.asarray(offsets, dtype=np.float64)
    points = np.cumsum(offsets[:, :2], axis=0)  # (T, 2)
    ends = np.flatnonzero(offsets[:, 2] > 0.5) + 1
    return [s for s in np.split(points, ends) if len(s)]


# ---------------------------------------------------------------------------------------------
# IAM On-Line


def read_line_strokes(path: str | Path) -> np.ndarray:
    """Offsets (T, 3) of an IAM On-Line ``lineStrokes`` XML file (y turned to point up)."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as e:
        raise StrokeDataError(f"{path}: not a readable lineStrokes XML file ({e})") from None
    strokes = []
    for stroke in root.iter("Stroke"):
        try:
            pts = [(float(p.get("x")), -float(p.get("y"))) for p in stroke.iter("Point")]
        except (TypeError, ValueError):
            raise StrokeDataError(f"{path}: a <Point> without numeric x and y") from None
        if pts:
            strokes.append(np.array(pts))
    if not strokes:
        raise StrokeDataError(f"{path}: no strokes (no <Stroke> with a <Point>)")
    return points_to_offsets(strokes)


def read_transcription(path: str | Path) -> list[str]:
    """The text lines of an IAM ``ascii`` transcription file: those after its ``CSR:`` line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as e:
        raise StrokeDataError(f"{path}: cannot read the transcription ({e.strerror})") from None
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "CSR:") + 1
    except StopIteration:
        raise StrokeDataError(f"{path}: no 'CSR:' line; expected an IAM ascii file") from None
    return [line.strip() for line in lines[start:] if line.strip()]


def load_iam(root: str | Path, progress: bool = False) -> StrokeSet:
    """Every line of ``root/lineStrokes`` with its text from ``root/ascii``."""
    root = Path(root)
    files = sorted((root / "lineStrokes").rglob("*.xml"))
    if not files:
        raise StrokeDataError(
            f"{root}: no lineStrokes/**/*.xml; expected the IAM On-Line folders lineStrokes/ "
            f"and ascii/"
        )
    strokes, texts, names = [], [], []
    cache: dict[Path, list[str]] = {}
    iterator = files
    if progress:
        from tqdm import tqdm

        iterator = tqdm(files, desc="reading IAM lines", unit="file", leave=False)
    for path in iterator:
        found = re.fullmatch(r"(.+)-(\d+)", path.stem)
        if not found:
            raise StrokeDataError(f"{path}: expected a name like a01-000u-01.xml")
        text_path = root / "ascii" / path.parent.relative_to(root / "lineStrokes")
        text_path = text_path / f"{found[1]}.txt"
        if text_path not in cache:
            cache[text_path] = read_transcription(text_path)
        lines, number = cache[text_path], int(found[2])
        if not 1 <= number <= len(lines) or not lines[number - 1]:
            raise StrokeDataError(
                f"{path}: empty transcription (line {number} of {text_path} has no text)"
            )
        strokes.append(read_line_strokes(path))
        texts.append(lines[number - 1])
        names.append(path.stem)
    return StrokeSet(strokes, texts, str(root), names)


# ---------------------------------------------------------------------------------------------
# Hershey fonts


@dataclass
class Glyph:
    """A Hershey glyph: its ``left`` and ``right`` bounds and strokes of (n, 2) points (y up)."""

    left: float
    right: float
    strokes: list[np.ndarray]


def read_jhf(path: str | Path) -> dict[str, Glyph]:
    """The glyphs of a Hershey ``.jhf`` font, by character: the i-th glyph is chr(32 + i).

    Each record: a 5-column glyph number, a 3-column count of coordinate pairs (the first pair
    the left and right bounds), then the pairs, one letter per coordinate (its code minus
    ``ord('R')``); the pair " R" lifts the pen. Records may wrap over several lines.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="latin-1")
    except OSError as e:
        raise StrokeDataError(f"{path}: cannot read the font ({e.strerror})") from None
    glyphs, lines, i = {}, text.splitlines(), 0
    while i < len(lines):
        record = lines[i]
        i += 1
        if not record.strip():
            continue
        try:
            count = int(record[5:8])
        except ValueError:
            raise StrokeDataError(f"{path}: line {i} is not a Hershey glyph record") from None
        while len(record) < 8 + 2 * count and i < len(lines):  # a wrapped record
            record += lines[i]
            i += 1
        pairs = record[8 : 8 + 2 * count]
        if len(pairs) != 2 * count:
            raise StrokeDataError(f"{path}: line {i}: a glyph record cut short")
        left, right = ord(pairs[0]) - 82, ord(pairs[1]) - 82
        strokes, current = [], []
        for j in range(2, len(pairs), 2):
            if pairs[j : j + 2] == " R":
                strokes.append(current)
                current = []
            else:
                current.append((ord(pairs[j]) - 82, 82 - ord(pairs[j + 1])))  # y up
        strokes.append(current)
        glyphs[chr(32 + len(glyphs))] = Glyph(
            left, right, [np.array(s, dtype=np.float64) for s in strokes if s]
        )
    if len(glyphs) < 95:
        raise StrokeDataError(
            f"{path}: {len(glyphs)} glyphs; expected an ASCII font of 95+ (space to '~')"
        )
    return glyphs


def hershey_fonts(fonts: str = "") -> list[Path]:
    """The .jhf files of ``fonts``: comma-separated files or folders ('' = the script faces of
    Debian's hershey-fonts-data)."""
    if not fonts:
        paths = [HERSHEY_DIR / name for name in HERSHEY_SCRIPT_FACES]
        if not all(p.is_file() for p in paths):
            raise StrokeDataError(
                f"--dataset hershey: no fonts in {HERSHEY_DIR}; install hershey-fonts-data "
                f"(apt-get install hershey-fonts-data), or pass --fonts FILE.jhf"
            )
        return paths
    paths = []
    for part in fonts.split(","):
        p = Path(part.strip())
        found = sorted(p.glob("*.jhf")) if p.is_dir() else [p] if p.is_file() else []
        if not found:
            raise StrokeDataError(f"--fonts {part}: no .jhf font file there")
        paths += found
    return paths


def _resample(points: np.ndarray, spacing: float, rng: np.random.Generator) -> np.ndarray:
    """Points every ``spacing`` along the polyline ``points`` (n, 2), its ends kept."""
    if len(points) < 2:
        return points
    lengths = np.linalg.norm(np.diff(points, axis=0), axis=1)
    along = np.concatenate([[0.0], np.cumsum(lengths)])
    total = along[-1]
    if total <= spacing:
        return points[[0, -1]]
    start = rng.uniform(0, spacing)
    at = np.concatenate([[0.0], np.arange(start, total, spacing), [total]])
    return np.stack([np.interp(at, along, points[:, 0]), np.interp(at, along, points[:, 1])], 1)


def render_line(
    text: str, font: dict[str, Glyph], rng: np.random.Generator, spacing: float = 3.0
) -> np.ndarray:
    """Offsets (T, 3) of ``text`` written with ``font``: a random slant, scale, per-letter
    jitter (shift, size), pen speed (the distance between points, about ``spacing`` font
    units) and noise. Unknown characters raise StrokeDataError."""
    missing = sorted({c for c in text if c not in font})
    if missing:
        raise StrokeDataError(f"the font has no glyph for {''.join(missing)!r}")
    slant, scale = rng.uniform(-0.15, 0.45), rng.uniform(0.8, 1.2)
    speed = spacing * rng.uniform(0.75, 1.3)
    strokes, x = [], 0.0
    for c in text:
        glyph = font[c]
        shift = rng.normal(0, 0.6, size=2) + (x - glyph.left, 0)
        size = rng.uniform(0.92, 1.08)
        for s in glyph.strokes:
            pts = _resample(s * size, speed * rng.uniform(0.85, 1.15), rng) + shift
            pts = pts + rng.normal(0, 0.15, size=pts.shape)
            pts[:, 0] += slant * pts[:, 1]
            strokes.append(pts * scale)
        x += (glyph.right - glyph.left) * size + rng.normal(0, 0.4)
    if not strokes:
        raise StrokeDataError(f"nothing to write in {text!r} (only spaces?)")
    return points_to_offsets(strokes)


def hershey_lines(
    fonts: list[Path],
    count: int,
    seed: int,
    words: list[str] | None = None,
    max_words: int = 2,
    spacing: float = 3.0,
) -> StrokeSet:
    """``count`` lines of 1..``max_words`` words (of ``words``, default ``WORDS``), each
    rendered with a random one of ``fonts``; the same arguments give the same lines."""
    faces = [read_jhf(p) for p in fonts]
    words = list(words or WORDS)
    rng = np.random.default_rng(seed)
    strokes, texts = [], []
    for _ in range(count):
        n = int(rng.integers(1, max_words + 1))
        text = " ".join(words[i] for i in rng.integers(0, len(words), size=n))
        strokes.append(render_line(text, faces[int(rng.integers(len(faces)))], rng, spacing))
        texts.append(text)
    return StrokeSet(strokes, texts, "hershey:" + ",".join(p.name for p in fonts))


def read_words(path: str | Path) -> list[str]:
    """The words of a word list (one or more per line)."""
    try:
        words = Path(path).read_text(encoding="utf-8").split()
    except (OSError, UnicodeDecodeError) as e:
        raise StrokeDataError(f"--words {path}: cannot read it ({e})") from None
    if not words:
        raise StrokeDataError(f"--words {path}: no words in it")
    return words
