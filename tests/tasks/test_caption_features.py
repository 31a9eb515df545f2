"""rnnkit caption's --encoder features --features FILE: a tiny run on a COCO-style JSON and a
features file the test writes (.safetensors and .npz; (G, G, D) and (L, D) arrays) trains,
evaluates, reloads and predicts by name; each bad input is one line."""

import json

import numpy as np
import pytest
from cli_helpers import fails
from safetensors.numpy import save_file

from rnnkit.cli import main
from rnnkit.tasks.caption import load_model
from rnnkit.tasks.caption.config import Config
from rnnkit.tasks.caption.data import load_json_splits
from rnnkit.train.config import ConfigError

N, G, D = 12, 3, 5
TINY = (
    "--hidden-size 16 --embedding-size 8 --attention-size 8 --batch-size 4 --eval-every 2 "
    "--warmup-steps 0 --schedule constant --threads 1 --no-tensorboard --beam 1 --max-steps 2 "
    "--valid-fraction 0.2 --test-fraction 0.2 --min-count 1"
).split()


def write_data(tmp_path, suffix=".safetensors", flat=False):
    """captions.json (COCO's layout) of N images and their annotations in a features file."""
    rng = np.random.default_rng(0)
    images = [{"id": i, "file_name": f"im{i}.jpg"} for i in range(N)]
    annotations = [{"image_id": i, "caption": f"a thing number {i % 3}"} for i in range(N)]
    data = tmp_path / "captions.json"
    data.write_text(json.dumps({"images": images, "annotations": annotations}))
    shape = (G * G, D) if flat else (G, G, D)
    values = {f"im{i}.jpg": rng.normal(size=shape).astype(np.float32) for i in range(N)}
    path = tmp_path / f"features{suffix}"
    if suffix == ".npz":
        np.savez(path, **values)
    else:
        save_file(values, str(path))
    return data, path, values


