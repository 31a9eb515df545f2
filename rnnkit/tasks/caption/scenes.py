"""``--dataset scenes``: captioned scenes generated offline, with every item's box.

Each scene puts 2-4 items of two kinds on a black canvas (64x64 or 96x96): one or two of kind
A in one half, one or two of kind B in the other, side by side or one above the other, and has
two captions from a small grammar that say the same thing both ways: "a sandal to the left of
two bags" and "two bags to the right of a sandal". The items are Fashion-MNIST's (Debian's
``dataset-fashion-mnist``): training and validation scenes from its training split (disjoint
parts), test scenes from its test split only. Where the package is missing, the items are
drawn shapes (squares, circles, triangles ...) of random size and place within 28x28, drawn
with other seeds for each split.

Generation is deterministic (seeded by the split alone, never by the run's seed), so runs with
other seeds are scored on the same scenes. Boxes are (x0, y0, x1, y1), pixels x0 <= x < x1,
the tight box of the item's visible pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from rnnkit.data.images import ImageDataError, load_image_folder

FASHION_NAMES = (
    "top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot",
)  # fmt: skip
SHAPE_NAMES = ("square", "circle", "triangle", "cross", "ring", "bar")
RELATIONS = (("to the left of", "to the right of"), ("above", "below"))
COUNTS = ("a", "two")
ITEM = 28  # items are 28x28
SPLIT_SEEDS = {"train": 11, "valid": 12, "test": 13}
VALID_SHARE = 0.1  # the last tenth of Fashion-MNIST's training items: validation scenes
SHAPES_PER_CLASS = 300


def plural(noun: str) -> str:
    return noun + ("es" if noun.endswith(("s", "ss", "sh", "ch")) else "s")


def noun_classes(names: tuple[str, ...]) -> dict[str, str]:
    """Each noun of the grammar (singular and plural) -> its class name."""
    return {form: n for n in names for form in (n, plural(n))}


@dataclass
class Scenes:
    """Scenes (N, 1, S, S) uint8, their captions, and the boxes [(class name, x0, y0, x1, y1)]
    of each scene's items."""

    images: np.ndarray
    captions: list[list[str]]
    boxes: list[list[tuple]]
    names: tuple[str, ...]


