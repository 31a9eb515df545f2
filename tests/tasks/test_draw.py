"""rnnkit.tasks.draw: the DRAW network against a loop written from the paper's equations on
torch.nn, its KL and likelihood against torch.distributions, gradcheck, learning, the CLI
(train, resume exactly, sample, eval) and its errors."""

import dataclasses
import gzip
import json
import struct

import numpy as np
import pytest
import torch
from cli_helpers import fails
from PIL import Image
from torch.distributions import Bernoulli, Normal, kl_divergence
from torch.func import functional_call

from rnnkit.cli import main
from rnnkit.nn.glimpse import filterbanks, glimpse_params
from rnnkit.tasks.draw import DRAW, Config, gaussian_kl
from rnnkit.train.checkpoint import load_checkpoint
from rnnkit.viz.images import image_grid, save_gif

SIZE = 12  # the test images: SIZE x SIZE
TINY = (
    "--hidden-size 16 --latent-size 4 --steps 3 --batch-size 16 --val-size 40 --max-steps 6 "
    "--eval-every 3 --log-every 1 --threads 1 --no-tensorboard"
).split()


def squares(n: int, seed: int) -> np.ndarray:
    """(n, SIZE, SIZE) uint8 images: a 4 x 4 square of 255 at a random place, else 0."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, SIZE, SIZE), np.uint8)
    for image, (r, c) in zip(images, rng.integers(0, SIZE - 4, size=(n, 2)), strict=True):
        image[r : r + 4, c : c + 4] = 255
    return images


def write_idx(path, images: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, images.ndim]) + struct.pack(f">{images.ndim}I", *images.shape)
    path.write_bytes(gzip.compress(header + images.tobytes()))


def write_folder(folder, n_train: int = 200, n_test: int = 50):
    """An MNIST-format folder of squares (gzipped IDX, no labels); returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    write_idx(folder / "train-images-idx3-ubyte.gz", squares(n_train, 0))
    write_idx(folder / "t10k-images-idx3-ubyte.gz", squares(n_test, 1))
    return folder


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ---------------------------------------------------------------------------------------------
# the network


