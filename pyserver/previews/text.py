"""Text and logs."""

from __future__ import annotations

from .budget import BudgetedReader
from .markdown import code_block
from .section import Section

TEXT_HEAD_BYTES = 16 * 1024
TEXT_HEAD_LINES = 20


def preview_text(reader: BudgetedReader, kind: str) -> Section:
    head = reader.read_range(0, TEXT_HEAD_BYTES)
    text = head.decode("utf-8", errors="replace")
    lines = text.splitlines()
    shown = lines[:TEXT_HEAD_LINES]
    truncated = len(lines) > TEXT_HEAD_LINES or reader.size > len(head)
    more = "+" if reader.size > len(head) else ""
    summary = f"Text · {len(lines)}{more} lines"
    return Section(
        "text",
        summary,
        [code_block("\n".join(shown))],
        truncated=truncated,
        fields={"lines": shown},
    )