def draw_shapes(n_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(items (N, 28, 28) float32 in [0, 1], labels (N,)) of drawn shapes, ``n_per_class`` of
    each of SHAPE_NAMES, of random size, place and gray level."""
    rng = np.random.default_rng(seed)
    items, labels = [], []
    for label, shape in enumerate(SHAPE_NAMES):
        for _ in range(n_per_class):
            canvas = Image.new("L", (ITEM, ITEM), 0)
            draw = ImageDraw.Draw(canvas)
            size = int(rng.integers(14, 27))
            x0, y0 = (int(v) for v in rng.integers(0, ITEM - size + 1, 2))
            x1, y1, fill = x0 + size - 1, y0 + size - 1, int(rng.integers(150, 256))
            if shape == "square":
                draw.rectangle((x0, y0, x1, y1), fill=fill)
            elif shape == "circle":
                draw.ellipse((x0, y0, x1, y1), fill=fill)
            elif shape == "triangle":
                draw.polygon(((x0 + size // 2, y0), (x0, y1), (x1, y1)), fill=fill)
            elif shape == "cross":
                w = max(2, size // 4)
                draw.rectangle((x0 + size // 2 - w, y0, x0 + size // 2 + w, y1), fill=fill)
                draw.rectangle((x0, y0 + size // 2 - w, x1, y0 + size // 2 + w), fill=fill)
            elif shape == "ring":
                draw.ellipse((x0, y0, x1, y1), outline=fill, width=max(2, size // 6))
            else:  # bar: a thin upright rectangle
                draw.rectangle((x0 + size // 3, y0, x1 - size // 3, y1), fill=fill)
            items.append(np.asarray(canvas, dtype=np.float32) / 255.0)
            labels.append(label)
    return np.stack(items), np.array(labels)  # (N, 28, 28), (N,)


def scene_items(folder: str | Path, split: str) -> tuple[np.ndarray, np.ndarray, tuple, str]:
    """(items (N, 28, 28), labels (N,), class names, source) of ``split`` (train, valid,
    test): Fashion-MNIST's from ``folder``, else drawn shapes when ``folder`` is missing."""
    if not Path(folder).is_dir():
        items, labels = draw_shapes(SHAPES_PER_CLASS, SPLIT_SEEDS[split])
        return items, labels, SHAPE_NAMES, "shapes"
    part = load_image_folder(folder, "test" if split == "test" else "train")
    if part.labels is None or part.images.shape[1:] != (ITEM, ITEM):
        raise ImageDataError(
            f"--scenes-folder {folder}: expected 28x28 images with labels (Fashion-MNIST)"
        )
    if split != "test":
        cut = len(part) - max(1, int(VALID_SHARE * len(part)))
        keep = slice(cut, None) if split == "valid" else slice(None, cut)
        part = part.subset(keep)
    if part.labels.max() >= len(FASHION_NAMES):
        raise ImageDataError(f"--scenes-folder {folder}: labels beyond Fashion-MNIST's 10")
    return part.images, part.labels, FASHION_NAMES, "fashion-mnist"


def _phrase(count: int, name: str) -> str:
    return f"{COUNTS[count - 1]} {name if count == 1 else plural(name)}"


def make_scenes(
    items: np.ndarray, labels: np.ndarray, names: tuple[str, ...], n: int, canvas: int, seed: int
) -> Scenes:
    """``n`` scenes of ``canvas`` pixels from ``items`` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    by_class = [np.flatnonzero(labels == k) for k in range(len(names))]
    present = [k for k in range(len(names)) if len(by_class[k])]
    if len(present) < 2:
        raise ImageDataError("scenes: the items need at least two classes")
    images = np.zeros((n, 1, canvas, canvas), dtype=np.uint8)
    captions, boxes = [], []
    half = canvas // 2
    for i in range(n):
        a, b = rng.choice(present, 2, replace=False)
        counts = rng.integers(1, 3, 2)  # 1 or 2 of each kind
        vertical = int(rng.integers(0, 2))  # 0: side by side, 1: one above the other
        scene = np.zeros((canvas, canvas), dtype=np.float32)
        found = []
        for side, (kind, count) in enumerate(zip((a, b), counts, strict=True)):
            cell = canvas // count
            for k in range(count):
                along = side * half + int(rng.integers(0, half - ITEM + 1))  # the relation's axis
                across = k * cell + int(rng.integers(0, cell - ITEM + 1))
                y, x = (along, across) if vertical else (across, along)
                item = items[rng.choice(by_class[kind])]
                scene[y : y + ITEM, x : x + ITEM] = np.maximum(
                    scene[y : y + ITEM, x : x + ITEM], item
                )
                rows, cols = np.nonzero(item > 0.1)
                if len(rows):
                    box = (x + cols.min(), y + rows.min(), x + cols.max() + 1, y + rows.max() + 1)
                    found.append((names[kind], *(int(v) for v in box)))
        images[i, 0] = np.round(scene * 255).astype(np.uint8)
        first, second = _phrase(int(counts[0]), names[a]), _phrase(int(counts[1]), names[b])
        relation, inverse = RELATIONS[vertical]
        captions.append([f"{first} {relation} {second}", f"{second} {inverse} {first}"])
        boxes.append(found)
    return Scenes(images, captions, boxes, names)


def load_scenes(folder: str | Path, split: str, n: int, canvas: int) -> tuple[Scenes, str]:
    """(``n`` scenes of ``split``, their items' source: fashion-mnist or shapes)."""
    items, labels, names, source = scene_items(folder, split)
    return make_scenes(items, labels, names, n, canvas, SPLIT_SEEDS[split]), source
