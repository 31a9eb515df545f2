"""rnnkit caption's --encoder resnet18|resnet50: torchvision's parameter counts and names, the
annotation grid, --encoder-weights round-trips a saved state_dict (.pth and .safetensors) and
refuses a wrong one in one line, --freeze-encoder keeps the backbone (and its batch norm
statistics) unchanged by a training step, and a tiny run end to end."""

import json

import pytest
import torch
from cli_helpers import fails

from rnnkit.cli import main
from rnnkit.tasks.caption import load_model
from rnnkit.tasks.caption.backbone import ResNet, ResNetEncoder
from rnnkit.tasks.caption.config import Config
from rnnkit.tasks.caption.model import CaptionModel
from rnnkit.train.config import ConfigError

TINY = (
    "--dataset scenes --scenes 16 --scenes-folder /nonexistent/fashion-mnist --hidden-size 24 "
    "--embedding-size 8 --attention-size 8 --batch-size 4 --eval-every 2 --warmup-steps 0 "
    "--schedule constant --threads 1 --no-tensorboard --beam 1"
).split()


@pytest.mark.parametrize(("arch", "total", "dim"), [("resnet18", 11_689_512, 512),
                                                    ("resnet50", 25_557_032, 2048)])  # fmt: skip
def test_parameter_counts_are_torchvisions(arch, total, dim):
    net = ResNet(arch)
    fc = dim * 1000 + 1000  # torchvision's classifier, which the encoder leaves out
    assert net.dim == dim and sum(p.numel() for p in net.parameters()) + fc == total
    keys = set(net.state_dict())
    assert {"conv1.weight", "bn1.running_mean", "layer1.0.conv1.weight",
            "layer2.0.downsample.0.weight", "layer2.0.downsample.1.num_batches_tracked",
            "layer4.1.bn2.bias"} <= keys  # fmt: skip
    assert ("layer4.2.conv3.weight" in keys) == (arch == "resnet50")


def test_grid_of_annotations():
    enc = ResNetEncoder(1, "resnet18", normalise=False, freeze=False).eval()
    feats, local = enc(torch.rand(2, 1, 64, 64))
    assert feats.shape == (2, 4, 512) and local is feats  # a 2x2 grid of 64 px images
    feats, _ = ResNetEncoder(3, "resnet18", True, False).eval()(torch.rand(1, 3, 96, 96))
    assert feats.shape == (1, 9, 512)
    with pytest.raises(ValueError, match="expected 1 or 3 image channels"):
        ResNetEncoder(2, "resnet18", False, False)


def _model(**kw):
    torch.manual_seed(0)
    cfg = Config(dataset="scenes", encoder="resnet18", hidden_size=16, embedding_size=8,
                 attention_size=8, dropout=0.0, **kw)  # fmt: skip
    return CaptionModel(cfg, 10, 1)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_encoder_weights_round_trip_and_a_wrong_file_is_one_line(tmp_path, suffix):
    source = ResNet("resnet18")
    torch.nn.init.normal_(source.bn1.running_mean)  # a buffer, too, must arrive
    state = source.state_dict() | {
        "fc.weight": torch.zeros(1000, 512),
        "fc.bias": torch.zeros(1000),
    }
    path = tmp_path / f"r18{suffix}"
    if suffix == ".pth":
        torch.save(state, path)
    else:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    m = _model(encoder_weights=str(path))
    m.encoder.load_weights(str(path))
    assert m.encoder.normalise
    ours = m.encoder.backbone.state_dict()
    assert all(torch.equal(ours[k], v) for k, v in source.state_dict().items())
    bad = tmp_path / "bad.pth"
    torch.save({("conv9.weight" if k == "conv1.weight" else k): v for k, v in state.items()}, bad)
    with pytest.raises(ConfigError, match=r"bad.pth: not a resnet18: missing conv1.weight") as e:
        m.encoder.load_weights(str(bad))
    assert "\n" not in str(e.value) and "unexpected conv9.weight" in str(e.value)
    with pytest.raises(ConfigError, match="not a resnet50: missing .*; shape of"):
        ResNetEncoder(1, "resnet50", True, False).load_weights(str(path))
    with pytest.raises(ConfigError, match="absent.pth: no such file"):
        m.encoder.load_weights(str(tmp_path / "absent.pth"))


def test_default_weights_not_cached_says_to_download(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(ConfigError, match=r"download https://download.pytorch.org/models/resnet18"):
        ResNetEncoder(1, "resnet18", True, False).load_weights("DEFAULT")


def test_freeze_keeps_the_backbone_unchanged_by_a_step():
    m = _model(encoder_weights="DEFAULT", freeze_encoder=True, attention="soft").train()
    assert not m.encoder.backbone.training and m.training
    before = {k: v.clone() for k, v in m.encoder.backbone.state_dict().items()}
    output = m.output.weight.detach().clone()
    trained = [p for p in m.parameters() if p.requires_grad]
    assert trained and len(trained) < len(list(m.parameters()))
    opt = torch.optim.AdamW(trained, lr=0.1)
    x = torch.rand(2, 1, 32, 32)  # a 1x1 grid
    y = torch.tensor([[2, 5, 6, 3], [2, 7, 3, 0]])
    _, loss = m(x, y)
    loss.backward()
    opt.step()
    after = m.encoder.backbone.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights and BN statistics
    assert not torch.equal(m.output.weight, output)  # the decoder did learn


def test_config_refuses_weights_without_a_cnn_and_freeze_without_weights():
    with pytest.raises(ConfigError, match="goes with a CNN, not with --encoder features"):
        Config(data="c.json", encoder="features", features="f.npz", encoder_weights="x.pth")
    with pytest.raises(ConfigError, match="needs --encoder-weights"):
        Config(dataset="scenes", encoder="resnet50", freeze_encoder=True)


def test_tiny_resnet18_run_end_to_end(tmp_path, capsys):
    out = tmp_path / "r18"
    argv = ["caption", "train", "--out", str(out), *TINY, "--encoder", "resnet18"]
    source = ResNet("resnet18")
    torch.save(source.state_dict(), tmp_path / "r18.pth")
    bad = tmp_path / "bad.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, bad)
    fails([*argv, "--encoder-weights", str(bad)], capsys, "bad.pth: not a resnet18: missing")
    assert not out.exists()
    weights = ["--encoder-weights", str(tmp_path / "r18.pth"), "--freeze-encoder"]
    assert main([*argv, *weights, "--image-size", "64", "--max-steps", "2"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["test_n"] > 0 and "test_bleu4" in summary
    trained = load_model(out).model.encoder.backbone.state_dict()  # loaded, then frozen
    assert all(torch.equal(trained[k], v) for k, v in source.state_dict().items())
    fails([*argv, "--max-steps", "4", "--encoder", "pool", "--resume"], capsys, "encoder")
