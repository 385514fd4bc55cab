"""NumPy arrays: the header only; object arrays are flagged, never loaded."""

from __future__ import annotations

import ast
import struct

from .budget import BudgetedReader
from .section import Section


def preview_numpy(reader: BudgetedReader, kind: str) -> Section:
    head = reader.read_range(0, 4096)
    major = head[6]
    length_size = 2 if major == 1 else 4
    (length,) = struct.unpack("<H" if length_size == 2 else "<I", head[8 : 8 + length_size])
    header_text = head[8 + length_size : 8 + length_size + length].decode("latin-1")
    try:
        header = ast.literal_eval(header_text)  # a dict literal: parsed, never evaluated
    except (ValueError, SyntaxError):
        return Section("numpy", "Corrupt .npy header", verdict="unknown")
    dtype, shape = str(header.get("descr")), tuple(header.get("shape", ()))
    is_object = "O" in dtype
    summary = f"NumPy array · {dtype} · shape {shape}"
    section = Section("numpy", summary, fields={"dtype": dtype, "shape": list(shape)})
    if is_object:
        section.verdict = "unknown"
        section.findings.append(
            {
                "severity": "warning",
                "message": "object array: its elements are pickled; it is never loaded",
            }
        )
    return section
