"""``--pretrain-steps``: the caption encoder trained to name single items before captioning,
and ``--encoder-weights`` for rnnkit's own CNN."""

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
from rnnkit.tasks.caption.pretrain import item_batch, pretrain_encoder
from rnnkit.tasks.caption.scenes import scene_items
from rnnkit.train.config import ConfigError

SHAPES = "/nonexistent/fashion-mnist"  # scenes fall back to drawn shapes
TINY = (
    f"--dataset scenes --scenes 16 --scenes-folder {SHAPES} --channels 16 --hidden-size 16 "
    "--embedding-size 8 --attention-size 8 --batch-size 4 --eval-every 2 --warmup-steps 0 "
    "--schedule constant --threads 1 --no-tensorboard --beam 1 --max-steps 2"
).split()


def test_item_batch_puts_one_whole_item_on_each_canvas():
    items, labels, _, _ = scene_items(SHAPES, "train")
    x, y = item_batch(items, labels, 40, np.random.default_rng(0), 6)
    assert x.shape == (6, 1, 40, 40) and y.shape == (6,) and y.dtype == torch.int64
    ink = x.flatten(1).sum(1).numpy()
    # each canvas holds exactly the ink of one item of its label
    assert all(
        np.isclose(items[labels == k].sum((1, 2)), s).any() for k, s in zip(y, ink, strict=True)
    )


@pytest.mark.parametrize("kind", ["pool", "dilated"])
def test_pretraining_learns_the_items_and_leaves_the_callers_rng_alone(kind):
    items, labels, _, _ = scene_items(SHAPES, "train")
    torch.manual_seed(0)
    encoder = Encoder(1, 16, kind)
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    torch.manual_seed(5)
    scores = pretrain_encoder(encoder, items, labels, 32, 50, seed=1, progress=False)
    drawn_after = torch.rand(3)
    torch.manual_seed(5)
    assert torch.equal(drawn_after, torch.rand(3))  # a forked RNG: the caller's stream unchanged
    chance = 1 / (labels.max() + 1)
    assert scores["pretrain_accuracy"] > 2 * chance, scores
    assert any(not torch.equal(before[k], v) for k, v in encoder.state_dict().items())
    # the batch norms saw the 50 training batches and nothing else (no probe image)
    counts = {int(v) for k, v in encoder.state_dict().items() if k.endswith("num_batches_tracked")}
    assert counts == {50}
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
