"""NumPy `.npy` arrays (and the members of `.npz` archives, see archives.py).

The header is a Python dict literal: parsed with `ast.literal_eval`, never evaluated. Values
are read with ranged reads and `numpy.frombuffer`; `numpy.load` is never called. Object arrays
hold pickled elements: they are flagged and their pickle stream is only scanned at the opcode
level, never loaded.
"""

from __future__ import annotations

import ast
import math
import struct
from dataclasses import dataclass
from typing import Any

from ..errors import CorruptArtifact
from .budget import BudgetedReader, BudgetExceeded
from .markdown import escape
from .section import Section
from .stats import CORNER_COLS, CORNER_ROWS, HEAD, array_stats, corner, format_stats, values_block

MAGIC = b"\x93NUMPY"
MAX_HEADER = 1 << 20  # numpy itself refuses headers past 10 KB unless told otherwise
STATS_MAX_BYTES = 64 * 1024
PICKLE_SCAN_BYTES = 256 * 1024


@dataclass(frozen=True)
class NpyHeader:
    version: tuple[int, int]
    descr: Any
    dtype: Any  # numpy.dtype
    shape: tuple[int, ...]
    fortran_order: bool
    data_offset: int

    @property
    def count(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.count * int(self.dtype.itemsize)

    @property
    def is_object(self) -> bool:
        return bool(self.dtype.hasobject)


class NpyError(ValueError):
    """The bytes are not a valid .npy header."""


def header_length(head: bytes) -> int:
    """How many bytes the whole header takes (magic, version, length, dict), from the first
    12 bytes."""
    if len(head) < 10 or not head.startswith(MAGIC):
        raise NpyError("missing the \\x93NUMPY magic")
    major = head[6]
    if major == 1:
        (length,) = struct.unpack("<H", head[8:10])
        return 10 + int(length)
    if major in (2, 3):
        if len(head) < 12:
            raise NpyError("header cut short")
        (length,) = struct.unpack("<I", head[8:12])
        return 12 + int(length)
    raise NpyError(f"unknown .npy format version {major}.{head[7]}")


def parse_header(head: bytes) -> NpyHeader:
    """A .npy header from the file's first bytes (at least `header_length(head)` of them)."""
    import numpy as np

    total = header_length(head)
    if total > MAX_HEADER:
        raise NpyError(f"header of {total} bytes is implausibly long")
    if len(head) < total:
        raise NpyError(f"header cut short: {len(head)} of {total} bytes")
    major, minor = head[6], head[7]
    start = 10 if major == 1 else 12
    raw = head[start:total]
    try:
        text = raw.decode("utf-8" if major == 3 else "latin-1")
        header = ast.literal_eval(text)  # a dict literal: parsed, never evaluated
    except (ValueError, SyntaxError, UnicodeDecodeError, MemoryError, RecursionError) as error:
        raise NpyError(f"header is not a dict literal ({type(error).__name__})") from None
    if not isinstance(header, dict) or not {"descr", "fortran_order", "shape"} <= set(header):
        raise NpyError("header lacks descr, fortran_order or shape")
    shape = header["shape"]
    if not isinstance(shape, tuple) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
    ):
        raise NpyError(f"bad shape {shape!r:.80}")
    if not isinstance(header["fortran_order"], bool):
        raise NpyError("fortran_order is not a bool")
    try:
        dtype = np.lib.format.descr_to_dtype(header["descr"])
    except (TypeError, ValueError, KeyError) as error:
        raise NpyError(f"bad dtype descr {header['descr']!r:.80} ({error})") from None
    return NpyHeader((major, minor), header["descr"], dtype, shape, header["fortran_order"], total)


def dtype_text(dtype: Any) -> str:
    """A dtype as people write it: `<f8`, `|b1`, or a structured `[('a', '<i4'), ...]`."""
    import numpy as np

    descr = np.lib.format.dtype_to_descr(dtype)
    return descr if isinstance(descr, str) else str(descr)


def object_finding(what: str) -> dict[str, Any]:
    return {
        "severity": "warning",
        "message": f"{what} is an object array: its elements are pickled; it is never loaded",
    }


