"""Small helpers the tests share."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pyserver import service
from pyserver.backends import Catalog
from pyserver.previews.budget import Budget
from pyserver.uris import file_uri


def write_json(path: Path, value: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


def preview(path: Path, **budget: int) -> dict[str, Any]:
    """The preview of a local file, through the service, with a Budget built of `budget`."""
    return service.preview(Catalog(), file_uri(path), Budget(**budget))


class CountingReader:
    """A ranged reader over bytes in memory, or over a file on disk (read as asked), that
    records every read as (offset, length)."""

    def __init__(self, source: bytes | Path) -> None:
        self.data = source if isinstance(source, bytes) else None
        self.file = None if isinstance(source, bytes) else source.open("rb")
        self.size = len(source) if isinstance(source, bytes) else source.stat().st_size
        self.reads: list[tuple[int, int]] = []

    def read_range(self, offset: int, length: int) -> bytes:
        self.reads.append((offset, length))
        if self.file is None:
            assert self.data is not None
            return self.data[offset : offset + length]
        self.file.seek(offset)
        return self.file.read(length)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
