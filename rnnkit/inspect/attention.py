"""Attention maps of a translation run, for ``rnnkit inspect``: the translate task owns the data
and the decoding (``rnnkit.tasks.translate.api.write_attention``), ``rnnkit.viz`` the drawing.

The sentences are the lines of ``text`` (a UTF-8 file, one source sentence a line), else the
first sentences of the run's test split; at most ``PLOTTED`` of them are drawn.
"""

from __future__ import annotations

from pathlib import Path


def write_attention_maps(
    run: str | Path, folder: Path, text: str | Path | None = None, device: str = "cpu"
) -> list[Path]:
    """attention.png of a translate run in ``folder``; returns [its path]."""
    from rnnkit.tasks.translate.api import PLOTTED, load_model, write_attention
    from rnnkit.tasks.translate.data import load_splits

    loaded = load_model(run, device)
    if loaded.model.attention is None:
        raise ValueError(
            f"{run}: a translate model without attention (--attention none) has no attention "
            "map to draw"
        )
    if text is not None:
        try:
            lines = Path(text).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise OSError(f"--text {text}: cannot read it as UTF-8 text ({e})") from None
        sentences = [line.strip() for line in lines if line.strip()][:PLOTTED]
        if not sentences:
            raise ValueError(f"--text {text}: expected source sentences, one a line; it is empty")
    else:
        sentences = [source for source, _ in load_splits(loaded.cfg).test[:PLOTTED]]
    path = write_attention(loaded, sentences, folder / "attention.png")
    if path is None:
        raise ValueError(f"--text {text}: none of its sentences has a token the model knows")
    return [path]
