"""Stochastic weight averaging (Izmailov et al. 2018) for ``classify``'s ``--swa``, on
``torch.optim.swa_utils``: the running mean of the weights (``AveragedModel``) taken at every
``SWA_EVERY``-th step after a start, the batch-norm statistics recomputed under it
(``update_bn``), kept in the run directory for an exact ``--resume`` (``SWA_FILE``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.optim.swa_utils import AveragedModel, update_bn

from rnnkit.data.ucr import SequenceSet, make_batch
from rnnkit.tasks.classify.config import TASK
from rnnkit.train.checkpoint import load_checkpoint, save_checkpoint, strip_prefix, with_prefix
from rnnkit.train.trainer import Trainer

SWA_EVERY = 5  # steps between two weights that stochastic weight averaging takes in
SWA_FILE = "swa.safetensors"  # the running average, written at each evaluation (--resume)
BN_BATCH = 512  # sequences per batch of the batch-norm pass


class WeightAverage:
    """The running mean of ``model``'s parameters at every ``SWA_EVERY``-th step after step
    ``start``, as a ``Trainer`` "step" callback; ``save``/``load`` keep it for ``--resume``.
    ``build()`` makes a new model of the same kind (plain batch norm, where training
    synchronizes it)."""

    def __init__(self, model: torch.nn.Module, start: int, build: Callable[[], torch.nn.Module]):
        self.model, self.start, self.build = model, start, build
        self.swa = AveragedModel(model)

    @property
    def count(self) -> int:
        """How many weights are averaged."""
        return int(self.swa.n_averaged)

    @property
    def mean(self) -> dict[str, Tensor]:
        """The averaged parameters by name (as ``model.named_parameters()``)."""
        return {name: p.detach() for name, p in self.swa.module.named_parameters()}

    def __call__(self, trainer: Trainer) -> None:
        if trainer.step > self.start and trainer.step % SWA_EVERY == 0:
            self.swa.update_parameters(self.model)

    def save(self, path: Path, step: int) -> None:
        """Write the average at training step ``step`` (nothing before it starts)."""
        if self.count:
            meta = {"task": TASK, "start": self.start, "count": self.count, "step": step}
            save_checkpoint(path, with_prefix("mean", self.mean), meta)

    def load(self, path: Path, step: int) -> None:
        """The average of ``path`` where it was saved at ``step``, the step resumed from, with
        the same start; else (a run killed after its last evaluation) it averages again from
        ``step`` on."""
        if not path.is_file():
            return
        tensors, meta = load_checkpoint(path, task=TASK)
        if meta.get("start") == self.start and meta.get("step") == step:
            saved = strip_prefix("mean", tensors)
            with torch.no_grad():
                for name, p in self.swa.module.named_parameters():
                    p.copy_(saved[name])
                self.swa.n_averaged.fill_(meta["count"])

    def averaged(self, data: SequenceSet) -> torch.nn.Module:
        """A model with the mean weights and, where it has batch norm, the statistics of
        ``data`` (the training data) under them; in eval mode."""
        device = next(self.model.parameters()).device
        model = self.build().to(device)
        model.load_state_dict(self.model.state_dict())  # the buffers (input mean and std)
        with torch.no_grad():
            for name, p in model.named_parameters():
                p.copy_(self.mean[name])
        chunks = np.array_split(np.arange(len(data)), range(BN_BATCH, len(data), BN_BATCH))
        # each input in a list: update_bn takes a tuple's first item, and a PackedSequence is one
        batches = ([make_batch(data, index)[0]] for index in chunks)
        update_bn(batches, model, device)  # a no-op without batch norm
        return model.eval()


def finish_average(
    trainer: Trainer, average: WeightAverage, model: torch.nn.Module, loss: float,
    fitted_on_all: bool, out: Path,
) -> None:  # fmt: skip
    """Write ``model`` (``average.averaged``, of validation loss ``loss``) to best.safetensors:
    always when the checkpoint is picked on the training loss (``fitted_on_all``: that favours
    the last, most fitted weights), else where its validation loss is the lowest; the summary
    records it (``swa``)."""
    kept = fitted_on_all or trainer.best_val_loss is None or loss <= trainer.best_val_loss
    info = {"from_step": average.start, "weights": average.count, "val_loss": loss, "kept": kept}
    if kept:
        _, meta = load_checkpoint(out / "best.safetensors", task=TASK)
        meta |= {"best_val_loss": loss, "best_step": trainer.step, "swa": info}
        save_checkpoint(out / "best.safetensors", with_prefix("model", model.state_dict()), meta)
        trainer.summary |= {"best_val_loss": loss, "best_step": trainer.step}
    trainer.write(
        f"swa: the weights of {average.count} steps after step {average.start} averaged: val loss "
        f"{loss:.4f}" + (" -> best.safetensors" if kept else " (not the best; not kept)")
    )
    trainer.add_results(swa=info)
