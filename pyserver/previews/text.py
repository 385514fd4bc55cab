"""Text and logs: head and tail, light encoding detection, line counts.

Text that turns out to be delimited (CSV/TSV) or JSON / JSON Lines is handed to
`tabular.py`; the content decides, never the file name.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from .budget import BudgetedReader, BudgetExceeded
from .markdown import code_block, format_size
from .section import Section

WHOLE_FILE_BYTES = 256 * 1024  # read it all (and count its lines) up to this size
HEAD_BYTES = 64 * 1024  # bigger files: this much from the start ...
TAIL_BYTES = 8 * 1024  # ... and this much from the end, with a ranged read
MIN_READ_BYTES = 4 * 1024  # below this a read cut by the byte budget is not retried
HEAD_LINES = 20
TAIL_LINES = 10
LINE_CHARS = 200

_BOMS: list[tuple[bytes, str]] = [
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
]
# Byte-exact round trips, so "bytes skipped" is exact whatever the content.
_ERRORS = {"utf-8": "surrogateescape", "latin-1": "strict"}
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def read_at_most(reader: BudgetedReader, offset: int, length: int) -> bytes:
    """`length` bytes from `offset`, or fewer when the byte budget would be exceeded (halved
    until it fits; below MIN_READ_BYTES the BudgetExceeded propagates)."""
    while True:
        try:
            return reader.read_range(offset, length)
        except BudgetExceeded:
            if length <= MIN_READ_BYTES:
                raise
            length //= 2


@dataclass
class TextSample:
    """What was read of a text file: its head (maybe all of it) and maybe its tail."""

    head: bytes
    size: int
    encoding: str
    bom: int  # BOM length in bytes at the start of head
    tail: bytes = b""
    tail_offset: int = 0

    @property
    def complete(self) -> bool:
        return len(self.head) >= self.size

    @property
    def unit(self) -> int:
        """Bytes per code unit: a tail read must start on a unit boundary."""
        return 4 if "32" in self.encoding else 2 if "16" in self.encoding else 1

    def text(self, data: bytes | None = None) -> str:
        data = self.head[self.bom :] if data is None else data
        data = data[: len(data) - len(data) % self.unit]
        return data.decode(self.encoding, _ERRORS.get(self.encoding, "surrogatepass"))

    def byte_length(self, text: str) -> int:
        return len(text.encode(self.encoding, _ERRORS.get(self.encoding, "surrogatepass")))


def detect_encoding(head: bytes) -> tuple[str, int]:
    """(encoding, BOM length): a BOM decides; else UTF-8 when it decodes; else Latin-1."""
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding, len(bom)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 3:  # not just a character cut at the end of the sample
            return "latin-1", 0
    return "utf-8", 0


def read_sample(reader: BudgetedReader) -> TextSample:
    """The whole file when small, else its head (the tail is read by `read_tail`)."""
    size = reader.size
    head = read_at_most(reader, 0, size if size <= WHOLE_FILE_BYTES else HEAD_BYTES)
    encoding, bom = detect_encoding(head[:4096])
    return TextSample(head, size, encoding, bom)


def read_more(reader: BudgetedReader, sample: TextSample, limit: int, chunk: int) -> None:
    """Extend the head towards `limit` bytes in chunks, as far as the byte budget allows."""
    while len(sample.head) < min(limit, sample.size):
        want = min(chunk, limit - len(sample.head))
        try:
            data = read_at_most(reader, len(sample.head), want)
        except BudgetExceeded:
            return
        if not data:
            return
        sample.head += data
        if len(data) < want:
            return


def read_tail(reader: BudgetedReader, sample: TextSample) -> None:
    """The last TAIL_BYTES (aligned to the encoding's code unit), unless the budget is spent."""
    if sample.complete:
        return
    start = max(len(sample.head), sample.size - TAIL_BYTES)
    start += (-(start - sample.bom)) % sample.unit
    try:
        sample.tail = read_at_most(reader, start, sample.size - start)
    except BudgetExceeded:
        return
    sample.tail_offset = start


def split_lines(text: str) -> list[str]:
    """Lines with their endings (\\n, \\r\\n or \\r only, like the files' writers mean)."""
    return _LINE.findall(text)


def clean_line(line: str, limit: int = LINE_CHARS) -> str:
    """A line fit to show: no ending, no ANSI colours, controls and undecodable bytes
    replaced, cut at `limit` characters."""
    line = _ANSI.sub("", line.rstrip("\r\n"))
    if len(line) > limit:
        line = line[: limit - 1] + "…"
    return "".join(
        ch if ch == "\t" or unicodedata.category(ch) not in ("Cc", "Cs") else "\ufffd"
        for ch in line
    )


def preview_text(reader: BudgetedReader, kind: str) -> Section:
    sample = read_sample(reader)
    from .tabular import classify, preview_classified

    text_kind = classify(sample)
    if text_kind is not None:
        return preview_classified(reader, sample, text_kind)
    return text_section(reader, sample)


def text_section(reader: BudgetedReader, sample: TextSample) -> Section:
    read_tail(reader, sample)
    lines = split_lines(sample.text())
    if sample.complete:
        return _whole_text(sample, lines)
    if len(lines) > 1:
        lines = lines[:-1]  # the last line of a cut head is partial
    head = lines[:HEAD_LINES]
    head_end = sample.bom + sum(sample.byte_length(line) for line in head)
    tail: list[str] = []
    tail_start = sample.size
    if sample.tail:
        tail_lines = split_lines(sample.text(sample.tail))
        if len(tail_lines) > 1:
            tail_lines = tail_lines[1:]  # the first line of the tail is partial
        tail = tail_lines[-TAIL_LINES:]
        tail_start = sample.size - sum(sample.byte_length(line) for line in tail)
    skipped = max(0, tail_start - head_end)
    consumed = sample.bom + sum(sample.byte_length(line) for line in lines)
    estimate = round(sample.size * len(lines) / consumed) if consumed else 0
    blocks = [_lines_block(head)]
    if skipped:
        blocks.append(f"*… {skipped:,} bytes ({format_size(skipped)}) skipped …*")
    if tail:
        blocks.append(_lines_block(tail))
    elif not sample.tail:
        blocks.append("*The end of the file was not read: the byte budget is spent.*")
    summary = f"Text · {sample.encoding} · ≈ {estimate:,} lines (estimated)"
    section = _section(sample, summary, blocks, head, tail, None, skipped, truncated=True)
    section.fields["lineEstimate"] = estimate
    return section


def _whole_text(sample: TextSample, lines: list[str]) -> Section:
    count = len(lines)
    if count > HEAD_LINES + TAIL_LINES:
        head, tail = lines[:HEAD_LINES], lines[-TAIL_LINES:]
        hidden = lines[HEAD_LINES:-TAIL_LINES]
        hidden_bytes = sum(sample.byte_length(line) for line in hidden)
        blocks = [
            _lines_block(head),
            f"*… {len(hidden):,} lines ({format_size(hidden_bytes)}) skipped …*",
            _lines_block(tail),
        ]
    else:
        head, tail, hidden_bytes = lines, [], 0
        blocks = [_lines_block(lines)] if lines else []
    if not lines:
        blocks = ["*Empty file.*" if sample.size == 0 else "*Only a byte-order mark.*"]
    summary = f"Text · {sample.encoding} · {count:,} line{'s' if count != 1 else ''}"
    return _section(sample, summary, blocks, head, tail, count, hidden_bytes, bool(tail))


def _lines_block(lines: list[str]) -> str:
    return code_block("\n".join(clean_line(line) for line in lines))


def _section(
    sample: TextSample,
    summary: str,
    blocks: list[str],
    head: list[str],
    tail: list[str],
    count: int | None,
    skipped: int,
    truncated: bool,
) -> Section:
    """The text section; `count` is None when only part of the file was read."""
    fields: dict[str, Any] = {
        "encoding": sample.encoding,
        "lines": [clean_line(line) for line in head],
        "tailLines": [clean_line(line) for line in tail],
        "lineCount": count,
        "skippedBytes": skipped,
    }
    return Section("text", summary, blocks, truncated=truncated, fields=fields)
