"""rnnkit.data.strokes: offsets, the IAM On-Line reader and the Hershey fonts."""

import numpy as np
import pytest
from stroke_helpers import write_iam, write_jhf

from rnnkit.data.strokes import (
    HERSHEY_DIR,
    StrokeDataError,
    hershey_fonts,
    hershey_lines,
    load_iam,
    offsets_to_strokes,
    points_to_offsets,
    read_jhf,
    read_line_strokes,
    read_transcription,
    read_words,
    render_line,
)


def test_offsets_round_trip():
    strokes = [np.array([[1.0, 2.0], [3.0, 5.0]]), np.array([[4.0, 4.0], [6.0, 1.0], [7.0, 0.0]])]
    offsets = points_to_offsets(strokes)
    assert offsets.shape == (5, 3) and offsets.dtype == np.float32
    np.testing.assert_array_equal(offsets[:, 2], [0, 1, 0, 0, 1])
    np.testing.assert_array_equal(offsets[2], [1.0, -1.0, 0.0])  # (3, 5) -> (4, 4)
    back = offsets_to_strokes(offsets)
    assert len(back) == 2
    for a, b in zip(back, strokes, strict=True):
        np.testing.assert_allclose(a, b)
    with pytest.raises(StrokeDataError, match="no strokes"):
        points_to_offsets([np.zeros((0, 2))])


def test_iam_reader_on_small_files(tmp_path):
    root = write_iam(tmp_path / "iam", ("Hello world", "a b"))
    data = load_iam(root)
    assert data.texts == ["Hello world", "a b"] and data.names == ["a01-000u-01", "a01-000u-02"]
    first = data.strokes[0]
    # 6 points per stroke ("Hello world": 11 chars, 4 + 11 % 3), two strokes
    assert first.shape == (12, 3) and first[:, 2].sum() == 2 and first[5, 2] == 1
    points = offsets_to_strokes(first)
    np.testing.assert_allclose(points[0][:2], [[101, -500], [111, -503]])  # y turned up
    assert read_transcription(root / "ascii/a01/a01-000/a01-000u.txt") == ["Hello world", "a b"]


def test_iam_reader_errors(tmp_path):
    root = write_iam(tmp_path / "iam", ("one", "two"))
    xml = root / "lineStrokes/a01/a01-000/a01-000u-02.xml"
    xml.write_text("<WhiteboardCaptureSession><StrokeSet/></WhiteboardCaptureSession>")
    with pytest.raises(StrokeDataError, match="no strokes"):
        read_line_strokes(xml)
    xml.write_text("<not xml")
    with pytest.raises(StrokeDataError, match="not a readable lineStrokes"):
        read_line_strokes(xml)
    (root / "ascii/a01/a01-000/a01-000u.txt").write_text("CSR:\n\none\n")
    with pytest.raises(StrokeDataError, match="empty transcription"):
        load_iam(root)
    (root / "ascii/a01/a01-000/a01-000u.txt").write_text("no header\n")
    with pytest.raises(StrokeDataError, match="CSR"):
        load_iam(root)
    with pytest.raises(StrokeDataError, match="lineStrokes"):
        load_iam(tmp_path)


def test_jhf_reader_on_a_small_font(tmp_path):
    font = read_jhf(write_jhf(tmp_path / "tiny.jhf"))
    assert len(font) == 95 and font[" "].strokes == []
    assert (font[" "].left, font[" "].right) == (-8, 8)
    m = font["M"]  # wrapped over two lines
    assert len(m.strokes) == 2 and m.strokes[0].shape == (4, 2)
    np.testing.assert_array_equal(m.strokes[0][0], [-5, -5])  # y up: 'W' (+5 down) -> -5
    (tmp_path / "bad.jhf").write_text("12345 xyJZ\n")
    with pytest.raises(StrokeDataError, match="not a Hershey glyph record"):
        read_jhf(tmp_path / "bad.jhf")
    (tmp_path / "short.jhf").write_text("    1  1JZ\n")
    with pytest.raises(StrokeDataError, match="1 glyphs"):
        read_jhf(tmp_path / "short.jhf")


def test_hershey_lines_vary_and_repeat(tmp_path):
    fonts = hershey_fonts(str(write_jhf(tmp_path / "tiny.jhf")))
    a = hershey_lines(fonts, 6, seed=3, words=["ab", "ba"], max_words=2)
    b = hershey_lines(fonts, 6, seed=3, words=["ab", "ba"], max_words=2)
    assert a.texts == b.texts
    assert all(np.array_equal(x, y) for x, y in zip(a.strokes, b.strokes, strict=True))
    font = read_jhf(fonts[0])
    rng = np.random.default_rng(0)
    one, two = render_line("ab", font, rng), render_line("ab", font, rng)
    assert one.shape[1] == 3 and not (one.shape == two.shape and np.allclose(one, two))
    assert one[:, 2].sum() == 4  # two strokes per glyph
    with pytest.raises(StrokeDataError, match="no glyph"):
        render_line("a\u00e9", font, rng)
    with pytest.raises(StrokeDataError, match="no .jhf"):
        hershey_fonts(str(tmp_path / "missing"))
    (tmp_path / "words.txt").write_text("")
    with pytest.raises(StrokeDataError, match="no words"):
        read_words(tmp_path / "words.txt")


@pytest.mark.skipif(not HERSHEY_DIR.is_dir(), reason="hershey-fonts-data is not installed")
def test_the_installed_script_faces_render_every_letter():
    for path in hershey_fonts():
        font = read_jhf(path)
        text = "".join(chr(c) for c in range(33, 127))
        offsets = render_line(text, font, np.random.default_rng(0))
        assert np.isfinite(offsets).all() and offsets[:, 2].sum() >= len(text)
