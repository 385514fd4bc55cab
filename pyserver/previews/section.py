"""What every format reader returns, and the helpers they share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .budget import BudgetedReader, BudgetExceeded


@dataclass
class Section:
    """A format reader's result: a summary line, markdown body blocks (already escaped), a
    safety verdict with findings, and kind-specific fields for the structured preview."""

    kind: str
    summary: str
    lines: list[str] = field(default_factory=list)
    verdict: str = "safe"  # formats that hold no code are safe to open
    findings: list[dict[str, Any]] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)
    truncated: bool = False


def read_up_to_budget(reader: BudgetedReader, chunk: int = 256 * 1024) -> tuple[bytes, bool]:
    """The file from its start, as far as the byte budget still allows; True when cut."""
    chunks: list[bytes] = []
    offset = 0
    try:
        while offset < reader.size and reader.remaining > 0:
            data = reader.read_range(offset, min(chunk, reader.remaining))
            if not data:
                break
            chunks.append(data)
            offset += len(data)
    except BudgetExceeded:
        pass
    return b"".join(chunks), offset < reader.size
