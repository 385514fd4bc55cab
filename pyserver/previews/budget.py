"""Budgets for a preview, and a reader that keeps to them and counts what it read."""

from __future__ import annotations

import io
import time
from collections.abc import Iterable
from dataclasses import dataclass

from ..backends.base import RangeReader

DEFAULT_MAX_BYTES = 1 << 20
DEFAULT_TIMEOUT_MS = 5000
MAX_MARKDOWN_CHARS = 12_000


class BudgetExceeded(Exception):
    """A preview hit its byte or time budget: render what was gathered, marked truncated."""


@dataclass(frozen=True)
class Budget:
    max_bytes: int = DEFAULT_MAX_BYTES
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    max_markdown_chars: int = MAX_MARKDOWN_CHARS


class BudgetedReader:
    """Wraps a RangeReader: counts bytes, refuses reads past the byte or time budget."""

    def __init__(self, reader: RangeReader, budget: Budget) -> None:
        self._reader = reader
        self._budget = budget
        self._deadline = time.monotonic() + budget.timeout_ms / 1000
        self.bytes_read = 0
        self._head = b""  # the first read from offset 0: format readers re-read it often

    @property
    def size(self) -> int:
        return self._reader.size

    @property
    def budget(self) -> Budget:
        return self._budget

    @property
    def deadline(self) -> float:
        """The `time.monotonic()` value past which reads are refused."""
        return self._deadline

    @property
    def remaining(self) -> int:
        """Bytes that may still be read before the byte budget is spent."""
        return max(0, self._budget.max_bytes - self.bytes_read)

    def read_range(self, offset: int, length: int) -> bytes:
        length = max(0, min(length, self.size - offset))
        if offset + length <= len(self._head):
            return self._head[offset : offset + length]
        if self.bytes_read + length > self._budget.max_bytes:
            raise BudgetExceeded(f"byte budget of {self._budget.max_bytes} reached")
        if time.monotonic() > self._deadline:
            raise BudgetExceeded(f"time budget of {self._budget.timeout_ms} ms reached")
        data = self._reader.read_range(offset, length)
        self.bytes_read += len(data)
        if offset == 0 and len(data) > len(self._head):
            self._head = data
        return data

    def prefetch(self, ranges: Iterable[tuple[int, int]]) -> int:
        """A hint: these (offset, length) ranges are about to be read. A remote reader fetches
        what it lacks of them at once, concurrently; local readers have no `prefetch` and this
        does nothing. Nothing counts in `bytes_read` (the reads that follow do), and only what
        the budget still allows is asked for: ranges are taken in order while their total
        length fits in `remaining`, none once the time budget is spent. Returns the bytes
        asked for."""
        prefetch = getattr(self._reader, "prefetch", None)
        if prefetch is None or time.monotonic() > self._deadline:
            return 0
        room = self.remaining
        wanted: list[tuple[int, int]] = []
        for offset, length in ranges:
            offset = max(0, offset)
            length = max(0, min(length, self.size - offset))
            if length == 0 or offset + length <= len(self._head):
                continue
            if length > room:
                break
            room -= length
            wanted.append((offset, length))
        if wanted:
            prefetch(wanted)
        return sum(length for _, length in wanted)

    def close(self) -> None:
        self._reader.close()


def merge_ranges(ranges: Iterable[tuple[int, int]], max_gap: int) -> list[tuple[int, int]]:
    """The (offset, length) ranges sorted, those that overlap or lie at most `max_gap` bytes
    apart joined (the gap included): the separate reads that cover them all."""
    merged: list[tuple[int, int]] = []
    for offset, length in sorted(r for r in ranges if r[1] > 0):
        start, size = merged[-1] if merged else (0, 0)
        if merged and offset - (start + size) <= max_gap:
            merged[-1] = (start, max(start + size, offset + length) - start)
        else:
            merged.append((offset, length))
    return merged


class ReaderFile(io.RawIOBase):
    """A seekable read-only file object over a RangeReader, for libraries that want one
    (zipfile, h5py)."""

    def __init__(self, reader: BudgetedReader) -> None:
        super().__init__()
        self._reader = reader
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._reader.size}
        self._position = max(0, base[whence] + offset)
        return self._position

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._reader.read_range(self._position, len(buffer))
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)
