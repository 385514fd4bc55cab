"""Anything else: a label from the magic bytes and a hex head."""

from __future__ import annotations

from .budget import BudgetedReader
from .markdown import code_block
from .section import Section

_LABELS = {
    "gzip": "Gzip-compressed data",
    "bzip2": "Bzip2-compressed data",
    "xz": "XZ-compressed data",
    "zstd": "Zstandard-compressed data",
}
# Compressed data that is not a pickle (pickled.py tried) may still hold one further in.
_MAY_HOLD_CODE = ("gzip", "bzip2", "xz", "zstd")


def preview_binary(reader: BudgetedReader, kind: str) -> Section:
    head = reader.read_range(0, 64)
    hex_head = " ".join(f"{byte:02x}" for byte in head)
    verdict = "unknown" if kind in _MAY_HOLD_CODE else "safe"
    return Section(kind, _LABELS.get(kind, "Binary data"), [code_block(hex_head)], verdict=verdict)
