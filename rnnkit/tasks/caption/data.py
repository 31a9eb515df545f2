"""What captioning needs of its data: the splits (images and their captions), the vocabulary
and the training batches.

``--data captions.json --images FOLDER`` reads COCO's ``captions_*.json`` (``images`` with
``id`` and ``file_name``, ``annotations`` with ``image_id`` and ``caption``; split by a hash of
the file name) or Karpathy's ``dataset_{coco,flickr8k,flickr30k}.json`` (``images`` with
``filename``, optional ``filepath``, ``split`` train|restval|val|test and ``sentences`` with
``raw``). Images are read by Pillow as RGB, resized to ``--image-size`` squares. A JSON that
names files absent from the folder is refused; a few unreadable images among many (at most
a tenth) are skipped with a count. With ``--encoder features`` each image's annotations of
``--features`` (features.py) take the place of its pixels, and no image is read.
"""

from __future__ import annotations

import json
import math
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rnnkit.data.images import ImageDataError
from rnnkit.data.tokens import END, PAD, SPECIALS, START, UNK
from rnnkit.metrics.captioning import caption_words
from rnnkit.tasks.caption.config import Config
from rnnkit.tasks.caption.features import lookup, read_features
from rnnkit.tasks.caption.scenes import load_scenes

SKIPPABLE = 0.1  # the largest share of unreadable images that is skipped, not refused


class CaptionDataError(ImageDataError):
    """Captions or images that cannot be used; the message says which and what to do."""


@dataclass
class CaptionSet:
    """Images (N, C, S, S) uint8, each one's captions, and (scenes) each one's item boxes."""

    images: np.ndarray
    captions: list[list[str]]
    boxes: list[list[tuple]] | None = None

    def __len__(self) -> int:
        return len(self.images)


@dataclass
class Splits:
    """The train, validation and test sets, where they came from, and the scenes' nouns."""

    train: CaptionSet
    valid: CaptionSet
    test: CaptionSet
    source: str
    names: tuple[str, ...] = ()  # scenes: the class names the captions use


class Vocabulary:
    """Words <-> ids: PAD 0, UNK 1, START 2, END 3 (as ``rnnkit.data.tokens``), then the
    training captions' words seen at least ``min_count`` times, most frequent first."""

    def __init__(self, words: list[str]):
        self.words = [*SPECIALS, *words]
        self.index = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def fit(cls, captions: list[list[str]], min_count: int) -> Vocabulary:
        counts = Counter(w for caps in captions for c in caps for w in caption_words(c))
        return cls([w for w, n in sorted(counts.items(), key=lambda x: (-x[1], x[0]))
                    if n >= min_count])  # fmt: skip

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, caption: str) -> list[int]:
        return [self.index.get(w, UNK) for w in caption_words(caption)]

    def decode(self, ids: list[int]) -> str:
        return " ".join(self.words[i] for i in ids if i not in (PAD, START, END))

    def to_dict(self) -> dict[str, Any]:
        return {"words": self.words[len(SPECIALS) :]}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Vocabulary:
        words = values.get("words") if isinstance(values, dict) else None
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise ValueError("the vocabulary is not a list of words")
        return cls(words)


# ---------------------------------------------------------------------------------------------
# images and captions files


def read_image(path: str | Path, size: int, channels: int = 3) -> np.ndarray:
    """The image at ``path`` as (channels, size, size) uint8 (RGB, or gray for 1 channel),
    resized; OSError if unreadable."""
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB" if channels == 3 else "L").resize((size, size), Image.BILINEAR)
    values = np.asarray(image, dtype=np.uint8)
    return values[None] if values.ndim == 2 else values.transpose(2, 0, 1)  # (C, S, S)