def preview_numpy(reader: BudgetedReader, kind: str) -> Section:
    head = reader.read_range(0, 4096)
    try:
        total = header_length(head)
        if total > len(head):
            if total > MAX_HEADER:
                raise NpyError(f"header of {total} bytes is implausibly long")
            head = reader.read_range(0, total)
        header = parse_header(head)
    except NpyError as error:
        raise CorruptArtifact(f"Corrupt .npy file: {error}. The file may be truncated.") from None
    expected = header.data_offset + (0 if header.is_object else header.nbytes)
    if not header.is_object and reader.size < expected:
        raise CorruptArtifact(
            f"Truncated .npy file: the header promises {header.nbytes} bytes of data after "
            f"{header.data_offset} bytes of header, but the file has {reader.size} bytes."
        )
    dtype = dtype_text(header.dtype)
    shape = header.shape
    summary = f"NumPy array · {dtype} · shape {shape}"
    fields: dict[str, Any] = {
        "dtype": dtype,
        "shape": list(shape),
        "fortranOrder": header.fortran_order,
        "version": f"{header.version[0]}.{header.version[1]}",
        "count": header.count,
        "dataOffset": header.data_offset,
    }
    lines = [
        escape(
            f"format {header.version[0]}.{header.version[1]} · "
            f"{'Fortran' if header.fortran_order else 'C'} order · {header.count} values"
            + ("" if header.is_object else f" · {header.nbytes} bytes of data")
        )
    ]
    section = Section("numpy", summary, lines, fields=fields)
    if header.is_object:
        _flag_object_array(reader, header, section)
        return section
    try:
        values, stats = read_values(reader, header)
    except BudgetExceeded:
        section.truncated = True
        section.lines.append("values not read: byte budget reached")
        return section
    if stats:
        fields["stats"] = stats
        section.lines.append(escape(format_stats(stats)))
    if values is not None:
        section.lines.append(values_block(values, header.shape))
        if values.dtype.kind in "biuf" and not values.dtype.names:
            fields["corner"] = values.tolist()
    return section


def read_values(reader: BudgetedReader, header: NpyHeader) -> tuple[Any, dict[str, Any] | None]:
    """A corner of the array (and statistics when it is small), by ranged reads."""
    import numpy as np

    dtype, shape = header.dtype, header.shape
    if header.count == 0 or dtype.itemsize == 0:
        return None, None
    offset = header.data_offset
    if header.nbytes <= STATS_MAX_BYTES:
        data = reader.read_range(offset, header.nbytes)
        array = np.frombuffer(data, dtype=dtype, count=header.count)
        array = array.reshape(shape, order="F" if header.fortran_order else "C")
        return corner(array), array_stats(array)
    return read_corner(reader, header), None


def read_corner(reader: BudgetedReader, header: NpyHeader) -> Any:
    """The leading corner of a big array: at most a handful of small reads."""
    import numpy as np

    dtype, shape, itemsize = header.dtype, header.shape, int(header.dtype.itemsize)
    offset = header.data_offset
    if len(shape) <= 1:
        count = min(HEAD, header.count)
        return np.frombuffer(reader.read_range(offset, count * itemsize), dtype=dtype)
    rows, cols = min(CORNER_ROWS, shape[-2]), min(CORNER_COLS, shape[-1])
    corner = np.empty((rows, cols), dtype=dtype)
    if header.fortran_order:
        # The first index varies fastest: with the leading indices at 0, element (r, c) of
        # the corner sits at lead * (r + shape[-2] * c), lead the product of leading dims.
        lead = math.prod(shape[:-2])
        for c in range(cols):
            base = offset + lead * shape[-2] * c * itemsize
            if lead == 1:
                run = reader.read_range(base, rows * itemsize)
                corner[:, c] = np.frombuffer(run, dtype=dtype)
                continue
            for r in range(rows):
                cell = reader.read_range(base + lead * r * itemsize, itemsize)
                corner[r, c] = np.frombuffer(cell, dtype=dtype)[0]
        return corner
    for r in range(rows):
        start = offset + r * shape[-1] * itemsize
        corner[r] = np.frombuffer(reader.read_range(start, cols * itemsize), dtype=dtype)
    return corner


def _flag_object_array(reader: BudgetedReader, header: NpyHeader, section: Section) -> None:
    """An object array's data is a pickle stream: scanned at the opcode level (the exact
    globals it would import), never loaded."""
    section.verdict = "unknown"
    section.findings.append(object_finding("this"))
    try:
        from .pickled import pickle_file_section

        length = min(PICKLE_SCAN_BYTES, reader.size - header.data_offset)
        data = reader.read_range(header.data_offset, length)
    except BudgetExceeded:
        section.truncated = True
        return
    scan = pickle_file_section(
        data, length < reader.size - header.data_offset, None, reader.deadline
    )
    if scan.verdict == "unsafe":
        section.verdict = "unsafe"
    section.findings += [f for f in scan.findings if f.get("severity") != "info"]
    imported = list(scan.fields.get("globals", []))
    if imported:
        section.fields["globals"] = imported
        section.lines.append("elements would import " + ", ".join(escape(g) for g in imported[:12]))
