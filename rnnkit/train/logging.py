"""What a run reports: metrics.csv, TensorBoard (when installed) and the progress bar.

``metrics.csv`` has one row per ``log_every`` training steps (train_loss, lr, throughput) and
one per evaluation (val_loss), with columns ``METRIC_FIELDS``; a value that a row does not have
is left empty. On resume, rows after the checkpoint's step are dropped, so that the file reads
as if the run had never stopped.
"""

from __future__ import annotations

import csv
import io
import math
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from rnnkit.train.checkpoint import atomic_write_bytes

METRIC_FIELDS = ("step", "train_loss", "val_loss", "lr", "throughput", "wall_time")


def read_metrics(path: str | Path) -> list[dict[str, float | None]]:
    """The rows of a metrics.csv, numbers as floats (step as int), empty cells as None."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return [
        {
            k: (None if v in ("", None) else int(v) if k == "step" else float(v))
            for k, v in r.items()
        }
        for r in rows
    ]


class MetricsLog:
    """Appends rows to ``DIR/metrics.csv`` and, when it is importable, to TensorBoard."""

    def __init__(self, out_dir: Path, resume_step: int | None = None, tensorboard: bool = True):
        self.path = out_dir / "metrics.csv"
        if resume_step is not None and self.path.exists():
            keep = [r for r in read_metrics(self.path) if r["step"] <= resume_step]
            self._rewrite(keep)
        else:
            self._rewrite([])
        self.tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is optional
                pass
            else:
                self.tb = SummaryWriter(str(out_dir / "tensorboard"), purge_step=resume_step)

    def _rewrite(self, rows: list[dict[str, Any]]) -> None:
        """The file anew with ``rows``, atomically (a kill meanwhile loses none of them)."""
        buffer = io.StringIO(newline="")
        writer = csv.DictWriter(buffer, METRIC_FIELDS)
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in r.items()} for r in rows)
        atomic_write_bytes(self.path, buffer.getvalue().encode())

    def write(self, step: int, **values: float | None) -> None:
        """One row: ``step`` and any of train_loss, val_loss, lr, throughput, wall_time."""
        unknown = set(values) - set(METRIC_FIELDS)
        if unknown:
            raise ValueError(f"MetricsLog: expected fields of {METRIC_FIELDS}, got {unknown}")
        row = {"step": step} | {k: ("" if v is None else f"{v:.6g}") for k, v in values.items()}
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, METRIC_FIELDS).writerow(row)
        if self.tb is not None:
            for key, value in values.items():
                if value is not None and key != "wall_time":
                    self.tb.add_scalar(key, value, step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def _format_eta(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def is_terminal(stream: Any) -> bool:
    """Whether ``stream`` is a terminal (where a progress bar's carriage returns belong)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no such method, or a closed file
        return False


class ProgressBar:
    """A tqdm bar on stderr: step, loss, validation loss, throughput and ETA.

    The bar is shown only where stderr is a terminal (a log file gets no carriage returns) and
    not ``disable``d; lines (``write``) go to stdout all the same, unless ``quiet``.
    """

    def __init__(
        self, total_steps: int, start: int, unit: str, disable: bool = False, quiet: bool = False
    ):
        self.unit, self.quiet = unit, quiet
        self.bar = tqdm(
            disable=disable or quiet or not is_terminal(sys.stderr),
            total=total_steps or None,
            initial=start,
            unit="step",
            dynamic_ncols=True,
            mininterval=0.5,
            file=sys.stderr,
            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]"
            if total_steps
            else "{n_fmt} steps [{elapsed}{postfix}]",
        )

    def update(self, step: int, loss: float, val_loss: float | None, rate: float, eta: float):
        val = "-" if val_loss is None else f"{val_loss:.4f}"
        self.bar.set_postfix_str(
            f"loss {loss:.4f}, val {val}, {rate:,.0f} {self.unit}s/s, eta {_format_eta(eta)}",
            refresh=False,
        )
        self.bar.update(step - self.bar.n)

    def write(self, text: str) -> None:
        """Print a line (a sample, a message) to stdout, above the bar; nothing when quiet."""
        if self.quiet:
            return
        if self.bar.disable:
            print(text, flush=True)
        else:
            self.bar.write(text, file=sys.stdout)

    def close(self) -> None:
        self.bar.close()
