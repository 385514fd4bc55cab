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


def read_up_to_budget(reader: BudgetedReader, chunk: int = 64 * 1024) -> tuple[bytes, bool]:
    """The file from its start, as far as the byte budget allows; True when cut short."""
    chunks, offset = [], 0
    try:
        while offset < reader.size:
            data = reader.read_range(offset, chunk)
            if not data:
                break
            chunks.append(data)
            offset += len(data)
    except BudgetExceeded:
        return b"".join(chunks), True
    return b"".join(chunks), False
