"""A run's model made ready to inspect: rebuilt by its task's own loader, with an input.

``load_subject(run)`` reads the task from the checkpoint, rebuilds the model with that task's
``load_model``/``load_run`` (``rnnkit/tasks/<task>/api.py``, unchanged) and picks the input to
trace, a batch of one:

- ``charlm``: a text (``text``, else the held-out tail of the run's corpus, else a sample of
  the model itself), its characters as ids (1, T);
- ``classify``: one sequence (``index``) of ``data`` (any file ``rnnkit classify`` reads; else
  the run's test split), (1, T, F) raw (the model standardizes it);
- ``forecast``: the model input of a forecast from the end of one series of ``data`` (a CSV;
  else the run's data), (1, input_length, F).

It also says what the head should return for that input, from the model's config, so that the
structure diagram can be checked against a real forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.nn.recurrent import _RNNBase
from rnnkit.train.checkpoint import CheckpointError, load_checkpoint, resolve_checkpoint

TASKS = ("charlm", "classify", "forecast", "translate", "caption")  # the last two: attention
DEFAULT_CHARS = 2000  # characters of text traced by default


@dataclass
class Subject:
    """A model and the input it is inspected on.

    ``rnn`` is the recurrent layer inspected (named ``rnn_name`` in ``model``); ``x`` the model's
    input, a batch of one; ``text`` (charlm) the characters of x, or ``series`` (T, F) the
    values drawn under the gates, with ``series_names``; ``head`` the head's name and
    ``head_shape`` the shape its config says the model returns for x; ``embedding`` the size of
    a character embedding (0: none); ``steps`` the steps the recurrent layer reads when not
    x's (LSTM-FCN's dimension shuffle reads the F features as steps); ``dropped`` the
    characters of a text left out because the model's vocabulary lacks them.
    """

    task: str
    title: str
    model: nn.Module
    rnn_name: str
    x: Tensor
    head: str
    head_shape: tuple[int, ...]
    text: str | None = None
    series: np.ndarray | None = None
    series_names: list[str] = field(default_factory=list)
    embedding: int = 0
    steps: int = 0
    dropped: str = ""

    @property
    def rnn(self) -> _RNNBase:
        return self.model.get_submodule(self.rnn_name)

    @torch.no_grad()
    def forward(self) -> Tensor:
        """The model's output for ``x`` (the head's, without the loss or carried state)."""
        output, _ = self.model(self.x)
        return output[0] if isinstance(output, tuple) else output  # charlm: (logits, state)


def run_task(run: str | Path) -> str:
    """The task whose checkpoint ``run`` (a run directory or a checkpoint file) holds."""
    path = resolve_checkpoint(run)
    _, meta = load_checkpoint(path)
    task = meta.get("task")
    if task not in TASKS:
        raise CheckpointError(
            f"{path}: a checkpoint of task {task!r}; rnnkit inspect reads runs of "
            f"{', '.join(TASKS)}"
        )
    return task


def _describe(rnn: _RNNBase) -> str:
    layers = f"{rnn.num_layers}-layer " if rnn.num_layers > 1 else ""
    both = "bidirectional " if rnn.bidirectional else ""
    return f"{layers}{both}{rnn.mode.split('_')[0]} {rnn.hidden_size}"


def load_subject(
    run: str | Path,
    text: str | Path | None = None,
    data: str | Path | None = None,
    index: int = 0,
    chars: int = DEFAULT_CHARS,
    device: str = "cpu",
) -> Subject:
    """The model of ``run`` and its input (see the module docstring)."""
    task = run_task(run)
    if task in ("translate", "caption"):
        raise ValueError(f"a {task} run has attention maps to inspect, not one recurrent layer")
    if task == "charlm":
        if data is not None:
            raise ValueError("--data is for classify and forecast runs; a charlm run reads --text")
        return _charlm(run, text, chars, device)
    if text is not None:
        raise ValueError(f"--text is for charlm runs; a {task} run reads a series: pass --data")
    return (
        _classify(run, data, index, device)
        if task == "classify"
        else _forecast(run, data, index, device)
    )


def _charlm(run: str | Path, text: str | Path | None, chars: int, device: str) -> Subject:
    from rnnkit.data.text import Corpus, split_corpus
    from rnnkit.tasks.charlm.api import load_model, stream_sample

    model, vocab, cfg = load_model(run, device, engine="torch")
    if text is not None:
        try:
            body = Path(text).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise OSError(f"--text {text}: cannot read it as UTF-8 text ({e})") from None
    else:
        folder = Path(run) if Path(run).is_dir() else Path(run).parent
        if (folder / "corpus.json").is_file():  # the held-out text the run validated on
            ids = np.asarray(Corpus.load(folder).ids)
            _, val = split_corpus(ids, cfg.val_fraction, cfg.val_blocks)
            body = vocab.decode(val[:chars])
        else:
            body = "".join(stream_sample(model, vocab, "", chars, 1.0, 0, 0))
    body = body[:chars]
    known = set(vocab.chars)
    dropped = "".join(sorted({c for c in body if c not in known}))
    if dropped:  # characters the model never saw have no input: left out
        body = "".join(c for c in body if c in known)
    if len(body) < 2:
        raise ValueError(f"--text: expected at least 2 characters the model knows, got {len(body)}")
    ids = torch.from_numpy(vocab.encode(body).astype(np.int64)).view(1, -1)  # (1, T)
    x = ids.to(model.head.weight.device)
    head_shape = (1, x.size(1), model.vocab_size)
    return Subject("charlm", f"charlm: {_describe(model.rnn)}", model, "rnn", x,
                   f"Linear({cfg.hidden_size}, {model.vocab_size})", head_shape, text=body,
                   embedding=cfg.embedding_size, dropped=dropped)  # fmt: skip


def _classify(run: str | Path, data: str | Path | None, index: int, device: str) -> Subject:
    from rnnkit.data.ucr import load_file
    from rnnkit.tasks.classify.api import check_inputs, load_model
    from rnnkit.tasks.classify.data import load_splits

    model, cfg, meta = load_model(run, device)
    if not hasattr(model, "rnn"):  # cnn, st-cnn: nothing recurrent to look inside
        raise ValueError(
            f"inspect: {run} is a --model {cfg.model} classifier, which has no recurrent layer; "
            "inspect a run of --model rnn, lstm_fcn or st-lstm"
        )
    sequences = load_file(data) if data is not None else load_splits(cfg)[1]
    check_inputs(sequences, meta["input_size"])
    if not 0 <= index < len(sequences):
        raise ValueError(f"--index {index}: {sequences.source} has {len(sequences)} sequences")
    values = sequences.x[index, : sequences.lengths[index]]  # (T, F)
    x = torch.from_numpy(values).float().unsqueeze(0).to(model.mean.device)  # (1, T, F)
    c = len(meta["classes"])
    head_shape = (1, x.size(1), c) if model.per_step else (1, c)
    size = model.head.in_features
    shuffled = cfg.model == "lstm_fcn" and cfg.dimension_shuffle
    return Subject("classify", f"classify: {cfg.model} {_describe(model.rnn)}", model, "rnn", x,
                   f"Linear({size}, {c})", head_shape, series=values,
                   series_names=[f"feature {k}" for k in range(values.shape[1])],
                   steps=values.shape[1] if shuffled else 0)  # fmt: skip


def _forecast(run: str | Path, data: str | Path | None, index: int, device: str) -> Subject:
    from rnnkit.data.series_windows import forecast_input
    from rnnkit.tasks.forecast.api import load_run
    from rnnkit.tasks.forecast.data import load_panel

    model, layout, scalers, cfg = load_run(run, device)
    panel, _ = load_panel(cfg, None if data is None else str(data))
    if not 0 <= index < len(panel.series):
        raise ValueError(f"--index {index}: the data has {len(panel.series)} series")
    s = panel.series[index]
    if s.id not in scalers:
        raise ValueError(f"series {s.id!r}: the run was not trained on it (no scaler)")
    values, _ = forecast_input(s, layout, scalers[s.id])  # (input_length, F)
    x = torch.from_numpy(np.asarray(values, dtype=np.float32)).unsqueeze(0)  # (1, T, F)
    x = x.to(model.head.weight.device)
    out = model.head.out_features
    q = len(model.quantiles)
    head_shape = (1, out // max(q, 1)) if model.many_to_one else (1, x.size(1), out // max(q, 1))
    head_shape += (q,) if q else ()
    n = len(layout.targets)
    names = [f"{t} (model space)" for t in layout.targets]  # scaled, differenced if asked
    names += [f"input {k}" for k in range(n, values.shape[1])]
    return Subject("forecast", f"forecast: {_describe(model.lstm)}", model, "lstm", x,
                   f"Linear({model.head.in_features}, {out})", head_shape, series=values,
                   series_names=names)  # fmt: skip
