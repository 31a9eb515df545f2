"""rnnkit.train.trainer: the loop, on a toy task that knows nothing of characters."""

import json
import math
import os
import signal

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.data.batch import StatefulBatch
from rnnkit.train.checkpoint import load_checkpoint, strip_prefix
from rnnkit.train.config import ConfigError, TrainConfig
from rnnkit.train.logging import read_metrics
from rnnkit.train.run import check_run_dir
from rnnkit.train.schedule import Plateau, learning_rate
from rnnkit.train.torch_engine import TorchEngine, build_optimizer
from rnnkit.train.trainer import DivergenceGuard, Trainer, TrainingDiverged


class Toy(nn.Module):
    """A stateful regressor with dropout: sum of the inputs so far, through a GRU."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(4, 8, batch_first=True)
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(8, 1)
        self.seen = []  # (step, state given?, state requires grad?)

    def forward(self, x, targets=None, state=None):
        self.seen.append((state is not None, state is not None and state.requires_grad))
        out, state = self.rnn(x, state)  # (B, T, H)
        pred = self.head(self.drop(out))  # (B, T, 1)
        loss = None if targets is None else F.mse_loss(pred, targets)
        return (pred, state), loss


def batch(step, poison_at=None, poison=math.nan):
    g = torch.Generator().manual_seed(step)
    x = torch.randn(2, 5, 4, generator=g)  # (B, T, F)
    y = x.sum(-1, keepdim=True).cumsum(1) * 0.1  # (B, T, 1)
    if step == poison_at:
        x, y = x * poison, y * poison
    return StatefulBatch(x, y, step % 4 == 0)


def evaluate(model):
    x, y, _ = batch(10_000)
    return F.mse_loss(model(x)[0][0], y).item()


def config(**kw):
    base = dict(max_steps=12, max_time=0.0, eval_every=5, log_every=1, warmup_steps=2)
    base |= dict(divergence_factor=100.0)  # regression losses vary more than the default allows
    return TrainConfig(**(base | {"tensorboard": False} | kw))


def make(out, cfg=None, batches=batch, resume_from=None, seed=0):
    torch.manual_seed(seed)
    cfg = cfg or config()
    engine = TorchEngine(Toy(), cfg, batches, evaluate)
    return Trainer(engine, cfg, out, task="toy", unit="value", resume_from=resume_from)


def test_learning_rate_schedule():
    cfg = config(lr=1.0, warmup_steps=10, max_steps=110, min_lr_fraction=0.1)
    assert learning_rate(cfg, 0, 0.0) == pytest.approx(0.1)
    assert learning_rate(cfg, 9, 0.0) == pytest.approx(1.0)
    assert learning_rate(cfg, 10, 0.0) == pytest.approx(1.0)
    assert learning_rate(cfg, 60, 0.0) == pytest.approx(0.55)
    assert learning_rate(cfg, 110, 0.0) == pytest.approx(0.1)
    timed = config(lr=1.0, warmup_steps=0, max_steps=0, max_time=100.0, min_lr_fraction=0.0)
    assert learning_rate(timed, 5, 50.0) == pytest.approx(0.5)  # keyed to the time budget
    assert learning_rate(timed, 5, 200.0) == pytest.approx(0.0)
    wsd = config(lr=1.0, warmup_steps=0, max_steps=100, schedule="wsd", decay_fraction=0.2)
    assert [learning_rate(wsd, s, 0.0) for s in (0, 80, 90, 100)] == pytest.approx(
        [1.0, 1.0, 0.55, 0.1]
    )  # stable for the first 80%, then linear down to min_lr_fraction
    step = config(lr=1.0, warmup_steps=0, schedule="step", lr_decay=0.5, lr_decay_every=10)
    assert [learning_rate(step, s, 0.0) for s in (0, 9, 10, 25)] == [1.0, 1.0, 0.5, 0.25]
    assert learning_rate(config(schedule="constant", warmup_steps=0), 7, 9.0) == 2e-3


def test_plateau_schedule_follows_torchs_reduce_lr_on_plateau():
    """Keras's ReduceLROnPlateau semantics, checked against torch's (whose patience counts one
    more bad window: torch waits for ``num_bad_epochs > patience``, Keras for ``>=``)."""
    cfg = config(lr=1.0, warmup_steps=3, schedule="plateau", lr_decay=0.5, lr_decay_every=2,
                 plateau_patience=3, min_lr_fraction=0.1)  # fmt: skip
    plateau = Plateau(cfg)
    weight = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([weight], lr=1.0)
    torch_plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, factor=0.5, patience=2, threshold=Plateau.MIN_DELTA, threshold_mode="abs", min_lr=0.1
    )
    rng = torch.Generator().manual_seed(0)
    losses = (2.0 / torch.arange(1, 301) + 0.3 * torch.rand(300, generator=rng)).tolist()
    lrs, window = [], []
    for step, loss in enumerate(losses):
        assert learning_rate(cfg, step, 0.0, plateau) == (
            pytest.approx((step + 1) / 3) if step < 3 else plateau.lr
        )
        plateau.observe(step, loss)
        if step >= 3:
            window.append(loss)
        if len(window) == 2:  # the end of a window: torch sees its mean
            torch_plateau.step(sum(window) / 2)
            window = []
        assert plateau.lr == pytest.approx(opt.param_groups[0]["lr"]), step
        lrs.append(plateau.lr)
    assert sorted(set(lrs)) == [0.1, 0.125, 0.25, 0.5, 1.0]  # halved, then held at the floor

    restored = Plateau(cfg)
    restored.load(json.loads(json.dumps(plateau.state())))  # as the checkpoint meta carries it
    for step, loss in enumerate([5.0, 4.0, 6.0, 6.0, 6.0, 6.0, 6.0, 6.0], start=300):
        plateau.observe(step, loss)
        restored.observe(step, loss)
        assert (restored.lr, restored.best, restored.wait) == (
            plateau.lr,
            plateau.best,
            plateau.wait,
        )
    fresh = Plateau(cfg)
    fresh.load(json.loads(json.dumps(fresh.state())))  # no window yet: best is inf
    assert fresh.best == math.inf


@pytest.mark.parametrize("name", ["adamw", "adam", "rmsprop", "adagrad", "sgd"])
def test_optimizers(name):
    model = Toy()
    opt = build_optimizer(model, config(optimizer=name, weight_decay=0.1))
    decayed = opt.param_groups[0]
    assert all(p.dim() >= 2 for p in decayed["params"]) and decayed["weight_decay"] == 0.1
    assert opt.param_groups[1]["weight_decay"] == 0.0
    x, y, _ = batch(0)
    model(x, y)[1].backward()
    opt.step()


def test_run_directory_metrics_and_summary(tmp_path):
    summary = make(tmp_path).fit()
    for name in ("config.json", "metrics.csv", "summary.json", "loss.png"):
        assert (tmp_path / name).is_file()
    assert (tmp_path / "loss.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "config.json").read_text())["max_steps"] == 12
    rows = read_metrics(tmp_path / "metrics.csv")
    assert list(rows[0]) == ["step", "train_loss", "val_loss", "lr", "throughput", "wall_time"]
    assert [r["step"] for r in rows if r["val_loss"] is not None] == [0, 5, 10, 12]
    assert [r["step"] for r in rows if r["train_loss"] is not None] == list(range(1, 13))
    assert summary["stop_reason"] == "max_steps" and summary["steps"] == 12
    assert summary == json.loads((tmp_path / "summary.json").read_text())
    assert summary["best_val_loss"] <= summary["final_val_loss"]
    _, meta = load_checkpoint(tmp_path / "best.safetensors", task="toy")
    assert meta["best_step"] == summary["best_step"] and "optim" not in meta
    tensors, meta = load_checkpoint(tmp_path / "last.safetensors", task="toy")
    assert meta["step"] == 12 and meta["config"]["max_steps"] == 12 and meta["state"] == -1
    assert tensors["state"].shape == (1, 2, 8)  # the carried GRU state


def test_tensorboard_when_installed(tmp_path):
    pytest.importorskip("tensorboard")
    make(tmp_path, config(max_steps=3, tensorboard=True)).fit()
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(tmp_path / "tensorboard"))


def test_state_is_carried_detached_and_reset(tmp_path):
    trainer = make(tmp_path, config(eval_every=100))
    trainer.fit()
    # calls: eval at 0, then steps 0..11, then the final eval; evals run without state
    steps = trainer.model.seen[1:13]
    assert [given for given, _ in steps] == [s % 4 != 0 for s in range(12)]
    assert not any(grad for _, grad in steps)  # carried state is detached


def test_stateless_batches(tmp_path):
    trainer = make(tmp_path, batches=lambda s: batch(s)[:2])
    trainer.fit()
    assert not any(given for given, _ in trainer.model.seen)


@pytest.mark.parametrize("schedule", ["cosine", "plateau"])
def test_ctrl_c_saves_and_resume_is_exact(tmp_path, schedule):
    cfg = config(schedule=schedule, lr_decay=0.5, lr_decay_every=1, plateau_patience=1)
    straight = make(tmp_path / "a", cfg)
    straight.fit()

    interrupted = make(tmp_path / "b", cfg)
    interrupted.add_callback(
        "step", lambda t: os.kill(os.getpid(), signal.SIGINT) if t.step == 7 else None
    )
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN where the suite runs in the background
    summary = interrupted.fit()
    assert summary["stop_reason"] == "interrupted" and summary["steps"] == 7
    assert signal.getsignal(signal.SIGINT) is before  # the caller's handler restored
    checkpoint = load_checkpoint(tmp_path / "b" / "last.safetensors", task="toy")
    assert checkpoint[1]["step"] == 7

    resumed = make(tmp_path / "b", cfg, resume_from=checkpoint, seed=123)  # init overwritten
    resumed.fit()
    a = read_metrics(tmp_path / "a" / "metrics.csv")
    b = read_metrics(tmp_path / "b" / "metrics.csv")
    if schedule == "plateau":  # the loss stalled at some point after step 7: the lr decayed
        assert len({r["lr"] for r in a if r["step"] > 7}) > 1
    key = ("step", "train_loss", "val_loss", "lr")
    assert [[r[k] for k in key] for r in a] == [[r[k] for k in key] for r in b]
    for name, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), name


def test_resume_from_a_checkpoint_without_plateau_state(tmp_path):
    """Checkpoints written before the plateau schedule existed lack its state: they resume."""
    trainer = make(tmp_path / "old")
    trainer.add_callback("step", lambda t: t.request_stop() if t.step == 7 else None)
    trainer.fit()
    tensors, meta = load_checkpoint(tmp_path / "old" / "last.safetensors", task="toy")
    del meta["plateau"]
    resumed = make(tmp_path / "old", resume_from=(tensors, meta))
    assert resumed.step == 7 and resumed.fit()["steps"] == 12


def test_request_stop(tmp_path):
    trainer = make(tmp_path)
    trainer.add_callback("eval", lambda t: t.request_stop() if t.step == 5 else None)
    assert trainer.fit()["steps"] == 6  # the evaluation at 5 comes before step 5's update


@pytest.mark.parametrize(
    "poison, message",
    [(math.nan, "the training loss is nan"), (1e4, "the training loss exploded to")],
)
def test_divergence_stops_and_keeps_last_good_checkpoint(tmp_path, poison, message):
    trainer = make(tmp_path, batches=lambda s: batch(s, poison_at=8, poison=poison))
    with pytest.raises(TrainingDiverged, match=f"at step 8: {message}") as e:
        trainer.fit()
    assert str(tmp_path / "last.safetensors") in str(e.value)
    tensors, meta = load_checkpoint(tmp_path / "last.safetensors")
    assert meta["step"] == 5  # the checkpoint of the last evaluation is kept, not overwritten
    assert all(torch.isfinite(v).all() for v in strip_prefix("model", tensors).values())
    assert json.loads((tmp_path / "summary.json").read_text())["stop_reason"] == "diverged"


def test_max_time(tmp_path):
    summary = make(tmp_path, config(max_steps=0, max_time=0.3)).fit()
    assert summary["stop_reason"] == "max_time" and summary["wall_time"] >= 0.3


def test_check_run_dir(tmp_path):
    assert check_run_dir(tmp_path / "new", resume=False) == tmp_path / "new"
    assert not (tmp_path / "new").exists()  # checks only, writes nothing
    with pytest.raises(ConfigError, match="no last.safetensors"):
        check_run_dir(tmp_path, resume=True)
    make(tmp_path / "run").fit()
    with pytest.raises(ConfigError, match="already holds a run; pass --resume"):
        check_run_dir(tmp_path / "run", resume=False)
    with pytest.raises(ConfigError, match="a file is in the way"):
        check_run_dir(tmp_path / "run" / "metrics.csv", resume=False)


def test_divergence_guard_smooths_single_batches():
    guard = DivergenceGuard(3.0)
    assert guard.check(1.0, 1.0) is None
    for _ in range(20):
        assert guard.check(0.5, 1.0) is None
    assert guard.check(10.0, 1.0) is None  # one noisy batch: the running mean is about 1.5
    problems = [guard.check(10.0, 1.0) for _ in range(5)]  # a sustained rise stops the run
    assert problems[0] is None and "exploded to" in problems[1] and "first loss 1" in problems[1]
    assert DivergenceGuard(0).check(math.nan, 1.0) == "the training loss is nan"
    assert DivergenceGuard(0).check(1.0, math.inf) == "the gradient norm is inf"
    assert DivergenceGuard(0).check(1e9, 1.0) is None  # factor 0: NaN/inf only
    restored = DivergenceGuard(3.0)
    restored.load(guard.state())
    assert restored.check(10.0, 1.0) == guard.check(10.0, 1.0)
