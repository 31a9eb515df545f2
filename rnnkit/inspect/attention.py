"""Attention maps of a translation or captioning run, for ``rnnkit inspect``: the task owns the
data and the decoding (its ``api.write_attention``), ``rnnkit.viz`` the drawing.

Translate: the lines of ``text`` (a UTF-8 file, one source sentence a line), else the first
sentences of the run's test split. Caption: the images of ``data`` (an image file, or a folder
of JPEG/PNG files, in name order), else the first images of the run's test split. At most the
task's ``PLOTTED`` of them are drawn, into ``attention.png``.
"""

from __future__ import annotations

from pathlib import Path

TASKS = ("translate", "caption")
IMAGES = (".png", ".jpg", ".jpeg")


def _sentences(text: str | Path, limit: int) -> list[str]:
    try:
        lines = Path(text).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise OSError(f"--text {text}: cannot read it as UTF-8 text ({e})") from None
    sentences = [line.strip() for line in lines if line.strip()][:limit]
    if not sentences:
        raise ValueError(f"--text {text}: expected source sentences, one a line; it is empty")
    return sentences


def _image_files(data: str | Path, limit: int) -> list[Path]:
    path = Path(data)
    files = (
        sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGES) if path.is_dir() else [path]
    )
    if not files or not files[0].is_file():
        raise OSError(f"--data {data}: expected an image file or a folder of JPEG/PNG files")
    return files[:limit]


def write_attention_maps(
    task: str,
    run: str | Path,
    folder: Path,
    text: str | Path | None = None,
    data: str | Path | None = None,
    device: str = "cpu",
) -> list[Path]:
    """attention.png of a translate or caption run in ``folder``; returns [its path]."""
    if task == "translate":
        if data is not None:
            raise ValueError("--data is for classify, forecast and caption runs; a translate "
                             "run reads --text")  # fmt: skip
        from rnnkit.tasks.translate.api import PLOTTED, load_model, write_attention
        from rnnkit.tasks.translate.data import load_splits

        loaded = load_model(run, device)
        _check_attention(loaded, run)
        if text is not None:
            inputs = _sentences(text, PLOTTED)
        else:
            inputs = [source for source, _ in load_splits(loaded.cfg).test[:PLOTTED]]
    elif task == "caption":
        if text is not None:
            raise ValueError("--text is for charlm and translate runs; a caption run reads "
                             "--data IMAGE (or a folder of images)")  # fmt: skip
        from rnnkit.tasks.caption.api import PLOTTED, as_images, load_model, write_attention
        from rnnkit.tasks.caption.data import load_splits

        loaded = load_model(run, device)
        _check_attention(loaded, run)
        if data is not None:
            inputs = as_images(loaded, [str(p) for p in _image_files(data, PLOTTED)])
        else:
            inputs = load_splits(loaded.cfg, test_only=True).test.images[:PLOTTED]
    else:
        raise ValueError(f"rnnkit inspect draws attention maps of {', '.join(TASKS)}, not {task}")
    path = write_attention(loaded, inputs, folder / "attention.png")
    if path is None:
        raise ValueError("none of the inputs has a token the model knows; nothing to draw")
    return [path]


def _check_attention(loaded, run: str | Path) -> None:
    if loaded.model.attention is None:
        raise ValueError(f"{run}: a model without attention (--attention none) has no attention "
                         "map to draw")  # fmt: skip
