"""Images: dimensions from the header."""

from __future__ import annotations

import struct

from .budget import BudgetedReader
from .section import Section


def preview_image(reader: BudgetedReader, kind: str) -> Section:
    head = reader.read_range(0, 32)
    size = None
    if kind == "png" and len(head) >= 24:
        size = struct.unpack(">II", head[16:24])
    elif kind == "gif" and len(head) >= 10:
        size = struct.unpack("<HH", head[6:10])
    dims = f" · {size[0]}×{size[1]}" if size else ""
    return Section(
        kind,
        f"{kind.upper()} image{dims}",
        fields={"width": size[0], "height": size[1]} if size else {},
    )
