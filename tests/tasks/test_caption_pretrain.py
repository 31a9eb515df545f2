"""``--pretrain-steps``: the caption encoder trained to name the item under each grid cell
before captioning, and ``--encoder-weights`` for rnnkit's own CNN."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from cli_helpers import fails
from safetensors.torch import load_file

from rnnkit.cli import main
from rnnkit.tasks.caption.config import AUTO_PRETRAIN, Config
from rnnkit.tasks.caption.model import Encoder
from rnnkit.tasks.caption.pretrain import ITEM, cell_targets, item_batch, pretrain_encoder
from rnnkit.tasks.caption.scenes import scene_items
from rnnkit.train.config import ConfigError

SHAPES = "/nonexistent/fashion-mnist"  # scenes fall back to drawn shapes
TINY = (
    f"--dataset scenes --scenes 16 --scenes-folder {SHAPES} --channels 16 --hidden-size 16 "
    "--embedding-size 8 --attention-size 8 --batch-size 4 --eval-every 2 --warmup-steps 0 "
    "--schedule constant --threads 1 --no-tensorboard --beam 1 --max-steps 2"
).split()


def test_item_batch_puts_one_whole_item_on_each_canvas_and_marks_its_box():
    items, labels, _, _ = scene_items(SHAPES, "train")
    x, where = item_batch(items, labels, 40, np.random.default_rng(0), 6)
    assert x.shape == (6, 1, 40, 40) and where.shape == (6, 40, 40) and where.dtype == torch.int64
    for image, marks in zip(x[:, 0].numpy(), where.numpy(), strict=True):
        inside = marks >= 0
        assert inside.sum() == ITEM * ITEM  # one 28x28 box
        rows, cols = np.nonzero(inside)
        assert np.ptp(rows) == np.ptp(cols) == ITEM - 1
        (label,) = set(marks[inside])
        # the canvas holds exactly the ink of one item of that label, all of it in the box
        assert np.isclose(items[labels == label].sum((1, 2)), image.sum()).any()
        assert image[~inside].sum() == 0


def test_item_batch_with_several_items_marks_each_box():
    items, labels, _, _ = scene_items(SHAPES, "train")
    x, where = item_batch(items, labels, 64, np.random.default_rng(1), 40, most=3)
    boxes = (where >= 0).flatten(1).sum(1)
    assert boxes.min() == ITEM * ITEM and boxes.max() > ITEM * ITEM  # one item, and more
    assert (x[:, 0][where < 0] == 0).all()  # no ink outside the boxes


def test_cell_targets_read_each_cells_centre():
    where = torch.full((1, 8, 8), -1)
    where[0, 0:4, 4:8] = 3  # the top right quarter
    where[0, 6, 2] = 5  # the centre pixel of cell (row 1, column 0) of a 2x2 grid is (6, 2)
    assert cell_targets(where, 2, background=9).tolist() == [[9, 3, 5, 9]]
    assert cell_targets(where, 4, background=9)[0].view(4, 4).tolist() == [
        [9, 9, 3, 3], [9, 9, 3, 3], [9, 9, 9, 9], [9, 9, 9, 9],
    ]  # fmt: skip


@pytest.mark.parametrize("kind", ["pool", "dilated"])
def test_pretraining_learns_the_items_and_leaves_the_callers_rng_alone(kind):
    items, labels, _, _ = scene_items(SHAPES, "train")
    torch.manual_seed(0)
    encoder = Encoder(1, 16, kind)
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    torch.manual_seed(5)
    scores = pretrain_encoder(encoder, items, labels, 48, 300, seed=1, progress=False)
    drawn_after = torch.rand(3)
    torch.manual_seed(5)
    assert torch.equal(drawn_after, torch.rand(3))  # a forked RNG: the caller's stream unchanged
    chance = 1 / (labels.max() + 1)  # naming the item of a cell on one (background: not counted)
    assert scores["pretrain_accuracy"] > 2 * chance, scores
    assert any(not torch.equal(before[k], v) for k, v in encoder.state_dict().items())
    # the batch norms saw the 300 training batches and nothing else (no probe image)
    counts = {int(v) for k, v in encoder.state_dict().items() if k.endswith("num_batches_tracked")}
    assert counts == {300}
    # the same weights pretrained with the same seed end the same
    one, two = Encoder(1, 16, kind), Encoder(1, 16, kind)
    two.load_state_dict(one.state_dict())
    for e in (one, two):
        pretrain_encoder(e, items, labels, 32, 3, seed=1, progress=False)
    assert all(torch.equal(v, two.state_dict()[k]) for k, v in one.state_dict().items())
    with pytest.raises(ValueError, match="steps >= 1"):
        pretrain_encoder(encoder, items, labels, 32, 0, seed=1)


def test_pretrained_run_keeps_its_encoder_and_another_run_starts_from_it(tmp_path, capsys):
    out = tmp_path / "pre"
    argv = ["caption", "train", *TINY, "--encoder", "dilated"]
    assert main([*argv, "--out", str(out), "--pretrain-steps", "3"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert 0 <= summary["pretrain_accuracy"] <= 1 and summary["pretrain_seconds"] > 0
    weights = load_file(str(out / "encoder.safetensors"))
    fresh = Encoder(1, 16, "dilated")
    fresh.load_weights(str(out / "encoder.safetensors"))
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in weights.items())
    # the pretrained weights differ from a fresh encoder's and start the next run
    assert any(not torch.equal(Encoder(1, 16, "dilated").state_dict()[k], v)
               for k, v in weights.items() if v.is_floating_point())  # fmt: skip
    second = tmp_path / "second"
    start = ["--encoder-weights", str(out / "encoder.safetensors")]
    assert main([*argv, "--out", str(second), *start]) == 0
    # another encoder's file is one line naming what it should be
    err = fails(
        ["caption", "train", *TINY, "--out", str(tmp_path / "pool"), "--encoder", "pool", *start],
        capsys, "not rnnkit's pool encoder of this size: missing",
    )  # fmt: skip
    assert "same --encoder and --channels" in err
    fails([*argv, "--out", str(tmp_path / "x"), "--encoder-weights", str(tmp_path / "no.st")],
          capsys, "no.st: no such file")  # fmt: skip


def test_config_refuses_pretraining_where_it_cannot_run():
    with pytest.raises(ConfigError, match="--dataset scenes and --encoder pool or dilated"):
        Config(data="captions.json", images="img", pretrain_steps=10)
    with pytest.raises(ConfigError, match="--dataset scenes and --encoder pool or dilated"):
        Config(dataset="scenes", encoder="resnet18", pretrain_steps=10)
    with pytest.raises(ConfigError, match="pass one of them"):
        Config(dataset="scenes", pretrain_steps=10, encoder_weights="encoder.safetensors")
    with pytest.raises(ConfigError, match="DEFAULT .* goes with --encoder resnet18"):
        Config(dataset="scenes", encoder_weights="DEFAULT")
    with pytest.raises(ConfigError, match="--freeze-encoder goes with a CNN"):
        Config(data="c.json", encoder="features", features="f.npz", freeze_encoder=True)
    with pytest.raises(ConfigError, match="--freeze-encoder needs .* or --pretrain-steps N"):
        Config(dataset="scenes", pretrain_steps=0, freeze_encoder=True)
    assert Config(dataset="scenes", freeze_encoder=True).pretrain_steps == AUTO_PRETRAIN
    assert Config(dataset="scenes", encoder="dilated", pretrain_steps=10).pretrain_steps == 10
    # auto (-1, the default): AUTO_PRETRAIN where it can run and no weights are given, else 0
    assert Config(dataset="scenes").pretrain_steps == AUTO_PRETRAIN == 1000
    assert Config(dataset="scenes", encoder="dilated").pretrain_steps == AUTO_PRETRAIN
    assert Config(dataset="scenes", encoder_weights="e.safetensors").pretrain_steps == 0
    assert Config(dataset="scenes", encoder="resnet18").pretrain_steps == 0
    assert Config(data="captions.json", images="img").pretrain_steps == 0
    with pytest.raises(ConfigError, match="or -1 .auto."):
        Config(dataset="scenes", pretrain_steps=-2)


def test_a_frozen_encoder_keeps_its_pretrained_weights_and_statistics(tmp_path):
    out = tmp_path / "frozen"
    argv = ["caption", "train", *TINY, "--encoder", "dilated", "--out", str(out)]
    assert main([*argv, "--pretrain-steps", "3", "--freeze-encoder", "--max-steps", "3"]) == 0
    pretrained = load_file(str(out / "encoder.safetensors"))
    trained = load_file(str(out / "last.safetensors"))
    encoder = {k.removeprefix("model.encoder."): v for k, v in trained.items()
               if k.startswith("model.encoder.")}  # fmt: skip
    assert set(encoder) == set(pretrained)  # weights and batch-norm statistics alike
    assert all(torch.equal(encoder[k], v) for k, v in pretrained.items())
    model = Encoder(1, 16, "dilated").freeze().train()
    assert model.training and not any(m.training for m in model.modules() if m is not model)
    assert not any(p.requires_grad for p in model.parameters())