@pytest.mark.parametrize(("suffix", "flat"), [(".safetensors", False), (".npz", True)])
def test_features_run_trains_evaluates_reloads_and_predicts(tmp_path, capsys, suffix, flat):
    data, features, values = write_data(tmp_path, suffix, flat)
    out = tmp_path / "run"
    argv = ["caption", "train", "--out", str(out), "--data", str(data), *TINY]
    assert main([*argv, "--encoder", "features", "--features", str(features)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["test_n"] > 0 and "test_bleu4" in summary
    assert not (out / "attention.png").exists()  # no pixels to draw
    loaded = load_model(out)
    assert loaded.model.attention is not None and not list(loaded.model.encoder.parameters())
    assert int(loaded.meta["in_channels"]) == D and int(loaded.meta["image_size"]) == G
    capsys.readouterr()
    assert main(["caption", "eval", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == summary["test_n"]
    # predict by name: the same captions as the API on the same annotations
    assert main(["caption", "predict", str(out), "im0.jpg", "im5.jpg",
                 "--features", str(features)]) == 0  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    from rnnkit.tasks.caption.api import caption_images

    grids = np.stack(
        [values[k].reshape(G, G, D).transpose(2, 0, 1) for k in ("im0.jpg", "im5.jpg")]
    )
    assert lines == caption_images(loaded, grids)
    fails(["caption", "predict", str(out), "im0.jpg"], capsys, "goes with a run of --encoder")
    fails(["caption", "predict", str(out), "im0.jpg", "nope.jpg", "--features", str(features)],
          capsys, "1 of 2 images given have no entry (nope.jpg)")  # fmt: skip


def test_bad_features_are_one_line(tmp_path, capsys):
    data, features, values = write_data(tmp_path)
    argv = ["caption", "train", "--data", str(data), *TINY, "--encoder", "features"]
    fails([*argv, "--out", str(tmp_path / "a"), "--features", str(tmp_path / "no.safetensors")],
          capsys, "no.safetensors: no such file")  # fmt: skip
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not safetensors at all")
    fails([*argv, "--out", str(tmp_path / "b"), "--features", str(bad)], capsys, "cannot be read")
    few = tmp_path / "few.safetensors"
    save_file({k: v for k, v in values.items() if k not in ("im3.jpg", "im4.jpg")}, str(few))
    fails([*argv, "--out", str(tmp_path / "c"), "--features", str(few)], capsys,
          "2 of 12 images of --data have no entry (im3.jpg, im4.jpg)")  # fmt: skip
    odd = tmp_path / "odd.safetensors"
    save_file(values | {"im7.jpg": np.zeros((2, 2, D), np.float32)}, str(odd))
    fails(
        [*argv, "--out", str(tmp_path / "d"), "--features", str(odd)],
        capsys,
        "inconsistent shapes: im0.jpg gives (D, G, G) = (5, 3, 3), im7.jpg (5, 2, 2)",
    )
    odd = tmp_path / "flat.safetensors"
    save_file(values | {"im1.jpg": np.zeros((7, D), np.float32)}, str(odd))
    fails(
        [*argv, "--out", str(tmp_path / "e"), "--features", str(odd)],
        capsys,
        "im1.jpg has shape (7, 5); expected (L, D) with L a square number",
    )
    assert not any((tmp_path / d).exists() for d in "abcde")


def test_config_refuses_features_without_encoder_and_the_reverse_and_scenes():
    with pytest.raises(ConfigError, match="go together"):
        Config(data="c.json", features="f.safetensors")
    with pytest.raises(ConfigError, match="go together"):
        Config(data="c.json", encoder="features")
    with pytest.raises(ConfigError, match="not --dataset scenes"):
        Config(dataset="scenes", encoder="features", features="f.safetensors")
    with pytest.raises(ConfigError, match="nor --images"):
        Config(data="c.json", images="x", encoder="features", features="f.safetensors")


def test_splits_hold_the_annotations(tmp_path):
    data, features, values = write_data(tmp_path)
    cfg = Config(data=str(data), encoder="features", features=str(features),
                 valid_fraction=0.2, test_fraction=0.2)  # fmt: skip
    splits = load_json_splits(cfg)
    assert splits.train.images.shape[1:] == (D, G, G) and splits.train.images.dtype == np.float32
    assert sum(len(s) for s in (splits.train, splits.valid, splits.test)) == N
    i = int(splits.train.captions[0][0].split()[-1])  # its caption names i % 3
    matches = [k for k, v in values.items() if np.array_equal(v.transpose(2, 0, 1),
                                                               splits.train.images[0])]  # fmt: skip
    assert len(matches) == 1 and int(matches[0][2:-4]) % 3 == i


def test_python_api_trains_on_features_and_refuses_pixels(tmp_path):
    from rnnkit.tasks.caption import Captioner

    data, features, values = write_data(tmp_path)
    tiny = dict(hidden_size=16, embedding_size=8, attention_size=8, batch_size=4, max_steps=2,
                eval_every=2, warmup_steps=0, threads=1, beam=1, min_count=1)  # fmt: skip
    captioner = Captioner(data=str(data), encoder="features", features=str(features), **tiny)
    with pytest.raises(ValueError, match="trains on data= and features= alone"):
        captioner.fit(np.zeros((2, 8, 8), np.uint8), [["a"], ["b"]])
    captioner.fit()
    grids = np.stack([v.transpose(2, 0, 1) for v in list(values.values())[:2]])
    assert len(captioner.caption(grids)) == 2
    with pytest.raises(ValueError, match="captions annotations"):
        captioner.caption(["im0.jpg"])


def test_predict_of_a_pixel_run_refuses_features(tmp_path, capsys):
    out = tmp_path / "pool"
    scenes = ["--dataset", "scenes", "--scenes", "8", "--scenes-folder", str(tmp_path / "none"),
              "--pretrain-steps", "0"]  # fmt: skip
    assert main(["caption", "train", "--out", str(out), *scenes, *TINY[:-6]]) == 0
    _, features, _ = write_data(tmp_path)
    image = tmp_path / "x.png"
    from PIL import Image

    Image.fromarray(np.zeros((8, 8), np.uint8)).save(image)
    fails(["caption", "predict", str(out), str(image), "--features", str(features)], capsys,
          "--features FILE goes with a run of --encoder features")  # fmt: skip