def test_kl_and_reconstruction_match_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(5, 7, generator=g, dtype=torch.float64)
    log_sigma = torch.randn(5, 7, generator=g, dtype=torch.float64)
    want = kl_divergence(Normal(mu, log_sigma.exp()), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(gaussian_kl(mu, log_sigma), want)
    model = DRAW(SIZE, SIZE, Config(steps=2, hidden_size=8, latent_size=3)).double()
    x = torch.from_numpy(squares(4, 0) // 255).double()
    out, loss = model(x, x)
    want = -Bernoulli(logits=out.logits).log_prob(x).sum((1, 2))
    torch.testing.assert_close(out.reconstruction, want)
    torch.testing.assert_close(loss, (out.reconstruction + out.kl).mean())
    assert model(x)[1] is None and out.logits.shape == (4, SIZE, SIZE)


def reference_draw(model: DRAW, x: torch.Tensor, noise: list[torch.Tensor]):
    """Equations (3)-(8) and (9)-(12) of the paper on torch.nn.LSTMCells holding the model's
    weights, the glimpses as the paper's filterbanks F_Y x F_X^T; returns (canvas, L^x, L^z)."""
    hidden = model.decoder.hidden_size
    enc = torch.nn.LSTMCell(model.encoder.input_size, hidden).double()
    dec = torch.nn.LSTMCell(model.decoder.input_size, hidden).double()
    enc.load_state_dict(model.encoder.state_dict())
    dec.load_state_dict(model.decoder.state_dict())
    b, n_r, n_w = x.size(0), model.read_glimpse.size, model.write_size
    c = torch.zeros_like(x)
    h_dec, c_dec = torch.zeros(b, hidden).double(), torch.zeros(b, hidden).double()
    h_enc, c_enc = torch.zeros(b, hidden).double(), torch.zeros(b, hidden).double()
    l_z = torch.zeros(b).double()
    for eps in noise:
        x_hat = x - torch.sigmoid(c)
        g = glimpse_params(model.read_glimpse.params(h_dec), SIZE, SIZE, n_r)
        fx, fy = filterbanks(g, n_r, SIZE, SIZE)
        gamma = g.intensity[:, None, None]
        read_x, read_x_hat = (gamma * fy @ img @ fx.transpose(1, 2) for img in (x, x_hat))
        r = torch.cat([read_x.flatten(1), read_x_hat.flatten(1)], 1)
        h_enc, c_enc = enc(torch.cat([r, h_dec], 1), (h_enc, c_enc))
        mu, log_sigma = model.latent(h_enc).chunk(2, -1)
        z = mu + log_sigma.exp() * eps
        l_z = l_z + 0.5 * (mu**2 + (2 * log_sigma).exp() - 2 * log_sigma - 1).sum(-1)
        h_dec, c_dec = dec(z, (h_dec, c_dec))
        w = model.write_patch(h_dec).view(b, n_w, n_w)
        g = glimpse_params(model.write_glimpse.params(h_dec), SIZE, SIZE, n_w)
        fx, fy = filterbanks(g, n_w, SIZE, SIZE)
        c = c + fy.transpose(1, 2) @ w @ fx / g.intensity[:, None, None]
    l_x = -(x * torch.log(torch.sigmoid(c)) + (1 - x) * torch.log(1 - torch.sigmoid(c)))
    return c, l_x.sum((1, 2)), l_z


def test_forward_matches_the_papers_equations_on_torch_nn():
    cfg = Config(steps=3, hidden_size=6, latent_size=2, read_size=2, write_size=3)
    model = DRAW(SIZE, SIZE, cfg).double()
    x = torch.from_numpy(squares(3, 2) // 255).double()
    torch.manual_seed(5)
    out, _ = model(x)
    torch.manual_seed(5)
    noise = [torch.randn(3, 2, dtype=torch.float64) for _ in range(3)]  # randn_like's draws
    canvas, l_x, l_z = reference_draw(model, x, noise)
    torch.testing.assert_close(out.logits, canvas)
    torch.testing.assert_close(out.reconstruction, l_x)
    torch.testing.assert_close(out.kl, l_z)


@pytest.mark.parametrize("init", ["cover", "linear"])
def test_glimpse_init_reaches_both_glimpses(init):
    model = DRAW(SIZE, SIZE, Config(steps=2, hidden_size=4, glimpse_init=init, read_size=3))
    assert model.read_glimpse.init == model.write_glimpse.init == init
    first = model.read_glimpse.glimpse(torch.zeros(1, 4))  # the first read: h_dec = 0
    if init == "cover":  # the grid spans the image, filters' deviation half the stride
        stride = (SIZE - 1) / 2
        torch.testing.assert_close(first.stride, torch.tensor([stride]))
        torch.testing.assert_close(first.variance, torch.tensor([(stride / 2) ** 2]))


@pytest.mark.parametrize("attention", ["gaussian", "none"])
def test_gradcheck_of_the_bound_float64(attention):
    cfg = Config(steps=2, hidden_size=3, latent_size=2, read_size=2, write_size=2)
    model = DRAW(5, 5, dataclasses.replace(cfg, attention=attention)).double()
    x = (torch.rand(2, 5, 5, dtype=torch.float64) > 0.5).double()
    names = ["latent.weight", "write_patch.weight", "encoder.weight_hh"]
    if attention == "gaussian":
        names += ["read_glimpse.params.weight", "write_glimpse.params.bias"]
    params = {k: v.detach().clone().requires_grad_() for k, v in model.named_parameters()}

    def bound(*chosen):
        weights = params | dict(zip(names, chosen, strict=True))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)  # the same latents' noise at every call
            return functional_call(model, weights, (x, x))[1]

    assert torch.autograd.gradcheck(bound, tuple(params[k] for k in names))


def test_generate_draws_from_the_prior_with_boxes():
    model = DRAW(SIZE, 10, Config(steps=4, hidden_size=8, latent_size=3))
    drawing = model.generate(5, torch.Generator().manual_seed(0))
    assert drawing.canvases.shape == (4, 5, SIZE, 10) and drawing.boxes.shape == (4, 5, 4)
    assert 0 <= float(drawing.canvases.min()) and float(drawing.canvases.max()) <= 1
    again = model.generate(5, torch.Generator().manual_seed(0))
    torch.testing.assert_close(again.canvases, drawing.canvases)
    plain = DRAW(SIZE, 10, Config(steps=2, hidden_size=8, latent_size=3, attention="none"))
    assert plain.generate(3).boxes is None
    with pytest.raises(ValueError, match=r"expected images \(B, 12, 10\), got \(2, 10, 12\)"):
        model(torch.zeros(2, 10, SIZE))


# ---------------------------------------------------------------------------------------------
# the CLI


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run that learned the squares: (run directory, data folder)."""
    folder = write_folder(tmp_path_factory.mktemp("draw") / "data", n_train=600, n_test=100)
    args = ["draw", "train", "--data", folder, "--out", folder.parent / "run", *TINY]
    args += ["--steps", 4, "--hidden-size", 64, "--latent-size", 8, "--write-size", 4]
    args += ["--lr", 1e-2, "--batch-size", 32, "--max-steps", 200, "--eval-every", 100]
    assert main([str(a) for a in args]) == 0
    return folder.parent / "run", folder


def test_learns_and_evaluates(trained, capsys):
    run, folder = trained
    for name in ("config.json", "metrics.csv", "summary.json", "loss.png", "best.safetensors"):
        assert (run / name).is_file(), name
    summary = json.loads((run / "summary.json").read_text())
    code, out, _ = cli(capsys, "draw", "eval", run, "--json")
    result = json.loads(out)
    assert code == 0 and set(result) == {"nll_bound", "reconstruction", "kl", "n"}
    assert result["n"] == 100
    assert result["nll_bound"] == pytest.approx(result["reconstruction"] + result["kl"])
    assert result["nll_bound"] == pytest.approx(summary["test_nll_bound"])
    # 144 pixels at p = 0.5 cost 99.8 nats; a square drawn where it is costs a fraction
    assert result["nll_bound"] < 0.5 * SIZE * SIZE * np.log(2), result
    code, out, _ = cli(capsys, "draw", "eval", run, "--data", folder)
    assert code == 0 and f"NLL bound {result['nll_bound']:.2f} nats per image" in out


def test_sample_writes_grid_gif_and_strip(trained, tmp_path, capsys):
    run, _ = trained
    code, out, err = cli(capsys, "draw", "sample", run, "--n", 6, "--seed", 3, "--out", tmp_path)
    assert code == 0, err
    with Image.open(tmp_path / "canvas.gif") as gif:
        assert gif.n_frames == 4  # a frame per step
    with Image.open(tmp_path / "samples.png") as grid, Image.open(tmp_path / "canvas.png") as strip:
        cell = SIZE * 3 + 2  # scale 3, pad 2
        assert grid.size == (3 * cell + 2, 2 * cell + 2)  # 6 images: 3 columns, 2 rows
        assert strip.size == (4 * cell + 2, 6 * cell + 2)  # a column per step, a row per sample
        red = np.asarray(strip.convert("RGB")).astype(int)
    assert ((red[..., 0] > 200) & (red[..., 1] < 80)).any()  # the write glimpse's boxes
    first = (tmp_path / "samples.png").read_bytes()
    assert cli(capsys, "draw", "sample", run, "--n", 6, "--seed", 3, "--out", tmp_path)[0] == 0
    assert (tmp_path / "samples.png").read_bytes() == first  # seeded: the same drawing
    assert cli(capsys, "draw", "sample", run, "--n", 2)[0] == 0  # default: into the run
    assert (run / "canvas.gif").is_file()


def test_resume_is_exact(tmp_path):
    folder = write_folder(tmp_path / "data")
    base = [
        "draw",
        "train",
        "--data",
        folder,
        *TINY,
        "--binarize",
        "dynamic",
        "--schedule",
        "constant",
    ]
    assert main([str(a) for a in base + ["--out", tmp_path / "straight"]]) == 0
    assert main([str(a) for a in base + ["--out", tmp_path / "split", "--max-steps", 3]]) == 0
    resume = ["draw", "train", "--out", tmp_path / "split", "--resume", "--max-steps", 6]
    assert main([str(a) for a in resume]) == 0
    straight, _ = load_checkpoint(tmp_path / "straight" / "last.safetensors", task="draw")
    split, _ = load_checkpoint(tmp_path / "split" / "last.safetensors", task="draw")
    assert straight.keys() == split.keys()
    for key in straight:
        torch.testing.assert_close(split[key], straight[key], rtol=0, atol=0, msg=key)
    rows = [(tmp_path / r / "metrics.csv").read_text().splitlines() for r in ("straight", "split")]
    losses = [[line.split(",")[:2] for line in lines] for lines in rows]
    assert losses[0] == losses[1]


def test_cli_errors(trained, tmp_path, capsys):
    run, folder = trained
    fails(["draw", "sample", str(run), "--n", "0"], capsys, "--n: expected an int in 1..1024")
    fails(["draw", "sample", str(run), "--out", str(tmp_path / "no")], capsys, "no such directory")
    fails(["draw", "sample", str(run), "--seed", "-1"], capsys, "--seed: expected an int")
    fails(["draw", "eval", str(run), "--data", str(tmp_path)], capsys, "no t10k-images-idx3-ubyte")
    other = tmp_path / "other"
    other.mkdir()
    write_idx(other / "t10k-images-idx3-ubyte.gz", np.zeros((3, 8, 8), np.uint8))
    fails(["draw", "eval", str(run), "--data", str(other)], capsys, "the model draws 12 x 12")
    argv = ["draw", "train", "--data", str(folder), "--out", str(tmp_path / "r"), *TINY]
    fails(argv + ["--val-size", "600"], capsys, "--val-size 600: the training split has only 600")
    fails(argv + ["--steps", "0"], capsys, "--steps: expected an int >= 1, got 0")
    fails(argv + ["--attention", "soft"], capsys, "invalid choice: 'soft'")
    fails(["draw", "train", "--out", str(run), "--resume", "--steps", "9"], capsys,
          "--steps cannot change")  # fmt: skip
    assert not (tmp_path / "r").exists()


def test_image_grid_boxes_and_errors(tmp_path):
    images = np.zeros((3, 4, 5), np.float32)
    boxes = np.array([[0, 0, 2, 2], [-9, -9, -5, -5], [1, 1, 30, 30]], np.float32)
    grid = np.asarray(image_grid(images, columns=3, boxes=boxes, scale=2, pad=1))
    assert grid.shape == (1 + 4 * 2 + 1, 1 + 3 * (5 * 2 + 1), 3)
    red = (grid[..., 0] > 200) & (grid[..., 1] < 80)
    cells = [red[1:9, 1 + k * 11 : 11 + k * 11] for k in range(3)]
    assert cells[0].any() and not cells[1].any() and cells[2].any()  # off the image: no box
    save_gif([image_grid(images)], tmp_path / "one.gif")  # a single frame is a GIF too
    with pytest.raises(ValueError, match=r"expected boxes \(3, 4\)"):
        image_grid(images, boxes=boxes[:2])
    with pytest.raises(ValueError, match=r"expected images \(N, H, W\)"):
        image_grid(np.zeros((4, 5)))
    with pytest.raises(ValueError, match="at least one frame"):
        save_gif([], tmp_path / "none.gif")
