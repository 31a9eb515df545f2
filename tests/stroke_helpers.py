"""Small stroke data the handwriting tests write themselves: a Hershey font, IAM files."""

from pathlib import Path


def _coord(v: int) -> str:
    return chr(82 + v)


def write_jhf(path, wrap_glyph: str = "M") -> Path:
    """A tiny ASCII Hershey font (95 glyphs, space to '~') at ``path``: each glyph two strokes
    whose shape depends on its character; the glyph ``wrap_glyph`` wraps over two lines."""
    lines = []
    for i in range(95):
        c = chr(32 + i)
        if c == " ":
            lines.append(f"{i:5d}  1JZ")
            continue
        a, b = i % 7 - 3, i % 5 - 2
        pairs = [(-5, 5), (-3, -6 + a), (0, 4), (3, b - 6), None, (-2, 0), (2 + b, a)]
        body = "JZ" + "".join(" R" if p is None else _coord(p[0]) + _coord(p[1]) for p in pairs)
        record = f"{i:5d}{len(pairs) + 1:3d}" + body
        if c == wrap_glyph:
            record = record[:12] + "\n" + record[12:]
        lines.append(record)
    path = Path(path)
    path.write_text("\n".join(lines) + "\n", encoding="latin-1")
    return path


def write_iam(root, lines=("Hello world", "a b")) -> Path:
    """An IAM On-Line folder at ``root``: one form a01-000u, one lineStrokes file per line of
    ``lines`` (two strokes each, y pointing down), and its ascii transcription."""
    root = Path(root)
    strokes = root / "lineStrokes" / "a01" / "a01-000"
    ascii_ = root / "ascii" / "a01" / "a01-000"
    strokes.mkdir(parents=True)
    ascii_.mkdir(parents=True)
    header = "OCR:\n\nsome printed text\n\nCSR:\n\n"
    (ascii_ / "a01-000u.txt").write_text(header + "\n".join(lines) + "\n")
    for n, text in enumerate(lines, 1):
        points = []
        for s in range(2):
            pts = "".join(
                f'<Point x="{100 + 10 * k + 50 * s + n}" y="{500 + 3 * k * (s + 1)}" time="{k}"/>'
                for k in range(4 + len(text) % 3)
            )
            points.append(f'<Stroke colour="black" start_time="0" end_time="1">{pts}</Stroke>')
        xml = (
            '<?xml version="1.0" encoding="ISO-8859-1"?>\n<WhiteboardCaptureSession>'
            "<WhiteboardDescription/><StrokeSet>" + "".join(points) + "</StrokeSet>"
            "</WhiteboardCaptureSession>\n"
        )
        (strokes / f"a01-000u-{n:02d}.xml").write_text(xml)
    return root
