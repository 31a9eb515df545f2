"""Sequence sets from files: ``.ts`` (UEA), long-form CSV or DataFrame, ``.npz`` / ``.npy``.

- a ``.ts`` file (the UEA format: ``@`` header lines, then one case a line, dimensions
  separated by ``:``, values by ``,``, the class label last);
- a CSV in long form: one row per time step, an ``id`` column naming the sequence (its rows in
  order), an optional ``label`` column (the same on every row of a sequence, or one per step for
  tagging) and numeric feature columns;
- a ``.npz`` with ``x`` (N, T, F) or (N, T), optional ``y`` (N,) or (N, T) and ``lengths`` (N,);
  a ``.npy`` holds ``x`` alone (unlabelled, for prediction).

``load_file`` picks the reader by the file's suffix. Every reader checks what it reads and raises
``SequenceDataError`` saying what is wrong.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rnnkit.data.sequences import SequenceDataError, SequenceSet, from_arrays

# ---------------------------------------------------------------------------------------------
# file formats: .ts, CSV (long), .npz / .npy


def read_ts(path: str | Path) -> SequenceSet:
    """A ``.ts`` file (UEA format): equal or unequal lengths, one or more dimensions."""
    path = Path(path)
    header: dict[str, str] = {}
    seqs, labels = [], []
    with open(path, encoding="utf-8") as f:
        in_data = False
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if not in_data:
                if not line.startswith("@"):
                    raise SequenceDataError(f"{path}:{number}: expected an @ header line or @data")
                key, _, value = line[1:].partition(" ")
                header[key.lower()] = value.strip()
                in_data = key.lower() == "data"
                continue
            if header.get("timestamps", "false").lower() == "true":
                raise SequenceDataError(f"{path}: @timeStamps true is not supported")
            if header.get("targetlabel", "false").lower() == "true":
                raise SequenceDataError(f"{path}: a regression set (@targetLabel), not classes")
            fields = line.split(":")
            has_label = header.get("classlabel", "false").split(" ")[0].lower() == "true"
            if has_label:
                labels.append(fields.pop().strip())
            try:
                dims = [
                    np.array(d.replace("?", "nan").split(","), dtype=np.float32) for d in fields
                ]
            except ValueError as e:
                raise SequenceDataError(f"{path}:{number}: a value is not a number ({e})") from e
            if len({len(d) for d in dims}) != 1:
                raise SequenceDataError(
                    f"{path}:{number}: dimensions of one case have different lengths "
                    f"{[len(d) for d in dims]}"
                )
            seqs.append(np.stack(dims, axis=1))  # (T_i, F)
    if "data" not in header:
        raise SequenceDataError(f"{path}: no @data line; is this a .ts file?")
    if not seqs:
        raise SequenceDataError(f"{path}: no cases after @data")
    declared = header.get("classlabel", "").split()[1:]
    classes = tuple(declared) if declared else None
    y = np.array(labels) if labels else None
    return from_arrays(seqs, y, classes=classes, source=str(path))


def read_csv(path: str | Path) -> SequenceSet:
    """A long-form CSV: columns ``id``, optional ``label``, the rest numeric features."""
    path = Path(path)
    try:
        df = pd.read_csv(path, dtype={"id": str, "label": str}, keep_default_na=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise SequenceDataError(f"{path}: not a readable CSV ({e})") from e
    return from_frame(df, str(path))


def from_frame(df: pd.DataFrame, source: str = "DataFrame") -> SequenceSet:
    """A long-form table: one row per step, columns ``id`` (the sequence), optional ``label``
    (one per sequence, or one per step for tagging), the rest numeric features; the rows of a
    sequence in order. The ids are kept (``SequenceSet.ids``)."""
    path = source
    if "id" not in df.columns:
        raise SequenceDataError(
            f"{path}: expected an 'id' column (one row per time step, an id per sequence), "
            f"got columns {list(df.columns)}"
        )
    features = [c for c in df.columns if c not in ("id", "label")]
    if not features:
        raise SequenceDataError(f"{path}: no feature columns besides 'id' and 'label'")
    bad = [c for c in features if not pd.api.types.is_numeric_dtype(df[c])]
    if bad:
        raise SequenceDataError(f"{path}: feature column(s) {bad} are not numeric")
    if df["id"].isna().any():
        raise SequenceDataError(f"{path}: row {int(df['id'].isna().argmax()) + 2} has no id")
    groups = list(df.groupby(df["id"].astype(str), sort=False))
    seqs = [g[features].to_numpy(np.float32) for _, g in groups]
    ids = np.array([name for name, _ in groups], dtype=str)
    y = None
    if "label" in df.columns:
        # in the column's dtype, so that from_arrays writes them as an array's (1.0 as "1")
        per_seq = [g["label"].to_numpy() for _, g in groups]
        if all(len(set(map(str, s))) == 1 for s in per_seq):
            y = np.array([s[0] for s in per_seq], dtype=per_seq[0].dtype)  # (N,)
        else:
            flat = np.concatenate(per_seq)  # beyond each length: unused, any value of the dtype
            y = np.full((len(per_seq), max(len(s) for s in per_seq)), flat[0], dtype=flat.dtype)
            for i, s in enumerate(per_seq):
                y[i, : len(s)] = s  # (N, T)
    data = from_arrays(seqs, y, source=source)
    data.ids = ids
    return data


def read_numpy(path: str | Path) -> SequenceSet:
    """A ``.npz`` with ``x`` (or ``X``), optional ``y`` and ``lengths``; or a ``.npy`` ``x``."""
    path = Path(path)
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise SequenceDataError(f"{path}: not a readable NumPy file ({e})") from e
    if isinstance(loaded, np.ndarray):
        return from_arrays(loaded, source=str(path))
    with loaded:
        arrays = {k: loaded[k] for k in loaded.files}
    key = "x" if "x" in arrays else "X" if "X" in arrays else None
    if key is None:
        raise SequenceDataError(f"{path}: expected an array 'x' (N, T, F), got {sorted(arrays)}")
    return from_arrays(arrays[key], arrays.get("y"), arrays.get("lengths"), source=str(path))


def load_file(path: str | Path) -> SequenceSet:
    """A sequence set from a ``.ts``, ``.csv``, ``.npz`` or ``.npy`` file."""
    path = Path(path)
    readers = {".ts": read_ts, ".csv": read_csv, ".npz": read_numpy, ".npy": read_numpy}
    if not path.is_file():
        raise SequenceDataError(f"{path}: no such file")
    if path.suffix.lower() not in readers:
        raise SequenceDataError(
            f"{path}: expected a .ts, .csv, .npz or .npy file, got {path.suffix or 'no suffix'!r}"
        )
    return readers[path.suffix.lower()](path)