def read_images(paths: list[Path], size: int, source: str) -> tuple[np.ndarray, np.ndarray]:
    """(images (N', 3, S, S), the index of each read path); unreadable ones skipped with a
    count, refused when more than SKIPPABLE of them."""
    images, kept, bad = [], [], []
    for i, path in enumerate(paths):
        try:
            images.append(read_image(path, size))
            kept.append(i)
        except (OSError, ValueError, SyntaxError):
            bad.append(path)
    if bad and len(bad) > SKIPPABLE * len(paths):
        raise CaptionDataError(
            f"{source}: {len(bad)} of {len(paths)} images cannot be read (first: {bad[0]}); "
            f"pass image files Pillow reads (JPEG, PNG ...)"
        )
    if bad:
        print(f"caption: skipped {len(bad)} unreadable image(s) of {len(paths)} (first: {bad[0]})")
    return np.stack(images), np.array(kept, dtype=np.int64)


def _entries(values: Any, path: Path) -> list[tuple[str, str, list[str]]]:
    """(file path, split or '', captions) of each image of a COCO or Karpathy JSON."""
    images = values.get("images") if isinstance(values, dict) else None
    if not isinstance(images, list) or not images:
        raise CaptionDataError(f"--data {path}: expected a JSON object with a list 'images'")
    try:
        if "annotations" in values:  # COCO
            caps: dict[Any, list[str]] = {}
            for a in values["annotations"]:
                caps.setdefault(a["image_id"], []).append(str(a["caption"]))
            return [(im["file_name"], "", caps.get(im["id"], [])) for im in images]
        return [
            (str(Path(im.get("filepath", "")) / im["filename"]), im.get("split", "train"),
             [str(s["raw"]) for s in im["sentences"]])
            for im in images
        ]  # fmt: skip
    except (KeyError, TypeError) as e:
        raise CaptionDataError(
            f"--data {path}: not COCO's captions JSON (images: id, file_name; annotations: "
            f"image_id, caption) nor Karpathy's (images: filename, split, sentences: raw); "
            f"missing {e}"
        ) from None


def _split_of(name: str, split: str, cfg: Config) -> str:
    if split:
        return {"restval": "train", "val": "valid"}.get(split, split)
    u = zlib.crc32(name.encode("utf-8")) / 2**32
    if u < cfg.test_fraction:
        return "test"
    return "valid" if u < cfg.test_fraction + cfg.valid_fraction else "train"


def load_json_splits(cfg: Config) -> Splits:
    """The splits of ``--data`` and ``--images`` (see the module docstring)."""
    path, folder = Path(cfg.data), Path(cfg.images)
    if not cfg.images and not cfg.features:
        raise CaptionDataError(f"--data {path}: pass --images FOLDER, the folder of its images")
    if not path.is_file():
        raise CaptionDataError(f"--data {path}: no such file")
    if not cfg.features and not folder.is_dir():
        raise CaptionDataError(f"--images {folder}: no such folder")
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise CaptionDataError(f"--data {path}: not valid JSON ({e})") from None
    entries = [e for e in _entries(values, path) if e[2]]
    if not entries:
        raise CaptionDataError(f"--data {path}: no image has a caption")
    if cfg.features:  # annotations in place of pixels (features.py)
        images = lookup(read_features(cfg.features), [e[0] for e in entries], cfg.features)
        kept = np.arange(len(entries))
    elif absent := [name for name, _, _ in entries if not (folder / name).is_file()]:
        raise CaptionDataError(
            f"--data {path}: {len(absent)} of {len(entries)} images are not in --images "
            f"{folder} (first: {absent[0]}); pass the folder that holds them"
        )
    else:
        images, kept = read_images([folder / e[0] for e in entries], cfg.image_size, str(folder))
    entries = [entries[i] for i in kept]
    parts = {}
    for split in ("train", "valid", "test"):
        index = [i for i, (name, s, _) in enumerate(entries) if _split_of(name, s, cfg) == split]
        parts[split] = CaptionSet(images[index], [entries[i][2] for i in index])
    if not len(parts["train"]):
        raise CaptionDataError(f"--data {path}: no training images")
    if not len(parts["valid"]):
        parts["valid"] = parts["train"]
    return Splits(parts["train"], parts["valid"], parts["test"], str(path))


