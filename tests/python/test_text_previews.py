"""Text and log previews: head and tail, encodings, long lines, byte budgets."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import CountingReader, preview

from pyserver.previews.budget import MAX_MARKDOWN_CHARS, Budget
from pyserver.previews.preview import preview_file
from pyserver.previews.text import HEAD_BYTES, TAIL_BYTES, WHOLE_FILE_BYTES


def log_lines(count: int) -> str:
    return "".join(
        f"2026-01-01T10:{i // 60 % 60:02d}:{i % 60:02d} INFO step {i} loss={1 / (i + 1):.5f}\n"
        for i in range(count)
    )


def test_small_text_is_read_once_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello\nworld\n")
    result = preview(path)
    assert result["kind"] == "text" and result["truncated"] is False
    assert result["lineCount"] == 2 and result["encoding"] == "utf-8"
    assert result["lines"] == ["hello", "world"]
    assert "2 lines" in result["summary"]
    assert result["bytesRead"] <= 2 * path.stat().st_size  # detection + at most one read


def test_whole_log_shows_head_and_tail_with_exact_count(tmp_path: Path) -> None:
    path = tmp_path / "train.log"
    path.write_text(log_lines(500))
    result = preview(path)
    assert result["kind"] == "text" and result["lineCount"] == 500
    assert "500 lines" in result["summary"]
    markdown = result["markdown"]
    assert "step 0 " in markdown and "step 19 " in markdown and "step 20 " not in markdown
    assert "step 489 " not in markdown and "step 490 " in markdown and "step 499 " in markdown
    assert "… 470 lines" in markdown
    assert len(result["lines"]) == 20 and len(result["tailLines"]) == 10


def test_big_log_reads_head_and_tail_only(tmp_path: Path) -> None:
    text = log_lines(400_000)  # ~20 MB
    data = text.encode()
    reader = CountingReader(data)
    result = preview_file("file:///train.log", "train.log", reader, Budget())
    assert result["kind"] == "text" and result["truncated"] is True
    assert result["bytesRead"] <= 4096 + 64 + HEAD_BYTES + TAIL_BYTES
    assert (len(data) - TAIL_BYTES, TAIL_BYTES) in reader.reads  # a ranged read of the end
    markdown = result["markdown"]
    assert "step 0 " in markdown and "step 19 " in markdown
    assert "step 399999 " in markdown and "step 399990 " in markdown
    assert "step 399989 " not in markdown
    assert result["lineCount"] is None
    assert abs(result["lineEstimate"] - 400_000) < 40_000
    assert "≈" in result["summary"]
    # the skipped span is exact: everything between the 20th line and the last ten
    lines = text.splitlines(keepends=True)
    expected = len(data) - len("".join(lines[:20]).encode()) - len("".join(lines[-10:]).encode())
    assert result["skippedBytes"] == expected
    assert f"… {expected:,} bytes" in markdown


def test_tail_is_skipped_honestly_when_the_budget_is_spent(tmp_path: Path) -> None:
    data = log_lines(50_000).encode()
    reader = CountingReader(data)
    result = preview_file("file:///a.log", "a.log", reader, Budget(max_bytes=4096 + 64 + 8192))
    assert result["kind"] == "text" and result["truncated"] is True
    assert result["bytesRead"] <= 4096 + 64 + 8192
    assert "step 0 " in result["markdown"]
    assert "end of the file was not read" in result["markdown"]


def test_long_lines_are_cut(tmp_path: Path) -> None:
    path = tmp_path / "long.log"
    path.write_text("start\n" + "x" * 100_000 + "\n" + "end\n")
    result = preview(path)
    assert result["lineCount"] == 3
    assert max(len(line) for line in result["lines"]) <= 200
    assert result["lines"][1].endswith("…")
    assert len(result["markdown"]) < MAX_MARKDOWN_CHARS


def test_one_giant_line_bigger_than_the_head(tmp_path: Path) -> None:
    reader = CountingReader(b"y" * (WHOLE_FILE_BYTES * 4))
    result = preview_file("file:///one.txt", "one.txt", reader, Budget())
    assert result["kind"] == "text"
    assert result["lines"][0].startswith("yyy") and len(result["lines"][0]) <= 200


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-8-sig", "utf-32"])
def test_bom_encodings(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "wide.txt"
    text = "héllo wörld\nsecond line ✓\n"
    bom = b"\xfe\xff" if encoding == "utf-16-be" else b""  # the codec writes none itself
    path.write_bytes(bom + text.encode(encoding))
    result = preview(path)
    assert result["kind"] == "text"
    assert result["lines"] == ["héllo wörld", "second line ✓"]
    assert result["lineCount"] == 2


def test_big_utf16_log_tail_is_aligned(tmp_path: Path) -> None:
    data = log_lines(20_000).encode("utf-16")  # with a BOM
    reader = CountingReader(data)
    result = preview_file("file:///w.log", "w.log", reader, Budget())
    assert result["encoding"] == "utf-16-le"
    assert (
        result["tailLines"][-1].startswith("2026-01-01T10:")
        and "step 19999 " in (result["tailLines"][-1])
    )


def test_latin1_fallback(tmp_path: Path) -> None:
    path = tmp_path / "old.txt"
    path.write_bytes("café au lait\nnaïve\n".encode("latin-1"))
    result = preview(path)
    assert result["encoding"] == "latin-1"
    assert result["lines"] == ["café au lait", "naïve"]


def test_invalid_utf8_bytes_late_in_the_file_are_replaced(tmp_path: Path) -> None:
    data = ("ok line\n" * 600).encode() + b"bad \xff\xfe byte\n"
    path = tmp_path / "mixed.txt"
    path.write_bytes(data)
    result = preview(path)
    assert result["encoding"] == "utf-8"
    assert result["tailLines"][-1] == "bad \ufffd\ufffd byte"


def test_ansi_colours_and_controls_are_cleaned(tmp_path: Path) -> None:
    path = tmp_path / "color.log"
    path.write_text("\x1b[31mERROR\x1b[0m disk full\x07\n" + "ok\n" * 100)
    result = preview(path)
    assert result["kind"] == "text"
    assert result["lines"][0] == "ERROR disk full\ufffd"


def test_markdown_in_text_stays_inside_the_code_block(tmp_path: Path) -> None:
    path = tmp_path / "readme.txt"
    path.write_text("```\n<script>alert(1)</script>\n````` [x](javascript:y)\n")
    markdown = preview(path)["markdown"]
    fence = "`" * 6
    assert f"{fence}\n```\n<script>" in markdown and markdown.rstrip().endswith(fence)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    result = preview(path)
    assert result["kind"] == "text" and result["lineCount"] == 0
    assert "Empty file" in result["markdown"]
