"""Labelled sequence sets for classification and tagging: UCR/UEA, ``.ts``, CSV and NumPy.

This module holds the UCR/UEA classification sets bundled with sktime (``load_bundled("GunPoint")``,
with their own train/test splits). Only sktime's data files are read (by ``read_ts``), so nothing
ever goes to the network; sktime is the optional extra ``rnnkit[data]``.

It is also the entry point of the sequence data, re-exporting what the other files hold:

- ``sequences.py``: ``SequenceSet`` (a zero-padded cube ``x`` (N, T, F), ``lengths`` (N,) and
  string labels, one a sequence or one a step), ``from_arrays``, the ``check_*`` a task needs
  before training or predicting, ``LabelEncoder``, ``stratified_split``, ``feature_stats`` and
  ``make_batch``;
- ``sequence_files.py``: the readers of ``.ts``, long-form CSV (and DataFrames), ``.npz`` and
  ``.npy`` files, and ``load_file`` choosing among them by suffix.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from rnnkit.data.sequence_files import from_frame, load_file, read_csv, read_numpy, read_ts
from rnnkit.data.sequences import (
    IGNORE_INDEX,
    LabelEncoder,
    SequenceDataError,
    SequenceSet,
    check_features,
    check_finite,
    check_labelled,
    feature_stats,
    from_arrays,
    make_batch,
    stratified_split,
)

__all__ = [
    "DATA_EXTRA", "IGNORE_INDEX", "SequenceDataError", "SequenceSet",
    "from_arrays", "from_frame", "load_file", "read_csv", "read_numpy", "read_ts",
    "bundled_datasets", "load_bundled", "sktime_data_dir",
    "check_features", "check_finite", "check_labelled",
    "LabelEncoder", "feature_stats", "make_batch", "stratified_split",
]  # fmt: skip

DATA_EXTRA = "pip install 'rnnkit[data]'"

# ---------------------------------------------------------------------------------------------
# sktime's bundled UCR/UEA sets


def sktime_data_dir() -> Path:
    """The folder of sktime's bundled data sets (sktime is located, not imported)."""
    spec = importlib.util.find_spec("sktime")
    if spec is None or spec.origin is None:
        raise SequenceDataError(
            f"--dataset needs the UCR/UEA data bundled with sktime, which is not installed: "
            f"{DATA_EXTRA}"
        )
    return Path(spec.origin).parent / "datasets" / "data"


def _is_classification(train_file: Path) -> bool:
    with open(train_file, encoding="utf-8") as f:
        for line in f:
            if line.lower().startswith("@classlabel"):
                return line.split()[1].lower() == "true"
            if line.lower().startswith("@data"):
                return False
    return False


def bundled_datasets() -> list[str]:
    """Names of the classification sets bundled with sktime (train and test splits present)."""
    root = sktime_data_dir()
    return sorted(
        d.name
        for d in root.iterdir()
        if (d / f"{d.name}_TRAIN.ts").is_file()
        and (d / f"{d.name}_TEST.ts").is_file()
        and _is_classification(d / f"{d.name}_TRAIN.ts")
    )


def load_bundled(name: str) -> tuple[SequenceSet, SequenceSet]:
    """(train, test) of a UCR/UEA classification set bundled with sktime, by name."""
    names = bundled_datasets()
    if name not in names:
        raise SequenceDataError(
            f"--dataset {name}: not a data set bundled with sktime (offline); bundled: "
            f"{', '.join(names)}. Pass another set as a file with --data"
        )
    folder = sktime_data_dir() / name
    return read_ts(folder / f"{name}_TRAIN.ts"), read_ts(folder / f"{name}_TEST.ts")