def load_splits(cfg: Config, test_only: bool = False) -> Splits:
    """The splits of ``cfg``: ``--dataset scenes`` or ``--data``; ``test_only``: scenes
    generate the test split alone (the others are left empty)."""
    if cfg.dataset == "scenes":
        sizes = {"train": cfg.scenes, "valid": max(1, cfg.scenes // 10)}
        sizes = {k: 0 if test_only else n for k, n in sizes.items()}
        sizes["test"] = max(1, cfg.scenes // 10)
        sets = {}
        for split, n in sizes.items():
            if not n:  # not wanted: not generated
                sets[split] = CaptionSet(np.zeros((0, 1, cfg.canvas, cfg.canvas), np.uint8), [], [])
                continue
            scenes, items = load_scenes(cfg.scenes_folder, split, n, cfg.canvas)
            sets[split] = CaptionSet(scenes.images, scenes.captions, scenes.boxes)
        return Splits(sets["train"], sets["valid"], sets["test"], f"scenes ({items})", scenes.names)
    if not cfg.data:
        raise CaptionDataError(
            "no data: pass --dataset scenes, or --data captions.json --images DIR"
        )
    return load_json_splits(cfg)


# ---------------------------------------------------------------------------------------------
# batches


def as_input(images: np.ndarray) -> Tensor:
    """uint8 (B, C, S, S) -> float32 in [0, 1]; float32 annotations (B, D, G, G) as they are."""
    x = torch.from_numpy(np.ascontiguousarray(images))
    return x if x.dtype == torch.float32 else x.float() / 255.0


def caption_tensor(captions: list[list[int]]) -> Tensor:
    """(B, T + 2): START, ids, END, PAD..."""
    y = torch.full((len(captions), max(len(c) for c in captions) + 2), PAD, dtype=torch.long)
    for row, ids in enumerate(captions):
        y[row, 0], y[row, len(ids) + 1] = START, END
        y[row, 1 : len(ids) + 1] = torch.tensor(ids, dtype=torch.long)
    return y


def encode_set(data: CaptionSet, vocab: Vocabulary, max_words: int = 0) -> list[list[list[int]]]:
    """Each image's captions as ids (empty ones, and with ``max_words`` longer ones, left out)."""
    out = []
    for caps in data.captions:
        ids = [vocab.encode(c) for c in caps]
        out.append([c for c in ids if c and (not max_words or len(c) <= max_words)])
    return out


class CaptionBatches:
    """``batches(step) -> (images (B, C, S, S), captions (B, T + 2))``: each epoch a new order
    of the images, each image with one of its captions drawn at random (a pure function of the
    step, so a resumed run sees the same batches)."""

    def __init__(
        self, data: CaptionSet, encoded: list[list[list[int]]], batch_size: int, seed: int
    ):
        self.usable = np.array([i for i, caps in enumerate(encoded) if caps], dtype=np.int64)
        if not len(self.usable):
            raise CaptionDataError("no training captions within --max-words; raise --max-words")
        self.data, self.encoded, self.seed = data, encoded, seed
        self.batch_size = min(batch_size, len(self.usable))
        self.per_epoch = math.ceil(len(self.usable) / self.batch_size)

    def __call__(self, step: int) -> tuple[Tensor, Tensor]:
        epoch, i = divmod(step, self.per_epoch)
        order = np.random.default_rng((self.seed, epoch)).permutation(self.usable)
        index = order[i * self.batch_size : (i + 1) * self.batch_size]
        rng = np.random.default_rng((self.seed, epoch, i, 1))
        caps = [self.encoded[j][rng.integers(len(self.encoded[j]))] for j in index]
        return as_input(self.data.images[index]), caption_tensor(caps)


def eval_batches(data: CaptionSet, encoded: list[list[list[int]]], batch_size: int):
    """(images, captions) of every (image, caption) pair of ``data``, in order."""
    pairs = [(i, ids) for i, caps in enumerate(encoded) for ids in caps]
    for start in range(0, len(pairs), batch_size):
        part = pairs[start : start + batch_size]
        index = np.array([i for i, _ in part])
        yield as_input(data.images[index]), caption_tensor([ids for _, ids in part])
