"""rnnkit caption's data: generated scenes (deterministic, boxes, test items from the test
split only, drawn shapes where Fashion-MNIST is missing), COCO and Karpathy JSON on files the
tests write, the vocabulary, and the COCO scores against pycocoevalcap."""

import gzip
import json

import numpy as np
import pytest
from PIL import Image

from rnnkit.metrics.captioning import caption_scores, caption_words, distinct_share
from rnnkit.tasks.caption.config import Config
from rnnkit.tasks.caption.data import (
    CaptionBatches,
    CaptionDataError,
    CaptionSet,
    Vocabulary,
    encode_set,
    load_json_splits,
    load_splits,
)
from rnnkit.tasks.caption.scenes import SHAPE_NAMES, load_scenes, noun_classes


def write_idx(path, values):
    """``values`` (uint8) as a gzipped IDX file."""
    header = bytes([0, 0, 8, values.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in values.shape
    )
    path.write_bytes(gzip.compress(header + values.astype(np.uint8).tobytes()))


def write_items(folder):
    """An MNIST-format folder of 28x28 blocks: training items of gray 100, test items of 200."""
    folder.mkdir()
    for prefix, gray, n in (("train", 100, 100), ("t10k", 200, 50)):
        images = np.zeros((n, 28, 28), dtype=np.uint8)
        images[:, 4:24, 6:20] = gray
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    return folder


def test_scenes_are_deterministic_with_boxes_and_test_items_from_the_test_split(tmp_path):
    folder = write_items(tmp_path / "items")
    scenes, source = load_scenes(folder, "test", 40, 64)
    again, _ = load_scenes(folder, "test", 40, 64)
    assert source == "fashion-mnist" and np.array_equal(scenes.images, again.images)
    assert set(np.unique(scenes.images)) == {0, 200}  # test items only
    train, _ = load_scenes(folder, "train", 40, 64)
    assert set(np.unique(train.images)) == {0, 100}
    nouns = noun_classes(scenes.names)
    for image, caps, boxes in zip(scenes.images, scenes.captions, scenes.boxes, strict=True):
        assert 2 <= len(boxes) <= 4 and len(caps) == 2
        classes = {name for name, *_ in boxes}
        assert {nouns[w] for w in caps[0].split() if w in nouns} == classes
        for _, x0, y0, x1, y1 in boxes:
            assert 0 <= x0 < x1 <= 64 and 0 <= y0 < y1 <= 64
            assert image[0, y0:y1, x0:x1].min() == 200  # the blocks fill their tight boxes
        inside = np.zeros((64, 64), bool)
        for _, x0, y0, x1, y1 in boxes:
            inside[y0:y1, x0:x1] = True
        assert image[0][~inside].max() == 0


def test_scenes_fall_back_to_drawn_shapes(tmp_path):
    scenes, source = load_scenes(tmp_path / "absent", "train", 20, 96)
    assert source == "shapes" and scenes.names == SHAPE_NAMES
    assert scenes.images.shape == (20, 1, 96, 96) and scenes.images.max() > 100
    cfg = Config(dataset="scenes", scenes=30, scenes_folder=str(tmp_path / "absent"))
    splits = load_splits(cfg)
    assert splits.source == "scenes (shapes)"
    assert (len(splits.train), len(splits.valid), len(splits.test)) == (30, 3, 3)
    alone = load_splits(cfg, test_only=True)  # what eval reads: the same test scenes alone
    assert (len(alone.train), len(alone.valid)) == (0, 0)
    assert np.array_equal(alone.test.images, splits.test.images)


def write_png(path, value):
    Image.fromarray(np.full((20, 30, 3), value, dtype=np.uint8)).save(path)


def coco_json(tmp_path, n=20):
    folder = tmp_path / "images"
    folder.mkdir()
    images, annotations = [], []
    for i in range(n):
        write_png(folder / f"im{i}.png", 10 * i)
        images.append({"id": i, "file_name": f"im{i}.png"})
        annotations += [{"image_id": i, "caption": f"A photo, number {i}."},
                        {"image_id": i, "caption": "Some picture"}]  # fmt: skip
    path = tmp_path / "captions.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations}))
    return path, folder


def test_coco_json(tmp_path, capsys):
    path, folder = coco_json(tmp_path)
    cfg = Config(data=str(path), images=str(folder), image_size=16, valid_fraction=0.2,
                 test_fraction=0.2)  # fmt: skip
    splits = load_json_splits(cfg)
    sizes = (len(splits.train), len(splits.valid), len(splits.test))
    assert sum(sizes) == 20 and min(sizes) >= 1
    assert splits.train.images.shape[1:] == (3, 16, 16)
    assert all(len(c) == 2 for c in splits.train.captions)
    # a corrupt image among many is skipped with a count; many are refused
    (folder / "im3.png").write_bytes(b"not a png")
    splits = load_json_splits(cfg)
    assert sum(len(s) for s in (splits.train, splits.valid, splits.test)) == 19
    assert "skipped 1 unreadable image(s) of 20" in capsys.readouterr().out
    for i in range(4, 8):
        (folder / f"im{i}.png").write_bytes(b"")
    with pytest.raises(CaptionDataError, match="5 of 20 images cannot be read"):
        load_json_splits(cfg)
    (folder / "im9.png").unlink()
    with pytest.raises(CaptionDataError, match=r"1 of 20 images are not in --images .*im9.png"):
        load_json_splits(cfg)


def test_karpathy_json_uses_its_splits(tmp_path):
    folder = tmp_path / "images"
    (folder / "sub").mkdir(parents=True)
    images = []
    for i, split in enumerate(["train", "restval", "val", "test", "train"]):
        write_png(folder / "sub" / f"{i}.jpg", 40 * i)
        images.append({"filepath": "sub", "filename": f"{i}.jpg", "split": split,
                       "sentences": [{"raw": f"Caption {i}", "tokens": ["caption"]}]})  # fmt: skip
    path = tmp_path / "dataset_flickr8k.json"
    path.write_text(json.dumps({"images": images}))
    splits = load_json_splits(Config(data=str(path), images=str(folder), image_size=16))
    assert (len(splits.train), len(splits.valid), len(splits.test)) == (3, 1, 1)
    assert splits.test.captions == [["Caption 3"]]
    path.write_text(json.dumps({"images": [{"name": "x"}]}))
    with pytest.raises(CaptionDataError, match="not COCO's captions JSON"):
        load_json_splits(Config(data=str(path), images=str(folder)))


def test_vocabulary_and_batches():
    captions = [["A cat sat.", "the cat"], ["a dog"], ["a rare word"]]
    vocab = Vocabulary.fit(captions, min_count=2)
    assert vocab.words[4:] == ["a", "cat"]
    assert vocab.decode(vocab.encode("A cat, a bird")) == "a cat a <unk>"
    assert Vocabulary.from_dict(vocab.to_dict()).words == vocab.words
    data = load_scenes("/nonexistent", "valid", 10, 64)[0]
    cs = CaptionSet(data.images, data.captions, data.boxes)
    vocab = Vocabulary.fit(cs.captions, 1)
    batches = CaptionBatches(cs, encode_set(cs, vocab), 4, seed=0)
    x, y = batches(3)
    assert x.shape == (4, 1, 64, 64) and 0 <= x.min() and x.max() <= 1
    assert (y[:, 0] == 2).all() and ((y == 3).sum(1) == 1).all()
    assert all(a.equal(b) for a, b in zip(batches(3), (x, y), strict=True))  # pure in the step


def test_caption_scores_against_pycocoevalcap():
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider

    hyps = ["A man riding a horse.", "two dogs play", "a cat on a mat"]
    refs = [["a man rides a horse", "A person on a horse!"], ["two dogs playing"],
            ["the cat is on the mat", "a cat sits on a mat"]]  # fmt: skip
    scores = caption_scores(hyps, refs)
    gts = {i: [" ".join(caption_words(r)) for r in rs] for i, rs in enumerate(refs)}
    res = {i: [" ".join(caption_words(h))] for i, h in enumerate(hyps)}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    assert [scores[f"bleu{n}"] for n in range(1, 5)] == pytest.approx(bleu)
    assert scores["cider"] == pytest.approx(Cider().compute_score(gts, res)[0])
    assert caption_words("A man, riding.") == ["a", "man", "riding"]
    perfect = caption_scores(["a b c d e"], [["a b c d e"]])
    assert perfect["bleu4"] == pytest.approx(1.0) and perfect["n"] == 1
    assert distinct_share(["a b", "A b.", "c"]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="one hypothesis per image"):
        caption_scores(["a"], [])
